//! Training reaches stated quality, is bit-for-bit reproducible, resumes
//! exactly, and handles the last partial batch.

mod common;
use common::*;
use medgpu::graph::{
    Act, GpuDataset, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions, TargetSource,
};
use medgpu::kernels::PipelineCache;
use medgpu::models::MlpSpec;
use medgpu::train::{train, DataSource, Hooks, Metrics, TrainConfig, TrainOutcome};
use std::path::PathBuf;
use std::sync::Arc;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(
    source: &DataSource,
    cfg: &TrainConfig,
    dir: &std::path::Path,
    resume: bool,
    stop: Option<usize>,
) -> Option<TrainOutcome> {
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: stop };
    train(gpu(), source, cfg, dir, resume, hooks).unwrap()
}

#[test]
fn xor_is_learned_to_full_accuracy() {
    let gpu = gpu();
    let features = [0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let targets = [0.0f32, 1.0, 1.0, 0.0];
    let data = Arc::new(GpuDataset::upload(&gpu, &features, &targets, 2, 1).unwrap());
    let spec = MlpSpec {
        inputs: 2,
        hidden: vec![8],
        outputs: 1,
        activation: Act::Tanh,
        loss: LossKind::BceWithLogits,
        target: TargetSource::Targets,
    };
    let g = spec.build(4).unwrap();
    let params = Arc::new(ParamStore::init(&gpu, &g, 1).unwrap());
    let mut cache = PipelineCache::new();
    let opt = OptimizerConfig::adam(0.05);
    let mut train = Program::compile(
        gpu.clone(),
        &g,
        params.clone(),
        data.clone(),
        ProgramOptions { mode: Mode::Train(opt) },
        &mut cache,
    )
    .unwrap();
    let batches = vec![vec![0u32, 1, 2, 3]; 400];
    train.train_steps(&batches, &[opt.lr]).unwrap();
    let mut infer =
        Program::compile(gpu.clone(), &g, params, data, ProgramOptions { mode: Mode::Inference }, &mut cache)
            .unwrap();
    let logits = infer.predict_rows(&[0, 1, 2, 3]).unwrap();
    let predicted: Vec<u32> = logits.iter().map(|z| (*z > 0.0) as u32).collect();
    assert_eq!(predicted, vec![0, 1, 1, 0], "logits {logits:?}");
}

fn assert_same_weights(a: &TrainOutcome, b: &TrainOutcome, what: &str) {
    assert_eq!(a.weights.keys().collect::<Vec<_>>(), b.weights.keys().collect::<Vec<_>>());
    for (name, wa) in &a.weights {
        let bits_a: Vec<u32> = wa.iter().map(|v| v.to_bits()).collect();
        let bits_b: Vec<u32> = b.weights[name].iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits_a, bits_b, "{what}: {name} differs");
    }
}

#[test]
fn same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let src = DataSource::builtin("breast_cancer");
    let cfg = TrainConfig { epochs: 3, seed: 7, ..TrainConfig::default() };
    let a = run(&src, &cfg, &tmp("det-a"), false, None).unwrap();
    let b = run(&src, &cfg, &tmp("det-b"), false, None).unwrap();
    let c = run(&src, &TrainConfig { seed: 8, ..cfg.clone() }, &tmp("det-c"), false, None).unwrap();
    assert_same_weights(&a, &b, "two runs with one seed");
    assert_ne!(a.weights["dense1.weight"], c.weights["dense1.weight"]);
    let losses = |o: &TrainOutcome| o.epochs.iter().map(|e| e.train_loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
}

#[test]
fn resume_gives_exactly_the_weights_of_an_uninterrupted_run() {
    let src = DataSource::builtin("breast_cancer");
    // dropout and a schedule make the step counter and the epoch matter
    let cfg = TrainConfig {
        epochs: 5,
        model: medgpu::models::ModelSpec::mlp(&[16, 8], Act::Relu, 0.2),
        lr_schedule: medgpu::train::LrSchedule::Cosine,
        optimizer: OptimizerConfig { clip_grad_norm: Some(1.0), ..OptimizerConfig::adam(3e-3) },
        ..TrainConfig::default()
    };
    let whole = run(&src, &cfg, &tmp("whole"), false, None).unwrap();
    let dir = tmp("resumed");
    assert!(run(&src, &cfg, &dir, false, Some(2)).is_none());
    let resumed = run(&src, &cfg, &dir, true, None).unwrap();
    assert_same_weights(&whole, &resumed, "resumed run");
    assert_eq!(resumed.epochs.len(), 5);
    let key = |o: &TrainOutcome| {
        o.epochs
            .iter()
            .map(|e| (e.epoch, e.train_loss.to_bits(), e.val_loss.to_bits(), e.lr.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&whole), key(&resumed), "epoch logs of the resumed run");
}

#[test]
fn default_breast_cancer_mlp_reaches_the_reference_quality() {
    let out =
        run(&DataSource::builtin("breast_cancer"), &TrainConfig::default(), &tmp("default"), false, None)
            .unwrap();
    let Metrics::Binary(m) = &out.test else { panic!("binary task expected") };
    assert!(m.accuracy >= 0.95, "test accuracy {}", m.accuracy);
    assert!(m.recall >= 0.90, "test recall (malignant) {}", m.recall);
    assert_eq!(out.split_sizes.0 + out.split_sizes.1 + out.split_sizes.2, 569);
}

#[test]
fn early_stopping_keeps_the_best_epoch_weights() {
    let cfg = TrainConfig {
        epochs: 60,
        early_stopping: Some(3),
        optimizer: OptimizerConfig::adam(1e-2),
        // the final figures as trained: a temperature would lower the validation loss further
        evaluation: medgpu::model::EvaluationOptions {
            calibrate: medgpu::model::Calibrate::None,
            ..Default::default()
        },
        ..TrainConfig::default()
    };
    let out = run(&DataSource::builtin("breast_cancer"), &cfg, &tmp("early"), false, None).unwrap();
    assert!(out.stopped_early, "a high learning rate over 60 epochs should overfit and stop early");
    let best = out.epochs.iter().map(|e| e.val_loss).fold(f64::INFINITY, f64::min);
    assert_eq!(out.epochs[out.best_epoch - 1].val_loss, best);
    assert!(
        (out.val.selection_loss() - best).abs() < 1e-9,
        "final val loss {} vs best {best}",
        out.val.selection_loss()
    );
}

#[test]
fn autoencoder_trained_on_benign_scores_malignant_as_anomalies() {
    let src = DataSource {
        prepare: medgpu::data::PrepareOptions {
            task: Some(medgpu::data::Task::Reconstruct),
            ..Default::default()
        },
        ..DataSource::builtin("breast_cancer")
    };
    let cfg = TrainConfig {
        model: medgpu::models::ModelSpec::autoencoder(&[16, 8], Act::Relu),
        epochs: 30,
        train_filter: Some(("malignant".into(), "0".into())),
        ..TrainConfig::default()
    };
    let out = run(&src, &cfg, &tmp("ae"), false, None).unwrap();
    let Metrics::Reconstruction(m) = &out.test else { panic!("reconstruction expected") };
    let auc = m.anomaly_roc_auc.unwrap();
    assert!(auc > 0.9, "anomaly ROC-AUC {auc}");
    assert_eq!(out.test_inference.code.as_ref().unwrap().0, 8, "bottleneck code width");
}

#[test]
fn the_last_partial_batch_is_trained_on_not_dropped() {
    let gpu = gpu();
    let features: Vec<f32> = rand_vec(50 * 3, 1).iter().map(|v| *v as f32).collect();
    let targets: Vec<f32> = (0..50).map(|i| (i % 2) as f32).collect();
    let data = Arc::new(GpuDataset::upload(&gpu, &features, &targets, 3, 1).unwrap());
    let spec = MlpSpec {
        inputs: 3,
        hidden: vec![4],
        outputs: 1,
        activation: Act::Relu,
        loss: LossKind::BceWithLogits,
        target: TargetSource::Targets,
    };
    let g = spec.build(16).unwrap();
    let params = Arc::new(ParamStore::init(&gpu, &g, 1).unwrap());
    let mut cache = PipelineCache::new();
    let mut p = Program::compile(
        gpu.clone(),
        &g,
        params.clone(),
        data,
        ProgramOptions { mode: Mode::Train(OptimizerConfig::sgd(0.1, 0.0)) },
        &mut cache,
    )
    .unwrap();
    let rows: Vec<u32> = (0..50).collect();
    let batches: Vec<Vec<u32>> = rows.chunks(16).map(|c| c.to_vec()).collect();
    assert_eq!(batches.last().unwrap().len(), 2);
    p.reset_loss();
    p.train_steps(&batches[..3], &[0.1]).unwrap();
    let before = params.read_all(&gpu).unwrap();
    p.train_steps(&batches[3..], &[0.1]).unwrap();
    let after = params.read_all(&gpu).unwrap();
    let (_, count) = p.read_loss().unwrap();
    assert_eq!(count, 50.0, "every row, including the 2 of the last batch, counts once");
    assert_ne!(before["dense1.weight"], after["dense1.weight"], "the partial batch updated the weights");
}

#[test]
fn regression_learns_a_numeric_target() {
    // mean_radius from the other 29 measurements (perimeter and area among them)
    let src = DataSource {
        prepare: medgpu::data::PrepareOptions {
            target: Some("mean_radius".into()),
            drop_columns: vec!["malignant".into()],
            task: Some(medgpu::data::Task::Regress),
            ..Default::default()
        },
        ..DataSource::builtin("breast_cancer")
    };
    let cfg = TrainConfig { epochs: 40, ..TrainConfig::default() };
    let out = run(&src, &cfg, &tmp("regress"), false, None).unwrap();
    let Metrics::Regression(m) = &out.test else { panic!("regression expected") };
    assert!(m.r2 > 0.95, "test R2 {}", m.r2);
}

#[test]
fn categorical_columns_group_splits_and_imputation_work_together() {
    // 40 patients x 3 visits; sex is text; some cells are missing
    let dir = tmp("clinical");
    let mut text = String::from("patient,sex,age,marker,outcome\n");
    let mut rng = medgpu::data::SplitMix64::new(3);
    for p in 0..40 {
        for v in 0..3 {
            let sex = if p % 2 == 0 { "F" } else { "M" };
            let age = 30.0 + (p as f64) + v as f64;
            let marker = rng.next_f64() * 2.0 + if p % 3 == 0 { 3.0 } else { 0.0 };
            let outcome = (p % 3 == 0) as u32;
            let age_cell = if (p + v) % 11 == 0 { "NA".to_string() } else { format!("{age}") };
            text.push_str(&format!("p{p},{sex},{age_cell},{marker:.3},{outcome}\n"));
        }
    }
    let path = dir.join("visits.csv");
    std::fs::write(&path, text).unwrap();
    let src = DataSource {
        data: path.to_str().unwrap().into(),
        test_data: None,
        prepare: medgpu::data::PrepareOptions {
            target: Some("outcome".into()),
            categorical: vec!["sex".into()],
            group_column: Some("patient".into()),
            ..Default::default()
        },
        window: None,
        sequences: None,
    };
    let cfg =
        TrainConfig { epochs: 30, missing: medgpu::data::MissingPolicy::Median, ..TrainConfig::default() };
    let out = run(&src, &cfg, &dir.join("run"), false, None).unwrap();
    assert_eq!(out.file.feature_names, vec!["sex=F", "sex=M", "age", "marker"]);
    let p = &out.prepared;
    let group_of = |rows: &[usize]| {
        rows.iter().map(|r| p.ds.groups[*r].clone()).collect::<std::collections::BTreeSet<_>>()
    };
    let (tr, va, te) = (group_of(&p.split.train), group_of(&p.split.val), group_of(&p.split.test));
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te), "a patient spans two splits");
    assert!(out.test.accuracy() >= 0.8, "test accuracy {}", out.test.accuracy());
}

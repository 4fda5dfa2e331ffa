//! Training reaches stated quality, is bit-for-bit reproducible, and handles
//! the last partial batch.

mod common;
use common::*;
use medgpu::graph::{
    Act, GpuDataset, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions, TargetSource,
};
use medgpu::kernels::PipelineCache;
use medgpu::models::MlpSpec;
use medgpu::train::{train_classifier, Metrics, TrainOptions};
use std::sync::Arc;

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

fn short_run(seed: u64, epochs: usize) -> medgpu::train::TrainOutcome {
    let table = medgpu::data::builtin("breast_cancer").unwrap();
    let opts = TrainOptions { epochs, seed, ..TrainOptions::default() };
    train_classifier(gpu(), &table, &opts, &mut |_| {}).unwrap()
}

#[test]
fn same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let a = short_run(7, 3);
    let b = short_run(7, 3);
    let c = short_run(8, 3);
    assert_eq!(a.weights.keys().collect::<Vec<_>>(), b.weights.keys().collect::<Vec<_>>());
    for (name, wa) in &a.weights {
        let bits_a: Vec<u32> = wa.iter().map(|v| v.to_bits()).collect();
        let bits_b: Vec<u32> = b.weights[name].iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits_a, bits_b, "{name} differs between two runs with one seed");
    }
    assert_ne!(a.weights["dense1.weight"], c.weights["dense1.weight"]);
    assert_eq!(
        a.epochs.iter().map(|e| e.train_loss.to_bits()).collect::<Vec<_>>(),
        b.epochs.iter().map(|e| e.train_loss.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn default_breast_cancer_mlp_reaches_the_reference_quality() {
    let table = medgpu::data::builtin("breast_cancer").unwrap();
    let out = train_classifier(gpu(), &table, &TrainOptions::default(), &mut |_| {}).unwrap();
    let Metrics::Binary(m) = &out.test else { panic!("binary task expected") };
    assert!(m.accuracy >= 0.95, "test accuracy {}", m.accuracy);
    assert!(m.recall >= 0.90, "test recall {}", m.recall);
    assert_eq!(out.spec.describe(), "30-64-32-1");
    assert_eq!(out.split_sizes.0 + out.split_sizes.1 + out.split_sizes.2, 569);
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

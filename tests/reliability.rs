//! Faults and limits: non-finite steps, device loss, memory budget, binding
//! and dispatch limits. Each ends in a typed error or a correct result, and
//! what was saved stays loadable.

mod common;
use common::*;
use medgpu::graph::{
    Act, GpuDataset, LossKind, Mode, NonFinitePolicy, OptimizerConfig, ParamStore, Program, ProgramOptions,
    TargetSource,
};
use medgpu::kernels::{self, PipelineCache};
use medgpu::models::MlpSpec;
use medgpu::train::{train, DataSource, Hooks, TrainConfig};
use medgpu::Error;
use std::sync::Arc;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-rel-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Three steps; the middle batch holds a row whose huge value overflows to Inf.
fn poisoned_run(policy: NonFinitePolicy) -> (Vec<f32>, Vec<f32>, medgpu::graph::StepStats) {
    let gpu = gpu();
    let mut features: Vec<f32> = rand_vec(8 * 3, 4).iter().map(|v| *v as f32).collect();
    features[5 * 3] = f32::INFINITY;
    let targets: Vec<f32> = (0..8).map(|i| (i % 2) as f32).collect();
    let data = Arc::new(GpuDataset::upload(&gpu, &features, &targets, 3, 1).unwrap());
    // a linear model: nothing clamps the Inf on its way to the loss
    let spec = MlpSpec {
        inputs: 3,
        hidden: vec![],
        outputs: 1,
        activation: Act::Relu,
        loss: LossKind::BceWithLogits,
        target: TargetSource::Targets,
    };
    let g = spec.build(2).unwrap();
    let params = Arc::new(ParamStore::init(&gpu, &g, 3).unwrap());
    let opt = OptimizerConfig { on_nonfinite: policy, ..OptimizerConfig::adam(0.01) };
    let mut cache = PipelineCache::new();
    let mut p = Program::compile(
        gpu.clone(),
        &g,
        params.clone(),
        data,
        ProgramOptions { mode: Mode::Train(opt) },
        &mut cache,
    )
    .unwrap();
    p.reset_loss();
    p.train_steps(&[vec![0, 1]], &[0.01]).unwrap();
    let after_first = params.read_all(&gpu).unwrap()["output.weight"].clone();
    p.train_steps(&[vec![5, 6], vec![2, 3]], &[0.01]).unwrap();
    let end = params.read_all(&gpu).unwrap()["output.weight"].clone();
    (after_first, end, p.read_stats().unwrap())
}

#[test]
fn a_non_finite_step_stops_the_updates_or_is_skipped() {
    let (first, end, stats) = poisoned_run(NonFinitePolicy::Stop);
    assert_eq!(first, end, "stop: no update after the bad step");
    assert_eq!(stats.nonfinite_steps, 1);
    assert_eq!(stats.first_nonfinite_step, Some(2));
    assert_eq!(stats.rows, 4.0, "the bad batch's loss is left out of the running sum");
    assert!(stats.loss_sum.is_finite());

    let (first, end, stats) = poisoned_run(NonFinitePolicy::SkipStep);
    assert_ne!(first, end, "skip-step: the third step still trains");
    assert!(end.iter().all(|v| v.is_finite()));
    assert_eq!((stats.nonfinite_steps, stats.first_nonfinite_step), (1, Some(2)));
}

fn write_csv(path: &std::path::Path, poison: bool) {
    let mut text = String::from("a,b,c,y\n");
    for i in 0..200 {
        // every 10th row: some land in the training split whatever the seed
        let a =
            if poison && i % 10 == 7 { "3e38".to_string() } else { format!("{}", (i % 13) as f32 / 13.0) };
        text.push_str(&format!(
            "{a},{},{},{}\n",
            (i % 7) as f32 / 7.0,
            (i % 5) as f32 / 5.0,
            (i % 3 == 0) as u32
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn stop_on_non_finite_keeps_the_last_good_checkpoint() {
    let d = tmp("nonfinite");
    let csv = d.join("data.csv");
    write_csv(&csv, false);
    let src = DataSource {
        data: csv.to_str().unwrap().into(),
        test_data: None,
        prepare: medgpu::data::PrepareOptions { target: Some("y".into()), ..Default::default() },
        window: None,
        sequences: None,
    };
    // a linear model and no normalization: the extreme value reaches the gradients
    let cfg = TrainConfig {
        epochs: 6,
        normalize: medgpu::data::Normalize::None,
        model: medgpu::models::ModelSpec::mlp(&[], Act::Relu, 0.0),
        ..TrainConfig::default()
    };
    let run = d.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: Some(2) };
    assert!(train(gpu(), &src, &cfg, &run, false, hooks).unwrap().is_none());
    // the data gains an extreme value; the resumed run meets it in epoch 3
    write_csv(&csv, true);
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
    let err = train(gpu(), &src, &cfg, &run, true, hooks).err().expect("the run must stop");
    match &err {
        Error::NonFinite { epoch, step, kept } => {
            assert_eq!(*epoch, 3);
            let steps_per_epoch = 140u64.div_ceil(32);
            assert!(*step > 2 * steps_per_epoch && *step <= 3 * steps_per_epoch, "step {step}");
            assert!(kept.contains("epoch 2"), "{kept}");
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    assert!(err.to_string().contains("`on_nonfinite` skip-step"));
    // the checkpoint still names epoch 2 and its files load
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("checkpoint/state.json")).unwrap()).unwrap();
    assert_eq!(state["epoch"], 2);
    let w =
        medgpu::model::checkpoint::load_tensors(&run.join("checkpoint/epoch-2.weights.safetensors")).unwrap();
    assert!(w.values().all(|t| t.values.iter().all(|v| v.is_finite())));
}

#[test]
fn the_memory_budget_is_checked_before_anything_is_allocated() {
    let d = tmp("budget");
    let cfg = TrainConfig { max_gpu_mem: Some(64 << 10), ..TrainConfig::default() };
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
    let err = train(gpu(), &DataSource::builtin("breast_cancer"), &cfg, &d, false, hooks).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, Error::OutOfMemory(_)), "{msg}");
    assert!(msg.contains("budget is 0.1 MiB") && msg.contains("`batch_size`"), "{msg}");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "nothing may be written");
}

#[test]
fn a_tensor_past_the_largest_binding_is_refused_with_the_limit() {
    let gpu = gpu();
    let max = gpu.limits.max_storage_buffer_binding_size as usize;
    // one activation of batch x units f32 just over the limit
    let units = 4096;
    let batch = max / (units * 4) + 1;
    let spec = MlpSpec {
        inputs: 2,
        hidden: vec![units],
        outputs: 1,
        activation: Act::Relu,
        loss: LossKind::Mse,
        target: TargetSource::Targets,
    };
    let g = spec.build(batch).unwrap();
    let err = Program::estimate_memory(
        &g,
        Mode::Inference,
        1,
        ParamStore::arena_len(&g),
        &gpu.limits,
        medgpu::kernels::Variants::detect(&gpu),
    )
    .unwrap_err();
    match err {
        Error::LimitExceeded { limit, needed, context, .. } => {
            assert_eq!(limit, "max_storage_buffer_binding_size");
            assert!(needed as usize > max && context.contains("dense1.out"), "{context}");
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
}

#[test]
fn a_dispatch_past_65535_workgroups_is_folded_and_still_correct() {
    let n = 65535 * 256 + 300;
    let call = kernels::add_into(n, true, 0, 1, 2);
    assert!(call.groups[1] > 1, "the grid must be folded into 2-D: {:?}", call.groups);
    let x: Vec<u32> = (0..n).map(|i| ((i % 1000) as f32).to_bits()).collect();
    let y: Vec<u32> = (0..n).map(|i| ((i % 7) as f32).to_bits()).collect();
    let out = run_call(&call, &[x, y, vec![0; 4]]);
    let bad = out[1].iter().enumerate().find(|(i, v)| f32::from_bits(**v) != ((i % 1000) + (i % 7)) as f32);
    assert!(bad.is_none(), "first wrong element: {bad:?}");
}

#[test]
fn a_device_lost_mid_training_stops_the_run_and_keeps_the_checkpoint() {
    // a device of its own: this one gets destroyed
    let gpu = Arc::new(medgpu::gpu::Gpu::open(&Default::default()).unwrap());
    let dir = tmp("lost");
    let (g2, d2) = (gpu.clone(), dir.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let cfg = TrainConfig { epochs: 2000, ..TrainConfig::default() };
        let mut progress = |e: &medgpu::train::EpochLog| {
            let _ = tx.send(e.epoch);
        };
        let hooks = Hooks { progress: &mut progress, stop_after_epoch: None };
        train(g2, &DataSource::builtin("breast_cancer"), &cfg, &d2, false, hooks).map(|_| ())
    });
    // wait for a few checkpoints, then pull the device away
    for _ in 0..3 {
        rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    }
    gpu.device.destroy();
    let lost_at = std::time::Instant::now();
    let result = worker.join().unwrap();
    let took = lost_at.elapsed();
    match result {
        Err(Error::DeviceLost(msg)) => eprintln!("device lost reported after {took:?}: {msg}"),
        other => panic!("expected DeviceLost, got {:?}", other.err().map(|e| e.to_string())),
    }
    assert!(took < std::time::Duration::from_secs(5), "took {took:?} to notice");
    // the last checkpoint loads
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint/state.json")).unwrap()).unwrap();
    let epoch = state["epoch"].as_u64().unwrap();
    assert!(epoch >= 3);
    // (the run asked for 2000 epochs, so rather than resume it all, load what resume reads)
    let file = medgpu::model::ModelFile::load(&dir).unwrap();
    let w = dir.join(format!("checkpoint/epoch-{epoch}.weights.safetensors"));
    let tensors = medgpu::model::checkpoint::load_tensors(&w).unwrap();
    medgpu::model::checkpoint::check_against(&w, &tensors, &file.param_shapes().unwrap()).unwrap();
}

#[test]
fn compiling_allocates_exactly_what_the_plan_reports() {
    // a device of its own: other tests create buffers on the shared one meanwhile
    let gpu = Arc::new(medgpu::gpu::Gpu::open(&Default::default()).unwrap());
    let data = Arc::new(GpuDataset::upload(&gpu, &[0.5; 40 * 7], &[1.0; 40], 7, 1).unwrap());
    for (hidden, mode) in [
        (vec![13, 5], Mode::Train(OptimizerConfig::adam(1e-3))),
        (vec![9], Mode::Train(OptimizerConfig::sgd(0.1, 0.9))),
        (vec![13, 5], Mode::Inference),
        (vec![4], Mode::Gradients { input_grad: true }),
    ] {
        let spec = MlpSpec {
            inputs: 7,
            hidden,
            outputs: 1,
            activation: Act::Tanh,
            loss: LossKind::BceWithLogits,
            target: TargetSource::Targets,
        };
        let g = spec.build(16).unwrap();
        let params = Arc::new(ParamStore::init(&gpu, &g, 1).unwrap());
        let planned = Program::estimate_memory(
            &g,
            mode,
            1,
            params.len,
            &gpu.limits,
            medgpu::kernels::Variants::detect(&gpu),
        )
        .unwrap();
        let before = gpu.bytes_created();
        let mut cache = medgpu::kernels::PipelineCache::new();
        let p = Program::compile(gpu.clone(), &g, params, data.clone(), ProgramOptions { mode }, &mut cache)
            .unwrap();
        let created = gpu.bytes_created() - before;
        assert_eq!(p.memory().total(), planned.total(), "{mode:?}: compile reports what was planned");
        // the parameter arena belongs to the ParamStore, created before compiling
        assert_eq!(created, planned.total() - planned.params, "{mode:?}: bytes created while compiling");
    }
}

#[test]
fn a_data_set_past_the_largest_binding_is_refused_before_upload() {
    // a device of its own, so its byte count is this test's alone
    let gpu = Arc::new(medgpu::gpu::Gpu::open(&Default::default()).unwrap());
    let max = gpu.limits.max_storage_buffer_binding_size as usize;
    let cols = 16;
    let rows = max / (cols * 4) + 1;
    let before = gpu.bytes_created();
    let err = GpuDataset::upload(&gpu, &vec![0.0; rows * cols], &vec![0.0; rows], cols, 1).err().unwrap();
    assert!(
        matches!(&err, Error::LimitExceeded { limit, .. } if limit == "max_storage_buffer_binding_size"),
        "{err}"
    );
    assert!(err.to_string().contains("features"), "{err}");
    assert_eq!(gpu.bytes_created(), before, "nothing may be allocated");
}

/// The memory benchmark counts each training benchmark's own buffers: a
/// second run of the same model on the same device reports what the first
/// did (not the device's running total), the data set is part of it, and
/// the rest covers at least the planned memory.
#[test]
fn the_memory_benchmark_counts_each_benchmarks_own_buffers() {
    // devices of its own, so their byte counts are this test's alone
    let devs = medgpu::bench::Devices::open(&Default::default()).unwrap();
    let first = medgpu::bench::bench_default_mlp(&devs, 1, 1).unwrap();
    let second = medgpu::bench::bench_default_mlp(&devs, 1, 1).unwrap();
    for r in [&first, &second] {
        assert_eq!(r.gpu_bytes_after_all, r.gpu_bytes_after_first_rep, "steps allocated");
        assert!(r.gpu_bytes_data_set > 0 && r.gpu_bytes_data_set < r.gpu_bytes_after_all, "{r:?}");
        let program = r.gpu_bytes_after_all - r.gpu_bytes_data_set;
        assert!(program >= r.memory_planned.total(), "{program} < {:?}", r.memory_planned);
    }
    assert_eq!(second.gpu_bytes_after_first_rep, first.gpu_bytes_after_first_rep);
    assert_eq!(second.gpu_bytes_data_set, first.gpu_bytes_data_set);
}

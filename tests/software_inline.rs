//! A software adapter opened with its kernels inline (Mesa's
//! `LP_NUM_THREADS=0` while it is created) trains exactly as the same
//! adapter on its thread pool: every workgroup computes the same values
//! whichever thread runs it. Its own test binary: opening the adapter sets
//! an environment variable, which no other test may read meanwhile.

mod common;
use common::*;
use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::graph::{
    Act, GpuDataset, Graph, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions,
    TargetSource,
};
use medgpu::kernels::PipelineCache;
use medgpu::models::ModelSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The parameters after 12 Adam steps of a small MLP on `gpu`.
fn train(gpu: Arc<Gpu>) -> BTreeMap<String, Vec<f32>> {
    let rows = 40;
    let features: Vec<f32> = rand_vec(rows * 6, 3).iter().map(|v| *v as f32).collect();
    let targets: Vec<f32> = rand_vec(rows, 4).iter().map(|v| (*v > 0.0) as u32 as f32).collect();
    let data = Arc::new(GpuDataset::upload(&gpu, &features, &targets, 6, 1).unwrap());
    let mut g = Graph::new(8);
    let x = g.input(6).unwrap();
    let h = g.dense("hidden", x, 9, Act::Relu).unwrap();
    let y = g.dense("out", h, 1, Act::None).unwrap();
    g.loss(y, LossKind::BceWithLogits, TargetSource::Targets).unwrap();
    let params = Arc::new(ParamStore::init(&gpu, &g, 7).unwrap());
    let mut cache = PipelineCache::new();
    let opts = ProgramOptions { mode: Mode::Train(OptimizerConfig::adam(0.01)) };
    let mut prog = Program::compile(gpu.clone(), &g, params.clone(), data, opts, &mut cache).unwrap();
    let batches: Vec<Vec<u32>> =
        (0..12).map(|s| (0..8).map(|i| ((s * 8 + i * 3) % rows) as u32).collect()).collect();
    prog.train_steps(&batches, &[0.01]).unwrap();
    prog.read_loss().unwrap();
    params.read_all(&gpu).unwrap()
}

#[test]
fn inline_kernels_train_bit_for_bit_as_the_thread_pool() {
    let user_set = std::env::var_os("LP_NUM_THREADS");
    let pool = gpu();
    let inline = Gpu::open(&DeviceOptions { software_inline: true, ..Default::default() }).unwrap();
    assert_eq!(std::env::var_os("LP_NUM_THREADS"), user_set, "the variable is put back as it was");
    let software = inline.info.device_type == wgpu::DeviceType::Cpu;
    let want_inline = software && user_set.as_ref().is_none_or(|v| v == "0");
    assert_eq!(inline.software_inline, want_inline, "{}", inline.describe());
    // the thread pool's training steps keep the cores awake, inline ones have no pool to wake
    let awake_env = std::env::var("MEDGPU_KEEP_AWAKE").ok();
    let (pool_awake, inline_awake) = match awake_env.as_deref() {
        Some("0") => (false, false),
        Some("1") => (true, true),
        _ => (software && !pool.software_inline, software && !inline.software_inline),
    };
    assert_eq!(pool.keeps_awake(), pool_awake, "{}", pool.describe());
    assert_eq!(inline.keeps_awake(), inline_awake, "{}", inline.describe());
    let (a, b) = (train(pool), train(Arc::new(inline)));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, va) in &a {
        let same = va.iter().zip(&b[name]).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{name} differs between the thread pool and inline kernels");
    }
    assert!(a.values().flatten().all(|v| v.is_finite()));
}

#[test]
fn dense_models_prefer_inline_kernels_and_image_and_recurrent_ones_do_not() {
    use medgpu::graph::schedule::prefers_inline_kernels;
    use medgpu::graph::{LossKind, TargetSource};
    use medgpu::models::Head;
    let binary = Head { outputs: 1, loss: LossKind::BceWithLogits, target: TargetSource::Targets };
    let inline = |spec: ModelSpec, inputs: usize, head: Head| {
        let train = prefers_inline_kernels(&spec.build(inputs, head, 32, true, 1).unwrap());
        let infer = prefers_inline_kernels(&spec.build(inputs, head, 32, false, 1).unwrap());
        assert_eq!(train, infer, "{}", spec.name);
        train
    };
    assert!(inline(ModelSpec::mlp(&[64, 32], Act::Relu, 0.2), 30, binary));
    // the output layer does not count: an autoencoder's is as wide as its data
    let recon = |n| Head { outputs: n, loss: LossKind::Mse, target: TargetSource::Features };
    assert!(inline(ModelSpec::autoencoder(&[16, 8], Act::Relu), 30, recon(30)));
    assert!(inline(ModelSpec::autoencoder(&[16, 8], Act::Relu), 1000, recon(1000)));
    assert!(!inline(ModelSpec::mlp(&[512], Act::Relu, 0.0), 30, binary));
    assert!(!inline(ModelSpec::cnn([1, 8, 8]), 64, binary));
    assert!(!inline(ModelSpec::recurrent(medgpu::graph::Cell::Lstm, &[32], 64), 64, binary));
}

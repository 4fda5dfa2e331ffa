//! Training throughput: samples/s, dispatches per step, CPU time to record a
//! step, time from compile start to the first finished step, and memory
//! (planned, created, and created again after more epochs: it must not grow).

use super::Stat;
use crate::error::Result;
use crate::gpu::{DeviceOptions, Gpu};
use crate::graph::schedule::prefers_inline_kernels;
use crate::graph::{
    Act, GpuDataset, LossKind, MemoryReport, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions,
    TargetSource,
};
use crate::kernels::PipelineCache;
use crate::models::{Head, ModelSpec};
use crate::train::prepare::prepare;
use crate::train::{DataSource, TrainConfig};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// The devices the training benchmarks run on: the adapter as opened and,
/// on a software adapter, a second one running kernels inline for the
/// models that prefer it, as `medgpu train` chooses
/// ([`crate::graph::schedule::prefers_inline_kernels`]).
pub struct Devices {
    /// The adapter with its own threading.
    pub pool: Arc<Gpu>,
    /// The same software adapter with kernels inline; `None` on hardware
    /// adapters (and when `LP_NUM_THREADS` already decides).
    pub inline: Option<Arc<Gpu>>,
}

impl Devices {
    /// Opens the adapter `opts` names (and its inline twin where it is a software one).
    pub fn open(opts: &DeviceOptions) -> Result<Devices> {
        let pool = Arc::new(Gpu::open(&DeviceOptions { software_inline: false, ..opts.clone() })?);
        let software = pool.info.device_type == wgpu::DeviceType::Cpu;
        let decided = crate::gpu::user_software_threads().is_some();
        let inline = if software && !decided {
            Some(Arc::new(Gpu::open(&DeviceOptions { software_inline: true, ..opts.clone() })?))
        } else {
            None
        };
        Ok(Devices { pool, inline })
    }

    /// The device `medgpu train` would train `graph` on.
    pub fn for_graph(&self, graph: &crate::graph::Graph) -> Arc<Gpu> {
        match &self.inline {
            Some(g) if prefers_inline_kernels(graph) => g.clone(),
            _ => self.pool.clone(),
        }
    }
}

/// Results of one model's training benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBench {
    /// Model name and sizes, e.g. `mlp 30-64-32-1`.
    pub model: String,
    /// Rows per step.
    pub batch: usize,
    /// Training samples per second over repetitions of `epochs_per_rep` epochs.
    pub samples_per_sec: Stat,
    /// Dispatches in one step.
    pub dispatches_per_step: usize,
    /// Whether the software adapter ran the kernels inline (see
    /// [`crate::graph::schedule::prefers_inline_kernels`]).
    pub kernels_inline: bool,
    /// Whether the steps kept the adapter's cores awake
    /// ([`crate::gpu::keep_awake`]).
    pub cores_kept_awake: bool,
    /// CPU µs to record one step.
    pub encode_us_per_step: Stat,
    /// Seconds from the start of compilation (pipelines included) to the end of the first step.
    pub first_step_secs: f64,
    /// The driver's pipeline cache on disk at that first step: `none` (the
    /// backend has none, or MEDGPU_PIPELINE_CACHE=off), `cold` (empty) or
    /// `warm (N bytes)`.
    pub pipeline_cache: String,
    /// Epochs per repetition.
    pub epochs_per_rep: usize,
    /// How the time was taken.
    pub timing: &'static str,
    /// µs per dispatch of each kernel replayed alone, in step order.
    pub per_dispatch_us: Vec<(&'static str, f64)>,
    /// Memory the compiled training program planned (and allocated).
    pub memory_planned: MemoryReport,
    /// Bytes of GPU buffers created for this benchmark, from the data set's
    /// upload to the end of the first timed repetition (buffers of earlier
    /// benchmarks on the same device not counted).
    pub gpu_bytes_after_first_rep: u64,
    /// The same after the last repetition: equal when steps and epochs allocate nothing.
    pub gpu_bytes_after_all: u64,
    /// Of those, the data set's buffers (features and targets, uploaded
    /// once); the rest is the program: its planned memory, uniforms, and
    /// the batch order, optimizer schedule and loss readback of a run.
    pub gpu_bytes_data_set: u64,
}

/// A compiled training program after its first step.
struct Started {
    gpu: Arc<Gpu>,
    /// Feature columns of the prepared data.
    cols: usize,
    program: Program,
    rows: Vec<u32>,
    batches: Vec<Vec<u32>>,
    opt: OptimizerConfig,
    first_step_secs: f64,
    pipeline_cache: String,
    /// The device's [`Gpu::bytes_created`] before the data set's upload.
    created_before: u64,
    /// Bytes of the data set's buffers.
    data_set_bytes: u64,
}

impl Started {
    /// Bytes of GPU buffers created for this benchmark so far, from the
    /// data set's upload on.
    fn bytes_created(&self) -> u64 {
        self.gpu.bytes_created() - self.created_before
    }
}

/// Prepares `data` as `medgpu train` does (with the default splits of its
/// kind), compiles `model` with `head` for training and runs the first step,
/// timed from the start of compilation.
fn start(devs: &Devices, data: &DataSource, model: &ModelSpec, head: Head, batch: usize) -> Result<Started> {
    let cfg = match data.window {
        Some(_) => {
            TrainConfig { model: model.clone(), val_frac: 0.1, test_frac: 0.2, ..TrainConfig::default() }
        }
        None => TrainConfig { model: model.clone(), ..TrainConfig::default() },
    };
    let p = prepare(data, &cfg)?;
    let cols = p.ds.cols();
    let graph = model.build(cols, head, batch, true, 42)?;
    let gpu = devs.for_graph(&graph);
    let created_before = gpu.bytes_created();
    let data = Arc::new(GpuDataset::upload(&gpu, &p.features, &p.train_targets, cols, 1)?);
    let data_set_bytes = gpu.bytes_created() - created_before;
    let start = Instant::now();
    let params = Arc::new(ParamStore::init(&gpu, &graph, 42)?);
    let mut cache = PipelineCache::persistent(&gpu);
    let pipeline_cache = match cache.disk_loaded_bytes() {
        None => "none".to_string(),
        Some(0) => "cold".to_string(),
        Some(n) => format!("warm ({n} bytes)"),
    };
    let opt = OptimizerConfig::adam(1e-3);
    let mode = ProgramOptions { mode: Mode::Train(opt) };
    let mut program = Program::compile(gpu.clone(), &graph, params, data, mode, &mut cache)?;
    let rows: Vec<u32> = p.split.train.iter().map(|r| *r as u32).collect();
    let batches: Vec<Vec<u32>> = rows.chunks(batch).map(|c| c.to_vec()).collect();
    program.train_steps(&batches[..1], &[opt.lr])?;
    gpu.wait("the first step")?;
    let first_step_secs = start.elapsed().as_secs_f64();
    cache.save();
    Ok(Started {
        gpu,
        cols,
        program,
        rows,
        batches,
        opt,
        first_step_secs,
        pipeline_cache,
        created_before,
        data_set_bytes,
    })
}

/// Seconds from the start of compilation to the end of the first training
/// step of benchmark model `name` (one of [`STARTUP_MODELS`]).
pub fn first_step(devs: &Devices, name: &str) -> Result<f64> {
    let (data, model, head, batch) = model_setup(name).ok_or_else(|| {
        crate::Error::Options(format!("no benchmark model '{name}': use {}", STARTUP_MODELS.join(", ")))
    })?;
    Ok(start(devs, &data, &model, head, batch)?.first_step_secs)
}

/// The models whose first steps `medgpu bench --suite startup` times.
pub const STARTUP_MODELS: [&str; 4] = ["mlp", "autoencoder", "cnn", "lstm"];

/// Data, model, head and batch of benchmark model `name`: `mlp`,
/// `autoencoder`, `cnn`, `lstm`, `gru` or `rnn`.
pub fn model_setup(name: &str) -> Option<(DataSource, ModelSpec, Head, usize)> {
    let bce = Head { outputs: 1, loss: LossKind::BceWithLogits, target: TargetSource::Targets };
    let recurrent = |cell| {
        let (model, head, data) = recurrent_setup(cell);
        (data, model, head, 64)
    };
    Some(match name {
        // the default MLP (30-64-32-1, ReLU) on the breast cancer training split
        "mlp" => (DataSource::builtin("breast_cancer"), ModelSpec::mlp(&[64, 32], Act::Relu, 0.0), bce, 32),
        // the dense autoencoder 30-16-8-16-30 on the same rows
        "autoencoder" => (
            DataSource::builtin("breast_cancer"),
            ModelSpec::autoencoder(&[16, 8], Act::Relu),
            Head { outputs: 30, loss: LossKind::Mse, target: TargetSource::Features },
            32,
        ),
        // the default CNN (`--model cnn`) on the digits training split
        "cnn" => (
            DataSource::builtin("digits"),
            ModelSpec::cnn([1, 8, 8]),
            Head { outputs: 10, loss: LossKind::SoftmaxCrossEntropy, target: TargetSource::Targets },
            32,
        ),
        "lstm" => recurrent(crate::graph::Cell::Lstm),
        "gru" => recurrent(crate::graph::Cell::Gru),
        "rnn" => recurrent(crate::graph::Cell::Elman(Act::Tanh)),
        _ => return None,
    })
}

/// Trains `model` with `head` on the training split of `data` (prepared as
/// `medgpu train` prepares it, with the default splits of its kind) and
/// measures it. `reps` repetitions of `epochs_per_rep` epochs.
#[allow(clippy::too_many_arguments)] // one benchmark's settings
pub fn bench_training(
    devs: &Devices,
    name: &str,
    data: &DataSource,
    model: &ModelSpec,
    head: Head,
    batch: usize,
    reps: usize,
    epochs_per_rep: usize,
) -> Result<TrainBench> {
    let mut s = start(devs, data, model, head, batch)?;
    s.program.train_steps(&s.batches[1..], &[s.opt.lr])?;
    s.program.read_loss()?;

    let mut epoch_batches = Vec::new();
    for _ in 0..epochs_per_rep {
        epoch_batches.extend(s.batches.iter().cloned());
    }
    let mut sps = Vec::new();
    let mut enc = Vec::new();
    let mut gpu_bytes_after_first_rep = 0;
    for rep in 0..reps {
        let t = Instant::now();
        s.program.train_steps(&epoch_batches, &[s.opt.lr])?;
        s.program.read_loss()?;
        let secs = t.elapsed().as_secs_f64();
        sps.push((s.rows.len() * epochs_per_rep) as f64 / secs);
        enc.push(s.program.encode_us_per_step);
        if rep == 0 {
            gpu_bytes_after_first_rep = s.bytes_created();
        }
    }
    let gpu_bytes_after_all = s.bytes_created();
    let per_dispatch_us = s.program.profile_dispatches(100)?;
    Ok(TrainBench {
        model: format!("{name} {}", model.describe(s.cols, head.outputs)),
        batch,
        samples_per_sec: Stat::of(&sps),
        dispatches_per_step: s.program.dispatches_per_step(),
        kernels_inline: s.gpu.software_inline,
        cores_kept_awake: s.gpu.keeps_awake(),
        encode_us_per_step: Stat::of(&enc),
        first_step_secs: s.first_step_secs,
        pipeline_cache: s.pipeline_cache,
        epochs_per_rep,
        timing: "wall clock, loss readback included",
        per_dispatch_us,
        memory_planned: s.program.memory(),
        gpu_bytes_after_first_rep,
        gpu_bytes_after_all,
        gpu_bytes_data_set: s.data_set_bytes,
    })
}

/// Trains benchmark model `name` ([`model_setup`]).
fn bench_named(devs: &Devices, name: &str, reps: usize, epochs_per_rep: usize) -> Result<TrainBench> {
    let (data, model, head, batch) =
        model_setup(name).ok_or_else(|| crate::Error::Options(format!("no benchmark model '{name}'")))?;
    bench_training(devs, &model.name, &data, &model, head, batch, reps, epochs_per_rep)
}

/// The default MLP (30-64-32-1, ReLU, Adam 1e-3, batch 32) on the breast cancer training split.
pub fn bench_default_mlp(devs: &Devices, reps: usize, epochs_per_rep: usize) -> Result<TrainBench> {
    bench_named(devs, "mlp", reps, epochs_per_rep)
}

/// The dense autoencoder 30-16-8-16-30 on the same rows.
pub fn bench_autoencoder(devs: &Devices, reps: usize, epochs_per_rep: usize) -> Result<TrainBench> {
    bench_named(devs, "autoencoder", reps, epochs_per_rep)
}

/// The default CNN (`--model cnn`) on the digits training split, batch 32.
pub fn bench_cnn(devs: &Devices, reps: usize, epochs_per_rep: usize) -> Result<TrainBench> {
    bench_named(devs, "cnn", reps, epochs_per_rep)
}

/// LSTM(32) forecasting the next ECG sample from windows of 64 (stride 8),
/// batch 64: the sequence model of the RNN issue.
pub fn bench_lstm(devs: &Devices, reps: usize, epochs_per_rep: usize) -> Result<TrainBench> {
    bench_named(devs, "lstm", reps, epochs_per_rep)
}

/// The same ECG setup with another recurrent cell (32 units, batch 64).
pub fn bench_recurrent(
    devs: &Devices,
    cell: crate::graph::Cell,
    reps: usize,
    epochs_per_rep: usize,
) -> Result<TrainBench> {
    let (model, head, data) = recurrent_setup(cell);
    let name = model.name.clone();
    bench_training(devs, &name, &data, &model, head, 64, reps, epochs_per_rep)
}

/// The recurrent benchmark's model (`cell`, 32 units), head and data (ECG
/// windows of 64, stride 8, forecasting the next sample); batch 64.
pub fn recurrent_setup(cell: crate::graph::Cell) -> (ModelSpec, Head, DataSource) {
    let head = Head { outputs: 1, loss: LossKind::Mse, target: TargetSource::Targets };
    let window =
        crate::data::WindowOptions { window: 64, stride: 8, horizon: 1, signals: vec![], target: None };
    let data = DataSource { window: Some(window), ..DataSource::builtin("ecg") };
    (ModelSpec::recurrent(cell, &[32], 64), head, data)
}

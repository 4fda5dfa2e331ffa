//! Headless training benchmark of the default model (the benchmarks issue
//! extends this with more suites): samples/s, dispatches per step, CPU time
//! to record a step, and time from compile start to the first finished step.

use crate::data::{builtin, stratified_split, ZScore};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::graph::{
    Act, GpuDataset, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions, TargetSource,
};
use crate::kernels::PipelineCache;
use crate::models::MlpSpec;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stat {
    /// Summarizes samples (at least one).
    pub fn of(samples: &[f64]) -> Stat {
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n == 0 {
            0.0
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stat { median, min: v.first().copied().unwrap_or(0.0), max: v.last().copied().unwrap_or(0.0) }
    }
}

/// Results of the MLP training benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct MlpBench {
    /// Model, e.g. 30-64-32-1.
    pub model: String,
    /// Rows per step.
    pub batch: usize,
    /// Training samples per second over repetitions of `epochs_per_rep` epochs.
    pub samples_per_sec: Stat,
    /// Dispatches in one step.
    pub dispatches_per_step: usize,
    /// CPU µs to record one step.
    pub encode_us_per_step: Stat,
    /// Seconds from the start of compilation (pipelines included) to the end of the first step.
    pub first_step_secs: f64,
    /// Epochs per repetition.
    pub epochs_per_rep: usize,
    /// How the time was taken.
    pub timing: &'static str,
    /// µs per dispatch of each kernel replayed alone, in step order.
    pub per_dispatch_us: Vec<(&'static str, f64)>,
}

/// Benchmarks the default MLP (30-64-32-1, ReLU, Adam 1e-3, batch 32) on the
/// built-in breast cancer training split.
pub fn bench_default_mlp(gpu: Arc<Gpu>, reps: usize, epochs_per_rep: usize) -> Result<MlpBench> {
    let table = builtin("breast_cancer")?;
    let split = stratified_split(&table.targets, 0.15, 0.15, 42)?;
    let z = ZScore::fit(&table, &split.train);
    let mut features = table.features.clone();
    z.apply(&mut features);
    let data = Arc::new(GpuDataset::upload(&gpu, &features, &table.targets, table.cols(), 1)?);
    let spec = MlpSpec {
        inputs: table.cols(),
        hidden: vec![64, 32],
        outputs: 1,
        activation: Act::Relu,
        loss: LossKind::BceWithLogits,
        target: TargetSource::Targets,
    };
    let batch = 32;
    let start = Instant::now();
    let graph = spec.build(batch)?;
    let params = Arc::new(ParamStore::init(&gpu, &graph, 42)?);
    let mut cache = PipelineCache::new();
    let opt = OptimizerConfig::adam(1e-3);
    let mut program = Program::compile(
        gpu.clone(),
        &graph,
        params,
        data,
        ProgramOptions { mode: Mode::Train(opt) },
        &mut cache,
    )?;
    let rows: Vec<u32> = split.train.iter().map(|r| *r as u32).collect();
    let batches: Vec<Vec<u32>> = rows.chunks(batch).map(|c| c.to_vec()).collect();
    program.train_steps(&batches[..1], &[opt.lr])?;
    gpu.wait("the first step")?;
    let first_step_secs = start.elapsed().as_secs_f64();

    let mut epoch_batches = Vec::new();
    for _ in 0..epochs_per_rep {
        epoch_batches.extend(batches.iter().cloned());
    }
    let mut sps = Vec::new();
    let mut enc = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        program.train_steps(&epoch_batches, &[opt.lr])?;
        program.read_loss()?;
        let secs = t.elapsed().as_secs_f64();
        sps.push((rows.len() * epochs_per_rep) as f64 / secs);
        enc.push(program.encode_us_per_step);
    }
    let per_dispatch_us = program.profile_dispatches(200)?;
    Ok(MlpBench {
        model: spec.describe(),
        batch,
        samples_per_sec: Stat::of(&sps),
        dispatches_per_step: program.dispatches_per_step(),
        encode_us_per_step: Stat::of(&enc),
        first_step_secs,
        epochs_per_rep,
        timing: "wall clock, loss readback included",
        per_dispatch_us,
    })
}

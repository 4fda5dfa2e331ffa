//! Per-dispatch GPU time of a built-in benchmark model without training it:
//! `cargo run --release --example probe_kernels -- [mlp|mlp_wide|autoencoder|cnn|lstm|gru|rnn] [rounds] [reps]`
//! (`mlp_wide`: 30-256-256-1, whose 74k parameters take the three-dispatch
//! guard and optimizer instead of the fused one).
//! Each dispatch is replayed alone `reps` times per round; the minimum over
//! rounds is printed, which is steadier than one round on a shared machine.
//! `PROBE_ONLY=i` replays only dispatch i (step order), `rounds` times, and
//! `PROBE_TRAIN=1` runs only `rounds` x `reps` training steps, for profilers.
//! `PROBE_COMPILE=1` first prints each dispatch's first run, where lavapipe
//! compiles its kernel (with `MESA_SHADER_CACHE_DISABLE=true`: cold).
//! `PROBE_BATCH=n` sets the batch size.

use medgpu::bench::Devices;
use medgpu::gpu::DeviceOptions;
use medgpu::graph::{
    Act, Cell, GpuDataset, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions, TargetSource,
};
use medgpu::kernels::PipelineCache;
use medgpu::models::{Head, ModelSpec};
use medgpu::train::prepare::prepare;
use medgpu::train::{DataSource, TrainConfig};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("cnn", |s| s.as_str());
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let (model, head, data, batch) = match which {
        "mlp" | "mlp_wide" => (
            ModelSpec::mlp(if which == "mlp" { &[64, 32] } else { &[256, 256] }, Act::Relu, 0.0),
            Head { outputs: 1, loss: LossKind::BceWithLogits, target: TargetSource::Targets },
            DataSource::builtin("breast_cancer"),
            32,
        ),
        "autoencoder" => (
            ModelSpec::autoencoder(&[16, 8], Act::Relu),
            Head { outputs: 30, loss: LossKind::Mse, target: TargetSource::Features },
            DataSource::builtin("breast_cancer"),
            32,
        ),
        "lstm" | "gru" | "rnn" => {
            let cell = match which {
                "gru" => Cell::Gru,
                "rnn" => Cell::Elman(Act::Tanh),
                _ => Cell::Lstm,
            };
            let (model, head, data) = medgpu::bench::recurrent_setup(cell);
            (model, head, data, 64)
        }
        _ => (
            ModelSpec::cnn([1, 8, 8]),
            Head { outputs: 10, loss: LossKind::SoftmaxCrossEntropy, target: TargetSource::Targets },
            DataSource::builtin("digits"),
            32,
        ),
    };
    let batch = std::env::var("PROBE_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(batch);
    let cfg = match data.window {
        Some(_) => {
            TrainConfig { model: model.clone(), val_frac: 0.1, test_frac: 0.2, ..TrainConfig::default() }
        }
        None => TrainConfig { model: model.clone(), ..TrainConfig::default() },
    };
    let p = prepare(&data, &cfg)?;
    let cols = p.ds.cols();
    let graph = model.build(cols, head, batch, true, 42)?;
    let devs = Devices::open(&DeviceOptions::default())?;
    let gpu = devs.for_graph(&graph);
    println!("{} inline={}", gpu.describe(), gpu.software_inline);
    let ds = Arc::new(GpuDataset::upload(&gpu, &p.features, &p.train_targets, cols, 1)?);
    let params = Arc::new(ParamStore::init(&gpu, &graph, 42)?);
    let mut cache = PipelineCache::new();
    let mode = ProgramOptions { mode: Mode::Train(OptimizerConfig::adam(1e-3)) };
    let mut program = Program::compile(gpu.clone(), &graph, params, ds, mode, &mut cache)?;
    let train: Vec<u32> = p.split.train.iter().map(|r| *r as u32).collect();
    let rows_of = |i: usize| -> Vec<u32> {
        let n = train.len() / batch;
        train[(i % n) * batch..(i % n + 1) * batch].to_vec()
    };
    if std::env::var("PROBE_COMPILE").is_ok() {
        // each dispatch's first run: on lavapipe it compiles the kernel
        // (run with MESA_SHADER_CACHE_DISABLE=true to see cold compiles)
        let names = program.kernel_names();
        for (i, name) in names.iter().enumerate() {
            let t = std::time::Instant::now();
            program.profile_sequence(&[i], 1)?;
            println!("  first run {name:<28} {:>8.2} s", t.elapsed().as_secs_f64());
        }
    }
    program.train_steps(&[rows_of(0)], &[1e-3])?;
    if std::env::var("PROBE_TRAIN").is_ok() {
        // train_steps alone, `rounds` times `reps` steps (for profilers)
        let batches: Vec<Vec<u32>> = (0..reps).map(rows_of).collect();
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            program.train_steps(&batches, &[1e-3])?;
            program.read_loss()?;
            println!("train_steps: {:.1} us per step", t.elapsed().as_secs_f64() * 1e6 / reps as f64);
        }
        return Ok(());
    }
    if let Some(i) = std::env::var("PROBE_ONLY").ok().and_then(|v| v.parse::<usize>().ok()) {
        // dispatch i alone, `rounds` times (for profilers)
        for _ in 0..rounds {
            println!("dispatch {i}: {:.1} us", program.profile_sequence(&[i], reps)?);
        }
        return Ok(());
    }
    let mut best: Vec<(&'static str, f64)> = Vec::new();
    for _ in 0..rounds {
        let r = program.profile_dispatches(reps)?;
        if best.is_empty() {
            best = r;
        } else {
            for (b, x) in best.iter_mut().zip(r) {
                b.1 = b.1.min(x.1);
            }
        }
    }
    let (mut whole, mut whole_wall) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        whole = whole.min(program.profile_step(reps)?);
        whole_wall = whole_wall.min(t.elapsed().as_secs_f64() * 1e6 / (2 * reps) as f64);
    }
    // train_steps as training runs it (copies, submits, waits): the minimum over rounds
    let steps = 4 * reps;
    let batches: Vec<Vec<u32>> = (0..steps).map(rows_of).collect();
    let mut wall = f64::MAX;
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        program.train_steps(&batches, &[1e-3])?;
        program.read_loss()?;
        wall = wall.min(t.elapsed().as_secs_f64() * 1e6 / steps as f64);
    }
    println!(
        "whole step replayed in one pass: {whole:.1} us ({whole_wall:.1} us wall, recording and warm-up pass included); train_steps wall: {wall:.1} us per step"
    );
    if std::env::var("PROBE_PAIRS").is_ok() {
        // each neighbouring pair replayed together: what the switch between them costs
        for i in 0..best.len().saturating_sub(1) {
            let mut pair = f64::MAX;
            for _ in 0..rounds {
                pair = pair.min(program.profile_sequence(&[i, i + 1], reps)?);
            }
            let alone = best[i].1 + best[i + 1].1;
            println!("  pair {i}-{}: {pair:.1} us together, {alone:.1} us alone", i + 1);
        }
    }
    let total: f64 = best.iter().map(|(_, us)| us).sum();
    for ((k, us), g) in best.iter().zip(program.dispatch_groups()) {
        println!("  {k:<28} {us:>9.1} us  {:>6} groups", g[0] * g[1] * g[2]);
    }
    println!(
        "  {:<28} {total:>9.1} us  ({:.0} samples/s if nothing else)",
        "sum",
        batch as f64 / total * 1e6
    );
    Ok(())
}

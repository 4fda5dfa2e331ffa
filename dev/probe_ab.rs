//! Interleaved A/B of one benchmark model's kernels, in one process:
//! `AB_VAR=NAME AB_A=a AB_B=b cargo run --release --example probe_ab -- MODEL [rounds] [reps]`
//! (MODEL: mlp, autoencoder, cnn, lstm, gru or rnn).
//!
//! Compiles the model's training program twice, with the environment
//! variable NAME set to `a` before the first compile and to `b` before the
//! second (a variable read when kernels are chosen or built, such as
//! MEDGPU_TILED_MATMUL, MEDGPU_RNN_LANES or MEDGPU_PORTABLE_KERNELS; empty
//! unsets it). Then it times the two programs in alternating rounds: each
//! dispatch replayed alone `reps` times, and the whole step `reps` times in
//! one pass. It prints the minimum over the rounds of each, and the ratios.
//!
//! Why: this machine's speed swings by up to 2x over tens of seconds, so
//! runs of two binaries one after the other often disagree by more than the
//! change under test. Rounds of a few milliseconds, alternating (A first in
//! even rounds, B first in odd ones), see the same phases: B / A per round,
//! as a median with quartiles, is the figure to read. On A/A runs of the
//! CNN (`AB_A` = `AB_B`, 16 rounds) that median was 1.007, 0.948 and 1.024,
//! where the minimum over the rounds was off by up to 27%.

use medgpu::bench::{model_setup, Devices};
use medgpu::gpu::DeviceOptions;
use medgpu::graph::{GpuDataset, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions};
use medgpu::kernels::PipelineCache;
use medgpu::train::prepare::prepare;
use medgpu::train::TrainConfig;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("cnn", |s| s.as_str());
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let var = std::env::var("AB_VAR")
        .map_err(|_| "set AB_VAR to the variable to compare, AB_A and AB_B to its values")?;
    let values = [std::env::var("AB_A").unwrap_or_default(), std::env::var("AB_B").unwrap_or_default()];
    let (data, model, head, batch) = model_setup(which).ok_or(format!("no benchmark model '{which}'"))?;

    let splits = TrainConfig { model: model.clone(), ..TrainConfig::default() };
    let cfg =
        if data.window.is_some() { TrainConfig { val_frac: 0.1, test_frac: 0.2, ..splits } } else { splits };
    let p = prepare(&data, &cfg)?;
    let cols = p.ds.cols();
    let graph = model.build(cols, head, batch, true, 42)?;
    let devs = Devices::open(&DeviceOptions::default())?;
    let gpu = devs.for_graph(&graph);
    println!(
        "{} inline={}; {var}: A = '{}', B = '{}'",
        gpu.describe(),
        gpu.software_inline,
        values[0],
        values[1]
    );
    let ds = Arc::new(GpuDataset::upload(&gpu, &p.features, &p.train_targets, cols, 1)?);
    let first: Vec<u32> = p.split.train.iter().take(batch).map(|r| *r as u32).collect();

    let mut programs = Vec::new();
    for value in &values {
        // SAFETY: no other thread reads the environment while it is set
        // (the adapter's threads run no Rust code that reads it).
        unsafe {
            if value.is_empty() {
                std::env::remove_var(&var);
            } else {
                std::env::set_var(&var, value);
            }
        }
        let params = Arc::new(ParamStore::init(&gpu, &graph, 42)?);
        let mode = ProgramOptions { mode: Mode::Train(OptimizerConfig::adam(1e-3)) };
        let mut program =
            Program::compile(gpu.clone(), &graph, params, ds.clone(), mode, &mut PipelineCache::new())?;
        // first runs compile the kernels: keep them out of the rounds
        program.train_steps(std::slice::from_ref(&first), &[1e-3])?;
        program.profile_dispatches(1)?;
        programs.push(program);
    }

    // per program: the minimum µs of each dispatch, then of the whole step;
    // per round: B's sum of dispatches and whole step over A's
    let mut best: Vec<Vec<f64>> =
        programs.iter().map(|p| vec![f64::MAX; p.kernel_names().len() + 1]).collect();
    let (mut sum_ratios, mut whole_ratios) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut sums = [0.0; 2];
        let mut wholes = [0.0; 2];
        // A first in even rounds, B first in odd ones
        for k in [round % 2, 1 - round % 2] {
            let times = programs[k].profile_dispatches(reps)?;
            let whole = programs[k].profile_step(reps)?;
            sums[k] = times.iter().map(|(_, us)| us).sum();
            wholes[k] = whole;
            for (m, t) in best[k].iter_mut().zip(times.iter().map(|(_, us)| *us).chain([whole])) {
                *m = m.min(t);
            }
        }
        sum_ratios.push(sums[1] / sums[0]);
        whole_ratios.push(wholes[1] / wholes[0]);
    }
    let change = |a: f64, b: f64| format!("{:+.0}%", (b / a - 1.0) * 100.0);
    let names: Vec<Vec<&str>> = programs.iter().map(|p| p.kernel_names()).collect();
    println!("  {:<28} {:>9} {:>9}  (µs, minimum of {rounds} rounds)", "", "A", "B");
    if names[0] == names[1] {
        for (i, n) in names[0].iter().enumerate() {
            println!("  {n:<28} {:>9.1} {:>9.1}  {}", best[0][i], best[1][i], change(best[0][i], best[1][i]));
        }
    } else {
        for (k, label) in ["A", "B"].iter().enumerate() {
            let list: Vec<String> =
                names[k].iter().zip(&best[k]).map(|(n, us)| format!("{n} {us:.1}")).collect();
            println!("  {label}: {}", list.join(", "));
        }
    }
    let sums: Vec<f64> = best.iter().map(|b| b[..b.len() - 1].iter().sum()).collect();
    let wholes: Vec<f64> = best.iter().map(|b| b[b.len() - 1]).collect();
    println!("  {:<28} {:>9.1} {:>9.1}  {}", "sum of dispatches", sums[0], sums[1], change(sums[0], sums[1]));
    println!(
        "  {:<28} {:>9.1} {:>9.1}  {}",
        "whole step",
        wholes[0],
        wholes[1],
        change(wholes[0], wholes[1])
    );
    println!(
        "  B / A per round, median (quartiles): sum of dispatches {}, whole step {}",
        quartiles(&mut sum_ratios),
        quartiles(&mut whole_ratios)
    );
    Ok(())
}

/// "median (lower quartile - upper quartile)" of `v` (not empty).
fn quartiles(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!("{:.3} ({:.3} - {:.3})", at(0.5), at(0.25), at(0.75))
}

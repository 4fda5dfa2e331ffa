//! `medgpu tune`: hyperparameter search scored by cross-validation on the
//! training part, then the best configuration trained once and tested.

use super::train::{inline_kernels, mlp_parts, out_dir, request, TrainArgs};
use clap::Args;
use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::model::checkpoint::write_atomic;
use medgpu::train::tune::{tune, Space};
use medgpu::train::{self, format_metrics, Hooks};
use medgpu::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `medgpu tune`: those of `train`, and the search.
#[derive(Args, Debug)]
pub struct TuneArgs {
    /// The search space (TOML): lr, weight_decay, dropout, hidden, batch_size,
    /// epochs, each a list or a range { min, max, log }
    #[arg(long)]
    space: PathBuf,
    /// Configurations drawn at random
    #[arg(long, default_value_t = 10)]
    trials: usize,
    /// random or grid (every combination of the lists)
    #[arg(long, default_value = "random")]
    search: String,
    /// Folds of the cross-validation that scores each configuration
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[command(flatten)]
    train: TrainArgs,
}

/// Runs `medgpu tune`.
pub fn run(dev: &DeviceOptions, a: TuneArgs, quiet: bool) -> Result<()> {
    let grid = match a.search.as_str() {
        "random" => false,
        "grid" => true,
        o => return Err(Error::Usage(format!("unknown --search '{o}': use random or grid"))),
    };
    if a.trials == 0 {
        return Err(Error::Usage("--trials must be at least 1".into()));
    }
    let text = std::fs::read_to_string(&a.space).map_err(|e| Error::io(&a.space, e))?;
    let space = Space::parse(&text, &a.space)?;
    let (source, cfg) = request(&a.train)?;
    let mlp = mlp_parts(&a.train);
    let mlp_ref = mlp.as_ref().map(|(h, act, d)| (h.as_slice(), *act, *d));
    let trials = space.trials(grid, a.trials, cfg.seed)?;
    // the options as given are always a candidate: the search never loses them
    let mut configs = vec![(medgpu::train::tune::Trial(Vec::new()), cfg.clone())];
    for t in &trials {
        configs.push((t.clone(), t.apply(&cfg, mlp_ref)?));
    }
    // the data and the folds are checked before anything is created on disk
    let first = medgpu::model::config::Fold { folds: a.folds, index: 0, seed: cfg.seed, holdout_test: true };
    let prepared = medgpu::train::prepare::prepare(
        &source,
        &medgpu::model::TrainConfig { fold: Some(first), ..cfg.clone() },
    )?;
    let dev = DeviceOptions { software_inline: inline_kernels(&cfg, &prepared), ..dev.clone() };
    drop(prepared);
    let dir = out_dir(&a.train)?;
    let gpu = Arc::new(Gpu::open(&dev)?);
    if !quiet {
        println!("adapter: {}", gpu.describe());
        println!(
            "{} configurations, each scored by {}-fold cross-validation on the training part",
            configs.len(),
            a.folds
        );
    }
    let mut show = |s: &medgpu::train::tune::Scored| {
        if !quiet {
            println!("  trial {:>3}: {} {:.4} (sd {:.4})  {}", s.index + 1, s.metric, s.mean, s.sd, s.trial);
        }
    };
    let scored = tune(gpu.clone(), &source, &configs, &dir, a.folds, &mut show)?;
    let mut csv = String::from("rank,trial,metric,mean,sd,configuration\n");
    println!("best first:");
    for (rank, s) in scored.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{},{},{},\"{}\"\n",
            rank + 1,
            s.index + 1,
            s.metric,
            s.mean,
            s.sd,
            s.trial.replace('"', "\"\"")
        ));
        if rank < 10 {
            println!("  {:>2}. {} {:.4} (sd {:.4})  {}", rank + 1, s.metric, s.mean, s.sd, s.trial);
        }
    }
    write_atomic(&dir.join("tune_results.csv"), csv.as_bytes())?;
    let best = &scored[0];
    let best_cfg = &configs[best.index].1;
    let final_dir = dir.join("final");
    std::fs::create_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
    let prepared = medgpu::train::prepare::prepare(&source, best_cfg)?;
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
    let out = train::train_prepared(gpu.clone(), prepared, &source, best_cfg, &final_dir, false, hooks)?
        .ok_or_else(|| Error::Model("the final run stopped early".into()))?;
    train::report::write_run(&final_dir, &gpu, &out)?;
    print!(
        "{}",
        format_metrics(
            &format!("the best configuration ({}) on the test split:", best.trial),
            &out.test,
            &out.file.encoding
        )
    );
    println!("run directory: {} (tune_results.csv, trial-N/ folds, final/)", dir.display());
    Ok(())
}

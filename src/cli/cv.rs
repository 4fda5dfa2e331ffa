//! `medgpu train --cv K`: k-fold cross-validation from the command line.

use super::train::inline_kernels;
use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::train::cv::CvPlan;
use medgpu::train::{self, format_metrics, DataSource, Hooks, TrainConfig};
use medgpu::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// `--cv K`: the folds, their figures over the folds, and with a test file
/// a final model trained on all the other rows.
pub fn run(
    dev: &DeviceOptions,
    out: Option<&Path>,
    source: &DataSource,
    cfg: &TrainConfig,
    plan: CvPlan,
    quiet: bool,
) -> Result<()> {
    // the folds and the data are checked before anything is created on disk
    let first = TrainConfig {
        fold: Some(medgpu::model::config::Fold {
            folds: plan.folds,
            index: 0,
            seed: cfg.seed,
            holdout_test: false,
        }),
        ..cfg.clone()
    };
    let check = DataSource { test_data: None, ..source.clone() };
    let prepared = medgpu::train::prepare::prepare(&check, &first)?;
    let dev = DeviceOptions { software_inline: inline_kernels(cfg, &prepared), ..dev.clone() };
    drop(prepared);
    let dir = medgpu::train::run_dir::create_run_dir(out)?;
    let gpu = Arc::new(Gpu::open(&dev)?);
    if !quiet {
        println!("adapter: {}", gpu.describe());
        println!("data: {}; {}-fold cross-validation, {} repeat(s)", source.data, plan.folds, plan.repeats);
    }
    let mut show = |f: &medgpu::train::cv::FoldResult| {
        let (name, value) = f.test.headline();
        if !quiet {
            println!(
                "repeat {} fold {:>2}: {} test rows, kept epoch {:>3}, test {name} {value:.4}",
                f.repeat, f.fold, f.test_rows, f.best_epoch
            );
        }
    };
    let out = medgpu::train::cv::cross_validate(gpu.clone(), source, cfg, &dir, plan, &mut show)?;
    println!("over {} folds (mean, sd, 95% interval of the mean):", out.per_fold.len());
    for (name, f) in &out.summary {
        println!("  {name:<22} {:.4} (sd {:.4}; {:.4}-{:.4})", f.mean, f.sd, f.ci95[0], f.ci95[1]);
    }
    if source.test_data.is_some() {
        let final_dir = dir.join("final");
        std::fs::create_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
        let prepared = medgpu::train::prepare::prepare(source, cfg)?;
        let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
        let done = train::train_prepared(gpu.clone(), prepared, source, cfg, &final_dir, false, hooks)?
            .ok_or_else(|| Error::Model("the final run stopped early".into()))?;
        train::report::write_run(&final_dir, &gpu, &done)?;
        print!("{}", format_metrics("final model on the test file:", &done.test, &done.file.encoding));
    }
    println!("run directory: {} (cv_summary.json, oof_predictions.csv, one folder per fold)", dir.display());
    Ok(())
}

//! k-fold cross-validation (`medgpu train --cv K`): one run per fold, each
//! trained on the other folds (split again into training and validation
//! rows for early stopping) and tested on its own; the folds' figures with
//! their mean, standard deviation and 95% interval, and every row's
//! out-of-fold prediction.

use super::prepare::prepare;
use super::report::write_run;
use super::{train_prepared, Hooks, Metrics};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::metrics::intervals::mean_interval;
use crate::model::checkpoint::{to_json, write_atomic};
use crate::model::config::Fold;
use crate::model::{predictions_csv, DataSource, TrainConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to cross-validate.
#[derive(Clone, Copy, Debug)]
pub struct CvPlan {
    /// Folds.
    pub folds: usize,
    /// Repeats, each with its own fold assignment (seed + repeat).
    pub repeats: usize,
    /// Fold only the usual split's training and validation rows.
    pub holdout_test: bool,
}

/// One fold's run.
#[derive(Clone, Debug, Serialize)]
pub struct FoldResult {
    /// The repeat, 1-based.
    pub repeat: usize,
    /// The held-out fold, 1-based.
    pub fold: usize,
    /// Its run directory.
    pub dir: PathBuf,
    /// Rows of the held-out fold.
    pub test_rows: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// The held-out fold's metrics.
    pub test: Metrics,
}

/// A figure over the folds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct OverFolds {
    /// Mean over the folds.
    pub mean: f64,
    /// Sample standard deviation.
    pub sd: f64,
    /// t-based 95% interval of the mean (treating folds as independent,
    /// which they are not quite: a guide, not a guarantee).
    pub ci95: [f64; 2],
}

/// A cross-validation's results.
#[derive(Clone, Debug, Serialize)]
pub struct CvOutcome {
    /// Folds and repeats.
    pub folds: usize,
    /// Repeats.
    pub repeats: usize,
    /// Each fold's run.
    pub per_fold: Vec<FoldResult>,
    /// Each numeric figure of the metrics over the folds, by name.
    #[serde(serialize_with = "in_order")]
    pub summary: Vec<(String, OverFolds)>,
}

fn in_order<S: serde::Serializer>(v: &[(String, OverFolds)], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, f)| (k, f)))
}

/// Runs `plan`'s folds of `cfg` on `source` (a separate test file stays out
/// of the folds) into `dir`/`repeat-R-fold-K`, calling `done` after each;
/// writes `cv_summary.json` and `oof_predictions.csv` into `dir`.
pub fn cross_validate(
    gpu: Arc<Gpu>,
    source: &DataSource,
    cfg: &TrainConfig,
    dir: &Path,
    plan: CvPlan,
    done: &mut dyn FnMut(&FoldResult),
) -> Result<CvOutcome> {
    if plan.repeats == 0 {
        return Err(Error::Options("`cv_repeats` must be at least 1".into()));
    }
    let fold_source = DataSource { test_data: None, ..source.clone() };
    let mut per_fold = Vec::new();
    let mut oof: Vec<(usize, u64, String)> = Vec::new();
    let mut header = String::new();
    for repeat in 0..plan.repeats {
        for index in 0..plan.folds {
            let seed = cfg.seed.wrapping_add(repeat as u64);
            let fold = Fold { folds: plan.folds, index, seed, holdout_test: plan.holdout_test };
            let cfg = TrainConfig { fold: Some(fold), ..cfg.clone() };
            let run = dir.join(format!("repeat-{}-fold-{}", repeat + 1, index + 1));
            std::fs::create_dir_all(&run).map_err(|e| Error::io(&run, e))?;
            let p = prepare(&fold_source, &cfg)?;
            let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
            let out = train_prepared(gpu.clone(), p, &fold_source, &cfg, &run, false, hooks)?
                .ok_or_else(|| Error::Model("a fold's training stopped early".into()))?;
            write_run(&run, &gpu, &out)?;
            let p = &out.prepared;
            let preds = predictions_csv(&out.file, &p.ds, &p.split.test, &out.test_inference);
            let mut lines = preds.lines();
            header = lines.next().unwrap_or_default().to_string();
            for l in lines {
                let line: u64 = l.split(',').next().and_then(|c| c.parse().ok()).unwrap_or(0);
                oof.push((repeat + 1, line, format!("{},{},{l}", repeat + 1, index + 1)));
            }
            let result = FoldResult {
                repeat: repeat + 1,
                fold: index + 1,
                dir: run,
                test_rows: out.split_sizes.2,
                best_epoch: out.best_epoch,
                test: out.test.clone(),
            };
            done(&result);
            per_fold.push(result);
        }
    }
    oof.sort_by_key(|(r, line, _)| (*r, *line));
    let mut csv = format!("repeat,fold,{header}\n");
    for (_, _, l) in &oof {
        csv.push_str(l);
        csv.push('\n');
    }
    write_atomic(&dir.join("oof_predictions.csv"), csv.as_bytes())?;
    let outcome =
        CvOutcome { folds: plan.folds, repeats: plan.repeats, summary: summarize(&per_fold)?, per_fold };
    write_atomic(&dir.join("cv_summary.json"), &to_json(&outcome)?)?;
    Ok(outcome)
}

/// Each numeric field of the folds' metrics: mean, sd and interval.
fn summarize(folds: &[FoldResult]) -> Result<Vec<(String, OverFolds)>> {
    let values: Vec<serde_json::Value> = folds
        .iter()
        .map(|f| serde_json::to_value(&f.test))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Model(e.to_string()))?;
    let Some(first) = values.first().and_then(|v| v.as_object()) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (name, v) in first {
        if !v.is_number() {
            continue;
        }
        let xs: Vec<f64> = values.iter().filter_map(|m| m[name].as_f64()).collect();
        let (mean, sd, ci95) = mean_interval(&xs);
        out.push((name.clone(), OverFolds { mean, sd, ci95 }));
    }
    Ok(out)
}

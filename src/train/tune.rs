//! Hyperparameter search (`medgpu tune`): configurations drawn from a
//! search space (random or grid), each scored by k-fold cross-validation
//! on the training part only (the usual split's training and validation
//! rows); the test rows are touched once, by the best configuration
//! retrained on the usual split.

use super::cv::{cross_validate, CvPlan};
use crate::data::SplitMix64;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::Act;
use crate::model::{DataSource, TrainConfig};
use crate::models::ModelSpec;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// The keys a search space may have.
pub const KEYS: [&str; 6] = ["lr", "weight_decay", "dropout", "hidden", "batch_size", "epochs"];

/// The values one key may take.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// One of these.
    List(Vec<toml::Value>),
    /// A number in [min, max] (log-uniform with `log`).
    Range {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
        /// Draw uniformly in log space.
        log: bool,
    },
}

/// A search space: each key's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Space(pub Vec<(String, Values)>);

/// One configuration to try: each key's value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial(pub Vec<(String, toml::Value)>);

impl Space {
    /// Parses a TOML search space, e.g. `lr = [1e-3, 3e-3]`,
    /// `dropout = { min = 0.0, max = 0.3 }`, `hidden = [[64, 32], [32]]`.
    pub fn parse(text: &str, path: &Path) -> Result<Space> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::Options(format!("{}: {}", path.display(), e.message())))?;
        let mut out = Vec::new();
        for (key, v) in table {
            if !KEYS.contains(&key.as_str()) {
                return Err(Error::Options(format!(
                    "{}: unknown key '{key}' in the search space; the keys are {}",
                    path.display(),
                    KEYS.join(", ")
                )));
            }
            let values = match v {
                toml::Value::Array(items) if items.is_empty() => {
                    return Err(Error::Options(format!("{}: '{key}' is an empty list", path.display())))
                }
                toml::Value::Array(items) => Values::List(items),
                toml::Value::Table(t) => {
                    let num =
                        |k: &str| t.get(k).and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)));
                    let (Some(min), Some(max)) = (num("min"), num("max")) else {
                        return Err(Error::Options(format!("{}: '{key}' needs min and max", path.display())));
                    };
                    let log = t.get("log").and_then(|v| v.as_bool()).unwrap_or(false);
                    if min.partial_cmp(&max) != Some(std::cmp::Ordering::Less)
                        || (log && min <= 0.0)
                        || key == "hidden"
                    {
                        return Err(Error::Options(format!(
                            "{}: '{key}' range [{min}, {max}] is empty{}",
                            path.display(),
                            if log && min <= 0.0 { " or not positive for log" } else { "" }
                        )));
                    }
                    Values::Range { min, max, log }
                }
                other => Values::List(vec![other]),
            };
            out.push((key, values));
        }
        if out.is_empty() {
            return Err(Error::Options(format!(
                "{}: the search space is empty; keys: {}",
                path.display(),
                KEYS.join(", ")
            )));
        }
        Ok(Space(out))
    }

    /// `n` configurations drawn at random (seeded), or every combination
    /// of the lists for a grid (ranges are refused there).
    pub fn trials(&self, grid: bool, n: usize, seed: u64) -> Result<Vec<Trial>> {
        if grid {
            let mut out = vec![Trial(Vec::new())];
            for (key, values) in &self.0 {
                let Values::List(items) = values else {
                    return Err(Error::Options(format!("grid search takes lists: '{key}' is a range")));
                };
                out = out
                    .into_iter()
                    .flat_map(|t| {
                        items.iter().map(move |v| {
                            let mut t = t.clone();
                            t.0.push((key.clone(), v.clone()));
                            t
                        })
                    })
                    .collect();
            }
            return Ok(out);
        }
        let mut rng = SplitMix64::new(seed);
        Ok((0..n)
            .map(|_| {
                Trial(
                    self.0
                        .iter()
                        .map(|(key, values)| {
                            let v = match values {
                                Values::List(items) => {
                                    items[rng.next_below(items.len() as u64) as usize].clone()
                                }
                                Values::Range { min, max, log } => {
                                    let u = rng.next_f64();
                                    let x = if *log {
                                        (min.ln() + u * (max.ln() - min.ln())).exp()
                                    } else {
                                        min + u * (max - min)
                                    };
                                    if matches!(key.as_str(), "batch_size" | "epochs") {
                                        toml::Value::Integer(x.round() as i64)
                                    } else {
                                        toml::Value::Float(x)
                                    }
                                }
                            };
                            (key.clone(), v)
                        })
                        .collect(),
                )
            })
            .collect())
    }
}

impl Trial {
    /// `cfg` with this trial's values; `mlp` holds the MLP's hidden sizes,
    /// activation and dropout when the model is the MLP preset (hidden and
    /// dropout can only be searched for it).
    pub fn apply(&self, cfg: &TrainConfig, mlp: Option<(&[usize], Act, f32)>) -> Result<TrainConfig> {
        let mut cfg = cfg.clone();
        let (mut hidden, mut dropout) = mlp.map(|(h, _, d)| (h.to_vec(), d)).unwrap_or_default();
        let bad = |key: &str, v: &toml::Value| {
            Error::Options(format!("search space: '{key}' = {v} is not a valid value"))
        };
        let num = |v: &toml::Value| v.as_float().or(v.as_integer().map(|i| i as f64));
        for (key, v) in &self.0 {
            match key.as_str() {
                "lr" => cfg.optimizer.lr = num(v).filter(|x| *x > 0.0).ok_or_else(|| bad(key, v))? as f32,
                "weight_decay" => {
                    cfg.optimizer.weight_decay =
                        num(v).filter(|x| *x >= 0.0).ok_or_else(|| bad(key, v))? as f32
                }
                "dropout" => {
                    dropout = num(v).filter(|x| (0.0..1.0).contains(x)).ok_or_else(|| bad(key, v))? as f32
                }
                "batch_size" => {
                    cfg.batch_size = v.as_integer().filter(|x| *x > 0).ok_or_else(|| bad(key, v))? as usize
                }
                "epochs" => {
                    cfg.epochs = v.as_integer().filter(|x| *x > 0).ok_or_else(|| bad(key, v))? as usize
                }
                "hidden" => {
                    let sizes: Option<Vec<usize>> = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|u| u.as_integer().filter(|x| *x > 0).map(|x| x as usize))
                                .collect()
                        })
                        .filter(|s: &Vec<usize>| {
                            !s.is_empty() && Some(s.len()) == v.as_array().map(|a| a.len())
                        });
                    hidden = sizes.ok_or_else(|| bad(key, v))?;
                }
                _ => return Err(bad(key, v)),
            }
        }
        let searched = |k: &str| self.0.iter().any(|(key, _)| key == k);
        if searched("hidden") || searched("dropout") {
            let Some((_, act, _)) = mlp else {
                return Err(Error::Options(
                    "search space: 'hidden' and 'dropout' are searched for --model mlp only".into(),
                ));
            };
            cfg.model = ModelSpec::mlp(&hidden, act, dropout);
        }
        Ok(cfg)
    }

    /// `lr=0.003, hidden=[64, 32]` (an empty trial: the options as given).
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "the options as given".into();
        }
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

/// A trial's cross-validated score.
#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    /// The trial's index in the list tried.
    pub index: usize,
    /// The configuration.
    pub trial: String,
    /// The score's name (accuracy or r2; higher is better).
    pub metric: String,
    /// Its mean over the folds.
    pub mean: f64,
    /// Its standard deviation over the folds.
    pub sd: f64,
}

/// Scores every trial by `folds`-fold CV on the training part, into
/// `dir/trial-N`, calling `done` after each; returns them best first.
pub fn tune(
    gpu: Arc<Gpu>,
    source: &DataSource,
    trials: &[(Trial, TrainConfig)],
    dir: &Path,
    folds: usize,
    done: &mut dyn FnMut(&Scored),
) -> Result<Vec<Scored>> {
    let mut scored = Vec::new();
    for (i, (trial, tcfg)) in trials.iter().enumerate() {
        let run = dir.join(format!("trial-{}", i + 1));
        std::fs::create_dir_all(&run).map_err(|e| Error::io(&run, e))?;
        let cv = CvPlan { folds, repeats: 1, holdout_test: true };
        let out = cross_validate(gpu.clone(), source, tcfg, &run, cv, &mut |_| {})?;
        let task = out.per_fold.first().map(|f| f.test.clone());
        let metric = match task {
            Some(crate::model::Metrics::Regression(_)) => "r2",
            Some(crate::model::Metrics::Reconstruction(_)) | None => {
                return Err(Error::Options(
                    "`tune` scores classifiers (accuracy) and regressions (R²)".into(),
                ))
            }
            _ => "accuracy",
        };
        let s = out.summary.iter().find(|(n, _)| n == metric).map(|(_, f)| *f);
        let s = s.ok_or_else(|| Error::Model(format!("no {metric} in the folds' metrics")))?;
        let result =
            Scored { index: i, trial: trial.describe(), metric: metric.into(), mean: s.mean, sd: s.sd };
        done(&result);
        scored.push(result);
    }
    scored.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    Ok(scored)
}

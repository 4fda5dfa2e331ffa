//! What a training run is asked to do, saved in `model.json` so that
//! `train --resume` can continue it exactly.

use crate::data::{MissingPolicy, Normalize, PrepareOptions};
use crate::graph::OptimizerConfig;
use crate::models::ModelSpec;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Learning rate over the run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// The base rate times `gamma` every `every_epochs` epochs.
    Step {
        /// Epochs between decays.
        every_epochs: usize,
        /// Factor per decay.
        gamma: f32,
    },
    /// Cosine decay from the base rate to 0 over all steps of the run.
    Cosine,
}

impl LrSchedule {
    /// The rate of step `step` (0-based) of epoch `epoch` (0-based).
    pub fn lr(&self, base: f32, epoch: usize, step: usize, steps_per_epoch: usize, epochs: usize) -> f32 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every_epochs, gamma } => {
                base * gamma.powi((epoch / every_epochs.max(1)) as i32)
            }
            LrSchedule::Cosine => {
                let t = (epoch * steps_per_epoch + step) as f64;
                let total = (epochs * steps_per_epoch).max(1) as f64;
                (base as f64 * 0.5 * (1.0 + (PI * t / total).cos())) as f32
            }
        }
    }
}

/// Where the data comes from and how its columns are read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    /// `builtin:NAME` or a CSV path.
    pub data: String,
    /// A separate test file (instead of a test fraction).
    #[serde(default)]
    pub test_data: Option<String>,
    /// Column choices.
    pub prepare: PrepareOptions,
    /// Sliding windows over a signal (sequence models), split by time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<crate::data::WindowOptions>,
    /// Long-format rows grouped into sequences by an id column (sequence
    /// models), split by sequence id. After training it holds the steps and
    /// feature columns the model was trained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequences: Option<crate::data::SequenceOptions>,
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model body.
    pub model: ModelSpec,
    /// Passes over the training split.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Optimizer, learning rate, decay, clipping.
    pub optimizer: OptimizerConfig,
    /// Learning rate schedule.
    pub lr_schedule: LrSchedule,
    /// Stop after this many epochs without a better validation loss, keeping
    /// the best weights (default 10; ignored without validation rows).
    pub early_stopping: Option<usize>,
    /// Seed of the split, initialization, shuffles and dropout.
    pub seed: u64,
    /// Validation fraction.
    pub val_frac: f64,
    /// Test fraction (ignored with a separate test file).
    pub test_frac: f64,
    /// Missing-value policy.
    pub missing: MissingPolicy,
    /// Feature normalization.
    pub normalize: Normalize,
    /// Train (and validate) only on rows whose column equals the value.
    pub train_filter: Option<(String, String)>,
    /// GPU memory budget in bytes (None: [`default_gpu_budget`]).
    #[serde(default)]
    pub max_gpu_mem: Option<u64>,
    /// How the trained model is calibrated, given an operating point and
    /// evaluated for a clinical reader.
    #[serde(default)]
    pub evaluation: EvaluationOptions,
    /// Cross-validation: this run trains on the other folds and tests on
    /// one (see [`crate::data::k_folds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<Fold>,
}

/// One fold of a cross-validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// Folds in all.
    pub folds: usize,
    /// The held-out fold, 0-based.
    pub index: usize,
    /// Seed of the fold assignment (one per repeat).
    pub seed: u64,
    /// Fold only the training and validation rows of the run's usual
    /// split, leaving its test rows untouched (hyperparameter search).
    #[serde(default)]
    pub holdout_test: bool,
}

/// Whether a classifier's probabilities get a temperature fitted on the
/// validation split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibrate {
    /// A temperature for classifiers, nothing for other tasks.
    #[default]
    Auto,
    /// A temperature; asking for it on a task without classes is an error.
    Temperature,
    /// The probabilities as trained.
    None,
}

/// What a run does after training besides the metrics: calibration, the
/// operating point, the intervals' bootstrap, subgroup analysis, and the
/// model card's intended use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvaluationOptions {
    /// Temperature scaling of classifier probabilities.
    pub calibrate: Calibrate,
    /// A binary classifier's threshold rule, chosen on the validation split.
    pub operating_point: Option<crate::metrics::operating::OperatingRule>,
    /// Resamples of the bootstrap intervals (AUC, F1, Brier, R², MAE).
    pub bootstrap: usize,
    /// Columns whose values define subgroups of the test rows.
    pub subgroups: Vec<String>,
    /// What the model is for, in the model card's words.
    pub intended_use: Option<String>,
}

impl Default for EvaluationOptions {
    fn default() -> Self {
        EvaluationOptions {
            calibrate: Calibrate::Auto,
            operating_point: None,
            bootstrap: 2000,
            subgroups: Vec::new(),
            intended_use: None,
        }
    }
}

/// The memory budget when none is given: 4 GiB, or the adapter's largest
/// buffer when that is larger. Software adapters never report running out of
/// memory, so the budget is what protects the machine.
pub fn default_gpu_budget(limits: &wgpu::Limits) -> u64 {
    limits.max_buffer_size.max(4 << 30)
}

/// Parses a size such as `512M`, `2G`, `1.5GiB` or `1000000` (bytes; K, M, G
/// and T count in 1024s).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.trim().parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    (v.is_finite() && v > 0.0).then_some((v * mult as f64) as u64)
}

/// Epochs without a better validation loss before a run stops (and keeps
/// its best epoch's weights), unless told otherwise.
pub const DEFAULT_PATIENCE: usize = 10;

impl Default for TrainConfig {
    /// The default job: MLP 64-32 ReLU, Adam 1e-3, batch 32, 20 epochs,
    /// early stopping with patience 10 and the best epoch's weights kept,
    /// 70/15/15, z-score, missing values are an error.
    fn default() -> Self {
        TrainConfig {
            model: ModelSpec::mlp(&[64, 32], crate::graph::Act::Relu, 0.0),
            epochs: 20,
            batch_size: 32,
            optimizer: OptimizerConfig::adam(1e-3),
            lr_schedule: LrSchedule::Constant,
            early_stopping: Some(DEFAULT_PATIENCE),
            seed: 42,
            val_frac: 0.15,
            test_frac: 0.15,
            missing: MissingPolicy::Error,
            normalize: Normalize::Zscore,
            train_filter: None,
            max_gpu_mem: None,
            evaluation: EvaluationOptions::default(),
            fold: None,
        }
    }
}

impl DataSource {
    /// A built-in data set with its default target.
    pub fn builtin(name: &str) -> DataSource {
        DataSource {
            data: format!("builtin:{name}"),
            test_data: None,
            prepare: PrepareOptions::default(),
            window: None,
            sequences: None,
        }
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn schedules_follow_their_formulas() {
        assert_eq!(LrSchedule::Constant.lr(0.1, 5, 3, 10, 20), 0.1);
        let s = LrSchedule::Step { every_epochs: 10, gamma: 0.5 };
        assert_eq!(s.lr(0.1, 9, 0, 10, 30), 0.1);
        assert!((s.lr(0.1, 10, 0, 10, 30) - 0.05).abs() < 1e-9);
        assert!((s.lr(0.1, 25, 0, 10, 30) - 0.025).abs() < 1e-9);
        assert!((LrSchedule::Cosine.lr(0.1, 0, 0, 10, 2) - 0.1).abs() < 1e-9);
        assert!((LrSchedule::Cosine.lr(0.1, 1, 0, 10, 2) - 0.05).abs() < 1e-7);
        assert!(LrSchedule::Cosine.lr(0.1, 1, 9, 10, 2) < 0.003);
    }

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("12 kb"), Some(12 << 10));
        for bad in ["", "G", "-1G", "1X", "abc"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}

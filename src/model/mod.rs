//! The saved model and what every user of one shares: `model.json` and
//! its weights, the training configuration it records, checkpoint files,
//! reading new data as the model was trained on it, the inference program,
//! metrics of its outputs and predictions as CSV.
//!
//! Training writes a saved model and inference reads one; neither imports
//! the other, both import this module.

pub mod checkpoint;
pub mod clinical;
pub mod config;
pub mod decision;
pub mod evaluate;
pub mod explain;
pub mod infer;
pub mod predictions;
pub mod read;
pub mod saved;

pub use config::{Calibrate, DataSource, EvaluationOptions, LrSchedule, TrainConfig};
pub use decision::{Decision, OperatingPoint};
pub use evaluate::{format_metrics, metrics_for, probabilities, probabilities_at, Metrics};
pub use infer::{run_model, Inference, INFER_BATCH};
pub use predictions::{predictions_csv, Predictions};
pub use read::{load_raw, load_raw_as, windows_for};
pub use saved::{head_for, ModelFile, TargetScale, TrainedModel};

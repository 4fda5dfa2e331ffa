//! The run report: `report.html`, one self-contained page (inline SVG, no
//! scripts, nothing fetched) that a clinician or regulator can read or
//! print, and `model_card.json` with the same content for machines.
//! Training writes both into the run directory; `medgpu report` rebuilds
//! them, on the run's own test split or on other data.
//!
//! The page is a pure function of its input: the same run gives the same
//! bytes.

pub mod card;
pub mod charts;
mod html;
pub mod svg;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::model::checkpoint::{to_json, write_atomic};
use crate::model::clinical::{clinical_figures, ClinicalFigures, Outcomes};
use crate::model::explain::{explain_normalized, Baseline, Method, Rule, Target};
use crate::model::TrainedModel;
use crate::model::{Metrics, ModelFile};
pub use card::{model_card, DataSummary, ModelCard};
use std::path::Path;
use std::sync::Arc;

/// What a report is built from.
pub struct ReportInput<'a> {
    /// The saved model.
    pub file: &'a ModelFile,
    /// The model's name and layers in words.
    pub model_description: String,
    /// `(epoch, training loss, validation loss)` of each epoch.
    pub learning_curve: Vec<(usize, f64, f64)>,
    /// What the model was trained on.
    pub training_data: DataSummary,
    /// What it is evaluated on.
    pub evaluation: Evaluation<'a>,
    /// Global feature importance: the method in words, and each input's
    /// mean absolute attribution.
    pub importance: Option<(String, Vec<(String, f64)>)>,
}

/// The rows a report evaluates the model on.
pub struct Evaluation<'a> {
    /// In words, e.g. "the test split of builtin:breast_cancer (86 rows)".
    pub description: String,
    /// Whether the rows come from another source than the training data.
    pub external: bool,
    /// The validation rows (for the point at sensitivity 0.95), when known.
    pub val: Option<Outcomes<'a>>,
    /// The rows evaluated.
    pub test: Outcomes<'a>,
    /// Their normalized inputs (an autoencoder's errors need them).
    pub inputs: &'a [f32],
    /// Each subgroup column's value for every evaluated row.
    pub subgroups: Vec<(String, Vec<String>)>,
    /// The point estimates on them.
    pub metrics: Option<Metrics>,
}

/// A built report.
pub struct Report {
    /// `report.html`.
    pub html: String,
    /// `model_card.json`'s content.
    pub card: ModelCard,
}

/// Builds the report of `input`.
pub fn build(input: &ReportInput) -> Report {
    let e = &input.evaluation;
    let clinical: Option<ClinicalFigures> = clinical_figures(input.file, e.val, e.test, &e.subgroups);
    let card = model_card(input, clinical.as_ref());
    let html = html::page(input, &card);
    Report { html, card }
}

/// Writes `report.html` and `model_card.json` into `dir`, each atomically.
pub fn write(dir: &Path, report: &Report) -> Result<()> {
    write_atomic(&dir.join("report.html"), report.html.as_bytes())?;
    write_atomic(&dir.join("model_card.json"), &to_json(&report.card)?)
}

/// Rows the global feature importance averages over (the first ones).
pub const IMPORTANCE_ROWS: usize = 100;

/// Global feature importance: each input's mean absolute attribution over
/// the first [`IMPORTANCE_ROWS`] of `normalized` (rows x inputs, the
/// saved preprocessing applied): integrated gradients from the training
/// mean (20 Gauss-Legendre points) for the default output, or an
/// autoencoder's error shares. `None`, with a warning in the log, when the
/// model cannot be explained.
pub fn global_importance(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    normalized: &[f32],
) -> Option<(String, Vec<(String, f64)>)> {
    let cols = model.file.encoding.num_features().max(1);
    let rows = (normalized.len() / cols).min(IMPORTANCE_ROWS);
    if rows == 0 {
        return None;
    }
    let x = normalized[..rows * cols].to_vec();
    let (method, words) = match model.file.task {
        crate::data::Task::Reconstruct => (Method::ErrorShare, format!("Share of the reconstruction error, mean over {rows} evaluation rows")),
        _ => (
            Method::IntegratedGradients { steps: 20, rule: Rule::GaussLegendre, baseline: Baseline::TrainMean },
            format!("Integrated gradients from the training mean (20 points), mean absolute attribution over {rows} evaluation rows"),
        ),
    };
    match explain_normalized(gpu, model, x, Target::Default, &method) {
        Ok(e) => Some((words, e.features.iter().cloned().zip(e.importance()).collect())),
        Err(err) => {
            log::warn!("report: no feature importance: {err}");
            None
        }
    }
}

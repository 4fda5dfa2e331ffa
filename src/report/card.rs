//! The model card (Mitchell et al., 2019) of a run: what the model is, what
//! it is for, what it was trained and evaluated on, its figures with their
//! intervals, its subgroups and its caveats. `model_card.json` holds it for
//! machines; `report.html` shows the same for people.

use super::ReportInput;
use crate::data::Task;
use crate::model::clinical::{ClinicalFigures, MIN_SUBGROUP_ROWS};
use crate::model::Metrics;
use serde::{Deserialize, Serialize};

/// A test set smaller than this gets a caveat.
const SMALL_TEST_ROWS: usize = 100;

/// The model card.
#[derive(Clone, Debug, Serialize)]
pub struct ModelCard {
    /// What the model is.
    pub model_details: ModelDetails,
    /// What it is for (`--intended-use`), or a note that nobody said.
    pub intended_use: String,
    /// What it was trained on.
    pub training_data: DataSummary,
    /// What the figures below were measured on.
    pub evaluation_data: EvaluationData,
    /// The point estimates on the evaluation rows.
    pub metrics: Option<Metrics>,
    /// Intervals, calibration, operating points and subgroups.
    pub clinical: Option<ClinicalFigures>,
    /// What a reader should keep in mind.
    pub caveats: Vec<String>,
}

/// The model's description.
#[derive(Clone, Debug, Serialize)]
pub struct ModelDetails {
    /// The model's name and layers.
    pub model: String,
    /// classify, regress or reconstruct.
    pub task: Task,
    /// Its inputs, in order.
    pub inputs: Vec<String>,
    /// What it predicts.
    pub output: String,
    /// The medgpu version that trained it.
    pub medgpu_version: String,
    /// Optimizer, epochs, batch size and seed, in words.
    pub training: String,
    /// The temperature and operating point, in words.
    pub decision: String,
}

/// A data set's description.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DataSummary {
    /// `builtin:NAME` or the file's path.
    pub source: String,
    /// SHA-256 of the file's bytes (hex), when it is one file.
    pub sha256: Option<String>,
    /// Usable rows.
    pub rows: usize,
    /// Rows in the training, validation and test splits.
    pub split: [usize; 3],
    /// Classifiers: rows of each class in the training, validation and test splits.
    pub class_balance: Vec<(String, [usize; 3])>,
}

/// What the figures were measured on.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluationData {
    /// In words.
    pub description: String,
    /// Rows.
    pub rows: usize,
    /// Whether the rows come from another source than the training data.
    pub external: bool,
    /// Classifiers: rows of each class.
    pub class_counts: Vec<(String, usize)>,
}

/// The card of a report's input.
pub fn model_card(input: &ReportInput, clinical: Option<&ClinicalFigures>) -> ModelCard {
    let f = input.file;
    let opt = &f.training.optimizer;
    let training = format!(
        "{:?}, learning rate {}, {} epochs of batches of {}, seed {}",
        opt.kind, opt.lr, f.training.epochs, f.training.batch_size, f.training.seed
    );
    let d = &f.decision;
    let decision = match (f.task, &d.operating_point) {
        (Task::Classify, Some(o)) => format!(
            "probabilities with temperature {:.3}; positive at probability >= {:.3} (operating point {}, chosen on the validation split)",
            d.temperature, o.threshold, o.rule
        ),
        (Task::Classify, None) => format!(
            "probabilities with temperature {:.3}; {}",
            d.temperature,
            if f.encoding.num_classes() == Some(2) { "positive at probability >= 0.5" } else { "the most probable class" }
        ),
        _ => "outputs as trained".to_string(),
    };
    let output = f.encoding.target.as_ref().map_or_else(
        || "the reconstruction of its inputs".to_string(),
        |t| match f.encoding.num_classes() {
            Some(_) if f.task == Task::Classify => format!("the class of '{}'", t.name()),
            _ => format!("'{}'", t.name()),
        },
    );
    ModelCard {
        model_details: ModelDetails {
            model: input.model_description.clone(),
            task: f.task,
            inputs: f.feature_names.clone(),
            output,
            medgpu_version: f.medgpu_version.clone(),
            training,
            decision,
        },
        intended_use: f.training.evaluation.intended_use.clone().unwrap_or_else(|| {
            "Not stated: give it with --intended-use \"...\" (the population, the clinical question, and who acts on the output).".into()
        }),
        training_data: input.training_data.clone(),
        evaluation_data: EvaluationData {
            description: input.evaluation.description.clone(),
            rows: input.evaluation.test.targets.len() / f.encoding.target_width().max(1),
            external: input.evaluation.external,
            class_counts: class_counts(input),
        },
        metrics: input.evaluation.metrics.clone(),
        clinical: clinical.cloned(),
        caveats: caveats(input, clinical),
    }
}

/// What a reader should keep in mind, from the figures themselves.
fn caveats(input: &ReportInput, clinical: Option<&ClinicalFigures>) -> Vec<String> {
    let mut out = Vec::new();
    let rows = input.evaluation.test.outputs.len() / input.evaluation.test.cols.max(1);
    if rows < SMALL_TEST_ROWS {
        out.push(format!(
            "Small evaluation set: {rows} rows. The 95% intervals are wide; read them, not the point estimates."
        ));
    }
    if !input.evaluation.external {
        out.push(
            "No external validation: the evaluation rows come from the same source as the training rows. \
             Performance at another site, time or population is unknown until measured (medgpu report --data FILE)."
                .into(),
        );
    }
    if let Some(c) = clinical {
        if let Some(cal) = &c.calibration {
            if cal.after.ece > 0.05 {
                out.push(format!(
                    "Probabilities are not well calibrated on the evaluation rows (ECE {:.3} after the temperature).",
                    cal.after.ece
                ));
            }
        }
        for col in &c.subgroups {
            let small: Vec<String> = col
                .groups
                .iter()
                .filter(|g| g.too_small)
                .map(|g| format!("{} (n {})", g.value, g.n))
                .collect();
            if !small.is_empty() {
                out.push(format!(
                    "Subgroups of {} too small to report (fewer than {MIN_SUBGROUP_ROWS} rows): {}.",
                    col.column,
                    small.join(", ")
                ));
            }
        }
    }
    if let Some((label, n)) = class_counts(input).into_iter().min_by_key(|(_, n)| *n) {
        if n < 30 {
            out.push(format!(
                "Few evaluation rows of class '{label}' ({n}): the figures that depend on it (sensitivity, recall) are uncertain."
            ));
        }
    }
    if input.file.source.window.is_some() {
        out.push(
            "Windows of one record: the test period is the end of the same record, not another patient."
                .into(),
        );
    }
    out
}

/// A classifier's evaluation rows per class label (empty for other tasks).
fn class_counts(input: &ReportInput) -> Vec<(String, usize)> {
    let labels = input.file.encoding.class_labels();
    if input.file.task != Task::Classify {
        return Vec::new();
    }
    let mut counts = vec![0usize; labels.len()];
    for t in input.evaluation.test.targets {
        if let Some(c) = counts.get_mut(*t as usize) {
            *c += 1;
        }
    }
    labels.into_iter().zip(counts).collect()
}

/// The SHA-256 (hex) of a data source's bytes: a file, or a built-in data
/// set as the binary carries it; `None` for a folder or an unreadable path.
///
/// ```
/// let h = medgpu::report::card::source_sha256("builtin:breast_cancer").unwrap();
/// assert_eq!(h.len(), 64);
/// ```
pub fn source_sha256(source: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    match source.strip_prefix("builtin:") {
        Some(name) => hasher.update(crate::data::builtin_csv(name)?.as_bytes()),
        // streamed: a large data file is never held whole
        None if std::path::Path::new(source).is_file() => {
            use std::io::Read;
            let mut file = std::fs::File::open(source).ok()?;
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                let n = file.read(&mut chunk).ok()?;
                if n == 0 {
                    break;
                }
                hasher.update(&chunk[..n]);
            }
        }
        None => return None,
    }
    Some(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

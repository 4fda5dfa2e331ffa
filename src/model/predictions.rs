//! A model's outputs in the data's terms (class and probabilities, values
//! in the target's units, reconstruction errors), and the same as CSV.

use super::evaluate::reconstruction_errors;
use super::infer::Inference;
use super::saved::{ModelFile, TargetScale};
use crate::data::{Dataset, TargetEncoding, Task};

/// Predictions for a set of rows, by task.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    /// Classification.
    Classes {
        /// The class labels, in index order.
        labels: Vec<String>,
        /// Each row's predicted class (an index into `labels`): at the
        /// model's operating point for two classes, else the most probable
        /// (the first on ties).
        predicted: Vec<usize>,
        /// Each row's probability of each class (with the model's
        /// temperature): rows x `labels.len()`.
        probabilities: Vec<f64>,
    },
    /// Regression, in the target's own units.
    Values {
        /// The target columns (several for a multi-step forecast).
        names: Vec<String>,
        /// rows x `names.len()` values.
        values: Vec<f32>,
    },
    /// Autoencoders.
    Reconstruction {
        /// Each row's mean squared reconstruction error (normalized units).
        errors: Vec<f64>,
        /// The bottleneck code: (columns, rows x columns values).
        code: Option<(usize, Vec<f32>)>,
    },
}

impl Predictions {
    /// The predictions of `file`'s model given its raw outputs `inf`.
    pub fn from_inference(file: &ModelFile, inf: &Inference) -> Predictions {
        match file.task {
            Task::Classify => classes(file, inf),
            Task::Regress => {
                let s = file.target_scale.unwrap_or(TargetScale { mean: 0.0, std: 1.0 });
                let names = match &file.encoding.target {
                    Some(TargetEncoding::Value { name, more }) if !more.is_empty() => {
                        std::iter::once(name).chain(more).cloned().collect()
                    }
                    Some(t) => vec![t.name().to_string()],
                    None => vec!["value".to_string()],
                };
                Predictions::Values {
                    names,
                    values: inf.outputs.iter().map(|v| v * s.std + s.mean).collect(),
                }
            }
            Task::Reconstruct => Predictions::Reconstruction {
                errors: reconstruction_errors(&inf.outputs, &inf.inputs, inf.cols),
                code: inf.code.clone(),
            },
        }
    }

    /// Number of rows predicted.
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Classes { predicted, .. } => predicted.len(),
            Predictions::Values { names, values } => values.len() / names.len().max(1),
            Predictions::Reconstruction { errors, .. } => errors.len(),
        }
    }

    /// Each row's predicted class label (empty for other tasks).
    pub fn predicted_labels(&self) -> Vec<&str> {
        match self {
            Predictions::Classes { labels, predicted, .. } => {
                predicted.iter().map(|c| labels.get(*c).map(String::as_str).unwrap_or("")).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Class probabilities with the saved temperature (a binary model's one
/// logit becomes two columns) and each row's class: at the saved
/// operating point for a binary model, the most probable otherwise.
fn classes(file: &ModelFile, inf: &Inference) -> Predictions {
    let labels: Vec<String> = match &file.encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
        _ => Vec::new(),
    };
    let probs = file.decision.probabilities(&inf.outputs, inf.cols);
    let predicted = file.decision.classes(&probs, inf.cols);
    let all: Vec<f64> =
        if inf.cols == 1 { probs.iter().flat_map(|p1| [1.0 - p1, *p1]).collect() } else { probs };
    Predictions::Classes { labels, predicted, probabilities: all }
}

/// A CSV field, quoted where it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header: line, id (if the data has one), then by task.
fn csv_header(pred: &Predictions, has_id: bool) -> String {
    let mut out = String::from("line");
    if has_id {
        out.push_str(",id");
    }
    match pred {
        Predictions::Classes { labels, .. } => {
            out.push_str(",predicted");
            for l in labels {
                out.push_str(&format!(",{}", csv_field(&format!("prob_{l}"))));
            }
        }
        Predictions::Values { names, .. } if names.len() > 1 => {
            for n in names {
                out.push_str(&format!(",{}", csv_field(&format!("predicted_{n}"))));
            }
        }
        Predictions::Values { .. } => out.push_str(",predicted"),
        Predictions::Reconstruction { code, .. } => {
            out.push_str(",reconstruction_error");
            if let Some((c, _)) = code {
                for j in 0..*c {
                    out.push_str(&format!(",code_{j}"));
                }
            }
        }
    }
    out.push('\n');
    out
}

/// Predictions as CSV: the source line, the id (if the data has one), then
/// by task the predicted class and each class's probability, the predicted
/// value, or the reconstruction error and the bottleneck code.
pub fn predictions_csv(file: &ModelFile, ds: &Dataset, rows: &[usize], inf: &Inference) -> String {
    let has_id = !ds.ids.is_empty();
    let pred = Predictions::from_inference(file, inf);
    let mut out = csv_header(&pred, has_id);
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&ds.lines[*r].to_string());
        if has_id {
            out.push_str(&format!(",{}", csv_field(ds.ids.get(*r).map(String::as_str).unwrap_or(""))));
        }
        match &pred {
            Predictions::Classes { labels, predicted, probabilities } => {
                let k = probabilities.len() / predicted.len().max(1);
                let label = labels.get(predicted[i]).map(String::as_str).unwrap_or("");
                out.push_str(&format!(",{}", csv_field(label)));
                for v in &probabilities[i * k..(i + 1) * k] {
                    out.push_str(&format!(",{v:.6}"));
                }
            }
            Predictions::Values { names, values } => {
                let k = names.len().max(1);
                for v in &values[i * k..(i + 1) * k] {
                    out.push_str(&format!(",{v}"));
                }
            }
            Predictions::Reconstruction { errors, code } => {
                out.push_str(&format!(",{:.6}", errors[i]));
                if let Some((c, code)) = code {
                    for v in &code[i * c..(i + 1) * c] {
                        out.push_str(&format!(",{v}"));
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

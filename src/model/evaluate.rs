//! Turning a model's outputs into predictions and metrics for each task, and
//! printing them as a table.

use super::saved::{ModelFile, TargetScale};
use crate::data::{Encoding, TargetEncoding, Task};
use crate::metrics::{
    binary_metrics, binary_metrics_at, multiclass_metrics, regression_metrics, BinaryMetrics,
    MulticlassMetrics, RegressionMetrics,
};
use serde::Serialize;

/// Reconstruction (autoencoder) metrics.
#[derive(Clone, Debug, Serialize)]
pub struct ReconstructionMetrics {
    /// Mean over rows of each row's mean squared reconstruction error (normalized features).
    pub mse: f64,
    /// ROC-AUC of the reconstruction error as a score for the second label
    /// (e.g. malignant), when the data has a two-class label column.
    pub anomaly_roc_auc: Option<f64>,
}

/// Metrics of one split, by task.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Two classes.
    Binary(BinaryMetrics),
    /// More than two classes.
    Multiclass(MulticlassMetrics),
    /// Regression.
    Regression(RegressionMetrics),
    /// Autoencoder.
    Reconstruction(ReconstructionMetrics),
}

impl Metrics {
    /// The loss used for model selection and early stopping (lower is better):
    /// log-loss, MSE (original units) or reconstruction MSE.
    pub fn selection_loss(&self) -> f64 {
        match self {
            Metrics::Binary(m) => m.log_loss,
            Metrics::Multiclass(m) => m.log_loss,
            Metrics::Regression(m) => m.mse,
            Metrics::Reconstruction(m) => m.mse,
        }
    }

    /// The headline figure and its name: accuracy, MSE or reconstruction MSE.
    pub fn headline(&self) -> (&'static str, f64) {
        match self {
            Metrics::Binary(m) => ("accuracy", m.accuracy),
            Metrics::Multiclass(m) => ("accuracy", m.accuracy),
            Metrics::Regression(m) => ("mse", m.mse),
            Metrics::Reconstruction(m) => ("recon_mse", m.mse),
        }
    }

    /// Accuracy for classification, NaN otherwise.
    pub fn accuracy(&self) -> f64 {
        match self {
            Metrics::Binary(m) => m.accuracy,
            Metrics::Multiclass(m) => m.accuracy,
            _ => f64::NAN,
        }
    }
}

/// Class probabilities from logits: sigmoid for one output (probability of
/// class 1), softmax otherwise; rows x outputs.
pub fn probabilities(logits: &[f32], outputs: usize) -> Vec<f64> {
    probabilities_at(logits, outputs, 1.0)
}

/// [`probabilities`] of logits / `temperature`.
pub fn probabilities_at(logits: &[f32], outputs: usize, temperature: f64) -> Vec<f64> {
    let t = temperature;
    if outputs == 1 {
        return logits.iter().map(|z| 1.0 / (1.0 + (-(*z as f64) / t).exp())).collect();
    }
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(outputs) {
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64 / t;
        let s: f64 = row.iter().map(|v| (*v as f64 / t - mx).exp()).sum();
        out.extend(row.iter().map(|v| (*v as f64 / t - mx).exp() / s));
    }
    out
}

/// Per-row mean squared reconstruction error.
pub fn reconstruction_errors(recon: &[f32], inputs: &[f32], cols: usize) -> Vec<f64> {
    recon
        .chunks(cols)
        .zip(inputs.chunks(cols))
        .map(|(r, x)| r.iter().zip(x).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / cols as f64)
        .collect()
}

/// Metrics from a model's raw outputs for some rows, as `file`'s model
/// answers: with its temperature and (binary) operating point.
///
/// `outputs` are the logits / values / reconstructions (rows x cols),
/// `targets` the rows' targets (class index or value in original units;
/// empty when there are none) and `inputs` the rows' normalized features
/// (used by reconstruction).
pub fn metrics_for(
    file: &ModelFile,
    outputs: &[f32],
    cols: usize,
    targets: &[f32],
    inputs: &[f32],
) -> Metrics {
    let encoding = &file.encoding;
    let d = &file.decision;
    match encoding.task {
        Task::Classify => {
            let labels: Vec<u32> = targets.iter().map(|t| *t as u32).collect();
            let probs = d.probabilities(outputs, cols);
            if cols == 1 {
                Metrics::Binary(binary_metrics_at(&labels, &probs, d.threshold()))
            } else {
                Metrics::Multiclass(multiclass_metrics(&labels, &probs, cols))
            }
        }
        Task::Regress => {
            let s = file.target_scale.unwrap_or(TargetScale { mean: 0.0, std: 1.0 });
            let preds: Vec<f64> = outputs.iter().map(|v| (*v * s.std + s.mean) as f64).collect();
            let t: Vec<f64> = targets.iter().map(|v| *v as f64).collect();
            Metrics::Regression(regression_metrics(&t, &preds))
        }
        Task::Reconstruct => {
            let errs = reconstruction_errors(outputs, inputs, cols);
            let mse = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
            let two_classes =
                matches!(&encoding.target, Some(TargetEncoding::Classes { labels, .. }) if labels.len() == 2);
            let anomaly_roc_auc = (two_classes && targets.len() == errs.len()).then(|| {
                let labels: Vec<u32> = targets.iter().map(|t| *t as u32).collect();
                // the AUC of a score is rank-based, so the error serves as a probability
                let max = errs.iter().cloned().fold(0.0, f64::max).max(1e-30);
                let scores: Vec<f64> = errs.iter().map(|e| e / max).collect();
                binary_metrics(&labels, &scores).roc_auc
            });
            Metrics::Reconstruction(ReconstructionMetrics { mse, anomaly_roc_auc })
        }
    }
}

fn labels_of(encoding: &Encoding) -> Vec<String> {
    match &encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
        _ => Vec::new(),
    }
}

/// A readable table of the metrics.
pub fn format_metrics(title: &str, m: &Metrics, encoding: &Encoding) -> String {
    let mut s = format!("{title}\n");
    let line = |s: &mut String, k: &str, v: f64| s.push_str(&format!("  {k:<22} {v:.4}\n"));
    match m {
        Metrics::Binary(b) => {
            let labels = labels_of(encoding);
            let pos = labels.get(1).cloned().unwrap_or_else(|| "1".into());
            line(&mut s, "accuracy", b.accuracy);
            line(&mut s, &format!("recall ({pos})"), b.recall);
            line(&mut s, "precision", b.precision);
            line(&mut s, "specificity", b.specificity);
            line(&mut s, "f1", b.f1);
            line(&mut s, "roc_auc", b.roc_auc);
            line(&mut s, "log_loss", b.log_loss);
            s.push_str(&format!(
                "  confusion (rows actual, columns predicted; {} / {}):\n    {:>6} {:>6}\n    {:>6} {:>6}\n",
                labels.first().cloned().unwrap_or_else(|| "0".into()),
                pos,
                b.confusion[0][0],
                b.confusion[0][1],
                b.confusion[1][0],
                b.confusion[1][1]
            ));
        }
        Metrics::Multiclass(mc) => {
            let labels = labels_of(encoding);
            line(&mut s, "accuracy", mc.accuracy);
            line(&mut s, "macro precision", mc.macro_precision);
            line(&mut s, "macro recall", mc.macro_recall);
            line(&mut s, "macro f1", mc.macro_f1);
            line(&mut s, "macro roc_auc (ovr)", mc.macro_roc_auc);
            line(&mut s, "log_loss", mc.log_loss);
            s.push_str(&format!(
                "  {:<10} {:>9} {:>9} {:>11} {:>9} {:>8}\n",
                "class", "precision", "recall", "specificity", "f1", "support"
            ));
            for (i, c) in mc.per_class.iter().enumerate() {
                let name = labels.get(i).cloned().unwrap_or_else(|| i.to_string());
                s.push_str(&format!(
                    "  {:<10} {:>9.4} {:>9.4} {:>11.4} {:>9.4} {:>8}\n",
                    name, c.precision, c.recall, c.specificity, c.f1, c.support
                ));
            }
            s.push_str("  confusion (rows actual, columns predicted):\n");
            for row in &mc.confusion {
                s.push_str("   ");
                for v in row {
                    s.push_str(&format!(" {v:>5}"));
                }
                s.push('\n');
            }
        }
        Metrics::Regression(r) => {
            line(&mut s, "mse", r.mse);
            line(&mut s, "mae", r.mae);
            line(&mut s, "r2", r.r2);
        }
        Metrics::Reconstruction(r) => {
            line(&mut s, "reconstruction mse", r.mse);
            if let Some(a) = r.anomaly_roc_auc {
                let pos = labels_of(encoding).get(1).cloned().unwrap_or_default();
                line(&mut s, &format!("anomaly roc_auc ({pos})"), a);
            }
        }
    }
    s
}

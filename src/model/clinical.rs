//! The test figures a clinical reader asks for beside the point estimates:
//! 95% intervals (Wilson for proportions, a seeded stratified bootstrap for
//! the AUC, F1 and Brier score) and how honest the probabilities are (ECE,
//! MCE and Brier before and after one temperature fitted on the
//! validation split).

use super::evaluate::probabilities;
use crate::metrics::calibration::{brier, calibration_errors, fit_temperature};
use crate::metrics::intervals::{bootstrap, wilson, Z95};
use crate::metrics::{argmax, binary_metrics, roc_auc_of};
use serde::Serialize;

/// Resamples of the bootstrap intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A figure with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WithInterval {
    /// The figure on the test rows.
    pub value: f64,
    /// Its 95% confidence interval.
    pub ci95: [f64; 2],
}

/// Calibration of the probabilities on the test rows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Expected calibration error (15 bins).
    pub ece: f64,
    /// Maximum calibration error.
    pub mce: f64,
    /// Brier score.
    pub brier: f64,
}

/// What `summary.json` reports beside the metrics of a classifier.
#[derive(Clone, Debug, Serialize)]
pub struct ClinicalFigures {
    /// Binary models: accuracy, sensitivity, specificity, PPV and NPV with
    /// Wilson intervals; AUC, F1 and Brier with bootstrap intervals.
    /// Multiclass models: accuracy (Wilson). In this order; JSON: an
    /// object of `{"value", "ci95"}` by name.
    #[serde(serialize_with = "in_order")]
    pub test_ci95: Vec<(String, WithInterval)>,
    /// The test probabilities' calibration as trained.
    pub calibration_before: Calibration,
    /// The temperature that fits the validation rows best.
    pub temperature: f64,
    /// The test probabilities' calibration with that temperature (not yet
    /// applied to predictions).
    pub calibration_after: Calibration,
}

/// The figures for a classifier with `k` logit columns (1: binary), from
/// the validation and test rows' labels and logits.
pub fn clinical_figures(
    val: (&[u32], &[f32]),
    test: (&[u32], &[f32]),
    k: usize,
    seed: u64,
) -> ClinicalFigures {
    let temperature = fit_temperature(val.0, val.1, k);
    let calib = |t: f64| {
        let scaled: Vec<f32> = test.1.iter().map(|z| (*z as f64 / t) as f32).collect();
        let p = probabilities(&scaled, k);
        let (ece, mce) = calibration_errors(test.0, &p, k);
        Calibration { ece, mce, brier: brier(test.0, &p, k) }
    };
    let probs = probabilities(test.1, k);
    let test_ci95 =
        if k == 1 { binary_intervals(test.0, &probs, seed) } else { accuracy_interval(test.0, &probs, k) };
    ClinicalFigures {
        test_ci95,
        calibration_before: calib(1.0),
        temperature,
        calibration_after: calib(temperature),
    }
}

fn binary_intervals(labels: &[u32], probs: &[f64], seed: u64) -> Vec<(String, WithInterval)> {
    let m = binary_metrics(labels, probs);
    let [[tn, fp], [fn_, tp]] = m.confusion;
    let prop = |name: &str, k: u64, n: u64| {
        let (lo, hi) = wilson(k, n, Z95);
        (
            name.to_string(),
            WithInterval { value: if n > 0 { k as f64 / n as f64 } else { 0.0 }, ci95: [lo, hi] },
        )
    };
    let boot = |name: &str, value: f64, f: &dyn Fn(&[u32], &[f64]) -> f64| {
        let (lo, hi) = bootstrap(labels, probs, BOOTSTRAP_RESAMPLES, seed, f);
        (name.to_string(), WithInterval { value, ci95: [lo, hi] })
    };
    vec![
        prop("accuracy", tp + tn, tp + tn + fp + fn_),
        prop("sensitivity", tp, tp + fn_),
        prop("specificity", tn, tn + fp),
        prop("ppv", tp, tp + fp),
        prop("npv", tn, tn + fn_),
        boot("roc_auc", m.roc_auc, &roc_auc_of),
        boot("f1", m.f1, &|l, p| binary_metrics(l, p).f1),
        boot("brier", brier(labels, probs, 1), &|l, p| brier(l, p, 1)),
    ]
}

fn accuracy_interval(labels: &[u32], probs: &[f64], k: usize) -> Vec<(String, WithInterval)> {
    let right = probs.chunks(k).zip(labels).filter(|(row, y)| argmax(row) == **y as usize).count() as u64;
    let n = labels.len() as u64;
    let (lo, hi) = wilson(right, n, Z95);
    let value = if n > 0 { right as f64 / n as f64 } else { 0.0 };
    vec![("accuracy".to_string(), WithInterval { value, ci95: [lo, hi] })]
}

/// Named figures as a JSON object, in their order.
fn in_order<S: serde::Serializer>(v: &[(String, WithInterval)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, w)| (k, w)))
}

/// One line per figure, as the terminal shows it: `0.906 (0.758-0.968)`.
pub fn format_clinical(c: &ClinicalFigures) -> String {
    let mut out = String::from("test, 95% intervals:\n");
    for (name, w) in &c.test_ci95 {
        out.push_str(&format!("  {name:<22} {:.3} ({:.3}-{:.3})\n", w.value, w.ci95[0], w.ci95[1]));
    }
    let (b, a) = (c.calibration_before, c.calibration_after);
    out.push_str(&format!(
        "  calibration            ECE {:.3}, MCE {:.3}, Brier {:.4}; with temperature {:.2} (fitted on validation): ECE {:.3}, MCE {:.3}, Brier {:.4}\n",
        b.ece, b.mce, b.brier, c.temperature, a.ece, a.mce, a.brier
    ));
    out
}

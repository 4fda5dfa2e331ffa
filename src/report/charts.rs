//! The report's plots, each from the numbers it shows (computed in
//! [`crate::metrics`] and tested there against hand-worked cases).

use super::svg::{extent, Chart, Corner, COLORS};
use crate::metrics::curves::{decision_curve, precision_recall, reliability};
use crate::metrics::operating::roc_sweep;

/// Train and validation loss per epoch: `(epoch, train, validation)`.
pub fn learning_curves(epochs: &[(usize, f64, f64)]) -> String {
    let x = extent(epochs.iter().map(|e| e.0 as f64));
    let y = extent(epochs.iter().flat_map(|e| [e.1, e.2]));
    Chart::new("Learning curves", "epoch", "loss", x, (0.0_f64.min(y.0), y.1))
        .line(epochs.iter().map(|e| (e.0 as f64, e.1)).collect(), COLORS[0], false, "training loss")
        .line(epochs.iter().map(|e| (e.0 as f64, e.2)).collect(), COLORS[1], true, "validation loss")
        .to_svg()
}

/// The ROC curve with the threshold's point marked.
pub fn roc(labels: &[u32], probs: &[f64], threshold: f64, auc: &str) -> String {
    let sweep = roc_sweep(labels, probs);
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(sweep.iter().map(|p| (p.fpr, p.tpr)));
    let mut chart = Chart::new(
        &format!("ROC curve (AUC {auc})"),
        "1 - specificity",
        "sensitivity",
        (0.0, 1.0),
        (0.0, 1.0),
    )
    .line(vec![(0.0, 0.0), (1.0, 1.0)], COLORS[5], true, "chance")
    .line(pts, COLORS[0], false, "model")
    .legend_at(Corner::BottomRight);
    if let Some(p) = sweep.iter().rev().find(|p| p.threshold >= threshold) {
        chart = chart.mark(p.fpr, p.tpr, COLORS[1], &format!("threshold {threshold:.3}"));
    }
    chart.to_svg()
}

/// The precision-recall curve with the threshold's point marked.
pub fn precision_recall_curve(labels: &[u32], probs: &[f64], threshold: f64) -> String {
    let pr = precision_recall(labels, probs);
    let prevalence = labels.iter().filter(|y| **y != 0).count() as f64 / labels.len().max(1) as f64;
    let mut chart = Chart::new(
        "Precision-recall curve",
        "recall (sensitivity)",
        "precision (PPV)",
        (0.0, 1.0),
        (0.0, 1.0),
    )
    .line(vec![(0.0, prevalence), (1.0, prevalence)], COLORS[5], true, "prevalence")
    .line(pr.iter().map(|p| (p.recall, p.precision)).collect(), COLORS[0], false, "model")
    .legend_at(Corner::BottomLeft);
    if let Some(p) = pr.iter().rev().find(|p| p.threshold >= threshold) {
        chart = chart.mark(p.recall, p.precision, COLORS[1], &format!("threshold {threshold:.3}"));
    }
    chart.to_svg()
}

/// Reliability before and after the temperature: a binary model's
/// positive-class probability, or a multiclass model's top-label
/// confidence, against what was observed.
pub fn reliability_diagram(labels: &[u32], before: &[f64], after: &[f64], k: usize) -> String {
    let (what, x_label, y_label) = if k == 1 {
        ("", "predicted probability", "observed fraction positive")
    } else {
        (" (top label)", "confidence", "accuracy")
    };
    let series = |probs: &[f64]| {
        let (l, p) = if k == 1 { (labels.to_vec(), probs.to_vec()) } else { top_label(labels, probs, k) };
        reliability(&l, &p).iter().map(|b| (b.predicted, b.observed)).collect::<Vec<_>>()
    };
    let (b, a) = (series(before), series(after));
    Chart::new(&format!("Reliability diagram{what}"), x_label, y_label, (0.0, 1.0), (0.0, 1.0))
        .line(vec![(0.0, 0.0), (1.0, 1.0)], COLORS[5], true, "perfect calibration")
        .line(b.clone(), COLORS[1], false, "as trained")
        .dots(b, COLORS[1], "")
        .line(a.clone(), COLORS[0], false, "with temperature")
        .dots(a, COLORS[0], "")
        .legend_at(Corner::TopLeft)
        .to_svg()
}

/// Each row's top-label confidence, and whether that label was right (as 0/1 labels).
fn top_label(labels: &[u32], probs: &[f64], k: usize) -> (Vec<u32>, Vec<f64>) {
    probs
        .chunks(k)
        .zip(labels)
        .map(|(row, y)| {
            let best = crate::metrics::argmax(row);
            (u32::from(best == *y as usize), row[best])
        })
        .unzip()
}

/// Net benefit of the model, treat-all and treat-none.
pub fn decision(labels: &[u32], probs: &[f64]) -> String {
    let dc = decision_curve(labels, probs);
    let prevalence = labels.iter().filter(|y| **y != 0).count() as f64 / labels.len().max(1) as f64;
    let top = prevalence.max(0.01) * 1.1;
    Chart::new("Decision curve", "threshold probability", "net benefit", (0.0, 1.0), (-0.05 * top, top))
        .line(vec![(0.0, 0.0), (1.0, 0.0)], COLORS[5], true, "treat none")
        .line(dc.iter().map(|d| (d.threshold, d.treat_all)).collect(), COLORS[2], true, "treat all")
        .line(dc.iter().map(|d| (d.threshold, d.model)).collect(), COLORS[0], false, "model")
        .to_svg()
}

/// Predicted against actual values, with the identity line.
pub fn predicted_vs_actual(targets: &[f64], preds: &[f64], name: &str) -> String {
    let r = extent(targets.iter().chain(preds).copied());
    Chart::new(&format!("Predicted against actual {name}"), "actual", "predicted", r, r)
        .line(vec![(r.0, r.0), (r.1, r.1)], COLORS[5], true, "identity")
        .dots(targets.iter().copied().zip(preds.iter().copied()).collect(), COLORS[0], "test rows")
        .to_svg()
}

/// A histogram of the residuals (predicted − actual).
pub fn residuals(targets: &[f64], preds: &[f64]) -> String {
    let res: Vec<f64> = preds.iter().zip(targets).map(|(p, t)| p - t).collect();
    let (bars, top) = histogram(&res, extent(res.iter().copied()), 30);
    let x = extent(bars.iter().flat_map(|b| [b.0, b.1]));
    Chart::new("Residuals", "predicted - actual", "rows", x, (0.0, top)).bars(bars, COLORS[0], "").to_svg()
}

/// A forecast against the actual signal over the first test windows (the
/// first forecast step of each).
pub fn forecast(targets: &[f64], preds: &[f64], name: &str) -> String {
    let n = targets.len().min(400);
    let y = extent(targets[..n].iter().chain(&preds[..n]).copied());
    Chart::new(
        &format!("Forecast of {name}, first {n} test windows"),
        "test window",
        name,
        (0.0, n as f64),
        y,
    )
    .line(targets[..n].iter().enumerate().map(|(i, v)| (i as f64, *v)).collect(), COLORS[5], false, "actual")
    .line(preds[..n].iter().enumerate().map(|(i, v)| (i as f64, *v)).collect(), COLORS[0], false, "forecast")
    .to_svg()
}

/// Histograms of an autoencoder's anomaly score (reconstruction error),
/// one per class (or one for all rows), on shared bins.
pub fn anomaly_histogram(errors: &[f64], classes: &[(String, Vec<usize>)]) -> String {
    let range = extent(errors.iter().copied());
    let mut top = 0.0f64;
    let mut all = Vec::new();
    for (i, (label, rows)) in classes.iter().enumerate() {
        let values: Vec<f64> = rows.iter().map(|r| errors[*r]).collect();
        let (bars, _) = histogram(&values, range, 30);
        let n = values.len().max(1) as f64;
        let bars: Vec<(f64, f64, f64)> = bars.into_iter().map(|(a, b, h)| (a, b, h / n)).collect();
        top = bars.iter().fold(top, |t, b| t.max(b.2));
        all.push((label.clone(), bars, COLORS[i % COLORS.len()]));
    }
    let title = "Anomaly score (reconstruction error)";
    let mut chart =
        Chart::new(title, "mean squared error", "fraction of the class's rows", range, (0.0, top.max(1e-9)));
    for (label, bars, color) in all {
        chart = chart.bars(bars, color, &label);
    }
    chart.to_svg()
}

/// `bins` equal bins over `range`: `(from, to, count)` and the largest count.
fn histogram(values: &[f64], range: (f64, f64), bins: usize) -> (Vec<(f64, f64, f64)>, f64) {
    let (lo, hi) = if range.1 - range.0 > 1e-12 { range } else { (range.0 - 0.5, range.1 + 0.5) };
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0.0; bins];
    for v in values.iter().filter(|v| v.is_finite()) {
        counts[(((v - lo) / w) as usize).min(bins - 1)] += 1.0;
    }
    let top = counts.iter().fold(0.0f64, |t, c| t.max(*c));
    (counts.iter().enumerate().map(|(i, c)| (lo + i as f64 * w, lo + (i + 1) as f64 * w, *c)).collect(), top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_every_value_once() {
        let (bars, top) = histogram(&[0.0, 0.1, 0.5, 1.0, 1.0], (0.0, 1.0), 4);
        assert_eq!(bars.iter().map(|b| b.2).collect::<Vec<_>>(), [2.0, 0.0, 1.0, 2.0]);
        assert_eq!((top, bars[1].0, bars[3].1), (2.0, 0.25, 1.0));
    }

    #[test]
    fn top_label_confidence_and_correctness() {
        let (hit, conf) = top_label(&[0, 2], &[0.6, 0.3, 0.1, 0.2, 0.5, 0.3], 3);
        assert_eq!((hit, conf), (vec![1, 0], vec![0.6, 0.5]));
    }
}

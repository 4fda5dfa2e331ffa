//! The numbers behind a report's plots: precision-recall points,
//! reliability bins and the decision curve.

use super::calibration::{net_benefit, CALIBRATION_BINS};
use super::operating::roc_sweep;
use serde::Serialize;

/// A precision-recall point: calling rows with probability ≥ `threshold`
/// positive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PrPoint {
    /// The threshold.
    pub threshold: f64,
    /// Recall (sensitivity).
    pub recall: f64,
    /// Precision (PPV).
    pub precision: f64,
}

/// Precision and recall at each distinct probability, from the highest
/// threshold to the lowest. Empty when a class is absent.
///
/// ```
/// let pr = medgpu::metrics::curves::precision_recall(&[1, 0, 1, 0], &[0.9, 0.7, 0.4, 0.2]);
/// assert_eq!((pr[1].recall, pr[1].precision), (0.5, 0.5));
/// ```
pub fn precision_recall(labels: &[u32], probs: &[f64]) -> Vec<PrPoint> {
    roc_sweep(labels, probs)
        .iter()
        .map(|p| PrPoint { threshold: p.threshold, recall: p.tpr, precision: p.tp as f64 / p.called as f64 })
        .collect()
}

/// One bin of a reliability diagram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// The bin's lower edge (width 1 / [`CALIBRATION_BINS`]).
    pub lower: f64,
    /// Rows in the bin.
    pub count: usize,
    /// Their mean predicted probability.
    pub predicted: f64,
    /// The fraction of them that were positive.
    pub observed: f64,
}

/// The classic reliability diagram of a binary model: rows binned by
/// their positive-class probability into [`CALIBRATION_BINS`] equal-width
/// bins, each bin's mean probability against its observed positive
/// fraction. Empty bins are left out.
///
/// ```
/// let bins = medgpu::metrics::curves::reliability(&[0, 1, 1], &[0.1, 0.12, 0.95]);
/// assert_eq!(bins.len(), 2);
/// assert_eq!((bins[0].count, bins[0].observed), (2, 0.5));
/// ```
pub fn reliability(labels: &[u32], probs: &[f64]) -> Vec<ReliabilityBin> {
    let mut bins = vec![(0usize, 0.0f64, 0.0f64); CALIBRATION_BINS];
    for (p, y) in probs.iter().zip(labels) {
        let b = ((p * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += p;
        bins[b].2 += f64::from(*y != 0);
    }
    bins.iter()
        .enumerate()
        .filter(|(_, b)| b.0 > 0)
        .map(|(i, (n, p, hits))| ReliabilityBin {
            lower: i as f64 / CALIBRATION_BINS as f64,
            count: *n,
            predicted: p / *n as f64,
            observed: hits / *n as f64,
        })
        .collect()
}

/// One threshold probability of a decision curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DecisionPoint {
    /// The threshold probability pt.
    pub threshold: f64,
    /// Net benefit of treating the rows the model gives at least pt.
    pub model: f64,
    /// Net benefit of treating every row (treating none is 0).
    pub treat_all: f64,
}

/// The decision curve (Vickers and Elkin, 2006) over thresholds 0.01,
/// 0.02, ..., 0.99.
///
/// ```
/// let dc = medgpu::metrics::curves::decision_curve(&[1, 0], &[0.8, 0.3]);
/// assert_eq!(dc.len(), 99);
/// // at pt 0.5 the model treats the positive only: 1/2; treat-all 1/2 - 1/2
/// assert_eq!((dc[49].model, dc[49].treat_all), (0.5, 0.0));
/// ```
pub fn decision_curve(labels: &[u32], probs: &[f64]) -> Vec<DecisionPoint> {
    let all = vec![1.0; labels.len()];
    (1..=99)
        .map(|i| {
            let pt = i as f64 / 100.0;
            DecisionPoint {
                threshold: pt,
                model: net_benefit(labels, probs, pt),
                treat_all: net_benefit(labels, &all, pt),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_recall_matches_hand_worked_points() {
        // 0.9 P, 0.8 N, 0.7 P, 0.6 N
        let pr = precision_recall(&[1, 0, 1, 0], &[0.9, 0.8, 0.7, 0.6]);
        let pts: Vec<(f64, f64)> = pr.iter().map(|p| (p.recall, p.precision)).collect();
        assert_eq!(pts, [(0.5, 1.0), (0.5, 0.5), (1.0, 2.0 / 3.0), (1.0, 0.5)]);
    }

    #[test]
    fn reliability_bins_hold_their_rows() {
        // 15 bins of width 1/15: 0.05 and 0.06 in bin 0, 0.5 in bin 7, 0.99 in bin 14
        let b = reliability(&[0, 1, 1, 1], &[0.05, 0.06, 0.5, 0.99]);
        assert_eq!(b.iter().map(|b| b.count).collect::<Vec<_>>(), [2, 1, 1]);
        assert!((b[0].predicted - 0.055).abs() < 1e-12);
        assert_eq!((b[0].observed, b[1].lower, b[2].observed), (0.5, 7.0 / 15.0, 1.0));
    }

    #[test]
    fn the_decision_curve_matches_net_benefit_by_hand() {
        let (labels, probs) = ([1u32, 0, 1, 0], [0.9, 0.7, 0.4, 0.2]);
        let dc = decision_curve(&labels, &probs);
        // pt 0.25 (index 24): TP 2, FP 1 of 4 → 0.5 - 0.25/3; treat all: 0.5 - 0.5/3
        assert!((dc[24].model - (0.5 - 0.25 / 3.0)).abs() < 1e-12);
        assert!((dc[24].treat_all - (0.5 - 0.5 / 3.0)).abs() < 1e-12);
        assert_eq!(dc[0].threshold, 0.01);
        assert_eq!(dc[98].threshold, 0.99);
    }
}

//! Operating points of a binary classifier: the probability threshold
//! chosen on validation rows for a required sensitivity or specificity,
//! Youden's J, or a fixed threshold; and the ROC sweep they are read from.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How to choose the threshold. The model calls a row positive when its
/// positive-class probability is at least the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OperatingRule {
    /// The highest threshold whose sensitivity is at least this.
    Sensitivity(f64),
    /// The lowest threshold whose specificity is at least this.
    Specificity(f64),
    /// The threshold that maximizes sensitivity + specificity − 1.
    Youden,
    /// This threshold.
    Threshold(f64),
}

impl OperatingRule {
    /// Parses `sensitivity=0.95`, `specificity=0.9`, `youden` or
    /// `threshold=0.3`.
    ///
    /// ```
    /// use medgpu::metrics::operating::OperatingRule;
    /// assert_eq!(OperatingRule::parse("sensitivity=0.95").unwrap(), OperatingRule::Sensitivity(0.95));
    /// assert!(OperatingRule::parse("sensitivity=95").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<OperatingRule> {
        let usage = || {
            Error::Options(format!(
                "`operating_point` '{text}': use sensitivity=S, specificity=S (0 < S <= 1), youden, \
                 or threshold=T (0 < T < 1)"
            ))
        };
        let t = text.trim().to_lowercase();
        if t == "youden" {
            return Ok(OperatingRule::Youden);
        }
        let (name, value) = t.split_once('=').ok_or_else(usage)?;
        let v: f64 = value.trim().parse().map_err(|_| usage())?;
        match name.trim() {
            "sensitivity" if v > 0.0 && v <= 1.0 => Ok(OperatingRule::Sensitivity(v)),
            "specificity" if v > 0.0 && v <= 1.0 => Ok(OperatingRule::Specificity(v)),
            "threshold" if v > 0.0 && v < 1.0 => Ok(OperatingRule::Threshold(v)),
            _ => Err(usage()),
        }
    }
}

impl fmt::Display for OperatingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatingRule::Sensitivity(s) => write!(f, "sensitivity={s}"),
            OperatingRule::Specificity(s) => write!(f, "specificity={s}"),
            OperatingRule::Youden => write!(f, "youden"),
            OperatingRule::Threshold(t) => write!(f, "threshold={t}"),
        }
    }
}

impl TryFrom<String> for OperatingRule {
    type Error = Error;
    fn try_from(s: String) -> Result<OperatingRule> {
        OperatingRule::parse(&s)
    }
}

impl From<OperatingRule> for String {
    fn from(r: OperatingRule) -> String {
        r.to_string()
    }
}

/// One point of the ROC sweep: calling rows with probability ≥
/// `threshold` positive gives these rates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RocPoint {
    /// The threshold (a probability of the rows swept).
    pub threshold: f64,
    /// True-positive rate (sensitivity).
    pub tpr: f64,
    /// False-positive rate (1 − specificity).
    pub fpr: f64,
    /// Rows called positive.
    pub called: usize,
    /// True positives among them.
    pub tp: usize,
}

/// The ROC sweep: one point per distinct probability, from the highest
/// (fewest rows called positive) to the lowest (every row). Empty when a
/// class is absent.
///
/// ```
/// let pts = medgpu::metrics::operating::roc_sweep(&[1, 0, 1, 0], &[0.9, 0.7, 0.4, 0.2]);
/// let rates: Vec<(f64, f64)> = pts.iter().map(|p| (p.fpr, p.tpr)).collect();
/// assert_eq!(rates, [(0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]);
/// ```
pub fn roc_sweep(labels: &[u32], probs: &[f64]) -> Vec<RocPoint> {
    let pos = labels.iter().filter(|y| **y != 0).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
    let (mut tp, mut fp, mut out) = (0usize, 0usize, Vec::new());
    let mut i = 0;
    while i < order.len() {
        let t = probs[order[i]];
        while i < order.len() && probs[order[i]] == t {
            if labels[order[i]] != 0 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push(RocPoint {
            threshold: t,
            tpr: tp as f64 / pos as f64,
            fpr: fp as f64 / neg as f64,
            called: tp + fp,
            tp,
        });
    }
    out
}

/// The threshold `rule` picks on these rows (validation), with the
/// sensitivity and specificity it gives there. The threshold lies halfway
/// between the lowest probability called positive and the next lower one. Fails with a line saying
/// why when the rows cannot meet it: a class is absent, or the required
/// rate is reached only by calling every row one class.
pub fn choose_threshold(rule: OperatingRule, labels: &[u32], probs: &[f64]) -> Result<(f64, f64, f64)> {
    let fixed = |t: f64| {
        let m = super::binary_metrics_at(labels, probs, t);
        (t, m.recall, m.specificity)
    };
    // a fixed threshold needs no sweep (and no second class)
    if let OperatingRule::Threshold(t) = rule {
        return Ok(fixed(t));
    }
    let sweep = roc_sweep(labels, probs);
    if sweep.is_empty() {
        return Err(Error::Dataset(format!(
            "`operating_point` {rule} cannot be chosen: the validation split has rows of only one class; \
             use a larger `val_frac` or threshold=T"
        )));
    }
    let impossible = |why: &str| {
        Error::Dataset(format!(
            "`operating_point` {rule} cannot be met on the validation split ({} rows): {why}; ask for \
             less, or use youden or threshold=T",
            labels.len()
        ))
    };
    let pick = match rule {
        OperatingRule::Sensitivity(s) => {
            // the first (highest) threshold reaching it (the last point, every
            // row called positive, has sensitivity 1)
            let p = sweep.iter().position(|p| p.tpr >= s - 1e-12).unwrap_or(sweep.len() - 1);
            if sweep[p].called == labels.len() && sweep[p].fpr > 0.0 {
                return Err(impossible("only calling every row positive reaches it"));
            }
            p
        }
        OperatingRule::Specificity(s) => {
            let p = sweep.iter().rposition(|p| 1.0 - p.fpr >= s - 1e-12);
            p.ok_or_else(|| impossible("only calling every row negative reaches it"))?
        }
        OperatingRule::Youden => {
            let j = |p: &RocPoint| p.tpr - p.fpr;
            (0..sweep.len()).fold(0, |best, i| if j(&sweep[i]) > j(&sweep[best]) + 1e-12 { i } else { best })
        }
        OperatingRule::Threshold(t) => return Ok(fixed(t)),
    };
    // halfway down to the next lower probability: the same validation rows
    // are called positive, without sitting on one row's probability
    let at = sweep[pick];
    let threshold = sweep.get(pick + 1).map_or(at.threshold, |next| (at.threshold + next.threshold) / 2.0);
    Ok((threshold, at.tpr, 1.0 - at.fpr))
}

#[cfg(test)]
mod tests {
    use super::*;

    // validation rows, by probability: 0.9 P, 0.8 N, 0.7 P, 0.6 P, 0.5 N, 0.4 P, 0.3 N, 0.2 N, 0.1 N
    const LABELS: [u32; 9] = [1, 0, 1, 1, 0, 1, 0, 0, 0];
    const PROBS: [f64; 9] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];

    #[test]
    fn the_sweep_counts_rows_at_or_above_each_threshold() {
        let s = roc_sweep(&LABELS, &PROBS);
        assert_eq!(s.len(), 9);
        // at 0.6: TP 3 of 4, FP 1 of 5
        assert_eq!((s[3].threshold, s[3].tpr, s[3].fpr), (0.6, 0.75, 0.2));
        // ties form one point
        let t = roc_sweep(&[1, 0, 1], &[0.5, 0.5, 0.2]);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].tpr, t[0].fpr), (0.5, 1.0));
    }

    #[test]
    fn each_rule_picks_the_hand_worked_threshold() {
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        // sensitivity 0.95 needs all 4 positives: down to 0.4 (FP 2 of 5 → spec 0.6),
        // threshold halfway to 0.3
        let (t, sens, spec) = choose_threshold(OperatingRule::Sensitivity(0.95), &LABELS, &PROBS).unwrap();
        close(t, 0.35);
        assert_eq!((sens, spec), (1.0, 0.6));
        // sensitivity 0.75: 3 positives at 0.6
        close(choose_threshold(OperatingRule::Sensitivity(0.75), &LABELS, &PROBS).unwrap().0, 0.55);
        // specificity 0.8 allows 1 FP: the lowest such point is 0.6 (0.5 adds the second)
        let (t, sens, spec) = choose_threshold(OperatingRule::Specificity(0.8), &LABELS, &PROBS).unwrap();
        close(t, 0.55);
        assert_eq!((sens, spec), (0.75, 0.8));
        // Youden: J = 0.55 at 0.6 (0.75 - 0.2) and 0.6 at 0.4 (1 - 0.4) → 0.4
        close(choose_threshold(OperatingRule::Youden, &LABELS, &PROBS).unwrap().0, 0.35);
        let (t, sens, spec) = choose_threshold(OperatingRule::Threshold(0.65), &LABELS, &PROBS).unwrap();
        assert_eq!((t, sens, spec), (0.65, 0.5, 0.8));
    }

    #[test]
    fn a_point_that_cannot_be_met_says_why() {
        // the lowest row is a positive: sensitivity 1 calls every row positive
        let e = choose_threshold(OperatingRule::Sensitivity(1.0), &[0, 1], &[0.9, 0.1]).unwrap_err();
        assert!(e.to_string().contains("only calling every row positive"), "{e}");
        // the top row is a negative: specificity 1 calls every row negative
        let e = choose_threshold(OperatingRule::Specificity(1.0), &[0, 1], &[0.9, 0.1]).unwrap_err();
        assert!(e.to_string().contains("every row negative"), "{e}");
        let e = choose_threshold(OperatingRule::Youden, &[1, 1], &[0.9, 0.1]).unwrap_err();
        assert!(e.to_string().contains("only one class"), "{e}");
    }

    #[test]
    fn rules_parse_and_print_back() {
        for text in ["sensitivity=0.95", "specificity=0.9", "youden", "threshold=0.3"] {
            assert_eq!(OperatingRule::parse(text).unwrap().to_string(), text);
        }
        for bad in ["sensitivity", "sensitivity=1.5", "threshold=1", "f1=0.9", "youden=1"] {
            assert!(OperatingRule::parse(bad).is_err(), "{bad}");
        }
    }
}

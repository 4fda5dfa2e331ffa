//! Evaluation metrics for binary classification, multi-class classification
//! and regression. All results are NaN-free for finite inputs: a ratio whose
//! denominator is zero is reported as 0 (or as documented per field).

pub mod calibration;
pub mod curves;
pub mod intervals;
pub mod operating;
pub mod privacy;

/// Probabilities are clamped to `[EPS, 1 - EPS]` before taking logs.
const EPS: f64 = 1e-7;

/// Binary classification metrics from predicted positive-class probabilities.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BinaryMetrics {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// TP / (TP + FP), 0 when nothing is predicted positive.
    pub precision: f64,
    /// TP / (TP + FN) (sensitivity), 0 when there are no positives.
    pub recall: f64,
    /// TN / (TN + FP), 0 when there are no negatives.
    pub specificity: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Area under the ROC curve (Mann-Whitney, ties count half); 0.5 if a class is absent.
    pub roc_auc: f64,
    /// Mean binary cross-entropy with probabilities clamped to `[1e-7, 1 - 1e-7]`.
    pub log_loss: f64,
    /// Counts indexed `[actual][predicted]`: `[[TN, FP], [FN, TP]]`.
    pub confusion: [[u64; 2]; 2],
}

/// Computes [`BinaryMetrics`] from 0/1 `labels` (any nonzero label counts as
/// positive) and positive-class probabilities `probs`, predicting 1 when
/// `prob >= 0.5`. With no rows every field is 0 except `roc_auc` (0.5).
///
/// # Panics
/// If `labels` and `probs` differ in length.
pub fn binary_metrics(labels: &[u32], probs: &[f64]) -> BinaryMetrics {
    binary_metrics_at(labels, probs, 0.5)
}

/// [`binary_metrics`] predicting 1 when `prob >= threshold` (an operating
/// point); the AUC and log-loss do not depend on it.
///
/// ```
/// let m = medgpu::metrics::binary_metrics_at(&[0, 1, 1], &[0.2, 0.3, 0.9], 0.25);
/// assert_eq!(m.confusion, [[1, 0], [0, 2]]);
/// ```
pub fn binary_metrics_at(labels: &[u32], probs: &[f64], threshold: f64) -> BinaryMetrics {
    assert_eq!(labels.len(), probs.len(), "binary_metrics: labels and probs differ in length");
    let mut confusion = [[0u64; 2]; 2];
    let mut loss = 0.0;
    for (&y, &p) in labels.iter().zip(probs) {
        let actual = usize::from(y != 0);
        confusion[actual][usize::from(p >= threshold)] += 1;
        let p = p.clamp(EPS, 1.0 - EPS);
        loss -= if actual == 1 { p.ln() } else { (1.0 - p).ln() };
    }
    let [[tn, fp], [fn_, tp]] = confusion.map(|r| r.map(|c| c as f64));
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    BinaryMetrics {
        accuracy: ratio(tp + tn, labels.len() as f64),
        precision,
        recall,
        specificity: ratio(tn, tn + fp),
        f1: ratio(2.0 * precision * recall, precision + recall),
        roc_auc: roc_auc(labels, probs),
        log_loss: ratio(loss, labels.len() as f64),
        confusion,
    }
}

/// ROC-AUC by the rank formula: (sum of positive ranks - P(P+1)/2) / (P N),
/// with tied scores given their average rank. 0.5 when a class is absent.
/// ROC-AUC of positive-class probabilities (see [`BinaryMetrics::roc_auc`]).
pub fn roc_auc_of(labels: &[u32], probs: &[f64]) -> f64 {
    roc_auc(labels, probs)
}

fn roc_auc(labels: &[u32], probs: &[f64]) -> f64 {
    let n_pos = labels.iter().filter(|&&y| y != 0).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
    let mut pos_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && probs[order[end]] == probs[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) share the 1-based average rank.
        let avg_rank = (start + end + 1) as f64 / 2.0;
        let pos_in_tie = order[start..end].iter().filter(|&&i| labels[i] != 0).count();
        pos_rank_sum += avg_rank * pos_in_tie as f64;
        start = end;
    }
    (pos_rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Multi-class classification metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MulticlassMetrics {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Unweighted mean over the `k` classes of per-class precision (0 where undefined).
    pub macro_precision: f64,
    /// Unweighted mean over the `k` classes of per-class recall (0 where undefined).
    pub macro_recall: f64,
    /// Unweighted mean over the `k` classes of per-class F1 (0 where undefined).
    pub macro_f1: f64,
    /// Mean cross-entropy of the true class, probabilities clamped to `[1e-7, 1 - 1e-7]`.
    pub log_loss: f64,
    /// One-vs-rest ROC-AUC averaged over the classes that have both
    /// positives and negatives (each from its probability column, rank
    /// formula, ties count half); 0.5 when no class qualifies.
    pub macro_roc_auc: f64,
    /// Per-class metrics, indexed by class.
    pub per_class: Vec<ClassMetrics>,
    /// `k x k` counts indexed `[actual][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

/// One class of a multi-class problem, scored one-vs-rest.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClassMetrics {
    /// TP / (TP + FP), 0 when the class is never predicted.
    pub precision: f64,
    /// TP / (TP + FN), 0 when the class never occurs.
    pub recall: f64,
    /// TN / (TN + FP), 0 when every row is of this class.
    pub specificity: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Number of rows of this class.
    pub support: u64,
}

/// The index of a row's largest value, the first one on ties (how every
/// prediction and metric picks a class).
///
/// ```
/// assert_eq!(medgpu::metrics::argmax(&[0.2, 0.5, 0.5, 0.1]), 1);
/// ```
pub fn argmax<T: PartialOrd>(row: &[T]) -> usize {
    (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best })
}

/// Computes [`MulticlassMetrics`] from class indices `labels` (in `0..k`) and
/// class probabilities `probs` (`labels.len() * k`, row-major). The predicted
/// class is the argmax of a row, the first one on ties.
///
/// # Panics
/// If `k` is 0, `probs.len() != labels.len() * k`, or a label is `>= k`.
pub fn multiclass_metrics(labels: &[u32], probs: &[f64], k: usize) -> MulticlassMetrics {
    assert!(k > 0, "multiclass_metrics: k must be at least 1");
    assert_eq!(probs.len(), labels.len() * k, "multiclass_metrics: probs must be rows * k");
    let mut confusion = vec![vec![0u64; k]; k];
    let mut loss = 0.0;
    for (&y, row) in labels.iter().zip(probs.chunks_exact(k)) {
        let y = y as usize;
        assert!(y < k, "multiclass_metrics: label {y} is not below k = {k}");
        confusion[y][argmax(row)] += 1;
        loss -= row[y].clamp(EPS, 1.0 - EPS).ln();
    }
    let n = labels.len() as f64;
    let mut per_class = Vec::with_capacity(k);
    let (mut auc_sum, mut auc_count) = (0.0, 0usize);
    let mut onehot = vec![0u32; labels.len()];
    let mut column = vec![0f64; labels.len()];
    for c in 0..k {
        let tp = confusion[c][c] as f64;
        let predicted: u64 = confusion.iter().map(|r| r[c]).sum();
        let support: u64 = confusion[c].iter().sum();
        let fp = predicted as f64 - tp;
        let tn = n - support as f64 - fp;
        let precision = ratio(tp, predicted as f64);
        let recall = ratio(tp, support as f64);
        per_class.push(ClassMetrics {
            precision,
            recall,
            specificity: ratio(tn, tn + fp),
            f1: ratio(2.0 * precision * recall, precision + recall),
            support,
        });
        if support > 0 && (support as f64) < n {
            for (i, (&y, row)) in labels.iter().zip(probs.chunks_exact(k)).enumerate() {
                onehot[i] = u32::from(y as usize == c);
                column[i] = row[c];
            }
            auc_sum += roc_auc(&onehot, &column);
            auc_count += 1;
        }
    }
    let mean = |f: fn(&ClassMetrics) -> f64| per_class.iter().map(f).sum::<f64>() / k as f64;
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    MulticlassMetrics {
        accuracy: ratio(correct as f64, n),
        macro_precision: mean(|m| m.precision),
        macro_recall: mean(|m| m.recall),
        macro_f1: mean(|m| m.f1),
        log_loss: ratio(loss, n),
        macro_roc_auc: if auc_count == 0 { 0.5 } else { auc_sum / auc_count as f64 },
        per_class,
        confusion,
    }
}

/// Regression metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RegressionMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination, 1 - SS_res / SS_tot. When the targets
    /// are constant (SS_tot = 0) it is 1 for a perfect fit and 0 otherwise.
    pub r2: f64,
}

/// Computes [`RegressionMetrics`]; with no rows every field is 0.
///
/// # Panics
/// If `targets` and `preds` differ in length.
pub fn regression_metrics(targets: &[f64], preds: &[f64]) -> RegressionMetrics {
    assert_eq!(targets.len(), preds.len(), "regression_metrics: targets and preds differ in length");
    let n = targets.len() as f64;
    let mean = ratio(targets.iter().sum(), n);
    let (mut ss_res, mut abs, mut ss_tot) = (0.0, 0.0, 0.0);
    for (&t, &p) in targets.iter().zip(preds) {
        ss_res += (t - p) * (t - p);
        abs += (t - p).abs();
        ss_tot += (t - mean) * (t - mean);
    }
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    RegressionMetrics { mse: ratio(ss_res, n), mae: ratio(abs, n), r2 }
}

/// `num / den`, or 0 when `den` is 0.
/// Ranks from 1, ties given the mean of the ranks they span.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            out[*k] = mean;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation: Pearson's correlation of the ranks (ties
/// averaged); 0 when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len().min(rb.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn binary_by_hand() {
        // TP=3 FP=1 FN=2 TN=4 (10 rows):
        // accuracy 7/10 = 0.7, precision 3/4 = 0.75, recall 3/5 = 0.6,
        // specificity 4/5 = 0.8, F1 = 2*0.75*0.6/1.35 = 0.9/1.35 = 2/3.
        let labels = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];
        let probs = [0.9, 0.8, 0.5, 0.7, 0.4, 0.1, 0.2, 0.3, 0.49, 0.0];
        let m = binary_metrics(&labels, &probs);
        assert_eq!(m.confusion, [[4, 1], [2, 3]]);
        close(m.accuracy, 0.7);
        close(m.precision, 0.75);
        close(m.recall, 0.6);
        close(m.specificity, 0.8);
        close(m.f1, 2.0 / 3.0);
        // Pairs (pos, neg) with pos ranked above neg, out of 5*5 = 25:
        // 0.9, 0.8: 5 each; 0.5: beats 0.49,0.3,0.2,0.0 = 4; 0.4: 3; 0.1: 1 (0.0). Total 18.
        close(m.roc_auc, 18.0 / 25.0);
        // log loss: the 0.0 on a negative is clamped to 1e-7, so -ln(1 - 1e-7).
        let want: f64 = -[0.9f64, 0.8, 0.5, 0.3, 0.4, 0.1, 0.8, 0.7, 0.51, 1.0 - 1e-7]
            .iter()
            .map(|p| p.ln())
            .sum::<f64>()
            / 10.0;
        close(m.log_loss, want);
    }

    #[test]
    fn auc_with_tie() {
        // Scores: pos 0.8, pos 0.4, neg 0.4, neg 0.1. Pairs: (0.8 vs 0.4) 1,
        // (0.8 vs 0.1) 1, (0.4 vs 0.4) tie 0.5, (0.4 vs 0.1) 1 → 3.5 / 4 = 0.875.
        let m = binary_metrics(&[1, 1, 0, 0], &[0.8, 0.4, 0.4, 0.1]);
        close(m.roc_auc, 0.875);
        // All scores tied → 0.5.
        close(binary_metrics(&[1, 0, 1], &[0.3, 0.3, 0.3]).roc_auc, 0.5);
    }

    #[test]
    fn binary_degenerate() {
        // One class only, nothing predicted positive: no NaN anywhere.
        let m = binary_metrics(&[0, 0], &[0.1, 0.2]);
        close(m.roc_auc, 0.5);
        close(m.precision, 0.0);
        close(m.recall, 0.0);
        close(m.f1, 0.0);
        close(m.specificity, 1.0);
        close(m.accuracy, 1.0);
        let e = binary_metrics(&[], &[]);
        close(e.accuracy, 0.0);
        close(e.log_loss, 0.0);
        // Perfect predictions: log loss is -ln(1 - 1e-7) ≈ 1e-7 after clamping.
        let p = binary_metrics(&[1, 0], &[1.0, 0.0]);
        close(p.log_loss, -(1.0f64 - 1e-7).ln());
        close(p.roc_auc, 1.0);
    }

    #[test]
    fn multiclass_by_hand() {
        // k = 3, four rows:
        // row 0: label 0, probs [0.7, 0.2, 0.1] → pred 0
        // row 1: label 1, probs [0.4, 0.4, 0.2] → tie, first wins → pred 0
        // row 2: label 2, probs [0.1, 0.3, 0.6] → pred 2
        // row 3: label 1, probs [0.2, 0.5, 0.3] → pred 1
        // confusion [[1,0,0],[1,1,0],[0,0,1]]; accuracy 3/4.
        // precision: c0 1/2, c1 1/1, c2 1/1 → macro 2.5/3.
        // recall:    c0 1/1, c1 1/2, c2 1/1 → macro 2.5/3.
        // F1: c0 2*.5*1/1.5 = 2/3, c1 2/3, c2 1 → macro (4/3 + 1)/3 = 7/9.
        let probs = [0.7, 0.2, 0.1, 0.4, 0.4, 0.2, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3];
        let m = multiclass_metrics(&[0, 1, 2, 1], &probs, 3);
        assert_eq!(m.confusion, vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 0, 1]]);
        close(m.accuracy, 0.75);
        close(m.macro_precision, 2.5 / 3.0);
        close(m.macro_recall, 2.5 / 3.0);
        close(m.macro_f1, 7.0 / 9.0);
        let want = -(0.7f64.ln() + 0.4f64.ln() + 0.6f64.ln() + 0.5f64.ln()) / 4.0;
        close(m.log_loss, want);
        // Per class (4 rows): c0 TP1 FP1 FN0 TN2 → spec 2/3; c1 TP1 FP0 FN1 TN2
        // → spec 1; c2 TP1 FP0 FN0 TN3 → spec 1. Supports 1, 2, 1.
        let want =
            [(0.5, 1.0, 2.0 / 3.0, 2.0 / 3.0, 1), (1.0, 0.5, 1.0, 2.0 / 3.0, 2), (1.0, 1.0, 1.0, 1.0, 1)];
        for (c, (p, r, s, f1, n)) in m.per_class.iter().zip(want) {
            close(c.precision, p);
            close(c.recall, r);
            close(c.specificity, s);
            close(c.f1, f1);
            assert_eq!(c.support, n);
        }
        // One-vs-rest AUC:
        // c0: pos 0.7; negs 0.4, 0.1, 0.2 → 3/3 = 1.
        // c1: pos 0.4, 0.5; negs 0.2, 0.3 → 4/4 = 1.
        // c2: pos 0.6; negs 0.1, 0.2, 0.3 → 1.
        close(m.macro_roc_auc, 1.0);
    }

    #[test]
    fn multiclass_auc_by_hand() {
        // k = 3, five rows (label: probs):
        // 0: [0.5, 0.3, 0.2]   1: [0.6, 0.3, 0.1]   0: [0.2, 0.5, 0.3]
        // 2: [0.2, 0.2, 0.6]   1: [0.1, 0.8, 0.1]
        // c0 column: pos 0.5, 0.2; neg 0.6, 0.2, 0.1. Pairs won: 0.5 beats
        //   0.2, 0.1 (2); 0.2 ties 0.2 (0.5), beats 0.1 (1) → 3.5 / 6.
        // c1 column: pos 0.3, 0.8; neg 0.3, 0.5, 0.2. 0.3: tie 0.5 + beats
        //   0.2 (1) = 1.5; 0.8 beats all 3 → 4.5 / 6 = 0.75.
        // c2 column: pos 0.6; neg 0.2, 0.1, 0.3, 0.1 → 4 / 4 = 1.
        // macro = (3.5/6 + 0.75 + 1) / 3.
        let probs = [0.5, 0.3, 0.2, 0.6, 0.3, 0.1, 0.2, 0.5, 0.3, 0.2, 0.2, 0.6, 0.1, 0.8, 0.1];
        let m = multiclass_metrics(&[0, 1, 0, 2, 1], &probs, 3);
        close(m.macro_roc_auc, (3.5 / 6.0 + 0.75 + 1.0) / 3.0);
        // Predictions 0, 0, 1, 2, 1: c0 TP1 FP1 FN1 TN2 → spec 2/3.
        assert_eq!(m.confusion, vec![vec![1, 1, 0], vec![1, 1, 0], vec![0, 0, 1]]);
        close(m.per_class[0].specificity, 2.0 / 3.0);
        close(m.per_class[2].specificity, 1.0);
        assert_eq!(m.per_class.iter().map(|c| c.support).collect::<Vec<_>>(), vec![2, 2, 1]);
    }

    #[test]
    fn multiclass_absent_class() {
        // Class 2 never appears nor is predicted: its precision/recall/F1 count as 0.
        let m = multiclass_metrics(&[0, 1], &[0.9, 0.1, 0.0, 0.2, 0.8, 0.0], 3);
        close(m.accuracy, 1.0);
        close(m.macro_recall, 2.0 / 3.0);
        close(m.macro_f1, 2.0 / 3.0);
        // Class 2 has no positives: AUC averages classes 0 and 1 only (both 1).
        close(m.macro_roc_auc, 1.0);
        assert_eq!(m.per_class[2].support, 0);
        close(m.per_class[2].specificity, 1.0);
        // No rows at all: no class qualifies.
        close(multiclass_metrics(&[], &[], 2).macro_roc_auc, 0.5);
    }

    #[test]
    fn regression_by_hand() {
        // targets 1,2,3,4 (mean 2.5, SS_tot = 2.25+0.25+0.25+2.25 = 5);
        // preds 1,2,4,3: errors 0,0,-1,1 → SS_res 2, mse 2/4 = 0.5,
        // mae 2/4 = 0.5, r2 = 1 - 2/5 = 0.6.
        let m = regression_metrics(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 4.0, 3.0]);
        close(m.mse, 0.5);
        close(m.mae, 0.5);
        close(m.r2, 0.6);
        // Constant targets.
        close(regression_metrics(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
        close(regression_metrics(&[2.0, 2.0], &[1.0, 2.0]).r2, 0.0);
        let e = regression_metrics(&[], &[]);
        close(e.mse + e.mae, 0.0);
    }

    #[test]
    fn spearman_matches_hand_worked_values() {
        // ranks with a tie: 10, 20, 20, 30 -> 1, 2.5, 2.5, 4
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 30.0]), vec![1.0, 2.5, 2.5, 4.0]);
        close(spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0, 8.0, 10.0]), 1.0);
        close(spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 4.0, 3.0, 2.0, 1.0]), -1.0);
        // d = (0, 1, -1, 0, 0): 1 - 6 * 2 / (5 * 24) = 0.9
        close(spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 3.0, 2.0, 4.0, 5.0]), 0.9);
        // with ties, Pearson on the ranks: x ranks 1..4, y = 1, 2.5, 2.5, 4 -> 0.9486833
        close(spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 2.0, 3.0]), 0.9486832980505138);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
    }
}

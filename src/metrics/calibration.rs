//! Whether predicted probabilities are honest, and what acting on them is
//! worth: expected and maximum calibration error, Brier score, one
//! temperature fitted by maximum likelihood, and net benefit (decision
//! curves, Vickers and Elkin 2006).

/// Bins of the calibration errors: 15 of equal width on [0, 1].
pub const CALIBRATION_BINS: usize = 15;

/// Each row's class probabilities (rows x `k`) from `probs`: a binary
/// model's one probability p becomes (1 − p, p).
fn rows_of(probs: &[f64], k: usize) -> (Vec<f64>, usize) {
    if k == 1 {
        (probs.iter().flat_map(|p| [1.0 - p, *p]).collect(), 2)
    } else {
        (probs.to_vec(), k)
    }
}

/// Expected and maximum calibration error of the top-label confidence
/// (Guo et al., 2017): rows binned by the probability of their predicted
/// class into [`CALIBRATION_BINS`] equal-width bins; ECE is the gap between
/// each bin's accuracy and mean confidence weighted by its rows, MCE the
/// largest gap of a non-empty bin. `probs` is rows x `k` (k = 1: a binary
/// model's positive-class probability).
pub fn calibration_errors(labels: &[u32], probs: &[f64], k: usize) -> (f64, f64) {
    let (p, k) = rows_of(probs, k);
    let mut bins = [(0usize, 0.0f64, 0.0f64); CALIBRATION_BINS];
    for (row, y) in p.chunks(k).zip(labels) {
        let best = super::argmax(row);
        let conf = row[best];
        let bin = ((conf * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += conf;
        bins[bin].2 += f64::from(best as u32 == *y);
    }
    let n = labels.len().max(1) as f64;
    let (mut ece, mut mce) = (0.0f64, 0.0f64);
    for (count, conf, correct) in bins.iter().filter(|b| b.0 > 0) {
        let gap = (correct / *count as f64 - conf / *count as f64).abs();
        ece += gap * *count as f64 / n;
        mce = mce.max(gap);
    }
    (ece, mce)
}

/// Brier score: the mean over rows of Σ_j (p_j − [y = j])² for k > 1; for
/// a binary model's positive-class probability (k = 1), the mean of (p − y)².
pub fn brier(labels: &[u32], probs: &[f64], k: usize) -> f64 {
    let n = labels.len().max(1) as f64;
    if k == 1 {
        return probs.iter().zip(labels).map(|(p, y)| (p - f64::from(*y)).powi(2)).sum::<f64>() / n;
    }
    probs
        .chunks(k)
        .zip(labels)
        .map(|(row, y)| {
            row.iter().enumerate().map(|(j, p)| (p - f64::from(j as u32 == *y)).powi(2)).sum::<f64>()
        })
        .sum::<f64>()
        / n
}

/// Mean negative log-likelihood of `labels` under logits / `t` (rows x k;
/// k = 1: one logit of the positive class).
pub fn nll_at(labels: &[u32], logits: &[f32], k: usize, t: f64) -> f64 {
    let n = labels.len().max(1) as f64;
    let mut total = 0.0;
    if k == 1 {
        for (z, y) in logits.iter().zip(labels) {
            let z = *z as f64 / t;
            // -log sigmoid(±z), stably
            let s = if *y != 0 { z } else { -z };
            total += if s > 0.0 { (-s).exp().ln_1p() } else { -s + s.exp().ln_1p() };
        }
    } else {
        for (row, y) in logits.chunks(k).zip(labels) {
            let mx = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64 / t;
            let lse = mx + row.iter().map(|v| (*v as f64 / t - mx).exp()).sum::<f64>().ln();
            total += lse - row[*y as usize] as f64 / t;
        }
    }
    total / n
}

/// The temperature T > 0 that minimizes the negative log-likelihood of
/// `labels` under logits / T (Guo et al., 2017), searched over log T in
/// [ln 0.05, ln 20] by golden sections (the likelihood is convex in 1/T).
/// Dividing by T keeps every row's predicted class.
pub fn fit_temperature(labels: &[u32], logits: &[f32], k: usize) -> f64 {
    let f = |u: f64| nll_at(labels, logits, k, u.exp());
    let (mut a, mut b) = (0.05f64.ln(), 20f64.ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..100 {
        if fc < fd {
            b = d;
            (d, fd) = (c, fc);
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            (c, fc) = (d, fd);
            d = a + g * (b - a);
            fd = f(d);
        }
        if b - a < 1e-9 {
            break;
        }
    }
    ((a + b) / 2.0).exp()
}

/// Net benefit of treating the rows whose positive-class probability is
/// at least `pt`: TP/n − FP/n · pt / (1 − pt) (Vickers and Elkin, 2006).
/// With every probability 1 it is the treat-all strategy's.
pub fn net_benefit(labels: &[u32], probs: &[f64], pt: f64) -> f64 {
    let n = labels.len().max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    for (p, y) in probs.iter().zip(labels) {
        if *p >= pt {
            if *y != 0 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
        }
    }
    tp / n - fp / n * pt / (1.0 - pt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SplitMix64;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn calibration_errors_and_brier_match_hand_worked_values() {
        // top-label confidences 0.9 (right), 0.9 (wrong), 0.8 (right), 0.6 (right):
        // bins 13 (gap |0.5 - 0.9|, 2 rows), 12 (|1 - 0.8|, 1), 9 (|1 - 0.6|, 1)
        let (labels, probs) = ([1u32, 0, 0, 1], [0.9, 0.9, 0.2, 0.6]);
        let (ece, mce) = calibration_errors(&labels, &probs, 1);
        close(ece, 0.5 * 0.4 + 0.25 * 0.2 + 0.25 * 0.4, 1e-12);
        close(mce, 0.4, 1e-12);
        close(brier(&labels, &probs, 1), (0.01 + 0.81 + 0.04 + 0.16) / 4.0, 1e-12);
        // the same rows as two columns: the multiclass Brier counts both
        let two: Vec<f64> = probs.iter().flat_map(|p| [1.0 - p, *p]).collect();
        close(brier(&labels, &two, 2), 2.0 * 1.02 / 4.0, 1e-12);
        assert_eq!(calibration_errors(&labels, &two, 2), (ece, mce));
    }

    #[test]
    fn net_benefit_matches_hand_worked_values() {
        let (labels, probs) = ([1u32, 0, 1, 0], [0.9, 0.7, 0.4, 0.2]);
        // pt 0.5: TP 1, FP 1 of 4: 0.25 - 0.25 * 1
        close(net_benefit(&labels, &probs, 0.5), 0.0, 1e-12);
        // pt 0.25: TP 2, FP 1: 0.5 - 0.25 / 3
        close(net_benefit(&labels, &probs, 0.25), 0.5 - 0.25 / 3.0, 1e-12);
        // treat all at pt 0.1: 0.5 - 0.5 / 9
        close(net_benefit(&labels, &[1.0; 4], 0.1), 0.5 - 0.5 / 9.0, 1e-12);
    }

    #[test]
    fn the_fitted_temperature_recovers_the_one_the_labels_were_drawn_with() {
        let mut rng = SplitMix64::new(3);
        let uniform = |r: &mut SplitMix64| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (mut logits, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..20000 {
            let z = (uniform(&mut rng) - 0.5) * 16.0;
            // drawn with P(y = 1) = sigmoid(z / 2): the logits are overconfident by 2
            let p = 1.0 / (1.0 + (-z / 2.0).exp());
            labels.push(u32::from(uniform(&mut rng) < p));
            logits.push(z as f32);
        }
        let t = fit_temperature(&labels, &logits, 1);
        close(t, 2.0, 0.15);
        assert!(nll_at(&labels, &logits, 1, t) < nll_at(&labels, &logits, 1, 1.0));
        // three classes: logits scaled by 3 from the drawing ones
        let (mut logits, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..10000 {
            let z: Vec<f64> = (0..3).map(|_| (uniform(&mut rng) - 0.5) * 4.0).collect();
            let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
            let s: f64 = e.iter().sum();
            let u = uniform(&mut rng) * s;
            let y = if u < e[0] {
                0
            } else if u < e[0] + e[1] {
                1
            } else {
                2
            };
            labels.push(y);
            logits.extend(z.iter().map(|v| (3.0 * v) as f32));
        }
        close(fit_temperature(&labels, &logits, 3), 3.0, 0.25);
    }
}

//! 95% confidence intervals of test figures: Wilson score intervals for
//! proportions, and a seeded, stratified percentile bootstrap for any
//! figure computed from labels and probabilities.

use crate::data::SplitMix64;

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959963984540054;

/// The Wilson score interval of `k` successes in `n` trials at `z`
/// (Wilson, 1927): centre (p + z²/2n) / (1 + z²/n), half-width
/// z √(p(1−p)/n + z²/4n²) / (1 + z²/n). `(0, 1)` when `n` is 0.
///
/// ```
/// let (lo, hi) = medgpu::metrics::intervals::wilson(45, 50, medgpu::metrics::intervals::Z95);
/// assert!((lo - 0.7864).abs() < 1e-4 && (hi - 0.9565).abs() < 1e-4);
/// ```
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (for a
/// two-sided 95% interval of a mean of `df + 1` values): the usual table up
/// to 30, then the Cornish-Fisher expansion z + (z³ + z) / (4 df).
///
/// ```
/// assert_eq!(medgpu::metrics::intervals::t95(4), 2.776);
/// ```
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => Z95 + (Z95.powi(3) + Z95) / (4.0 * df as f64),
    }
}

/// Mean, sample standard deviation and the t-based 95% interval of the
/// mean of `values` (the interval is NaN for fewer than two values).
pub fn mean_interval(values: &[f64]) -> (f64, f64, [f64; 2]) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, f64::NAN, [f64::NAN, f64::NAN]);
    }
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let half = t95(values.len() - 1) * sd / n.sqrt();
    (mean, sd, [mean - half, mean + half])
}

/// The percentile bootstrap interval (2.5th and 97.5th percentiles) of
/// `figure(labels, probs)` over `resamples` resamples drawn with
/// replacement within each class (so each keeps its size), from `seed`.
pub fn bootstrap<F>(labels: &[u32], probs: &[f64], resamples: usize, seed: u64, figure: F) -> (f64, f64)
where
    F: Fn(&[u32], &[f64]) -> f64,
{
    let (mut l, mut p) = (Vec::with_capacity(labels.len()), Vec::with_capacity(labels.len()));
    bootstrap_rows(labels, resamples, seed, |rows| {
        l.clear();
        p.clear();
        l.extend(rows.iter().map(|r| labels[*r]));
        p.extend(rows.iter().map(|r| probs[*r]));
        figure(&l, &p)
    })
}

/// The percentile bootstrap interval of `figure(rows)`, where each
/// resample's `rows` are drawn with replacement within each stratum of
/// `strata` (one entry per row; all 0 for an unstratified bootstrap), so
/// each stratum keeps its size. Seeded: the same `seed` gives the same interval.
pub fn bootstrap_rows<F>(strata: &[u32], resamples: usize, seed: u64, mut figure: F) -> (f64, f64)
where
    F: FnMut(&[usize]) -> f64,
{
    let mut by_stratum: Vec<(u32, Vec<usize>)> = Vec::new();
    for (i, y) in strata.iter().enumerate() {
        match by_stratum.iter_mut().find(|(c, _)| c == y) {
            Some((_, rows)) => rows.push(i),
            None => by_stratum.push((*y, vec![i])),
        }
    }
    by_stratum.sort_by_key(|(c, _)| *c);
    let mut rng = SplitMix64::new(seed);
    let mut values = Vec::with_capacity(resamples);
    let mut drawn = Vec::with_capacity(strata.len());
    for _ in 0..resamples {
        drawn.clear();
        for (_, rows) in &by_stratum {
            for _ in 0..rows.len() {
                drawn.push(rows[(rng.next_u64() % rows.len() as u64) as usize]);
            }
        }
        values.push(figure(&drawn));
    }
    percentiles(&mut values)
}

/// The 2.5th and 97.5th percentiles (linear interpolation between ranks).
fn percentiles(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        let pos = q * (values.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
    };
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn wilson_matches_published_values() {
        // 45/50 and 0/10: the values of the usual tables (e.g. Newcombe 1998)
        let (lo, hi) = wilson(45, 50, Z95);
        close(lo, 0.78640, 5e-5);
        close(hi, 0.95654, 5e-5);
        let (lo, hi) = wilson(0, 10, Z95);
        close(lo, 0.0, 1e-12);
        close(hi, 0.27753, 5e-5);
        // 81/263 (Newcombe 1998, example): 0.2553-0.3662
        let (lo, hi) = wilson(81, 263, Z95);
        close(lo, 0.2553, 1e-4);
        close(hi, 0.3662, 1e-4);
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    }

    #[test]
    fn t_quantiles_and_the_mean_interval_match_the_tables() {
        assert_eq!((t95(1), t95(9), t95(30)), (12.706, 2.262, 2.042));
        // df 60: 2.000 in the tables; df 120: 1.980
        close(t95(60), 2.000, 2e-3);
        close(t95(120), 1.980, 1e-3);
        // 0.90, 0.92, 0.94, 0.96, 0.98: mean 0.94, sd sqrt(0.001) = 0.031623,
        // half-width 2.776 * 0.031623 / sqrt(5) = 0.0392586
        let (mean, sd, ci) = mean_interval(&[0.90, 0.92, 0.94, 0.96, 0.98]);
        close(mean, 0.94, 1e-12);
        close(sd, 0.001f64.sqrt(), 1e-12);
        close(ci[0], 0.94 - 0.0392586, 1e-6);
        close(ci[1], 0.94 + 0.0392586, 1e-6);
        assert!(mean_interval(&[0.5]).2[0].is_nan());
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        // 0..=100: the 2.5th percentile is 2.5, the 97.5th 97.5
        let mut v: Vec<f64> = (0..=100).map(|i| i as f64).collect();
        assert_eq!(percentiles(&mut v), (2.5, 97.5));
    }

    #[test]
    fn the_bootstrap_is_seeded_stratified_and_brackets_the_figure() {
        let labels: Vec<u32> = (0..200).map(|i| (i % 4 == 0) as u32).collect();
        let probs: Vec<f64> =
            (0..200).map(|i| if i % 4 == 0 { 0.8 } else { 0.3 } + (i % 7) as f64 * 0.02).collect();
        let positives = |l: &[u32], _: &[f64]| l.iter().filter(|y| **y == 1).count() as f64;
        // stratified: every resample keeps the 50 positives
        assert_eq!(bootstrap(&labels, &probs, 200, 1, positives), (50.0, 50.0));
        let mean = |_: &[u32], p: &[f64]| p.iter().sum::<f64>() / p.len() as f64;
        let a = bootstrap(&labels, &probs, 500, 7, mean);
        assert_eq!(a, bootstrap(&labels, &probs, 500, 7, mean));
        assert_ne!(a, bootstrap(&labels, &probs, 500, 8, mean));
        let m = mean(&labels, &probs);
        assert!(a.0 < m && m < a.1, "{a:?} around {m}");
    }
}

//! Per-column z-score normalization.

use super::Table;

/// Per-column z-score statistics fitted on some rows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZScore {
    /// Column means.
    pub mean: Vec<f32>,
    /// Column population standard deviations (1.0 for constant columns).
    pub std: Vec<f32>,
}

impl ZScore {
    /// Fits the statistics on the given rows of `table`.
    ///
    /// Computed in f64; `std` is the population standard deviation, and a
    /// std below 1e-12 becomes 1.0 so constant columns map to 0. With no rows
    /// the mean is 0 and the std 1 (the identity transform).
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn fit(table: &Table, rows: &[usize]) -> ZScore {
        let cols = table.cols();
        let mut sum = vec![0.0f64; cols];
        for &r in rows {
            for (s, &x) in sum.iter_mut().zip(table.row(r)) {
                *s += f64::from(x);
            }
        }
        let n = rows.len().max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let mut sq = vec![0.0f64; cols];
        for &r in rows {
            for ((s, &x), m) in sq.iter_mut().zip(table.row(r)).zip(&mean) {
                let d = f64::from(x) - m;
                *s += d * d;
            }
        }
        let std = sq
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd < 1e-12 {
                    1.0
                } else {
                    sd as f32
                }
            })
            .collect();
        ZScore { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// Applies `(x - mean) / std` in place to every row of the row-major
    /// `features`, whose row length is `mean.len()`. A trailing partial row
    /// (length not a multiple of the column count) is left unchanged.
    pub fn apply(&self, features: &mut [f32]) {
        let cols = self.mean.len();
        if cols == 0 {
            return;
        }
        debug_assert_eq!(features.len() % cols, 0, "features length not a multiple of cols");
        for row in features.chunks_exact_mut(cols) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{builtin, stratified_split};

    #[test]
    fn small_example() {
        // Column a = 1, 2, 3 (mean 2, population std sqrt(2/3)); column b constant 5.
        let mut t = Table {
            feature_names: vec!["a".into(), "b".into()],
            target_name: "y".into(),
            features: vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0],
            targets: vec![0.0, 1.0, 0.0],
            source: "test".into(),
        };
        let z = ZScore::fit(&t, &[0, 1, 2]);
        assert_eq!(z.mean, vec![2.0, 5.0]);
        assert!((z.std[0] - (2.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(z.std[1], 1.0);
        z.apply(&mut t.features);
        let s = 1.5f32.sqrt();
        let want = [-s, 0.0, 0.0, 0.0, s, 0.0];
        for (a, b) in t.features.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let id = ZScore::fit(&t, &[]);
        assert_eq!((id.mean.clone(), id.std.clone()), (vec![0.0, 0.0], vec![1.0, 1.0]));
    }

    #[test]
    fn train_rows_standardized() {
        let mut t = builtin("breast_cancer").unwrap();
        let s = stratified_split(&t.targets, 0.15, 0.15, 7).unwrap();
        let z = ZScore::fit(&t, &s.train);
        z.apply(&mut t.features);
        let n = s.train.len() as f64;
        for c in 0..t.cols() {
            let mean = s.train.iter().map(|&r| f64::from(t.row(r)[c])).sum::<f64>() / n;
            let var = s.train.iter().map(|&r| (f64::from(t.row(r)[c]) - mean).powi(2)).sum::<f64>() / n;
            assert!(mean.abs() < 1e-4, "col {c} mean {mean}");
            assert!((var.sqrt() - 1.0).abs() < 1e-4, "col {c} std {}", var.sqrt());
        }
    }
}

//! Seeded stratified train/validation/test splits.

use crate::error::{Error, Result};

/// A small deterministic random number generator (SplitMix64), used for
/// splits and shuffles so that a seed always gives the same result.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a uniform number in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Returns a number in `0..n` (multiply-high; the bias is below 2^-64 * n).
    /// Returns 0 when `n` is 0.
    pub fn next_below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Shuffles `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.next_below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Row indices of a train/validation/test split, each part sorted ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Rows to train on.
    pub train: Vec<usize>,
    /// Rows for validation (early stopping, model selection).
    pub val: Vec<usize>,
    /// Rows held out for the final test.
    pub test: Vec<usize>,
}

/// Splits rows into train/validation/test, stratified by target value.
///
/// Within each distinct target value (taken in ascending order), that value's
/// row indices are shuffled with a [`SplitMix64`] seeded by `seed`; the first
/// `round(n_c * test_frac)` go to test, the next `round(n_c * val_frac)` to
/// validation and the rest to train. Each part is then sorted ascending.
///
/// Fails with [`Error::Dataset`] if a fraction is negative or not finite, if
/// `val_frac + test_frac >= 1`, or if any part would be empty.
pub fn stratified_split(targets: &[f32], val_frac: f64, test_frac: f64, seed: u64) -> Result<Split> {
    let frac_ok = |f: f64| f.is_finite() && f >= 0.0;
    if !frac_ok(val_frac) || !frac_ok(test_frac) || val_frac + test_frac >= 1.0 {
        return Err(Error::Dataset(format!(
            "invalid split fractions: validation {val_frac}, test {test_frac}; each must be \
             >= 0 and together below 1 (e.g. 0.15 and 0.15)"
        )));
    }

    // Group row indices by target value, classes in ascending value order.
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by(|&a, &b| targets[a].total_cmp(&targets[b]).then(a.cmp(&b)));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        // `==` (not bits) so that -0.0 and 0.0 share a class.
        if k == 0 || targets[i] != targets[order[k - 1]] {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push(i);
        }
    }

    let mut rng = SplitMix64::new(seed);
    let mut split = Split { train: Vec::new(), val: Vec::new(), test: Vec::new() };
    for mut rows in groups {
        rng.shuffle(&mut rows);
        let n = rows.len();
        let n_test = ((n as f64 * test_frac).round() as usize).min(n);
        let n_val = ((n as f64 * val_frac).round() as usize).min(n - n_test);
        split.test.extend_from_slice(&rows[..n_test]);
        split.val.extend_from_slice(&rows[n_test..n_test + n_val]);
        split.train.extend_from_slice(&rows[n_test + n_val..]);
    }
    for (name, part) in
        [("train", &mut split.train), ("validation", &mut split.val), ("test", &mut split.test)]
    {
        if part.is_empty() {
            return Err(Error::Dataset(format!(
                "the {name} part of the split would be empty ({} rows, validation fraction \
                 {val_frac}, test fraction {test_frac}); use more rows or larger fractions",
                targets.len()
            )));
        }
        part.sort_unstable();
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::builtin;

    #[test]
    fn splitmix_known_values() {
        // Reference outputs of SplitMix64 seeded with 0.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let x = r.next_f64();
        assert!((0.0..1.0).contains(&x));
        let mut v: Vec<u32> = (0..50).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<u32>>());
        assert_ne!(v, s);
    }

    #[test]
    fn breast_cancer_split() {
        let t = builtin("breast_cancer").unwrap();
        let s = stratified_split(&t.targets, 0.15, 0.15, 42).unwrap();
        let n = t.rows();
        // Disjoint and covering every row.
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<usize>>());
        // Each part sorted.
        for part in [&s.train, &s.val, &s.test] {
            assert!(part.windows(2).all(|w| w[0] < w[1]));
        }
        // 212 positives, 357 negatives: expected per part is frac * class size.
        for (part, frac) in [(&s.train, 0.7), (&s.val, 0.15), (&s.test, 0.15)] {
            let pos = part.iter().filter(|&&i| t.targets[i] == 1.0).count() as f64;
            let neg = part.len() as f64 - pos;
            assert!((pos - 212.0 * frac).abs() <= 1.0, "pos {pos} frac {frac}");
            assert!((neg - 357.0 * frac).abs() <= 1.0, "neg {neg} frac {frac}");
        }
        assert_eq!(s, stratified_split(&t.targets, 0.15, 0.15, 42).unwrap());
        assert_ne!(s, stratified_split(&t.targets, 0.15, 0.15, 43).unwrap());
    }

    #[test]
    fn split_errors() {
        let y = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        assert!(stratified_split(&y, 0.5, 0.5, 1).is_err());
        assert!(stratified_split(&y, -0.1, 0.2, 1).is_err());
        assert!(stratified_split(&y, f64::NAN, 0.2, 1).is_err());
        let e = stratified_split(&y, 0.0, 0.2, 1).unwrap_err().to_string();
        assert!(e.contains("validation part"), "{e}");
        let e = stratified_split(&y[..2], 0.2, 0.2, 1).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let s = stratified_split(&y, 0.2, 0.2, 1).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 2, 2));
    }
}

//! Seeded train/validation/test splits: stratified by class, plain
//! shuffled, or by group (all rows of a patient in one part).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};

use super::prepare::{Dataset, Task};

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
    check_fractions(val_frac, test_frac)?;
    let split = stratify(targets, val_frac, test_frac, seed);
    finish(split, targets.len(), val_frac, test_frac, "rows")
}

/// Seeded split of the candidate rows `rows` (indices into `ds`).
///
/// - When `ds.groups` is non-empty, whole groups go to one part: the
///   distinct groups of `rows`, sorted, are shuffled with `seed`; groups fill
///   test until it holds `round(n * test_frac)` rows, then validation up to
///   `round(n * val_frac)` rows, and the rest go to train.
/// - Otherwise, for [`Task::Classify`] with targets, the split is stratified
///   by class exactly as [`stratified_split`] does on the targets of `rows`.
/// - Otherwise `rows` are shuffled with `seed`; the first `round(n *
///   test_frac)` go to test, the next `round(n * val_frac)` to validation.
///
/// Each part is sorted ascending. Fails with [`Error::Dataset`] on bad
/// fractions or when a part would be empty.
///
/// # Panics
/// If a row index is out of range.
pub fn split_rows(ds: &Dataset, rows: &[usize], val_frac: f64, test_frac: f64, seed: u64) -> Result<Split> {
    check_fractions(val_frac, test_frac)?;
    let n = rows.len();
    let mut rng = SplitMix64::new(seed);
    let split = if !ds.groups.is_empty() {
        let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &r in rows {
            by_group.entry(ds.groups[r].as_str()).or_default().push(r);
        }
        let mut groups: Vec<Vec<usize>> = by_group.into_values().collect();
        rng.shuffle(&mut groups);
        let n_test = (n as f64 * test_frac).round() as usize;
        let n_val = (n as f64 * val_frac).round() as usize;
        let mut split = empty_split();
        for g in groups {
            let part = if split.test.len() < n_test {
                &mut split.test
            } else if split.val.len() < n_val {
                &mut split.val
            } else {
                &mut split.train
            };
            part.extend(g);
        }
        split
    } else if ds.encoding.task == Task::Classify && ds.has_targets() {
        let targets: Vec<f32> = rows.iter().map(|&r| ds.targets[r]).collect();
        let pos = stratify(&targets, val_frac, test_frac, seed);
        let map = |v: Vec<usize>| v.into_iter().map(|i| rows[i]).collect();
        Split { train: map(pos.train), val: map(pos.val), test: map(pos.test) }
    } else {
        let mut order = rows.to_vec();
        rng.shuffle(&mut order);
        let n_test = ((n as f64 * test_frac).round() as usize).min(n);
        let n_val = ((n as f64 * val_frac).round() as usize).min(n - n_test);
        Split {
            test: order[..n_test].to_vec(),
            val: order[n_test..n_test + n_val].to_vec(),
            train: order[n_test + n_val..].to_vec(),
        }
    };
    let what = if ds.groups.is_empty() {
        "rows".to_string()
    } else {
        let distinct: BTreeSet<&str> = rows.iter().map(|&r| ds.groups[r].as_str()).collect();
        format!("rows in {} groups", distinct.len())
    };
    finish(split, n, val_frac, test_frac, &what)
}

/// Checks that both fractions are finite, non-negative and sum below 1.
fn check_fractions(val_frac: f64, test_frac: f64) -> Result<()> {
    let frac_ok = |f: f64| f.is_finite() && f >= 0.0;
    if !frac_ok(val_frac) || !frac_ok(test_frac) || val_frac + test_frac >= 1.0 {
        return Err(Error::Dataset(format!(
            "invalid split fractions: validation {val_frac}, test {test_frac}; each must be \
             >= 0 and together below 1 (e.g. 0.15 and 0.15)"
        )));
    }
    Ok(())
}

fn empty_split() -> Split {
    Split { train: Vec::new(), val: Vec::new(), test: Vec::new() }
}

/// Stratified split of positions `0..targets.len()` by target value: within
/// each value (ascending) the positions are shuffled and cut by the fractions.
fn stratify(targets: &[f32], val_frac: f64, test_frac: f64, seed: u64) -> Split {
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
    let mut split = empty_split();
    for mut rows in groups {
        rng.shuffle(&mut rows);
        let n = rows.len();
        let n_test = ((n as f64 * test_frac).round() as usize).min(n);
        let n_val = ((n as f64 * val_frac).round() as usize).min(n - n_test);
        split.test.extend_from_slice(&rows[..n_test]);
        split.val.extend_from_slice(&rows[n_test..n_test + n_val]);
        split.train.extend_from_slice(&rows[n_test + n_val..]);
    }
    split
}

/// Fails if a part is empty, else sorts each part. `what` describes the `n` rows.
fn finish(mut split: Split, n: usize, val_frac: f64, test_frac: f64, what: &str) -> Result<Split> {
    // a part asked to be empty (fraction 0, e.g. the test part when a separate
    // test file is given) may be empty; any other empty part is an error
    for (name, part, frac) in [
        ("train", &mut split.train, 1.0),
        ("validation", &mut split.val, val_frac),
        ("test", &mut split.test, test_frac),
    ] {
        if part.is_empty() && frac > 0.0 {
            return Err(Error::Dataset(format!(
                "the {name} part of the split would be empty ({n} {what}, validation fraction \
                 {val_frac}, test fraction {test_frac}); use more rows or larger fractions"
            )));
        }
        part.sort_unstable();
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{builtin_raw, encode_fit, parse_raw_csv, PrepareOptions};

    /// 40 rows, 10 patients of 4 rows each; y alternates 0/1 (numeric, so
    /// classify by inference, or regress when asked).
    fn grouped(task: Option<Task>, with_groups: bool) -> Dataset {
        let mut text = String::from("patient,a,y\n");
        for i in 0..40 {
            text.push_str(&format!("p{},{i},{}\n", i / 4, i % 2));
        }
        let opts = PrepareOptions {
            target: Some("y".into()),
            task,
            group_column: with_groups.then(|| "patient".to_string()),
            drop_columns: if with_groups { vec![] } else { vec!["patient".into()] },
            ..PrepareOptions::default()
        };
        encode_fit(&parse_raw_csv(&text, "t.csv").unwrap(), &opts).unwrap()
    }

    fn check_partition(s: &Split, rows: &[usize]) {
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        let mut want = rows.to_vec();
        want.sort_unstable();
        assert_eq!(all, want);
        for part in [&s.train, &s.val, &s.test] {
            assert!(part.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn group_split_keeps_groups_together() {
        let ds = grouped(None, true);
        let rows: Vec<usize> = (0..40).collect();
        let s = split_rows(&ds, &rows, 0.2, 0.2, 5).unwrap();
        check_partition(&s, &rows);
        // 8 rows = 2 groups each for test and validation.
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (24, 8, 8));
        let group_of =
            |part: &[usize]| -> BTreeSet<String> { part.iter().map(|&r| ds.groups[r].clone()).collect() };
        let (tr, va, te) = (group_of(&s.train), group_of(&s.val), group_of(&s.test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        assert_eq!(s, split_rows(&ds, &rows, 0.2, 0.2, 5).unwrap());
        let others: Vec<Split> =
            (6..10).map(|seed| split_rows(&ds, &rows, 0.2, 0.2, seed).unwrap()).collect();
        assert!(others.iter().any(|o| o.test != s.test));
        // Only candidate rows are used; group sizes then differ.
        let cand: Vec<usize> = (0..40).filter(|r| r % 4 != 0).collect();
        let s = split_rows(&ds, &cand, 0.2, 0.2, 5).unwrap();
        check_partition(&s, &cand);
        let e = split_rows(&ds, &rows[..8], 0.2, 0.2, 5).unwrap_err().to_string();
        assert!(e.contains("8 rows in 2 groups") && e.contains("0.2"), "{e}");
    }

    #[test]
    fn classify_split_is_stratified() {
        let ds = grouped(None, false);
        assert_eq!(ds.encoding.task, Task::Classify);
        let rows: Vec<usize> = (0..40).filter(|r| r % 5 != 0).collect();
        let s = split_rows(&ds, &rows, 0.25, 0.25, 3).unwrap();
        check_partition(&s, &rows);
        let targets: Vec<f32> = rows.iter().map(|&r| ds.targets[r]).collect();
        let t = stratified_split(&targets, 0.25, 0.25, 3).unwrap();
        let map = |v: &[usize]| v.iter().map(|&i| rows[i]).collect::<Vec<_>>();
        assert_eq!(
            (map(&t.train), map(&t.val), map(&t.test)),
            (s.train.clone(), s.val.clone(), s.test.clone())
        );
        for part in [&s.val, &s.test] {
            let pos = part.iter().filter(|&&r| ds.targets[r] == 1.0).count();
            assert_eq!(pos * 2, part.len());
        }
    }

    #[test]
    fn regress_split_is_shuffled() {
        let ds = grouped(Some(Task::Regress), false);
        let rows: Vec<usize> = (0..40).collect();
        let s = split_rows(&ds, &rows, 0.1, 0.3, 9).unwrap();
        check_partition(&s, &rows);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (24, 4, 12));
        assert_eq!(s, split_rows(&ds, &rows, 0.1, 0.3, 9).unwrap());
        assert_ne!(s, split_rows(&ds, &rows, 0.1, 0.3, 10).unwrap());
        assert!(split_rows(&ds, &rows, 0.6, 0.4, 9).is_err());
        let e = split_rows(&ds, &rows[..3], 0.1, 0.1, 9).unwrap_err().to_string();
        assert!(e.contains("3 rows") && e.contains("validation fraction 0.1"), "{e}");
        // A data set without targets (ecg) splits too.
        let (r, _) = builtin_raw("ecg").unwrap();
        let opts = PrepareOptions { task: Some(Task::Reconstruct), ..PrepareOptions::default() };
        let ecg = encode_fit(&r, &opts).unwrap();
        let s = split_rows(&ecg, &(0..1000).collect::<Vec<_>>(), 0.15, 0.15, 1).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (700, 150, 150));
    }

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
        let (raw, target) = builtin_raw("breast_cancer").unwrap();
        let opts = PrepareOptions { target: target.map(str::to_string), ..Default::default() };
        let t = encode_fit(&raw, &opts).unwrap();
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
        // a part asked to be empty (fraction 0) may be; one asked for rows may not
        let s = stratified_split(&y, 0.0, 0.2, 1).unwrap();
        assert!(s.val.is_empty() && !s.test.is_empty());
        let e = stratified_split(&y, 0.01, 0.2, 1).unwrap_err().to_string();
        assert!(e.contains("validation part"), "{e}");
        let e = stratified_split(&y[..2], 0.2, 0.2, 1).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let s = stratified_split(&y, 0.2, 0.2, 1).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 2, 2));
    }
}

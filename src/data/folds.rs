//! k-fold assignment for cross-validation: every candidate row in exactly
//! one fold, stratified by class for classification, whole groups (patients)
//! in one fold with a group column, seeded.

use super::{Dataset, SplitMix64, Task};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The rows of `rows` (indices into `ds`) dealt into `k` folds, each sorted.
///
/// - With a group column, the distinct groups are shuffled with `seed` and
///   each goes whole to the fold that has the fewest rows so far.
/// - Otherwise, for classification, each class's rows (classes in order)
///   are shuffled and dealt round-robin, continuing where the last class
///   stopped, so every fold gets its share of each class.
/// - Otherwise the rows are shuffled and dealt round-robin.
///
/// Fails when `k` < 2, when there are fewer rows (groups) than folds, or,
/// for classification, when the rarest class has fewer rows than folds.
pub fn k_folds(ds: &Dataset, rows: &[usize], k: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if k < 2 {
        return Err(Error::Options(format!(
            "`cv` {k}: cross-validation needs at least 2 folds (5 or 10 are usual)"
        )));
    }
    let mut rng = SplitMix64::new(seed);
    let mut folds = vec![Vec::new(); k];
    if !ds.groups.is_empty() {
        let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &r in rows {
            by_group.entry(ds.groups[r].as_str()).or_default().push(r);
        }
        if by_group.len() < k {
            return Err(Error::Options(format!(
                "`cv` {k}: only {} groups, fewer than the folds; use at most {} folds",
                by_group.len(),
                by_group.len()
            )));
        }
        let mut groups: Vec<Vec<usize>> = by_group.into_values().collect();
        rng.shuffle(&mut groups);
        for g in groups {
            let smallest = (0..k).min_by_key(|f| folds[*f].len()).unwrap_or(0);
            folds[smallest].extend(g);
        }
    } else {
        let mut classes: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let classify = ds.encoding.task == Task::Classify && ds.has_targets();
        for &r in rows {
            let class = if classify { ds.targets[r] as u32 } else { 0 };
            classes.entry(class).or_default().push(r);
        }
        if let Some((class, members)) =
            classes.iter().min_by_key(|(_, m)| m.len()).filter(|(_, m)| m.len() < k)
        {
            let what =
                if classify { format!("the rarest class ({class}) has") } else { "there are".to_string() };
            return Err(Error::Options(format!(
                "`cv` {k}: {what} only {} rows, fewer than the folds; use at most {} folds",
                members.len(),
                members.len()
            )));
        }
        let mut next = 0;
        for mut members in classes.into_values() {
            rng.shuffle(&mut members);
            for r in members {
                folds[next % k].push(r);
                next += 1;
            }
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{encode_fit, parse_raw_csv, PrepareOptions};

    fn dataset(text: &str, group: Option<&str>) -> Dataset {
        let opts = PrepareOptions {
            target: Some("y".into()),
            group_column: group.map(str::to_string),
            ..PrepareOptions::default()
        };
        encode_fit(&parse_raw_csv(text, "t.csv").unwrap(), &opts).unwrap()
    }

    #[test]
    fn every_row_lands_in_one_fold_with_its_share_of_each_class() {
        // 12 rows of class 0, 8 of class 1
        let mut text = String::from("x,y\n");
        for i in 0..20 {
            text.push_str(&format!("{i},{}\n", u8::from(i >= 12)));
        }
        let ds = dataset(&text, None);
        let rows: Vec<usize> = (0..20).collect();
        let folds = k_folds(&ds, &rows, 4, 7).unwrap();
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, rows);
        for f in &folds {
            let positives = f.iter().filter(|r| **r >= 12).count();
            assert_eq!((f.len(), positives), (5, 2), "{folds:?}");
        }
        assert_eq!(folds, k_folds(&ds, &rows, 4, 7).unwrap(), "seeded");
        assert_ne!(folds, k_folds(&ds, &rows, 4, 8).unwrap());
        let e = k_folds(&ds, &rows, 9, 7).unwrap_err().to_string();
        assert!(e.contains("rarest class (1) has only 8 rows") && e.contains("at most 8 folds"), "{e}");
        assert!(k_folds(&ds, &rows, 1, 7).unwrap_err().to_string().contains("at least 2 folds"));
    }

    #[test]
    fn a_patient_stays_in_one_fold() {
        let mut text = String::from("p,x,y\n");
        for i in 0..30 {
            text.push_str(&format!("p{},{i},{}\n", i / 3, i % 2));
        }
        let ds = dataset(&text, Some("p"));
        let folds = k_folds(&ds, &(0..30).collect::<Vec<_>>(), 5, 1).unwrap();
        for f in &folds {
            assert_eq!(f.len(), 6, "{folds:?}");
            for r in f {
                assert!(
                    f.contains(&(r / 3 * 3)) && f.contains(&(r / 3 * 3 + 2)),
                    "patient of row {r} split: {folds:?}"
                );
            }
        }
        let e = k_folds(&ds, &(0..30).collect::<Vec<_>>(), 11, 1).unwrap_err().to_string();
        assert!(e.contains("only 10 groups"), "{e}");
    }
}

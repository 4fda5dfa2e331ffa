//! Tabular data: CSV loading, the built-in data sets, class labels,
//! stratified and grouped splits, column encoding (numeric, one-hot, class
//! labels), missing values and normalization.
//!
//! The path from a file to model inputs: [`read_raw_csv`] (one streaming
//! pass into compact columns: `f32` numbers, text only where a column holds
//! text) → [`encode_fit`] (an [`Encoding`] and a numeric [`Dataset`], NaN
//! for missing cells) → [`rows_after_missing_policy`] → [`split_rows`] →
//! [`Preprocessor::fit`] on the training rows → [`Preprocessor::apply`].
//! [`encode_fit_owned`] encodes like [`encode_fit`] but takes the raw table
//! and frees its cells as they are encoded, for large files.
//! At eval/predict time the saved [`Encoding`] and [`Preprocessor`] are
//! reapplied with [`encode_apply`] or [`encode_apply_lenient`].

mod csv_table;
mod encode;
mod encode_owned;
mod normalize;
mod prepare;
mod preprocess;
mod raw;
mod raw_column;
mod split;

pub use csv_table::{parse_csv_table, read_csv_table, Table};
pub use encode::{encode_apply, encode_apply_lenient};
pub use encode_owned::{encode_fit_owned, release_freed_memory};
pub use normalize::ZScore;
pub use prepare::{
    encode_fit, ColumnEncoding, Dataset, Encoding, MissingPolicy, Normalize, PrepareOptions, TargetEncoding,
    Task,
};
pub use preprocess::{rows_after_missing_policy, Preprocessor};
pub use raw::{builtin_raw, parse_raw_csv, read_raw_csv, RawTable};
pub use raw_column::{NumericCells, RawColumn, TextCells};
pub use split::{split_rows, stratified_split, Split, SplitMix64};

use crate::error::{Error, Result};

/// Breast Cancer Wisconsin (Diagnostic): 569 rows, 30 features, target `malignant`.
const BREAST_CANCER_CSV: &str = include_str!("../../data/breast_cancer.csv");
/// Optical digits, 8x8: 1797 rows, 64 features `p0`..`p63`, target `digit`.
const DIGITS_CSV: &str = include_str!("../../data/digits.csv");
/// MIT-BIH record 208, one lead: 108000 samples, one column `mv`, no target.
const ECG_CSV: &str = include_str!("../../data/ecg_mitbih208.csv");

/// Names accepted by [`builtin`], with a one-line description each.
pub const BUILTIN_NAMES: [(&str, &str); 3] = [
    ("breast_cancer", "569 rows, 30 features, binary target `malignant`"),
    ("digits", "1797 rows, 64 pixel features, target `digit` (0-9)"),
    ("ecg", "MIT-BIH record 208, one lead: 108000 samples in column `mv`, no target"),
];

/// Returns a built-in data set, embedded in the binary.
///
/// `"breast_cancer"` has target `malignant` and `"digits"` has target `digit`.
/// `"ecg"` is a sequence data set and is refused until sequence models exist;
/// any other name is an [`Error::Dataset`] listing the known names.
pub fn builtin(name: &str) -> Result<Table> {
    match name {
        "breast_cancer" => parse_csv_table(BREAST_CANCER_CSV, "builtin:breast_cancer", "malignant"),
        "digits" => parse_csv_table(DIGITS_CSV, "builtin:digits", "digit"),
        "ecg" => Err(Error::Dataset(
            "builtin data set `ecg` is a sequence (one ECG lead); sequence models are not \
             built yet, so it cannot be used as a table"
                .to_string(),
        )),
        other => {
            let known: Vec<String> = BUILTIN_NAMES.iter().map(|(n, d)| format!("{n} ({d})")).collect();
            Err(Error::Dataset(format!("unknown builtin data set `{other}`; known: {}", known.join(", "))))
        }
    }
}

/// Returns the classes of a classification target: its sorted distinct values.
///
/// Fails with [`Error::Dataset`] if any target is not a non-negative integer
/// (that fits a `u32`), or if there are fewer than two classes.
pub fn class_labels(targets: &[f32]) -> Result<Vec<u32>> {
    let mut labels = Vec::new();
    for (i, &t) in targets.iter().enumerate() {
        if !(t.is_finite() && t >= 0.0 && t.fract() == 0.0 && f64::from(t) <= f64::from(u32::MAX)) {
            return Err(Error::Dataset(format!(
                "target of data row {} is {t}, but a classification target must be a \
                 non-negative integer class label; use a regression model for continuous targets",
                i + 1
            )));
        }
        labels.push(t as u32);
    }
    labels.sort_unstable();
    labels.dedup();
    if labels.len() < 2 {
        return Err(Error::Dataset(format!(
            "classification needs at least two classes, but the target has {} ({:?})",
            labels.len(),
            labels
        )));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breast_cancer_shape() {
        let t = builtin("breast_cancer").unwrap();
        assert_eq!(t.rows(), 569);
        assert_eq!(t.cols(), 30);
        assert_eq!(t.feature_names.len(), 30);
        assert_eq!(t.target_name, "malignant");
        assert_eq!(t.source, "builtin:breast_cancer");
        assert_eq!(t.targets.iter().filter(|&&y| y == 1.0).count(), 212);
        assert_eq!(class_labels(&t.targets).unwrap(), vec![0, 1]);
        // First row, first and last feature (mean_radius, worst_fractal_dimension).
        assert_eq!(t.row(0)[0], 17.99);
        assert_eq!(t.row(0)[29], 0.1189);
    }

    #[test]
    fn digits_shape() {
        let t = builtin("digits").unwrap();
        assert_eq!(t.rows(), 1797);
        assert_eq!(t.cols(), 64);
        assert_eq!(class_labels(&t.targets).unwrap(), (0..10).collect::<Vec<u32>>());
    }

    #[test]
    fn builtin_errors() {
        let e = builtin("ecg").unwrap_err().to_string();
        assert!(e.contains("sequence models are not built yet"), "{e}");
        let e = builtin("mnist").unwrap_err().to_string();
        assert!(e.contains("mnist") && e.contains("breast_cancer") && e.contains("digits"), "{e}");
    }

    #[test]
    fn class_label_errors() {
        assert_eq!(class_labels(&[2.0, 0.0, 2.0, 5.0]).unwrap(), vec![0, 2, 5]);
        let e = class_labels(&[0.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("data row 2") && e.contains("1.5"), "{e}");
        assert!(class_labels(&[0.0, -1.0]).is_err());
        let e = class_labels(&[1.0, 1.0]).unwrap_err().to_string();
        assert!(e.contains("at least two classes"), "{e}");
        assert!(class_labels(&[]).is_err());
    }
}

//! Tabular data: CSV loading, image folders, the built-in data sets,
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
//! [`read_image_folder`] reads a folder of images, one subfolder per class,
//! into a raw table (one numeric column per pixel and a `label` column) that
//! takes the same path.

mod csv_dialect;
mod encode;
mod encode_owned;
mod folds;
mod image_folder;
mod prepare;
mod preprocess;
mod raw;
mod raw_column;
mod sequences;
mod split;
mod wfdb;
mod windows;

pub use csv_dialect::{csv_dialect_of, detect_delimiter, CsvDialect};
pub use encode::{encode_apply, encode_apply_lenient};
pub use encode_owned::{encode_fit_owned, release_freed_memory};
pub use folds::k_folds;
pub use image_folder::{image_bytes_to_chw, read_image_folder};
pub use prepare::{
    encode_fit, ColumnEncoding, Dataset, Encoding, MissingPolicy, Normalize, PrepareOptions, TargetEncoding,
    Task,
};
pub use preprocess::{rows_after_missing_policy, Preprocessor};
pub use raw::{builtin_raw, parse_raw_csv, read_raw_csv, read_raw_csv_as, RawTable};
pub use raw_column::{NumericCells, RawColumn, TextCells};
pub use sequences::{sequence_table, SequenceOptions, Sequences, STEP_MASK};
pub use split::{split_rows, stratified_split, Split, SplitMix64};
pub use wfdb::read_wfdb;
pub use windows::{window_table, windows_to_end, WindowOptions, Windows};

/// Breast Cancer Wisconsin (Diagnostic): 569 rows, 30 features, target `malignant`.
const BREAST_CANCER_CSV: &str = include_str!("../../data/breast_cancer.csv");
/// Optical digits, 8x8: 1797 rows, 64 features `p0`..`p63`, target `digit`.
const DIGITS_CSV: &str = include_str!("../../data/digits.csv");
/// MIT-BIH record 208, one lead: 108000 samples, one column `mv`, no target.
const ECG_CSV: &str = include_str!("../../data/ecg_mitbih208.csv");

/// The bytes of a built-in data set's CSV (`builtin:NAME` without the
/// prefix), as the binary carries them.
pub fn builtin_csv(name: &str) -> Option<&'static str> {
    match name {
        "breast_cancer" => Some(BREAST_CANCER_CSV),
        "digits" => Some(DIGITS_CSV),
        "ecg" => Some(ECG_CSV),
        _ => None,
    }
}

/// Names accepted by [`builtin_raw`], with a one-line description each.
pub const BUILTIN_NAMES: [(&str, &str); 3] = [
    ("breast_cancer", "569 rows, 30 features, binary target `malignant`"),
    ("digits", "1797 rows, 64 pixel features, target `digit` (0-9)"),
    ("ecg", "MIT-BIH record 208, one lead: 108000 samples in column `mv`, no target"),
];

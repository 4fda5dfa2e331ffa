//! Reading new data the way a saved model was trained on it: a CSV, a
//! built-in set or an image folder, then the same windows or sequences.

use super::config::DataSource;
use crate::data::{
    builtin_raw, read_image_folder, read_raw_csv_as, read_wfdb, sequence_table, window_table, windows_to_end,
    CsvDialect, RawTable,
};
use crate::error::Result;
use std::path::Path;

/// Reads `builtin:NAME`, a WFDB record (`RECORD.hea`: one column of
/// physical values per signal), a CSV file, or an image folder (one subfolder per
/// class; every image resized to `image_shape` [C, H, W], default grey
/// 32x32); also gives the default target (a built-in's label, `label` for
/// image folders).
pub fn load_raw(source: &str, image_shape: Option<[usize; 3]>) -> Result<(RawTable, Option<&'static str>)> {
    load_raw_as(source, image_shape, &CsvDialect::default())
}

/// [`load_raw`] with CSV files read in `dialect`.
pub fn load_raw_as(
    source: &str,
    image_shape: Option<[usize; 3]>,
    dialect: &CsvDialect,
) -> Result<(RawTable, Option<&'static str>)> {
    match source.strip_prefix("builtin:") {
        Some(name) => builtin_raw(name),
        None if Path::new(source).is_dir() => {
            let [c, h, w] = image_shape.unwrap_or(DEFAULT_IMAGE_SHAPE);
            Ok((read_image_folder(Path::new(source), (h, w), c)?, Some("label")))
        }
        None if source.ends_with(".hea") => Ok((read_wfdb(Path::new(source))?, None)),
        None => Ok((read_raw_csv_as(Path::new(source), dialect)?, None)),
    }
}

/// Cuts a signal into the windows a run was trained on (`source.window`),
/// every window kept (no split; with `to_end` also those whose targets lie
/// past the end of the file, which `predict` forecasts), or groups
/// long-format rows into its sequences (`source.sequences`, padded or cut to
/// the trained steps): how `eval` and `predict` read new data. Other tables
/// are returned as they are.
pub fn windows_for(raw: RawTable, source: &DataSource, to_end: bool) -> Result<RawTable> {
    if let Some(sq) = &source.sequences {
        return Ok(sequence_table(&raw, sq)?.table);
    }
    let Some(w) = &source.window else { return Ok(raw) };
    let mut w = w.clone();
    if w.signals.is_empty() {
        w.signals = source.prepare.features.clone().unwrap_or_default();
    }
    let windows = if to_end { windows_to_end(&raw, &w)? } else { window_table(&raw, &w, 0.0, 0.0)? };
    Ok(windows.table)
}

/// Shape images from a folder are resized to when nothing else is asked: grey 32x32.
pub const DEFAULT_IMAGE_SHAPE: [usize; 3] = [1, 32, 32];

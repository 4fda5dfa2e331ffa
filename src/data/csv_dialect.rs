//! How a CSV file is written: its delimiter, detected from the header when
//! not given, and whether numbers use a decimal comma, as spreadsheet
//! exports in many countries write them.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// How a CSV file is written: its delimiter (detected from the header when
/// not given) and whether numbers use a decimal comma (`1,5`), as spreadsheet
/// exports in many countries do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CsvDialect {
    /// `,`, `;` or a tab; `None`: the one the header line uses most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// Numbers are written `1,5` (the delimiter is then usually `;`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decimal_comma: bool,
}

impl CsvDialect {
    /// The default: delimiter detected, decimal point.
    pub fn is_auto(&self) -> bool {
        *self == CsvDialect::default()
    }

    /// In words, for the output: `semicolon-separated, decimal comma`.
    pub fn describe(delimiter: u8, decimal_comma: bool) -> String {
        let d = match delimiter {
            b',' => "comma",
            b';' => "semicolon",
            b'\t' => "tab",
            _ => "other",
        };
        format!("{d}-separated{}", if decimal_comma { ", decimal comma" } else { "" })
    }
}

/// The delimiter a header line uses: the most frequent of comma, semicolon
/// and tab outside quotes (comma on a tie or when there is none).
///
/// ```
/// assert_eq!(medgpu::data::detect_delimiter(b"a;b;\"c,d\"\n1;2;3"), b';');
/// assert_eq!(medgpu::data::detect_delimiter(b"a\tb"), b'\t');
/// assert_eq!(medgpu::data::detect_delimiter(b"single"), b',');
/// ```
pub fn detect_delimiter(text: &[u8]) -> u8 {
    let line = text.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let (mut counts, mut quoted) = ([0usize; 3], false);
    for b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).fold(0, |best, i| if counts[i] > counts[best] { i } else { best });
    [b',', b';', b'\t'][best]
}

/// The delimiter and decimal mark a CSV file is read with, in words.
pub fn csv_dialect_of(path: &Path, dialect: &CsvDialect) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut input = BufReader::with_capacity(1 << 16, file);
    let head = input.fill_buf().map_err(|e| Error::io(path, e))?;
    let d = dialect.delimiter.map_or_else(|| detect_delimiter(head), |c| c as u8);
    Ok(CsvDialect::describe(d, dialect.decimal_comma))
}

/// A cell with a decimal comma (`1,5`) as a number's text (`1.5`) when the
/// dialect has one and the cell reads as a number that way; other cells as
/// they are.
pub(super) fn decimal_point(cell: &str, decimal_comma: bool) -> Cow<'_, str> {
    if decimal_comma && cell.contains(',') {
        let pointed = cell.replace(',', ".");
        if pointed.parse::<f64>().is_ok() {
            return Cow::Owned(pointed);
        }
    }
    Cow::Borrowed(cell)
}

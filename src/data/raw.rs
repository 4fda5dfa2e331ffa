//! Raw CSV tables: text cells with their source line numbers, before any
//! column is interpreted as a number, a category or a target.

use std::path::Path;

use crate::error::{Error, Result};

use super::BUILTIN_NAMES;

/// One data row of a CSV file, cells trimmed of surrounding whitespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    /// 1-based line of the row in its file (the header is line 1).
    pub line: u64,
    /// The cells, as many as the header has columns.
    pub cells: Vec<String>,
}

/// A CSV file read as text: a header and rows of equal length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTable {
    /// Where the table came from: a file path or `builtin:NAME`.
    pub source: String,
    /// Column names from the header row, trimmed, unique and non-empty.
    pub headers: Vec<String>,
    /// Data rows, at least one.
    pub rows: Vec<RawRow>,
}

impl RawTable {
    /// The 0-based index of the column called `name` (exact match).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The column names joined with ", ", for messages.
    pub fn column_list(&self) -> String {
        self.headers.join(", ")
    }
}

/// Reads a CSV file with a header row into a [`RawTable`]; see [`parse_raw_csv`].
pub fn read_raw_csv(path: &Path) -> Result<RawTable> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_raw_csv(&text, &path.display().to_string())
}

/// Parses CSV text with a header row; `source` names the text in messages.
///
/// A UTF-8 byte order mark and CRLF line ends are accepted; blank lines are
/// skipped. Errors:
/// - [`Error::Dataset`] if the text is empty or has a header but no data rows;
/// - [`Error::Data`] at line 1 for an empty or duplicated column name, and at
///   the row's line (column 0) for a row with the wrong number of cells or
///   text the CSV reader cannot read.
pub fn parse_raw_csv(text: &str, source: &str) -> Result<RawTable> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // The csv crate counts lines one short after a CRLF header (a record's
    // position can be the '\n' of the previous line end), so lines are
    // computed from the byte offset of each record, past any line ends.
    let bytes = text.as_bytes();
    let newlines: Vec<usize> =
        bytes.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i).collect();
    let line_at = |byte: u64| {
        let mut b = usize::try_from(byte).unwrap_or(bytes.len()).min(bytes.len());
        while b < bytes.len() && matches!(bytes[b], b'\r' | b'\n') {
            b += 1;
        }
        newlines.partition_point(|&i| i < b) as u64 + 1
    };
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| line_at(p.byte()));
        data_err(source, line, 0, format!("cannot read CSV: {e}; check the quoting on this line"))
    };

    let headers: Vec<String> = reader.headers().map_err(csv_err)?.iter().map(str::to_string).collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(Error::Dataset(format!(
            "{source} is empty: expected a header row of column names and at least one data row"
        )));
    }
    for (i, name) in headers.iter().enumerate() {
        if name.is_empty() {
            return Err(data_err(
                source,
                1,
                i + 1,
                format!(
                    "column {} has no name in the header; give every column a name, or \
                     remove the column (a pandas index: save with index=False)",
                    i + 1
                ),
            ));
        }
        if let Some(first) = headers[..i].iter().position(|h| h == name) {
            return Err(data_err(
                source,
                1,
                i + 1,
                format!(
                    "column name '{name}' appears twice in the header (columns {} and {}); \
                     rename one of them",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if record.len() != headers.len() {
            return Err(data_err(
                source,
                line,
                0,
                format!(
                    "row has {} cells, the header has {}; fix the row (a cell with a comma \
                     must be quoted) or remove it",
                    record.len(),
                    headers.len()
                ),
            ));
        }
        rows.push(RawRow { line, cells: record.iter().map(str::to_string).collect() });
    }
    if rows.is_empty() {
        return Err(Error::Dataset(format!(
            "{source} has a header but no data rows; add at least one row below the header"
        )));
    }
    Ok(RawTable { source: source.to_string(), headers, rows })
}

/// Returns a built-in data set as a raw table, with its default target
/// column: `breast_cancer` (`malignant`), `digits` (`digit`) and `ecg` (no
/// target: one column `mv`, 108000 samples). Any other name is an
/// [`Error::Dataset`] listing the known names.
pub fn builtin_raw(name: &str) -> Result<(RawTable, Option<&'static str>)> {
    let (text, target) = match name {
        "breast_cancer" => (super::BREAST_CANCER_CSV, Some("malignant")),
        "digits" => (super::DIGITS_CSV, Some("digit")),
        "ecg" => (super::ECG_CSV, None),
        other => {
            let known: Vec<String> = BUILTIN_NAMES.iter().map(|(n, d)| format!("{n} ({d})")).collect();
            return Err(Error::Dataset(format!(
                "unknown builtin data set '{other}'; known: {}",
                known.join(", ")
            )));
        }
    };
    Ok((parse_raw_csv(text, &format!("builtin:{name}"))?, target))
}

/// Builds an [`Error::Data`].
pub(crate) fn data_err(source: &str, line: u64, column: usize, message: String) -> Error {
    Error::Data { file: source.to_string(), line, column: column as u64, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_raw_csv(text, "t.csv").unwrap_err().to_string()
    }

    #[test]
    fn parses_bom_crlf_and_trims() {
        let t = parse_raw_csv("\u{feff}a, b ,c\r\n1, x ,\r\n\r\n4,5,6\r\n", "t.csv").unwrap();
        assert_eq!(t.source, "t.csv");
        assert_eq!(t.headers, vec!["a", "b", "c"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].line, 2);
        assert_eq!(t.rows[0].cells, vec!["1", "x", ""]);
        assert_eq!(t.rows[1].line, 4);
        assert_eq!(t.column("b"), Some(1));
        assert_eq!(t.column("B"), None);
        assert_eq!(t.column_list(), "a, b, c");
    }

    #[test]
    fn line_numbers() {
        for text in ["a,b\n1,2\n3,4\n", "a,b\r\n1,2\r\n3,4\r\n", "\u{feff}a,b\r\n1,2\r\n3,4"] {
            let t = parse_raw_csv(text, "t.csv").unwrap();
            let lines: Vec<u64> = t.rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![2, 3], "{text:?}");
        }
        // A quoted cell spanning two lines: the next row starts on line 4.
        let t = parse_raw_csv("a,b\r\n\"x\r\ny\",2\r\n3,4\r\n", "t.csv").unwrap();
        assert_eq!(t.rows[0].cells[0], "x\r\ny");
        assert_eq!((t.rows[0].line, t.rows[1].line), (2, 4));
        let e = err("a,b\r\n1,2\r\n3\r\n");
        assert!(e.starts_with("t.csv:3:0:"), "{e}");
    }

    #[test]
    fn quoted_cells() {
        let t = parse_raw_csv("a,b\n\"x, y\",2\n", "t.csv").unwrap();
        assert_eq!(t.rows[0].cells, vec!["x, y", "2"]);
    }

    #[test]
    fn ragged_rows() {
        let e = err("a,b,c\n1,2,3\n1,2\n");
        assert!(e.starts_with("t.csv:3:0:"), "{e}");
        assert!(e.contains("has 2 cells, the header has 3"), "{e}");
        let e = err("a,b\n1,2\n3,4\n5,6,7\n");
        assert!(e.starts_with("t.csv:4:0:") && e.contains("has 3 cells"), "{e}");
    }

    #[test]
    fn empty_and_header_only() {
        for text in ["", "\u{feff}", "\n\n"] {
            let e = err(text);
            assert!(e.contains("t.csv is empty"), "{e}");
            assert!(matches!(parse_raw_csv(text, "t.csv"), Err(Error::Dataset(_))));
        }
        let e = err("a,b\r\n");
        assert!(e.contains("t.csv has a header but no data rows"), "{e}");
    }

    #[test]
    fn bad_headers() {
        let e = err("a,b,a\n1,2,3\n");
        assert!(e.starts_with("t.csv:1:3:") && e.contains("'a' appears twice"), "{e}");
        let e = err("a,,c\n1,2,3\n");
        assert!(e.starts_with("t.csv:1:2:") && e.contains("no name"), "{e}");
    }

    #[test]
    fn read_file_and_io_error() {
        let path = std::env::temp_dir().join(format!("medgpu_raw_{}.csv", std::process::id()));
        std::fs::write(&path, "x,y\n1,0\n").unwrap();
        let t = read_raw_csv(&path).unwrap();
        assert_eq!(t.source, path.display().to_string());
        assert_eq!(t.rows[0].cells, vec!["1", "0"]);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(read_raw_csv(&path), Err(Error::Io { .. })));
    }

    #[test]
    fn builtins() {
        let (t, target) = builtin_raw("digits").unwrap();
        assert_eq!((t.rows.len(), t.headers.len()), (1797, 65));
        assert_eq!(target, Some("digit"));
        assert_eq!(t.source, "builtin:digits");
        let (t, target) = builtin_raw("breast_cancer").unwrap();
        assert_eq!((t.rows.len(), t.headers.len()), (569, 31));
        assert_eq!(target, Some("malignant"));
        let (t, target) = builtin_raw("ecg").unwrap();
        assert_eq!((t.rows.len(), t.headers.clone()), (108_000, vec!["mv".to_string()]));
        assert_eq!(target, None);
        assert_eq!(t.rows[0].cells, vec!["-0.245"]);
        let e = builtin_raw("mnist").unwrap_err().to_string();
        assert!(e.contains("'mnist'") && e.contains("digits") && e.contains("ecg"), "{e}");
    }
}

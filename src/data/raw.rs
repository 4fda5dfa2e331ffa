//! Raw CSV tables: a header and compact columns (numbers while a column
//! holds only numbers and missing markers, text otherwise) with the source
//! line of every row, read in one streaming pass before any column is
//! interpreted as a feature, a category or a target.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

use super::csv_dialect::{decimal_point, detect_delimiter, CsvDialect};
use super::raw_column::RawColumn;
use super::BUILTIN_NAMES;

/// A CSV file read into columns: a header and rows of equal length, cells
/// trimmed of surrounding whitespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawTable {
    /// Where the table came from: a file path or `builtin:NAME`.
    pub source: String,
    /// Column names from the header row, trimmed, unique and non-empty.
    pub headers: Vec<String>,
    /// One column per header, each with [`RawTable::rows`] cells.
    pub columns: Vec<RawColumn>,
    /// 1-based source line of each data row (the header is line 1), ascending.
    pub lines: Vec<u64>,
}

impl RawTable {
    /// Number of data rows.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The 0-based index of the column called `name` (exact match).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The column called `name`, or an error naming the option `what`
    /// that asked for it and listing the columns there are.
    pub fn column_for(&self, what: &str, name: &str) -> Result<usize> {
        self.column(name).ok_or_else(|| {
            Error::Options(format!(
                "{what} '{name}' is not a column of {}; columns are: {}",
                self.source,
                self.column_list()
            ))
        })
    }

    /// The column names joined with ", ", for messages.
    pub fn column_list(&self) -> String {
        self.headers.join(", ")
    }

    /// The cell at `row`, `col` as text, for messages, ids and filters; a
    /// numeric cell's text is described at [`super::NumericCells::text`].
    ///
    /// # Panics
    /// If `row >= self.rows()` or `col >= self.headers.len()`.
    pub fn cell_text(&self, row: usize, col: usize) -> Cow<'_, str> {
        self.columns[col].text(row)
    }

    /// A table built in memory from numeric columns: `rows` holds
    /// `rows.len() / names.len()` rows of one value per name, row-major,
    /// NaN for a missing value. Rows are numbered from line 2, as if the
    /// names were a CSV header on line 1, so messages can point at them.
    ///
    /// ```
    /// let t = medgpu::data::RawTable::from_rows("memory", &["age", "bmi"], &[61.0, 27.5, 48.0, f32::NAN]).unwrap();
    /// assert_eq!((t.rows(), t.cell_text(1, 0).as_ref()), (2, "48"));
    /// assert!(t.columns[1].is_missing(1));
    /// ```
    pub fn from_rows(source: &str, names: &[&str], rows: &[f32]) -> Result<RawTable> {
        let mut t = RawTable { source: source.to_string(), ..RawTable::default() };
        if names.is_empty() || !rows.len().is_multiple_of(names.len()) {
            return Err(Error::Dataset(format!(
                "{source}: {} values do not make whole rows of {} columns",
                rows.len(),
                names.len()
            )));
        }
        let n = rows.len() / names.len();
        t.lines = (2..n as u64 + 2).collect();
        for (j, name) in names.iter().enumerate() {
            let values: Vec<f32> = (0..n).map(|r| rows[r * names.len() + j]).collect();
            t.push_column(name, RawColumn::Numeric(super::NumericCells::from_values(values)))?;
        }
        Ok(t)
    }

    /// Adds a column of text cells (class labels, say), one per row.
    pub fn push_text_column(&mut self, name: &str, cells: &[String]) -> Result<()> {
        let mut text = super::TextCells::default();
        for c in cells {
            text.push(c.trim());
        }
        self.push_column(name, RawColumn::Text(text))
    }

    /// Adds a numeric column (NaN for a missing value), one value per row.
    pub fn push_numeric_column(&mut self, name: &str, values: Vec<f32>) -> Result<()> {
        self.push_column(name, RawColumn::Numeric(super::NumericCells::from_values(values)))
    }

    fn push_column(&mut self, name: &str, column: RawColumn) -> Result<()> {
        let name = name.trim();
        if name.is_empty() || self.column(name).is_some() {
            return Err(Error::Dataset(format!(
                "{}: column names must be unique and not empty, got '{name}'",
                self.source
            )));
        }
        if column.len() != self.rows() {
            return Err(Error::Dataset(format!(
                "{}: column '{name}' has {} values for {} rows",
                self.source,
                column.len(),
                self.rows()
            )));
        }
        self.headers.push(name.to_string());
        self.columns.push(column);
        Ok(())
    }
}

/// Reads a CSV file with a header row into a [`RawTable`], streaming it (the
/// file's text is never held whole); see [`parse_raw_csv`]. The delimiter
/// is detected from the header. A file that cannot be opened or read is an
/// [`Error::Io`].
pub fn read_raw_csv(path: &Path) -> Result<RawTable> {
    read_raw_csv_as(path, &CsvDialect::default())
}

/// [`read_raw_csv`] in a given dialect.
pub fn read_raw_csv_as(path: &Path, dialect: &CsvDialect) -> Result<RawTable> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut input = BufReader::with_capacity(1 << 16, file);
    if input.fill_buf().map_err(|e| Error::io(path, e))?.starts_with("\u{feff}".as_bytes()) {
        input.consume(3);
    }
    parse_stream(input, &path.display().to_string(), Some(path), dialect)
}

/// Parses CSV text with a header row; `source` names the text in messages.
///
/// A UTF-8 byte order mark and CRLF line ends are accepted; blank lines are
/// skipped. Errors:
/// - [`Error::Dataset`] if the text is empty or has a header but no data rows;
/// - [`Error::Data`] at line 1 for an empty or duplicated column name, and at
///   the row's line (column 0) for a row with the wrong number of cells or
///   text the CSV reader cannot read (at the cell's column for a cell that
///   is not UTF-8).
pub fn parse_raw_csv(text: &str, source: &str) -> Result<RawTable> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse_stream(text.as_bytes(), source, None, &CsvDialect::default())
}

/// Passes bytes on to the CSV reader, remembering where the line ends are so
/// that a record's byte offset gives its line. (The csv crate counts lines
/// one short after a CRLF line end: a record's position can be the '\n' of
/// the previous line end.)
struct LineEnds<R> {
    inner: R,
    /// Offset of the next byte read from `inner`.
    offset: u64,
    /// Offsets of the '\r' and '\n' bytes not yet passed, each with whether it is '\n'.
    pending: VecDeque<(u64, bool)>,
    /// Number of '\n' bytes passed.
    newlines: u64,
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.pending.push_back((self.offset + i as u64, b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R> LineEnds<R> {
    /// The 1-based line of the text at byte `byte`, past any line ends
    /// there. Offsets must not decrease from call to call.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut next = byte;
        while let Some(&(at, newline)) = self.pending.front() {
            if at > next {
                break;
            }
            if at == next {
                next += 1;
            }
            self.newlines += u64::from(newline);
            self.pending.pop_front();
        }
        self.newlines + 1
    }
}

/// Reads a whole CSV stream (any byte order mark already removed).
fn parse_stream<R: BufRead>(
    mut input: R,
    source: &str,
    path: Option<&Path>,
    dialect: &CsvDialect,
) -> Result<RawTable> {
    let delimiter = match dialect.delimiter {
        Some(c) => c as u8,
        None => match input.fill_buf() {
            Ok(head) => detect_delimiter(head),
            Err(e) => {
                return Err(match path {
                    Some(p) => Error::io(p, e),
                    None => Error::Dataset(format!("{source}: {e}")),
                })
            }
        },
    };
    let ends = LineEnds { inner: input, offset: 0, pending: VecDeque::new(), newlines: 0 };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).flexible(true).delimiter(delimiter).from_reader(ends);
    let headers: std::result::Result<Vec<String>, _> = match reader.byte_headers() {
        Ok(h) => h.iter().map(|c| std::str::from_utf8(c).map(|s| s.trim().to_string())).collect(),
        Err(e) => return Err(read_error(e, reader.get_mut(), source, path)),
    };
    let headers = headers.map_err(|_| {
        data_err(source, 1, 0, "cannot read CSV: the header is not UTF-8 text; save the file as UTF-8".into())
    })?;
    check_headers(&headers, source)?;

    let mut columns: Vec<RawColumn> = headers.iter().map(|_| RawColumn::default()).collect();
    let mut lines = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(read_error(e, reader.get_mut(), source, path)),
        }
        let line = record.position().map_or(0, |p| reader.get_mut().line_at(p.byte()));
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
        for (c, (cell, column)) in record.iter().zip(&mut columns).enumerate() {
            let cell = std::str::from_utf8(cell).map_err(|_| {
                data_err(
                    source,
                    line,
                    c + 1,
                    "cannot read CSV: the cell is not UTF-8 text; save the file as UTF-8".into(),
                )
            })?;
            column.push(&decimal_point(cell.trim(), dialect.decimal_comma));
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(Error::Dataset(format!(
            "{source} has a header but no data rows; add at least one row below the header"
        )));
    }
    columns.iter_mut().for_each(RawColumn::shrink_to_fit);
    lines.shrink_to_fit();
    Ok(RawTable { source: source.to_string(), headers, columns, lines })
}

/// A CSV reader error: [`Error::Io`] when reading `path` failed, otherwise an
/// [`Error::Data`] at the line of the failure.
fn read_error<R>(e: csv::Error, ends: &mut LineEnds<R>, source: &str, path: Option<&Path>) -> Error {
    let line = e.position().map_or(0, |p| ends.line_at(p.byte()));
    let message = format!("cannot read CSV: {e}; check the quoting on this line");
    match (e.into_kind(), path) {
        (csv::ErrorKind::Io(io), Some(path)) => Error::io(path, io),
        _ => data_err(source, line, 0, message),
    }
}

/// Refuses an empty header, an empty column name or a repeated one.
fn check_headers(headers: &[String], source: &str) -> Result<()> {
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
    Ok(())
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

    #[test]
    fn a_decimal_comma_turns_numbers_only() {
        assert_eq!(decimal_point("1,5", true), "1.5");
        assert_eq!(decimal_point("-0,25", true), "-0.25");
        assert_eq!(decimal_point("Smith, J", true), "Smith, J");
        assert_eq!(decimal_point("1,5", false), "1,5");
        let text = "a;b;name\n1,5;2;\"x;y\"\n";
        let dialect = CsvDialect { delimiter: None, decimal_comma: true };
        let t = parse_stream(text.as_bytes(), "t.csv", None, &dialect).unwrap();
        assert_eq!(t.headers, ["a", "b", "name"]);
        assert_eq!((t.cell_text(0, 0), t.cell_text(0, 2)), ("1.5".into(), "x;y".into()));
    }

    /// The cells of row `r` as text.
    fn cells(t: &RawTable, r: usize) -> Vec<String> {
        (0..t.headers.len()).map(|c| t.cell_text(r, c).into_owned()).collect()
    }

    fn err(text: &str) -> String {
        parse_raw_csv(text, "t.csv").unwrap_err().to_string()
    }

    #[test]
    fn parses_bom_crlf_and_trims() {
        let t = parse_raw_csv("\u{feff}a, b ,c\r\n1, x ,\r\n\r\n4,5,6\r\n", "t.csv").unwrap();
        assert_eq!(t.source, "t.csv");
        assert_eq!(t.headers, vec!["a", "b", "c"]);
        assert_eq!(t.rows(), 2);
        assert_eq!(t.lines[0], 2);
        assert_eq!(cells(&t, 0), vec!["1", "x", ""]);
        assert_eq!(t.lines[1], 4);
        assert_eq!(t.column("b"), Some(1));
        assert_eq!(t.column("B"), None);
        assert_eq!(t.column_list(), "a, b, c");
    }

    #[test]
    fn line_numbers() {
        for text in ["a,b\n1,2\n3,4\n", "a,b\r\n1,2\r\n3,4\r\n", "\u{feff}a,b\r\n1,2\r\n3,4"] {
            let t = parse_raw_csv(text, "t.csv").unwrap();
            let lines: Vec<u64> = t.lines.clone();
            assert_eq!(lines, vec![2, 3], "{text:?}");
        }
        // A quoted cell spanning two lines: the next row starts on line 4.
        let t = parse_raw_csv("a,b\r\n\"x\r\ny\",2\r\n3,4\r\n", "t.csv").unwrap();
        assert_eq!(t.cell_text(0, 0), "x\r\ny");
        assert_eq!((t.lines[0], t.lines[1]), (2, 4));
        let e = err("a,b\r\n1,2\r\n3\r\n");
        assert!(e.starts_with("t.csv:3:0:"), "{e}");
    }

    #[test]
    fn quoted_cells() {
        let t = parse_raw_csv("a,b\n\"x, y\",2\n", "t.csv").unwrap();
        assert_eq!(cells(&t, 0), vec!["x, y", "2"]);
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
        assert_eq!(cells(&t, 0), vec!["1", "0"]);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(read_raw_csv(&path), Err(Error::Io { .. })));
    }

    #[test]
    fn builtins() {
        let (t, target) = builtin_raw("digits").unwrap();
        assert_eq!((t.rows(), t.headers.len()), (1797, 65));
        assert_eq!(target, Some("digit"));
        assert_eq!(t.source, "builtin:digits");
        let (t, target) = builtin_raw("breast_cancer").unwrap();
        assert_eq!((t.rows(), t.headers.len()), (569, 31));
        assert_eq!(target, Some("malignant"));
        let (t, target) = builtin_raw("ecg").unwrap();
        assert_eq!((t.rows(), t.headers.clone()), (108_000, vec!["mv".to_string()]));
        assert_eq!(target, None);
        assert_eq!(cells(&t, 0), vec!["-0.245"]);
        let e = builtin_raw("mnist").unwrap_err().to_string();
        assert!(e.contains("'mnist'") && e.contains("digits") && e.contains("ecg"), "{e}");
    }

    #[test]
    fn streamed_lines_match_a_line_count() {
        // Many rows (past the reader's buffers), CRLF and LF, blank lines and
        // quoted cells spanning lines: each row's line is 1 + the '\n' bytes
        // before its first cell.
        let mut text = String::from("a,b\r\n");
        let mut expected = Vec::new();
        let mut line = 2;
        for i in 0..20_000 {
            if i % 7 == 0 {
                text.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
                line += 1;
            }
            expected.push(line);
            if i % 11 == 0 {
                text.push_str(&format!("\"x\r\n{i}\",{i}\n"));
                line += 2;
            } else {
                text.push_str(&format!("{i},{}\r\n", i % 3));
                line += 1;
            }
        }
        let t = parse_raw_csv(&text, "t.csv").unwrap();
        assert_eq!(t.lines, expected);
        assert!(matches!(t.columns[0], RawColumn::Text(_)));
        assert!(matches!(t.columns[1], RawColumn::Numeric(_)));
        assert_eq!(t.cell_text(1, 0), "1");
        assert_eq!(t.cell_text(11, 0), "x\r\n11");
    }

    #[test]
    fn column_kinds_and_cell_text() {
        let t = parse_raw_csv("n,s,id\n1.5,x,007\nNA,2,123456789\n,NA,17\n", "t.csv").unwrap();
        let RawColumn::Numeric(n) = &t.columns[0] else { panic!("{:?}", t.columns[0]) };
        assert_eq!(n.values()[0], 1.5);
        assert!(n.values()[1].is_nan() && n.values()[2].is_nan());
        assert!(matches!(t.columns[1], RawColumn::Text(_)));
        assert!(matches!(t.columns[2], RawColumn::Numeric(_)));
        assert_eq!(cells(&t, 0), vec!["1.5", "x", "007"]);
        assert_eq!(cells(&t, 1), vec!["NA", "2", "123456789"]);
        assert_eq!(cells(&t, 2), vec!["", "NA", "17"]);
    }

    #[test]
    fn not_utf8() {
        let path = std::env::temp_dir().join(format!("medgpu_raw_utf8_{}.csv", std::process::id()));
        std::fs::write(&path, b"\xef\xbb\xbfa,b\r\n1,2\r\n3,\xff\r\n").unwrap();
        let e = read_raw_csv(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains(":3:2: cannot read CSV") && e.contains("UTF-8"), "{e}");
    }
}

//! Reading numeric tables from CSV text.

use std::path::Path;

use crate::error::{Error, Result};

/// A numeric table read from CSV: row-major f32 features and one target column.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Names of the feature columns, in file order (the target left out).
    pub feature_names: Vec<String>,
    /// Name of the target column.
    pub target_name: String,
    /// Feature values, `rows() * cols()` of them, row-major.
    pub features: Vec<f32>,
    /// Target values, one per row.
    pub targets: Vec<f32>,
    /// Where the table came from: a file path or `builtin:NAME`.
    pub source: String,
}

impl Table {
    /// Number of rows (examples).
    pub fn rows(&self) -> usize {
        self.targets.len()
    }

    /// Number of feature columns (the target is not counted).
    pub fn cols(&self) -> usize {
        self.feature_names.len()
    }

    /// The features of row `i`.
    ///
    /// # Panics
    /// If `i >= self.rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        let c = self.cols();
        &self.features[i * c..(i + 1) * c]
    }
}

/// Reads a CSV file with a header row into a [`Table`].
///
/// `target` names the target column; all other columns are features. Every
/// cell must parse as an `f32`. Errors name the file, line (the header is
/// line 1) and column: see [`parse_csv_table`].
pub fn read_csv_table(path: &Path, target: &str) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_csv_table(&text, &path.display().to_string(), target)
}

/// Parses CSV text with a header row into a [`Table`]; `source` names the
/// text in error messages and is stored in [`Table::source`].
///
/// Errors:
/// - [`Error::Dataset`] if the text is empty, has a header but no data rows,
///   lacks the `target` column (the available columns are listed) or has no
///   feature column;
/// - [`Error::Data`] with line and column for a missing value (empty cell,
///   `NA`, `NaN`, `?`), a cell that is not a finite number, a row with the
///   wrong number of cells, or a duplicated column name.
pub fn parse_csv_table(text: &str, source: &str, target: &str) -> Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        data_err(source, line, 0, format!("cannot read CSV: {e}"))
    };

    let header: Vec<String> = reader.headers().map_err(csv_err)?.iter().map(str::to_string).collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(Error::Dataset(format!(
            "{source} is empty: expected a header row and at least one data row"
        )));
    }
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(data_err(
                source,
                1,
                i + 1,
                format!("column name `{name}` appears twice in the header"),
            ));
        }
    }
    let Some(target_idx) = header.iter().position(|h| h == target) else {
        return Err(Error::Dataset(format!(
            "{source} has no target column `{target}`; available columns: {}",
            header.join(", ")
        )));
    };
    if header.len() < 2 {
        return Err(Error::Dataset(format!(
            "{source} has only the target column `{target}`; at least one feature column is needed"
        )));
    }

    let feature_names: Vec<String> =
        header.iter().enumerate().filter(|&(i, _)| i != target_idx).map(|(_, h)| h.clone()).collect();
    let mut features = Vec::new();
    let mut targets = Vec::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(data_err(
                source,
                line,
                0,
                format!("row has {} cells but the header has {} columns", record.len(), header.len()),
            ));
        }
        for (i, cell) in record.iter().enumerate() {
            let value = parse_cell(cell, &header[i], source, line, i + 1)?;
            if i == target_idx {
                targets.push(value);
            } else {
                features.push(value);
            }
        }
    }
    if targets.is_empty() {
        return Err(Error::Dataset(format!("{source} has a header but no data rows")));
    }
    Ok(Table {
        feature_names,
        target_name: target.to_string(),
        features,
        targets,
        source: source.to_string(),
    })
}

/// Parses one (already trimmed) cell as a finite `f32`.
fn parse_cell(cell: &str, column: &str, source: &str, line: u64, col: usize) -> Result<f32> {
    let missing = ["", "NA", "N/A", "NaN", "?"].iter().any(|m| cell.eq_ignore_ascii_case(m));
    if missing {
        return Err(data_err(
            source,
            line,
            col,
            format!(
                "missing value ({cell:?}) in column `{column}`; remove or impute \
                 missing values before training"
            ),
        ));
    }
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(data_err(
            source,
            line,
            col,
            format!("value {cell:?} in column `{column}` is not a finite f32"),
        )),
        Err(_) => {
            Err(data_err(source, line, col, format!("value {cell:?} in column `{column}` is not a number")))
        }
    }
}

/// Builds an [`Error::Data`].
fn data_err(source: &str, line: u64, column: usize, message: String) -> Error {
    Error::Data { file: source.to_string(), line, column: column as u64, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, target: &str) -> String {
        parse_csv_table(text, "t.csv", target).unwrap_err().to_string()
    }

    #[test]
    fn parses_table() {
        let t = parse_csv_table("a, y ,b\r\n1,0,2\n3.5,1,-4e1\n", "t.csv", "y").unwrap();
        assert_eq!(t.feature_names, vec!["a", "b"]);
        assert_eq!(t.target_name, "y");
        assert_eq!((t.rows(), t.cols()), (2, 2));
        assert_eq!(t.features, vec![1.0, 2.0, 3.5, -40.0]);
        assert_eq!(t.targets, vec![0.0, 1.0]);
        assert_eq!(t.row(1), &[3.5, -40.0]);
        assert_eq!(t.source, "t.csv");
    }

    #[test]
    fn strips_bom() {
        let t = parse_csv_table("\u{feff}a,y\n1,0\n", "t.csv", "a").unwrap();
        assert_eq!(t.feature_names, vec!["y"]);
    }

    #[test]
    fn ragged_row() {
        let e = err("a,b,y\n1,2,0\n1,2\n", "y");
        assert!(e.starts_with("t.csv:3:0:"), "{e}");
        assert!(e.contains("2 cells") && e.contains("3 columns"), "{e}");
    }

    #[test]
    fn text_cell() {
        let e = err("a,b,y\n1,2,0\n1,abc,1\n", "y");
        assert!(e.starts_with("t.csv:3:2:"), "{e}");
        assert!(e.contains("\"abc\"") && e.contains("`b`"), "{e}");
        let e = err("a,y\ninf,0\n", "y");
        assert!(e.starts_with("t.csv:2:1:") && e.contains("finite"), "{e}");
    }

    #[test]
    fn missing_cells() {
        for cell in ["", "NA", "nan", "NaN", "?"] {
            let e = err(&format!("a,b,y\n1,2,0\n3,4,1\n5,{cell},0\n"), "y");
            assert!(e.starts_with("t.csv:4:2:"), "{e}");
            assert!(e.contains("missing value"), "{e}");
        }
        // Missing target cell, column 3.
        let e = err("a,b,y\n1,2,\n", "y");
        assert!(e.starts_with("t.csv:2:3:") && e.contains("missing value"), "{e}");
    }

    #[test]
    fn missing_target_column() {
        let e = err("a,b,c\n1,2,3\n", "label");
        assert!(e.contains("t.csv") && e.contains("`label`"), "{e}");
        assert!(e.contains("a, b, c"), "{e}");
    }

    #[test]
    fn empty_and_header_only() {
        let e = err("", "y");
        assert!(e.contains("t.csv") && e.contains("empty"), "{e}");
        let e = err("a,y\n", "y");
        assert!(e.contains("t.csv") && e.contains("no data rows"), "{e}");
        let e = err("y\n1\n", "y");
        assert!(e.contains("feature column"), "{e}");
    }

    #[test]
    fn duplicate_column() {
        let e = err("a,b,a,y\n1,2,3,0\n", "y");
        assert!(e.starts_with("t.csv:1:3:") && e.contains("`a`"), "{e}");
    }

    #[test]
    fn read_file_and_io_error() {
        let path = std::env::temp_dir().join(format!("medgpu_csv_{}.csv", std::process::id()));
        std::fs::write(&path, "x,y\n1,0\n2,1\n").unwrap();
        let t = read_csv_table(&path, "y").unwrap();
        assert_eq!(t.features, vec![1.0, 2.0]);
        assert_eq!(t.source, path.display().to_string());
        std::fs::remove_file(&path).unwrap();
        let e = read_csv_table(&path, "y").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
}

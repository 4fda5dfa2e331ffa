//! Applying an [`Encoding`] to the rows of a raw table: parsing numbers,
//! one-hot encoding categories and mapping class labels, with errors that
//! point at the file, line and column of the offending cell.

use std::collections::HashMap;

use crate::error::Result;

use super::prepare::{ColumnEncoding, Dataset, Encoding, TargetEncoding};
use super::raw::{data_err, RawTable};
use super::raw_column::{is_missing, RawColumn};

/// Where the columns of an [`Encoding`] are in one raw table (0-based).
pub(crate) struct Layout {
    /// Raw column of each entry of `Encoding::columns`.
    pub columns: Vec<usize>,
    /// Raw target column, if targets are to be read.
    pub target: Option<usize>,
    /// Raw columns of the further targets (`TargetEncoding::Value::more`).
    pub more_targets: Vec<usize>,
    /// Raw id column, if any.
    pub id: Option<usize>,
    /// Raw group column, if any.
    pub group: Option<usize>,
}

/// Encodes new data with a saved encoding.
///
/// Columns are matched by name, so their order may differ from the training
/// file and extra columns are ignored; a feature column that is absent is an
/// \[`Error::Data`\] at line 1. With `require_target` (eval) the target column
/// must be present, when the encoding has one, and every label must have
/// been seen at fit time; without it (predict) a target column is ignored
/// and [`Dataset::targets`] is empty. The id and group columns are read when
/// present. [`Dataset::task_inferred`] is false.
pub fn encode_apply(raw: &RawTable, enc: &Encoding, require_target: bool) -> Result<Dataset> {
    let layout = layout_for(raw, enc, require_target)?;
    let (ds, _) = encode_rows(raw, enc.clone(), &layout, false, false)?;
    Ok(ds)
}

/// Like [`encode_apply`] with `require_target = false`, but a row that fails
/// (a bad number, an unseen category) is left out and reported as
/// `(line, message)` instead of failing the whole file; the message is the
/// full error text with file, line and column. Missing columns still fail.
/// The data set may be empty when every row fails.
pub fn encode_apply_lenient(raw: &RawTable, enc: &Encoding) -> Result<(Dataset, Vec<(u64, String)>)> {
    let layout = layout_for(raw, enc, false)?;
    encode_rows(raw, enc.clone(), &layout, true, false)
}

/// Finds the encoding's columns in `raw` by name.
fn layout_for(raw: &RawTable, enc: &Encoding, require_target: bool) -> Result<Layout> {
    let mut columns = Vec::with_capacity(enc.columns.len());
    for c in &enc.columns {
        let name = c.name();
        columns.push(raw.column(name).ok_or_else(|| {
            data_err(
                &raw.source,
                1,
                0,
                format!(
                    "no column '{name}', which the model uses as a feature; columns are: {}. \
                     Give the file the same feature columns as the training data",
                    raw.column_list()
                ),
            )
        })?);
    }
    let target_column = |name: &str| {
        raw.column(name).ok_or_else(|| {
            data_err(
                &raw.source,
                1,
                0,
                format!(
                    "no column '{name}'; columns are: {}. Evaluation needs the target \
                     column; use predict for data without it",
                    raw.column_list()
                ),
            )
        })
    };
    let (target, more_targets) = match (&enc.target, require_target) {
        (Some(t), true) => {
            let more: &[String] = match t {
                TargetEncoding::Value { more, .. } => more,
                TargetEncoding::Classes { .. } => &[],
            };
            (Some(target_column(t.name())?), more.iter().map(|n| target_column(n)).collect::<Result<_>>()?)
        }
        _ => (None, Vec::new()),
    };
    let find = |n: &Option<String>| n.as_deref().and_then(|n| raw.column(n));
    Ok(Layout { columns, target, more_targets, id: find(&enc.id_column), group: find(&enc.group_column) })
}

/// Looks up class labels: by exact text, or by numeric value when every
/// label is a number (so `1.0` finds label `1`).
pub(super) struct LabelIndex<'a> {
    exact: HashMap<&'a str, usize>,
    numeric: Option<Vec<f64>>,
}

impl<'a> LabelIndex<'a> {
    pub(super) fn new(labels: &'a [String]) -> Self {
        LabelIndex {
            exact: labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect(),
            numeric: labels.iter().map(|l| l.parse::<f64>().ok()).collect(),
        }
    }

    fn get(&self, cell: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(cell) {
            return Some(i);
        }
        let v = cell.parse::<f64>().ok()?;
        self.numeric.as_ref()?.iter().position(|&l| l == v)
    }
}

/// Encodes every row of `raw` with `enc` at `layout`, straight into one
/// `rows x cols` feature matrix. In lenient mode a row that fails is skipped
/// and its error returned; otherwise the first error is.
pub(crate) fn encode_rows(
    raw: &RawTable,
    encoding: Encoding,
    layout: &Layout,
    lenient: bool,
    task_inferred: bool,
) -> Result<(Dataset, Vec<(u64, String)>)> {
    let n = raw.rows();
    let cols = encoding.num_features();
    let labels = match &encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) => Some(LabelIndex::new(labels)),
        _ => None,
    };
    let reads_target = layout.target.is_some() && encoding.target.is_some();
    let mut ds = Dataset {
        source: raw.source.clone(),
        encoding: encoding.clone(),
        features: Vec::with_capacity(n * cols),
        targets: Vec::with_capacity(if reads_target { n * encoding.target_width() } else { 0 }),
        ids: Vec::new(),
        groups: Vec::new(),
        lines: Vec::with_capacity(n),
        source_columns: layout.columns.iter().map(|&c| c as u64 + 1).collect(),
        task_inferred,
    };
    let mut skipped = Vec::new();
    let mut row_features = Vec::with_capacity(cols);
    let mut row_targets = Vec::new();
    for (row, &line) in raw.lines.iter().enumerate() {
        row_features.clear();
        row_targets.clear();
        let result =
            encode_row(raw, &encoding, layout, labels.as_ref(), row, &mut row_features, &mut row_targets);
        match result {
            Ok(()) => {}
            Err(e) if lenient => {
                skipped.push((line, e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        ds.features.extend_from_slice(&row_features);
        ds.targets.extend_from_slice(&row_targets);
        ds.lines.push(line);
        if let Some(i) = layout.id {
            ds.ids.push(raw.cell_text(row, i).into_owned());
        }
        if let Some(g) = layout.group {
            ds.groups.push(raw.cell_text(row, g).into_owned());
        }
    }
    Ok((ds, skipped))
}

/// A number cell read from a text column: NaN when missing.
fn parse_feature(cell: &str, name: &str) -> std::result::Result<f32, String> {
    if is_missing(cell) {
        return Ok(f32::NAN);
    }
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(not_finite(cell, name)),
        Err(_) if cell.contains(',') && cell.replace(',', ".").parse::<f32>().is_ok() => Err(format!(
            "value {cell:?} in column '{name}' is written with a decimal comma; read the file with \
             `decimal` ,"
        )),
        Err(_) => Err(format!(
            "value {cell:?} in column '{name}' is not a number; if the column holds categories, use \
             `categorical` {name} to one-hot encode it"
        )),
    }
}

fn not_finite(cell: &str, name: &str) -> String {
    format!(
        "value {cell:?} in column '{name}' is not a finite number; correct it or mark it missing \
         (leave the cell empty)"
    )
}

/// Appends the features of row `row` to `out` and its target values, if
/// read, to `targets`.
pub(super) fn encode_row(
    raw: &RawTable,
    enc: &Encoding,
    layout: &Layout,
    labels: Option<&LabelIndex>,
    row: usize,
    out: &mut Vec<f32>,
    targets: &mut Vec<f32>,
) -> Result<()> {
    let err = |col: usize, message: String| data_err(&raw.source, raw.lines[row], col + 1, message);
    for (c, &i) in enc.columns.iter().zip(&layout.columns) {
        let column = &raw.columns[i];
        match c {
            ColumnEncoding::Numeric { name } => match column {
                RawColumn::Numeric(cells) => {
                    let v = cells.values()[row];
                    if v.is_nan() {
                        out.push(f32::NAN);
                    } else if v.is_finite() {
                        out.push(v);
                    } else {
                        return Err(err(i, not_finite(&cells.text(row), name)));
                    }
                }
                RawColumn::Text(cells) => {
                    out.push(parse_feature(cells.get(row), name).map_err(|m| err(i, m))?)
                }
            },
            ColumnEncoding::OneHot { name, categories } => {
                let cell = column.text(row);
                if is_missing(&cell) {
                    out.extend(std::iter::repeat_n(f32::NAN, categories.len()));
                    continue;
                }
                let Ok(k) = categories.binary_search_by(|c| c.as_str().cmp(&cell)) else {
                    return Err(err(
                        i,
                        format!(
                            "value {cell:?} in column '{name}' was not seen in training; known \
                             categories: {}. Use one of them or leave the cell empty",
                            categories.join(", ")
                        ),
                    ));
                };
                out.extend((0..categories.len()).map(|j| if j == k { 1.0 } else { 0.0 }));
            }
        }
    }
    let (Some(t), Some(target)) = (layout.target, &enc.target) else {
        return Ok(());
    };
    targets.push(read_target(raw, target, target.name(), labels, t, row)?);
    if let TargetEncoding::Value { more, .. } = target {
        for (name, &c) in more.iter().zip(&layout.more_targets) {
            targets.push(read_target(raw, target, name, None, c, row)?);
        }
    }
    Ok(())
}

/// The target value of `row` in raw column `t` (named `name`): the label's
/// index with `labels`, else the number.
fn read_target(
    raw: &RawTable,
    target: &TargetEncoding,
    name: &str,
    labels: Option<&LabelIndex>,
    t: usize,
    row: usize,
) -> Result<f32> {
    let err = |col: usize, message: String| data_err(&raw.source, raw.lines[row], col + 1, message);
    let column = &raw.columns[t];
    if column.is_missing(row) {
        let cell = column.text(row);
        return Err(err(
            t,
            format!(
                "missing target value ({cell:?}) in column '{name}'; rows with a missing target \
                 must be removed (use predict to fill them in)"
            ),
        ));
    }
    let not_numeric = |cell: &str| {
        err(
            t,
            format!(
                "target {cell:?} in column '{name}' is not a finite number, but regression needs \
                 numeric targets; use `task` classify for class labels"
            ),
        )
    };
    match (target, labels, column) {
        (TargetEncoding::Classes { labels: names, .. }, Some(index), _) => {
            let cell = column.text(row);
            match index.get(&cell) {
                Some(k) => Ok(k as f32),
                None => Err(err(
                    t,
                    format!(
                        "label {cell:?} in target column '{name}' was not seen in training; known \
                         labels: {}. Remove these rows or retrain with them",
                        names.join(", ")
                    ),
                )),
            }
        }
        (_, _, RawColumn::Numeric(cells)) => match cells.values()[row] {
            v if v.is_finite() => Ok(v),
            _ => Err(not_numeric(&cells.text(row))),
        },
        (_, _, RawColumn::Text(cells)) => match cells.get(row).parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(not_numeric(cells.get(row))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{encode_fit, parse_raw_csv, PrepareOptions, Task};
    use crate::error::Error;

    const TRAIN: &str = "id,age,sex,bp,y\n1,50,M,120,B\n2,60,F,,M\n3,70,F,140,B\n4,40,M,130,M\n";

    fn raw(text: &str) -> RawTable {
        parse_raw_csv(text, "t.csv").unwrap()
    }

    fn fitted() -> Dataset {
        let opts = PrepareOptions {
            target: Some("y".into()),
            categorical: vec!["sex".into()],
            ..PrepareOptions::default()
        };
        encode_fit(&raw(TRAIN), &opts).unwrap()
    }

    /// Features equal with NaN == NaN.
    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn fit_then_apply_is_identical() {
        let ds = fitted();
        assert_eq!(ds.encoding.feature_names(), vec!["age", "sex=F", "sex=M", "bp"]);
        assert_eq!(ds.ids, vec!["1", "2", "3", "4"]);
        let again = encode_apply(&raw(TRAIN), &ds.encoding, true).unwrap();
        assert!(same(&ds.features, &again.features));
        assert_eq!(ds.targets, again.targets);
        assert_eq!(again.targets, vec![0.0, 1.0, 0.0, 1.0]);
        assert_eq!((again.ids, again.lines), (ds.ids, ds.lines));
        assert_eq!(again.source_columns, ds.source_columns);
        assert!(!again.task_inferred);
        // Predict: the target column is ignored.
        let p = encode_apply(&raw(TRAIN), &ds.encoding, false).unwrap();
        assert!(!p.has_targets() && same(&p.features, &ds.features));
    }

    #[test]
    fn reordered_and_extra_columns() {
        let ds = fitted();
        let text = "extra,y,bp,sex,age\nq,M,125,F,55\nr,B,NA,M,65\n";
        let a = encode_apply(&raw(text), &ds.encoding, true).unwrap();
        assert_eq!(a.row(0), &[55.0, 1.0, 0.0, 125.0]);
        assert_eq!(&a.row(1)[..3], &[65.0, 0.0, 1.0]);
        assert!(a.row(1)[3].is_nan());
        assert_eq!(a.targets, vec![1.0, 0.0]);
        assert_eq!(a.source_columns, vec![5, 4, 3]);
        assert!(a.ids.is_empty());
    }

    #[test]
    fn missing_columns() {
        let ds = fitted();
        let e = encode_apply(&raw("age,sex,y\n1,M,B\n"), &ds.encoding, false).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:1:0: no column 'bp'") && e.contains("age, sex, y"), "{e}");
        let text = "age,sex,bp\n1,M,3\n";
        let e = encode_apply(&raw(text), &ds.encoding, true).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:1:0: no column 'y'") && e.contains("predict"), "{e}");
        assert_eq!(encode_apply(&raw(text), &ds.encoding, false).unwrap().rows(), 1);
    }

    #[test]
    fn unseen_category_and_label() {
        let ds = fitted();
        let e = encode_apply(&raw("age,sex,bp,y\n1,M,3,B\n2,X,3,B\n"), &ds.encoding, true)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.csv:3:2:") && e.contains("\"X\"") && e.contains("F, M"), "{e}");
        let e = encode_apply(&raw("age,sex,bp,y\n1,M,3,C\n"), &ds.encoding, true).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2:4:") && e.contains("\"C\"") && e.contains("B, M"), "{e}");
        let e = encode_apply(&raw("age,sex,bp,y\n1,M,3,\n"), &ds.encoding, true).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2:4:") && e.contains("must be removed"), "{e}");
        // Numeric labels match by value.
        let opts = PrepareOptions { target: Some("y".into()), ..PrepareOptions::default() };
        let ds = encode_fit(&raw("a,y\n1,0\n2,1\n"), &opts).unwrap();
        let a = encode_apply(&raw("a,y\n1,1.0\n2,0\n"), &ds.encoding, true).unwrap();
        assert_eq!(a.targets, vec![1.0, 0.0]);
    }

    #[test]
    fn regression_target_at_apply() {
        let opts = PrepareOptions {
            target: Some("y".into()),
            task: Some(Task::Regress),
            ..PrepareOptions::default()
        };
        let ds = encode_fit(&raw("a,y\n1,0.5\n2,1.5\n"), &opts).unwrap();
        let e = encode_apply(&raw("a,y\n1,x\n"), &ds.encoding, true).unwrap_err();
        assert!(matches!(e, Error::Data { line: 2, column: 2, .. }), "{e}");
    }

    #[test]
    fn lenient_skips_bad_rows() {
        let ds = fitted();
        let text = "age,sex,bp\n50,M,120\n60,Z,130\n70,F,abc\n80,F,\n";
        let (a, skipped) = encode_apply_lenient(&raw(text), &ds.encoding).unwrap();
        assert_eq!(a.lines, vec![2, 5]);
        assert_eq!(a.rows(), 2);
        assert_eq!(a.features.len(), 8);
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].0, 3);
        assert!(skipped[0].1.starts_with("t.csv:3:2:") && skipped[0].1.contains("\"Z\""));
        assert_eq!(skipped[1].0, 4);
        assert!(skipped[1].1.contains("\"abc\""), "{}", skipped[1].1);
        // Strict apply fails on the first bad row.
        let e = encode_apply(&raw(text), &ds.encoding, false).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:3:2:"), "{e}");
        // A missing column still fails the whole file.
        assert!(encode_apply_lenient(&raw("age,sex\n1,M\n"), &ds.encoding).is_err());
    }
}

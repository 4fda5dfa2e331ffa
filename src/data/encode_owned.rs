//! Encoding a raw table that is handed over: its cells are freed as they are
//! copied into the feature matrix, so that a large table and its matrix are
//! never both held whole.

use crate::error::Result;

use super::encode::{encode_row, LabelIndex, Layout};
use super::prepare::{fit_encoding, Dataset, Encoding, PrepareOptions, TargetEncoding};
use super::raw::RawTable;

/// Rows encoded between two releases of the raw cells already copied.
const BLOCK_ROWS: usize = 1 << 16;

/// Like [`super::encode_fit`] (same encoding, data set and errors), but takes
/// the raw table and frees its cells as they are encoded: the rows are
/// encoded from the last block to the first, and after each block the
/// feature and target columns are cut to the rows still to be encoded, so
/// memory goes from the raw columns to the feature matrix instead of being
/// held by both.
///
/// Returns the data set and the raw table reduced to the columns named in
/// `keep` (in table order, with every row and its line; names that are not
/// columns are ignored). With no column kept the returned table has no
/// columns and no rows (its lines moved into [`Dataset::lines`]).
pub fn encode_fit_owned(raw: RawTable, opts: &PrepareOptions, keep: &[&str]) -> Result<(Dataset, RawTable)> {
    let (encoding, layout) = fit_encoding(&raw, opts)?;
    let mut raw = raw;
    let kept: Vec<bool> = raw.headers.iter().map(|h| keep.contains(&h.as_str())).collect();
    // columns read only by the row being encoded; the id and group columns are read afterwards
    let freeable: Vec<usize> = layout
        .columns
        .iter()
        .chain(&layout.target)
        .chain(&layout.more_targets)
        .copied()
        .filter(|&i| !kept[i])
        .collect();
    let (features, targets) = encode_freeing(&mut raw, &encoding, &layout, &freeable)?;
    let n = raw.rows();
    let texts = |col: Option<usize>| match col {
        Some(c) => (0..n).map(|r| raw.cell_text(r, c).into_owned()).collect(),
        None => Vec::new(),
    };
    let (ids, groups) = (texts(layout.id), texts(layout.group));

    let RawTable { source, headers, columns, lines } = raw;
    let (headers, columns): (Vec<_>, Vec<_>) =
        headers.into_iter().zip(columns).zip(&kept).filter(|(_, &k)| k).map(|(hc, _)| hc).unzip();
    release_freed_memory();
    let (lines, raw_lines) = if columns.is_empty() { (lines, Vec::new()) } else { (lines.clone(), lines) };
    let ds = Dataset {
        source: source.clone(),
        source_columns: layout.columns.iter().map(|&c| c as u64 + 1).collect(),
        encoding,
        features,
        targets,
        ids,
        groups,
        lines,
        task_inferred: opts.task.is_none(),
    };
    Ok((ds, RawTable { source, headers, columns, lines: raw_lines }))
}

/// Encodes every row of `raw` into `(features, targets)`, cutting the
/// `freeable` columns to the rows not yet encoded after each block. On a bad
/// cell the error is that of the first failing row, as [`super::encode_fit`]
/// reports.
fn encode_freeing(
    raw: &mut RawTable,
    enc: &Encoding,
    layout: &Layout,
    freeable: &[usize],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (n, cols) = (raw.rows(), enc.num_features());
    let labels = match &enc.target {
        Some(TargetEncoding::Classes { labels, .. }) => Some(LabelIndex::new(labels)),
        _ => None,
    };
    let reads_target = layout.target.is_some() && enc.target.is_some();
    // zeroed (calloc): the matrix's pages become resident only as its rows are written
    let mut features = vec![0.0f32; n * cols];
    let tw = enc.target_width();
    let mut targets = vec![0.0f32; if reads_target { n * tw } else { 0 }];
    let mut row_features = Vec::with_capacity(cols);
    let mut row_targets = Vec::with_capacity(tw);
    let mut end = n;
    while end > 0 {
        let start = end.saturating_sub(BLOCK_ROWS);
        for row in start..end {
            row_features.clear();
            row_targets.clear();
            match encode_row(raw, enc, layout, labels.as_ref(), row, &mut row_features, &mut row_targets) {
                Ok(()) => {
                    features[row * cols..(row + 1) * cols].copy_from_slice(&row_features);
                    if reads_target {
                        targets[row * tw..(row + 1) * tw].copy_from_slice(&row_targets);
                    }
                }
                Err(e) => {
                    // an earlier row (all still intact) may fail too: report the first
                    let earlier = (0..row).find_map(|r| {
                        row_features.clear();
                        row_targets.clear();
                        encode_row(raw, enc, layout, labels.as_ref(), r, &mut row_features, &mut row_targets)
                            .err()
                    });
                    return Err(earlier.unwrap_or(e));
                }
            }
        }
        for &c in freeable {
            raw.columns[c].truncate(start);
        }
        release_freed_memory();
        end = start;
    }
    Ok((features, targets))
}

/// Hands memory freed by the allocator back to the system: glibc keeps the
/// freed heap pages of cut columns resident (a column of a few MB can sit
/// below its mmap threshold) until trimmed.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of glibc's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{encode_fit, parse_raw_csv, RawColumn, Task};

    /// Features equal with NaN == NaN.
    fn same(a: &Dataset, b: &Dataset) -> bool {
        let bits = |d: &Dataset| d.features.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        bits(a) == bits(b)
            && (a.targets == b.targets && a.ids == b.ids && a.groups == b.groups && a.lines == b.lines)
            && (a.encoding == b.encoding && a.source_columns == b.source_columns)
            && (a.source == b.source && a.task_inferred == b.task_inferred)
    }

    /// `rows` rows over several blocks: a text id, a group, a numeric
    /// feature with missing and sign-kept cells, a category, a filter column.
    fn table(rows: usize) -> RawTable {
        let mut text = String::from("id,site,a,kind,cohort,y\n");
        for i in 0..rows {
            let a = if i % 97 == 0 { "NA".to_string() } else { format!("{}{}", ["", "+"][i % 2], i % 1000) };
            let kind = ["x", "y", "z"][i % 3];
            text.push_str(&format!("r{i},s{},{a},{kind},{},{}\n", i % 7, i % 4, i % 2));
        }
        parse_raw_csv(&text, "t.csv").unwrap()
    }

    #[test]
    fn same_as_encode_fit() {
        let opts = PrepareOptions {
            target: Some("y".into()),
            categorical: vec!["kind".into()],
            group_column: Some("site".into()),
            ..PrepareOptions::default()
        };
        let raw = table(3 * BLOCK_ROWS / 2 + 17);
        let want = encode_fit(&raw, &opts).unwrap();
        let (ds, rest) = encode_fit_owned(raw.clone(), &opts, &["cohort", "none"]).unwrap();
        assert!(same(&ds, &want));
        assert_eq!(rest.headers, vec!["cohort"]);
        assert_eq!((rest.columns[0].clone(), &rest.lines), (raw.columns[4].clone(), &raw.lines));
        assert_eq!(rest.source, "t.csv");
        // Keeping a feature column keeps all of it.
        let (ds, rest) = encode_fit_owned(raw.clone(), &opts, &["a"]).unwrap();
        assert!(same(&ds, &want));
        let texts = |t: &RawTable, c: usize| {
            (0..t.rows()).map(|r| t.cell_text(r, c).into_owned()).collect::<Vec<_>>()
        };
        assert_eq!((rest.columns.len(), texts(&rest, 0)), (1, texts(&raw, 2)));
        // Nothing kept: no columns, no rows.
        let opts = PrepareOptions { task: Some(Task::Reconstruct), target: None, ..opts };
        let want = encode_fit(&raw, &opts).unwrap();
        let (ds, rest) = encode_fit_owned(raw, &opts, &[]).unwrap();
        assert!(same(&ds, &want));
        assert!(rest.headers.is_empty() && rest.columns.is_empty() && rest.rows() == 0);
    }

    #[test]
    fn first_error_is_reported() {
        let mut raw = table(2 * BLOCK_ROWS + 5);
        let opts = PrepareOptions {
            target: Some("y".into()),
            drop_columns: vec!["site".into(), "kind".into()],
            ..PrepareOptions::default()
        };
        // Bad cells in the first and the last block: the first one is reported.
        let mut column = RawColumn::default();
        for r in 0..raw.rows() {
            column.push(match r {
                3 => "bad",
                r if r == 2 * BLOCK_ROWS + 1 => "oops",
                _ => "1",
            });
        }
        raw.columns[4] = column;
        let want = encode_fit(&raw, &opts).unwrap_err().to_string();
        let got = encode_fit_owned(raw, &opts, &[]).unwrap_err().to_string();
        assert_eq!(got, want);
        assert!(got.starts_with("t.csv:5:5:") && got.contains("\"bad\""), "{got}");
    }
}

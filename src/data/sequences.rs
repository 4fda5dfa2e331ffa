//! Long-format sequences: the rows of one record (a patient's visits, a
//! monitor's readings) share a sequence id and are ordered by an order
//! column. Each sequence becomes one row of a table the models read as
//! [T, F + 1]: step by step its F feature values (`{col}_t{t}`) and a step
//! mask (`_real_t{t}`: 1 for a real step, 0 for padding), then the id and
//! the target.
//!
//! Sequences shorter than T steps are padded at the end (features 0, mask
//! 0); the recurrent kernels keep their state over padded steps, so padding
//! changes neither the predictions nor the gradients. Longer ones keep their
//! last T steps. A sequence's target is the target cell of its last row (the
//! outcome after the record). Splits are by sequence id: each sequence is
//! one row, so it lies wholly in train, validation or test.

use std::collections::HashMap;

use super::raw::{data_err, RawTable};
use super::raw_column::{NumericCells, RawColumn, TextCells};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Name of the step-mask channel (`_real_t0`, `_real_t1`, ..): never normalized.
pub const STEP_MASK: &str = "_real";

/// How to group rows into sequences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceOptions {
    /// The column whose value names a row's sequence (`--sequence-id`).
    pub id: String,
    /// The column that orders a sequence's rows (`--order-by`); `None`: file order.
    pub order_by: Option<String>,
    /// Steps T of every sequence; `None`: the longest sequence's length.
    pub steps: Option<usize>,
    /// Feature columns; empty: every numeric column but the id, order and target.
    pub features: Vec<String>,
    /// The target column (read at each sequence's last row), if any.
    pub target: Option<String>,
}

/// A sequence table and what was done to make it.
#[derive(Debug)]
pub struct Sequences {
    /// One row per sequence: T * (F + 1) step columns, the id, the target.
    pub table: RawTable,
    /// Steps T.
    pub steps: usize,
    /// The F feature columns, in channel order.
    pub features: Vec<String>,
    /// Real steps of each sequence (after cutting to T).
    pub lengths: Vec<usize>,
    /// Sequences longer than T, cut to their last T steps.
    pub cut: usize,
}

impl Sequences {
    /// One line for the output, e.g. `120 sequences of 3-40 steps (median 12), padded to 40 ...`.
    pub fn describe(&self) -> String {
        let mut l = self.lengths.clone();
        l.sort_unstable();
        let (min, med, max) = (l[0], l[l.len() / 2], l[l.len() - 1]);
        let cut = if self.cut > 0 {
            format!("; {} longer ones keep their last {}", self.cut, self.steps)
        } else {
            String::new()
        };
        format!(
            "{} sequences of {min}-{max} steps (median {med}), padded to {} steps with a step mask{cut}",
            l.len(),
            self.steps
        )
    }
}

/// Groups the rows of `raw` into sequences (see the module documentation).
pub fn sequence_table(raw: &RawTable, opts: &SequenceOptions) -> Result<Sequences> {
    let id = raw.column_for("`sequence_id`", &opts.id)?;
    let order = opts.order_by.as_deref().map(|n| raw.column_for("`order_by`", n)).transpose()?;
    // the target may be absent from a file to predict on
    let target = opts.target.as_deref().and_then(|t| raw.column(t));
    let (features, values) = sequence_features(raw, opts, [Some(id), order, target])?;
    let groups = group_rows(raw, id, order)?;
    let longest = groups.iter().map(Vec::len).max().unwrap_or(1);
    let steps = opts.steps.unwrap_or(longest);
    if steps == 0 {
        return Err(Error::Options("`max_steps` must be at least 1".into()));
    }

    let (f, n) = (features.len(), groups.len());
    let mut cols: Vec<Vec<f32>> = vec![Vec::with_capacity(n); steps * (f + 1)];
    let mut ids = TextCells::default();
    let mut target_text = TextCells::default();
    let mut target_num = Vec::new();
    let mut lines = Vec::with_capacity(n);
    let mut lengths = Vec::with_capacity(n);
    let mut cut = 0;
    for g in &groups {
        let kept = &g[g.len().saturating_sub(steps)..];
        cut += usize::from(kept.len() < g.len());
        lengths.push(kept.len());
        for t in 0..steps {
            let row = kept.get(t);
            for (c, v) in values.iter().enumerate() {
                cols[t * (f + 1) + c].push(row.map_or(0.0, |&r| v[r]));
            }
            cols[t * (f + 1) + f].push(if row.is_some() { 1.0 } else { 0.0 });
        }
        let last = *kept.last().unwrap_or(&g[0]);
        ids.push(&raw.cell_text(last, id));
        match target.map(|t| &raw.columns[t]) {
            Some(RawColumn::Numeric(c)) => target_num.push(c.values()[last]),
            Some(RawColumn::Text(c)) => target_text.push(c.get(last)),
            None => {}
        }
        lines.push(raw.lines[last]);
    }
    let mut headers = Vec::with_capacity(steps * (f + 1) + 2);
    for t in 0..steps {
        headers.extend(features.iter().map(|name| format!("{name}_t{t}")));
        headers.push(format!("{STEP_MASK}_t{t}"));
    }
    let mut columns: Vec<RawColumn> =
        cols.into_iter().map(|v| RawColumn::Numeric(NumericCells::from_values(v))).collect();
    headers.push(raw.headers[id].clone());
    columns.push(RawColumn::Text(ids));
    if let Some(t) = target {
        headers.push(raw.headers[t].clone());
        columns.push(match &raw.columns[t] {
            RawColumn::Numeric(_) => RawColumn::Numeric(NumericCells::from_values(target_num)),
            RawColumn::Text(_) => RawColumn::Text(target_text),
        });
    }
    let table =
        RawTable { source: format!("{} (sequences by {})", raw.source, opts.id), headers, columns, lines };
    Ok(Sequences { table, steps, features, lengths, cut })
}

/// The feature columns (named, or every numeric column without a role)
/// and their values; `roles`: the id, order and target columns.
fn sequence_features<'r>(
    raw: &'r RawTable,
    opts: &SequenceOptions,
    roles: [Option<usize>; 3],
) -> Result<(Vec<String>, Vec<&'r [f32]>)> {
    let features: Vec<String> = if opts.features.is_empty() {
        raw.headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !roles.contains(&Some(*i)) && matches!(raw.columns[*i], RawColumn::Numeric(_)))
            .map(|(_, h)| h.clone())
            .collect()
    } else {
        opts.features.clone()
    };
    let mut values: Vec<&[f32]> = Vec::with_capacity(features.len());
    for name in &features {
        let i = raw.column_for("feature", name)?;
        if roles.contains(&Some(i)) {
            return Err(Error::Options(format!(
                "'{name}' is the sequence id, order or target; it cannot be a feature"
            )));
        }
        match &raw.columns[i] {
            RawColumn::Numeric(c) => values.push(c.values()),
            RawColumn::Text(_) => {
                return Err(Error::Dataset(format!(
                    "{}: feature column '{name}' has text cells; sequence features must be numeric",
                    raw.source
                )))
            }
        }
    }
    if features.is_empty() {
        return Err(Error::Dataset(format!(
            "{}: no numeric feature column besides the id, order and target",
            raw.source
        )));
    }
    Ok((features, values))
}

/// The rows of each sequence (sequences in order of first appearance),
/// sorted by the order column when there is one.
fn group_rows(raw: &RawTable, id: usize, order: Option<usize>) -> Result<Vec<Vec<usize>>> {
    // rows of each sequence, sequences in order of first appearance
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for row in 0..raw.rows() {
        let key = raw.cell_text(row, id).into_owned();
        let next = groups.len();
        let g = *index.entry(key).or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        groups[g].push(row);
    }
    if groups.is_empty() {
        return Err(Error::Dataset(format!("{}: no rows to group into sequences", raw.source)));
    }
    if let Some(o) = order {
        let key = order_keys(raw, o)?;
        for g in &mut groups {
            g.sort_by(|&a, &b| key[a].total_cmp(&key[b]));
            if let Some(w) = g.windows(2).find(|w| key[w[0]] == key[w[1]]) {
                return Err(data_err(
                    &raw.source,
                    raw.lines[w[1]],
                    o + 1,
                    format!(
                        "sequence '{}' has two rows with {} = {} (lines {} and {}); the order must be \
                         unique within a sequence",
                        raw.cell_text(w[0], id),
                        raw.headers[o],
                        raw.cell_text(w[0], o),
                        raw.lines[w[0]],
                        raw.lines[w[1]]
                    ),
                ));
            }
        }
    }
    Ok(groups)
}

/// A sort key per row from the order column: its number, or for text that
/// is not a number the cell's rank among the column's distinct texts.
fn order_keys(raw: &RawTable, o: usize) -> Result<Vec<f64>> {
    let column = &raw.columns[o];
    if let Some(r) = (0..raw.rows()).find(|&r| column.is_missing(r)) {
        return Err(data_err(
            &raw.source,
            raw.lines[r],
            o + 1,
            format!(
                "the order column '{}' has a missing cell; every row needs its place in the sequence",
                raw.headers[o]
            ),
        ));
    }
    Ok(match column {
        RawColumn::Numeric(c) => c.values().iter().map(|v| *v as f64).collect(),
        RawColumn::Text(c) => {
            let numbers: Option<Vec<f64>> = c.iter().map(|s| s.trim().parse::<f64>().ok()).collect();
            numbers.unwrap_or_else(|| {
                // dates and times in ISO form sort as text
                let mut distinct: Vec<&str> = c.iter().collect();
                distinct.sort_unstable();
                distinct.dedup();
                c.iter().map(|s| distinct.binary_search(&s).unwrap_or(0) as f64).collect()
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parse_raw_csv;

    const VISITS: &str = "patient,day,hr,sbp,outcome\n\
        b,2,80,120,no\n\
        a,1,90,130,yes\n\
        b,1,85,125,no\n\
        a,3,95,,yes\n\
        c,1,70,110,no\n\
        a,2,92,128,yes\n";

    fn opts() -> SequenceOptions {
        SequenceOptions {
            id: "patient".into(),
            order_by: Some("day".into()),
            steps: None,
            features: vec![],
            target: Some("outcome".into()),
        }
    }

    fn col(s: &Sequences, name: &str) -> Vec<f32> {
        match &s.table.columns[s.table.column(name).unwrap()] {
            RawColumn::Numeric(c) => c.values().to_vec(),
            _ => panic!("{name} is not numeric"),
        }
    }

    #[test]
    fn rows_of_a_sequence_are_ordered_and_padded_with_a_mask() {
        let s = sequence_table(&parse_raw_csv(VISITS, "v.csv").unwrap(), &opts()).unwrap();
        assert_eq!((s.steps, s.features.clone()), (3, vec!["hr".to_string(), "sbp".to_string()]));
        assert_eq!(&s.table.headers[..4], ["hr_t0", "sbp_t0", "_real_t0", "hr_t1"]);
        // sequences in order of first appearance: b, a, c
        assert_eq!(s.lengths, vec![2, 3, 1]);
        assert_eq!(col(&s, "hr_t0"), vec![85.0, 90.0, 70.0]);
        assert_eq!(col(&s, "hr_t1"), vec![80.0, 92.0, 0.0]);
        assert_eq!(col(&s, "_real_t2"), vec![0.0, 1.0, 0.0]);
        assert!(col(&s, "sbp_t2")[1].is_nan(), "a missing cell stays missing for the imputation policy");
        assert_eq!(s.table.cell_text(1, s.table.column("patient").unwrap()), "a");
        assert_eq!(s.table.cell_text(0, s.table.column("outcome").unwrap()), "no");
        // a sequence points at its last row's line
        assert_eq!(s.table.lines, vec![2, 5, 6]);
        assert!(s.describe().starts_with("3 sequences of 1-3 steps (median 2), padded to 3 steps"));
    }

    #[test]
    fn longer_sequences_keep_their_last_steps() {
        let o = SequenceOptions { steps: Some(2), ..opts() };
        let s = sequence_table(&parse_raw_csv(VISITS, "v.csv").unwrap(), &o).unwrap();
        assert_eq!((s.cut, s.lengths.clone()), (1, vec![2, 2, 1]));
        assert_eq!(col(&s, "hr_t0")[1], 92.0);
        assert!(s.describe().contains("1 longer ones keep their last 2"));
    }

    #[test]
    fn bad_requests_say_where_and_what_to_do() {
        let raw = parse_raw_csv(VISITS, "v.csv").unwrap();
        let e =
            sequence_table(&raw, &SequenceOptions { id: "pid".into(), ..opts() }).unwrap_err().to_string();
        assert!(e.contains("`sequence_id` 'pid'") && e.contains("patient, day"), "{e}");
        let dup = parse_raw_csv("patient,day,hr\na,1,2\na,1,3\n", "d.csv").unwrap();
        let e = sequence_table(&dup, &SequenceOptions { target: None, ..opts() }).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:3:2:") && e.contains("unique"), "{e}");
        let o = SequenceOptions { features: vec!["outcome".into()], ..opts() };
        assert!(sequence_table(&raw, &o).unwrap_err().to_string().contains("cannot be a feature"));
    }

    #[test]
    fn text_order_columns_sort_as_numbers_or_as_text() {
        let raw = parse_raw_csv("id,t,x\na,2024-01-03,3\na,2024-01-01,1\na,2024-01-02,2\n", "t.csv").unwrap();
        let o = SequenceOptions {
            id: "id".into(),
            order_by: Some("t".into()),
            steps: None,
            features: vec![],
            target: None,
        };
        let s = sequence_table(&raw, &o).unwrap();
        assert_eq!([col(&s, "x_t0")[0], col(&s, "x_t1")[0], col(&s, "x_t2")[0]], [1.0, 2.0, 3.0]);
    }
}

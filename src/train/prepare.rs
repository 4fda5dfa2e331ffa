//! From a data source to the rows and numbers a run trains on: encode the
//! columns, apply the missing-value policy, split, fit imputation and
//! normalization on the training rows, scale regression targets, and pick
//! the task's output head.

use crate::data::{
    encode_apply, encode_fit_owned, k_folds, release_freed_memory, rows_after_missing_policy, sequence_table,
    split_rows, window_table, Dataset, PrepareOptions, Preprocessor, RawColumn, RawTable, SequenceOptions,
    Split, Task, STEP_MASK,
};
use crate::error::{Error, Result};
use crate::model::config::Fold;
use crate::model::{head_for, load_raw_as, DataSource, TargetScale, TrainConfig};
use crate::models::Head;
use serde::Serialize;

/// Everything a run trains and evaluates on.
pub struct Prepared {
    /// All rows: the data file's, then the test file's (if any). Its
    /// `features` are moved into [`Prepared::features`] (normalized).
    pub ds: Dataset,
    /// Train / validation / test rows of `ds`.
    pub split: Split,
    /// Imputation and normalization fitted on the training rows.
    pub preprocessor: Preprocessor,
    /// Regression target scaling.
    pub target_scale: Option<TargetScale>,
    /// Normalized features, rows x cols (emptied by the trainer once they are
    /// on the GPU, except for reconstruction, whose metrics need them).
    pub features: Vec<f32>,
    /// What the loss reads: class index, scaled value, or 0 (reconstruct).
    pub train_targets: Vec<f32>,
    /// The output head.
    pub head: Head,
    /// Windowed signals: how the record was split by time and the naive
    /// forecast's test MSE to compare with; sequences: their lengths and
    /// the split by sequence id.
    pub windows: Option<WindowReport>,
    /// Sequences: the options with the steps and features found in the data.
    pub sequences: Option<SequenceOptions>,
    /// Each subgroup column's value (as text) for every row of `ds`.
    pub subgroups: Vec<(String, Vec<String>)>,
    /// The normalized features of the first test rows, kept for the
    /// report's feature importance when `features` go to the GPU.
    pub test_sample: Vec<f32>,
}

/// What windowing a signal did, for the output and summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct WindowReport {
    /// The split by time in words.
    pub split: String,
    /// Test MSE of repeating each window's last value (the data's units).
    pub naive_test_mse: Option<f64>,
}

fn concat(mut a: Dataset, b: Dataset) -> Dataset {
    a.features.extend(b.features);
    a.targets.extend(b.targets);
    if !a.ids.is_empty() || !b.ids.is_empty() {
        let (na, nb) = (a.lines.len(), b.lines.len());
        a.ids.resize(na, String::new());
        let mut ids = b.ids;
        ids.resize(nb, String::new());
        a.ids.extend(ids);
    }
    if !a.groups.is_empty() {
        a.groups.extend(b.groups);
    }
    a.lines.extend(b.lines);
    a
}

/// Rows (of the first `rows` candidates) whose raw column equals the value:
/// as text, or for a numeric column also as a number (`0` matches `0.0`).
fn filter_rows(
    raw: &RawTable,
    rows: &[usize],
    ds: &Dataset,
    filter: &(String, String),
) -> Result<Vec<usize>> {
    let (col, value) = filter;
    let c = raw.column(col).ok_or_else(|| {
        Error::Options(format!("`train_filter`: no column '{col}'; columns are: {}", raw.column_list()))
    })?;
    let number = value.trim().parse::<f32>().ok().filter(|v| v.is_finite());
    let matches = |r: &usize| {
        // Rows of `ds` come from rows of `raw`, found by their (ascending) line.
        let Some(row) = ds.lines.get(*r).and_then(|line| raw.lines.binary_search(line).ok()) else {
            return false;
        };
        match (&raw.columns[c], number) {
            (RawColumn::Numeric(cells), Some(x)) if cells.values()[row] == x => true,
            _ => raw.cell_text(row, c) == value.as_str(),
        }
    };
    let kept: Vec<usize> = rows.iter().copied().filter(matches).collect();
    if kept.is_empty() {
        return Err(Error::Dataset(format!("`train_filter` {col}={value} matches no training row")));
    }
    Ok(kept)
}

/// Loads, encodes, splits and normalizes the data of a run.
pub fn prepare(source: &DataSource, cfg: &TrainConfig) -> Result<Prepared> {
    let (raw, default_target) = load_raw_as(&source.data, cfg.model.input_shape, &source.prepare.csv)?;
    prepare_table(raw, default_target, source, cfg)
}

/// [`prepare`] for a table already read (or built in memory): `raw` takes
/// the place of `source.data`, whose other options apply as they are.
pub fn prepare_table(
    raw: RawTable,
    default_target: Option<&str>,
    source: &DataSource,
    cfg: &TrainConfig,
) -> Result<Prepared> {
    let mut opts = source.prepare.clone();
    let (raw, time_split, windows, sequences) =
        rows_of_sequences(raw, default_target, source, cfg, &mut opts)?;
    // a built-in's label column is never a feature; an autoencoder keeps it for evaluation
    if opts.target.is_none() {
        opts.target = default_target.map(str::to_string);
    }
    // only the --train-filter and subgroup columns outlive the encoding; the
    // other raw columns are freed as their cells go into the feature matrix
    let subgroup_names = &cfg.evaluation.subgroups;
    check_subgroup_columns(&raw, subgroup_names, time_split.is_some() || sequences.is_some())?;
    let mut keep: Vec<&str> = cfg.train_filter.iter().map(|(col, _)| col.as_str()).collect();
    keep.extend(subgroup_names.iter().map(String::as_str));
    if let Some((col, _)) = &cfg.train_filter {
        if raw.column(col).is_none() {
            return Err(Error::Options(format!(
                "`train_filter`: no column '{col}'; columns are: {}",
                raw.column_list()
            )));
        }
    }
    let (main, raw) = encode_fit_owned(raw, &opts, &keep)?;
    let main_rows = rows_after_missing_policy(&main, cfg.missing)?;
    let n_main = main.rows();
    let mut subgroups = subgroup_values(&raw, subgroup_names, &main.lines)?;
    let (ds, test_rows) = match &source.test_data {
        Some(path) => {
            let (test_raw, _) = load_raw_as(path, cfg.model.input_shape, &source.prepare.csv)?;
            let test_raw = match &sequences {
                Some(sq) => sequence_table(&test_raw, sq)?.table,
                None => test_raw,
            };
            let test = encode_apply(&test_raw, &main.encoding, main.has_targets())?;
            let test_groups = subgroup_values(&test_raw, subgroup_names, &test.lines)?;
            for ((_, values), (_, more)) in subgroups.iter_mut().zip(test_groups) {
                values.extend(more);
            }
            let rows: Vec<usize> =
                rows_after_missing_policy(&test, cfg.missing)?.iter().map(|r| r + n_main).collect();
            (concat(main, test), Some(rows))
        }
        None => (main, None),
    };
    let test_frac = if test_rows.is_some() { 0.0 } else { cfg.test_frac };
    let mut split = match (time_split, &cfg.fold) {
        (Some(_), Some(_)) => {
            return Err(Error::Options(
                "`cv` folds rows of a table; windows of one signal are split by time: leave `cv` out".into(),
            ))
        }
        // windows are complete by construction: every row is usable
        (Some(s), None) => s,
        (None, Some(f)) => fold_split(&ds, &main_rows, f, cfg)?,
        (None, None) => split_rows(&ds, &main_rows, cfg.val_frac, test_frac, cfg.seed)?,
    };
    drop(main_rows);
    if let Some(rows) = test_rows {
        if rows.is_empty() {
            return Err(Error::Dataset("the test file has no usable rows".into()));
        }
        split.test = rows;
    }
    if let Some(f) = &cfg.train_filter {
        split.train = filter_rows(&raw, &split.train, &ds, f)?;
        split.val = filter_rows(&raw, &split.val, &ds, f)?;
    }
    // the raw cells are no longer needed: free them before the features are normalized
    drop(raw);
    release_freed_memory();
    let mut preprocessor = Preprocessor::fit(&ds, &split.train, cfg.missing, cfg.normalize);
    if sequences.is_some() {
        let mask = format!("{STEP_MASK}_t");
        let names = ds.encoding.feature_names();
        let columns: Vec<usize> = (0..names.len()).filter(|&i| names[i].starts_with(&mask)).collect();
        preprocessor.keep_as_is(&columns);
    }
    // normalized in place: the unnormalized values are not needed after fitting
    let mut ds = ds;
    let mut features = std::mem::take(&mut ds.features);
    preprocessor.apply(&mut features);
    let head = head_for(&ds.encoding)?;
    let (train_targets, target_scale) = train_targets(&ds, &split);
    // the split's and the fit's temporaries are freed: return their pages before the upload
    release_freed_memory();
    Ok(Prepared {
        ds,
        split,
        preprocessor,
        target_scale,
        features,
        train_targets,
        head,
        windows,
        sequences,
        subgroups,
        test_sample: Vec::new(),
    })
}

/// A cross-validation fold's split: the held-out fold is the test part, the
/// other folds are split into training and validation rows.
fn fold_split(ds: &Dataset, rows: &[usize], f: &Fold, cfg: &TrainConfig) -> Result<Split> {
    let pool: Vec<usize> = if f.holdout_test {
        let usual = split_rows(ds, rows, cfg.val_frac, cfg.test_frac, cfg.seed)?;
        let mut pool = [usual.train, usual.val].concat();
        pool.sort_unstable();
        pool
    } else {
        rows.to_vec()
    };
    let folds = k_folds(ds, &pool, f.folds, f.seed)?;
    let test = folds.get(f.index).cloned().unwrap_or_default();
    let mut rest: Vec<usize> =
        folds.iter().enumerate().filter(|(i, _)| *i != f.index).flat_map(|(_, r)| r.clone()).collect();
    rest.sort_unstable();
    let inner = split_rows(ds, &rest, cfg.val_frac, 0.0, cfg.seed)?;
    Ok(Split { train: inner.train, val: inner.val, test })
}

/// Subgroup columns must exist and hold at least two values; windows and
/// sequences have no one row per patient to group.
fn check_subgroup_columns(raw: &RawTable, names: &[String], sequences: bool) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    if sequences {
        return Err(Error::Options(
            "`subgroup_column` groups the rows of a table; windows of a signal and sequences have no              one row per patient: leave it out"
                .into(),
        ));
    }
    for name in names {
        let c = raw.column_for("`subgroup_column`", name)?;
        let first = (raw.rows() > 0).then(|| raw.cell_text(0, c));
        if (0..raw.rows()).all(|r| Some(raw.cell_text(r, c)) == first) {
            return Err(Error::Options(format!(
                "`subgroup_column` '{name}' has a single value{} in every row: subgroups need a column                  with at least two values",
                first.map(|v| format!(" ('{v}')")).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Each subgroup column's cell text for the rows at `lines` of `raw`.
fn subgroup_values(raw: &RawTable, names: &[String], lines: &[u64]) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for name in names {
        let c = raw.column_for("`subgroup_column`", name)?;
        let values = lines
            .iter()
            .map(|line| match raw.lines.binary_search(line) {
                Ok(row) => raw.cell_text(row, c).into_owned(),
                Err(_) => String::new(),
            })
            .collect();
        out.push((name.clone(), values));
    }
    Ok(out)
}

/// The rows a sequence model trains on: one per window of a signal (split
/// by time) or per sequence of rows sharing an id (split by id); other
/// tables as they are. Sets the target and feature options the rows imply.
#[allow(clippy::type_complexity)]
fn rows_of_sequences(
    raw: RawTable,
    default_target: Option<&str>,
    source: &DataSource,
    cfg: &TrainConfig,
    opts: &mut PrepareOptions,
) -> Result<(RawTable, Option<Split>, Option<WindowReport>, Option<SequenceOptions>)> {
    match (&source.window, &source.sequences) {
        (Some(_), Some(_)) => Err(Error::Options(
            "`window` and `sequence_id` do not go together: windows cut one long signal, \
             sequences group rows by their id"
                .into(),
        )),
        (None, Some(sq)) => {
            let mut sq = sq.clone();
            if sq.target.is_none() {
                sq.target = opts.target.clone().or(default_target.map(str::to_string));
            }
            if sq.features.is_empty() {
                sq.features = opts.features.take().unwrap_or_default();
            }
            let seqs = sequence_table(&raw, &sq)?;
            opts.target = sq.target.clone();
            opts.id_column = Some(sq.id.clone());
            opts.features = None;
            let split = format!(
                "{}; split by sequence id: each sequence lies wholly in train, validation or test",
                seqs.describe()
            );
            let resolved = SequenceOptions { steps: Some(seqs.steps), features: seqs.features.clone(), ..sq };
            Ok((seqs.table, None, Some(WindowReport { split, naive_test_mse: None }), Some(resolved)))
        }
        (Some(w), None) => {
            if source.test_data.is_some() {
                return Err(Error::Options(
                    "`test_data` with `window` is not supported: the test period is the end of the record \
                     (`test_frac`)"
                        .into(),
                ));
            }
            let mut w = w.clone();
            if w.signals.is_empty() {
                w.signals = opts.features.take().unwrap_or_default();
            }
            let win = window_table(&raw, &w, cfg.val_frac, cfg.test_frac)?;
            opts.target = win.targets.first().cloned();
            opts.more_targets = win.targets[1..].to_vec();
            // a forecast is a number, even of a signal with few distinct values
            if win.forecast && opts.task.is_none() {
                opts.task = Some(Task::Regress);
            }
            let report = WindowReport { split: win.describe(), naive_test_mse: win.naive_test_mse };
            Ok((win.table, Some(win.split), Some(report), None))
        }
        (None, None) => Ok((raw, None, None, None)),
    }
}

/// What the loss reads per row (class index, standardized value, or 0 for
/// reconstruction) and the regression targets' scale (training rows).
fn train_targets(ds: &Dataset, split: &Split) -> (Vec<f32>, Option<TargetScale>) {
    match ds.encoding.task {
        Task::Classify => (ds.targets.clone(), None),
        Task::Regress => {
            // one scale for every target column (the steps of a forecast share their units)
            let vals: Vec<f64> = ds.targets_of(&split.train).iter().map(|v| *v as f64).collect();
            let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len().max(1) as f64;
            let std = if var.sqrt() < 1e-12 { 1.0 } else { var.sqrt() };
            let scale = TargetScale { mean: mean as f32, std: std as f32 };
            (ds.targets.iter().map(|t| (t - scale.mean) / scale.std).collect(), Some(scale))
        }
        Task::Reconstruct => (vec![0.0; ds.rows()], None),
    }
}

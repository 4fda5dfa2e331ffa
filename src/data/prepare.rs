//! From a raw table to a numeric data set: choosing the target, feature, id
//! and group columns, inferring the task, and fitting an [`Encoding`]
//! (numeric and one-hot columns, class labels) that is saved with a model and
//! reapplied unchanged at eval and predict time.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::encode::{encode_rows, Layout};
use super::raw::{data_err, RawTable};
use super::raw_column::is_missing;

/// What to do with missing feature cells (empty, `NA`, `N/A`, `NaN`, `?`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Refuse the data set, pointing at the first missing cell.
    Error,
    /// Leave out every row with a missing feature.
    DropRows,
    /// Fill with the column mean of the training rows.
    Mean,
    /// Fill with the column median of the training rows.
    Median,
}

/// How feature columns are scaled, fitted on the training rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// `(x - mean) / std` (population std).
    Zscore,
    /// `(x - min) / (max - min)`.
    Minmax,
    /// Values are used as they are.
    None,
}

/// What a model learns from the data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predict a class label.
    Classify,
    /// Predict a number.
    Regress,
    /// Reconstruct the features (autoencoder); a target, if any, is kept for evaluation only.
    Reconstruct,
}

/// Column choices for [`encode_fit`], usually from the command line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrepareOptions {
    /// The target column; `None` is allowed only for [`Task::Reconstruct`].
    pub target: Option<String>,
    /// Further numeric target columns predicted beside `target`, one output
    /// each (a forecast of several steps); regression only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_targets: Vec<String>,
    /// Explicit feature columns, in this order; default: every other column.
    pub features: Option<Vec<String>>,
    /// Columns to leave out of the features.
    pub drop_columns: Vec<String>,
    /// Text columns to one-hot encode.
    pub categorical: Vec<String>,
    /// The task; `None`: inferred from the target column.
    pub task: Option<Task>,
    /// Row id column; `None`: a column named `id` (any case) if there is one.
    pub id_column: Option<String>,
    /// Patient/group id column, kept out of the features and used by grouped splits.
    pub group_column: Option<String>,
    /// How CSV files are written (delimiter, decimal comma); the data file's
    /// and every file read later for the model.
    #[serde(default, skip_serializing_if = "super::csv_dialect::CsvDialect::is_auto")]
    pub csv: super::csv_dialect::CsvDialect,
}

/// How raw columns become model inputs and targets; saved in model.json,
/// reapplied unchanged at eval/predict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    /// Feature columns in model-input order.
    pub columns: Vec<ColumnEncoding>,
    /// The target column and how it is encoded, if there is one.
    pub target: Option<TargetEncoding>,
    /// Row id column, carried along for reports.
    pub id_column: Option<String>,
    /// Group (patient) column, carried along for grouped splits.
    pub group_column: Option<String>,
    /// The task the encoding was fitted for.
    pub task: Task,
}

/// How one raw feature column becomes model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnEncoding {
    /// One input: the cell parsed as a number (NaN when missing).
    Numeric {
        /// Raw column name.
        name: String,
    },
    /// One input per category: 1 for the cell's category, 0 for the others.
    OneHot {
        /// Raw column name.
        name: String,
        /// Categories seen at fit time, sorted.
        categories: Vec<String>,
    },
}

impl ColumnEncoding {
    /// The raw column name.
    pub fn name(&self) -> &str {
        match self {
            ColumnEncoding::Numeric { name } | ColumnEncoding::OneHot { name, .. } => name,
        }
    }

    /// How many model inputs the column gives.
    pub fn width(&self) -> usize {
        match self {
            ColumnEncoding::Numeric { .. } => 1,
            ColumnEncoding::OneHot { categories, .. } => categories.len(),
        }
    }
}

/// How the target column becomes a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetEncoding {
    /// Class labels; the target is the label's index.
    Classes {
        /// Raw column name.
        name: String,
        /// Labels in index order (numeric order when all are numbers).
        labels: Vec<String>,
    },
    /// A number, or several (one output each).
    Value {
        /// Raw column name.
        name: String,
        /// Further target columns after `name` (a multi-step forecast).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        more: Vec<String>,
    },
}

impl TargetEncoding {
    /// The raw column name.
    pub fn name(&self) -> &str {
        match self {
            TargetEncoding::Classes { name, .. } | TargetEncoding::Value { name, .. } => name,
        }
    }
}

impl Encoding {
    /// Names of the model inputs; a one-hot column gives `"col=value"` per category.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.num_features());
        for c in &self.columns {
            match c {
                ColumnEncoding::Numeric { name } => names.push(name.clone()),
                ColumnEncoding::OneHot { name, categories } => {
                    names.extend(categories.iter().map(|v| format!("{name}={v}")));
                }
            }
        }
        names
    }

    /// Number of model inputs.
    pub fn num_features(&self) -> usize {
        self.columns.iter().map(ColumnEncoding::width).sum()
    }

    /// Target values per row: the number of target columns (0 without a target).
    pub fn target_width(&self) -> usize {
        match &self.target {
            Some(TargetEncoding::Value { more, .. }) => 1 + more.len(),
            Some(TargetEncoding::Classes { .. }) => 1,
            None => 0,
        }
    }

    /// The class labels in index order (empty when the target is not classes).
    pub fn class_labels(&self) -> Vec<String> {
        match &self.target {
            Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
            _ => Vec::new(),
        }
    }

    /// Number of classes when the target is class labels.
    pub fn num_classes(&self) -> Option<usize> {
        match &self.target {
            Some(TargetEncoding::Classes { labels, .. }) => Some(labels.len()),
            _ => None,
        }
    }
}

/// A numeric data set: features may hold NaN for missing cells (handled by
/// [`super::Preprocessor`]).
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Where the rows came from: a file path or `builtin:NAME`.
    pub source: String,
    /// How the raw columns were encoded.
    pub encoding: Encoding,
    /// `rows() x cols()` values, row-major, NaN = missing.
    pub features: Vec<f32>,
    /// Classify: class index; otherwise the value(s), `encoding.target_width()`
    /// per row. Empty when there is no target.
    pub targets: Vec<f32>,
    /// Id column values, one per row (empty if there is no id column).
    pub ids: Vec<String>,
    /// Group column values, one per row (empty if there is no group column).
    pub groups: Vec<String>,
    /// Source line of each row, for messages.
    pub lines: Vec<u64>,
    /// 1-based column in the source file of each entry of `encoding.columns`.
    pub source_columns: Vec<u64>,
    /// True when the task was inferred rather than given.
    pub task_inferred: bool,
}

impl Dataset {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// Number of features per row.
    pub fn cols(&self) -> usize {
        self.encoding.num_features()
    }

    /// The features of row `i`.
    ///
    /// # Panics
    /// If `i >= self.rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        let c = self.cols();
        &self.features[i * c..(i + 1) * c]
    }

    /// Whether the data set has a target per row.
    pub fn has_targets(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The targets of the given rows, `encoding.target_width()` values each
    /// (empty without targets).
    pub fn targets_of(&self, rows: &[usize]) -> Vec<f32> {
        if self.targets.is_empty() {
            return Vec::new();
        }
        let w = self.encoding.target_width().max(1);
        rows.iter().flat_map(|&r| self.targets[r * w..(r + 1) * w].iter().copied()).collect()
    }

    /// Keeps only the given rows (in order) of every per-row vector.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            if v.is_empty() {
                Vec::new()
            } else {
                rows.iter().map(|&r| v[r].clone()).collect()
            }
        }
        let mut features = Vec::with_capacity(rows.len() * self.cols());
        for &r in rows {
            features.extend_from_slice(self.row(r));
        }
        Dataset {
            source: self.source.clone(),
            encoding: self.encoding.clone(),
            features,
            targets: self.targets_of(rows),
            ids: pick(&self.ids, rows),
            groups: pick(&self.groups, rows),
            lines: pick(&self.lines, rows),
            source_columns: self.source_columns.clone(),
            task_inferred: self.task_inferred,
        }
    }
}

/// Most distinct integer values a numeric target may have to be inferred as classes.
const MAX_INFERRED_CLASSES: usize = 20;

/// Fits an encoding on a raw table and encodes it.
///
/// Column options naming no column are [`Error::Options`] listing the columns,
/// except a missing target column, an [`Error::Data`] at line 1. See the
/// module documentation of [`super`] for the rules on tasks, labels and
/// categories.
pub fn encode_fit(raw: &RawTable, opts: &PrepareOptions) -> Result<Dataset> {
    let (encoding, layout) = fit_encoding(raw, opts)?;
    let (ds, _) = encode_rows(raw, encoding, &layout, false, opts.task.is_none())?;
    Ok(ds)
}

/// The fitting half of [`encode_fit`]: the encoding and where its columns are in `raw`.
pub(super) fn fit_encoding(raw: &RawTable, opts: &PrepareOptions) -> Result<(Encoding, Layout)> {
    let roles = Roles::find(raw, opts)?;
    let (feature_idx, categorical) = feature_columns(raw, opts, &roles)?;
    let columns = column_encodings(raw, &feature_idx, &categorical);
    if columns.iter().map(ColumnEncoding::width).sum::<usize>() == 0 {
        return Err(Error::Dataset(format!(
            "{} has no feature columns left after taking out the target, id, group and \
             dropped columns (columns are: {}); keep at least one column as a feature",
            raw.source,
            raw.column_list()
        )));
    }
    let (task, target_enc) = match roles.target {
        Some(t) => fit_target(raw, t, opts.task)?,
        None => (Task::Reconstruct, None),
    };
    let target_enc = match target_enc {
        Some(TargetEncoding::Value { name, .. }) if !roles.more_targets.is_empty() => {
            Some(TargetEncoding::Value { name, more: opts.more_targets.clone() })
        }
        _ if !roles.more_targets.is_empty() => {
            return Err(Error::Options(format!(
                "several target columns ({}, {}) need `task` regress: only numbers can be predicted \
                 side by side",
                opts.target.as_deref().unwrap_or(""),
                opts.more_targets.join(", ")
            )))
        }
        enc => enc,
    };
    let encoding = Encoding {
        columns,
        target: target_enc,
        id_column: roles.id.map(|i| raw.headers[i].clone()),
        group_column: roles.group.map(|i| raw.headers[i].clone()),
        task,
    };
    let Roles { target, more_targets, id, group } = roles;
    let layout = Layout { columns: feature_idx, target, more_targets, id, group };
    Ok((encoding, layout))
}

/// The columns that are not features: the target (and further targets),
/// the id column and the group column.
struct Roles {
    target: Option<usize>,
    more_targets: Vec<usize>,
    id: Option<usize>,
    group: Option<usize>,
}

impl Roles {
    fn find(raw: &RawTable, opts: &PrepareOptions) -> Result<Roles> {
        let src = &raw.source;
        let target = match &opts.target {
            Some(name) => Some(raw.column(name).ok_or_else(|| {
                data_err(
                    src,
                    1,
                    0,
                    format!(
                        "no column '{name}'; columns are: {}. Name the target with `target` COLUMN",
                        raw.column_list()
                    ),
                )
            })?),
            None if opts.task == Some(Task::Reconstruct) => None,
            None => {
                return Err(Error::Options(format!(
                    "no target column given for {src}; pass `target` COLUMN (columns are: {}), or \
                     `task` reconstruct to train an autoencoder without one",
                    raw.column_list()
                )))
            }
        };
        let more_targets: Vec<usize> =
            opts.more_targets.iter().map(|n| raw.column_for("a further target", n)).collect::<Result<_>>()?;
        if !more_targets.is_empty() && target.is_none() {
            return Err(Error::Options(
                "further target columns need a first one: pass `target` COLUMN".into(),
            ));
        }
        let group = opts.group_column.as_deref().map(|n| raw.column_for("`group_column`", n)).transpose()?;
        let explicit = |i: usize| opts.features.as_ref().is_some_and(|f| f.contains(&raw.headers[i]));
        let id = match &opts.id_column {
            Some(n) => Some(raw.column_for("`id_column`", n)?),
            None => raw.headers.iter().enumerate().position(|(i, h)| {
                h.eq_ignore_ascii_case("id") && Some(i) != target && Some(i) != group && !explicit(i)
            }),
        };
        let roles = Roles { target, more_targets, id, group };
        roles.check_distinct(raw)?;
        Ok(roles)
    }

    fn named(&self) -> [(&'static str, Option<usize>); 3] {
        [("target", self.target), ("id column", self.id), ("group column", self.group)]
    }

    /// No column has two roles.
    fn check_distinct(&self, raw: &RawTable) -> Result<()> {
        let roles = self.named();
        for (a, (name_a, ia)) in roles.iter().enumerate() {
            for (name_b, ib) in &roles[a + 1..] {
                if ia.is_some() && ia == ib {
                    return Err(Error::Options(format!(
                        "column '{}' is both the {name_a} and the {name_b}; choose different columns",
                        raw.headers[ia.unwrap_or(0)]
                    )));
                }
            }
        }
        Ok(())
    }

    /// The role of column `i`, if it has one.
    fn of(&self, i: usize) -> Option<&'static str> {
        self.named()
            .iter()
            .find(|(_, r)| *r == Some(i))
            .map(|(n, _)| *n)
            .or(self.more_targets.contains(&i).then_some("target"))
    }
}

/// The feature columns (named, or every column without a role and not
/// dropped) and those of them one-hot encoded.
fn feature_columns(raw: &RawTable, opts: &PrepareOptions, roles: &Roles) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut dropped = Vec::new();
    for n in &opts.drop_columns {
        dropped.push(raw.column_for("`drop_columns`", n)?);
    }
    let feature_idx: Vec<usize> = match &opts.features {
        Some(names) => {
            let mut idx = Vec::new();
            for n in names {
                let i = raw.column_for("`features`", n)?;
                if let Some(role) = roles.of(i) {
                    return Err(Error::Options(format!(
                        "`features` '{n}' is the {role}; it cannot also be a feature"
                    )));
                }
                if idx.contains(&i) {
                    return Err(Error::Options(format!("`features` names '{n}' twice; name it once")));
                }
                if !dropped.contains(&i) {
                    idx.push(i);
                }
            }
            idx
        }
        None => (0..raw.headers.len()).filter(|&i| roles.of(i).is_none() && !dropped.contains(&i)).collect(),
    };
    let mut categorical = Vec::new();
    for n in &opts.categorical {
        let i = raw.column_for("`categorical`", n)?;
        if !feature_idx.contains(&i) {
            return Err(Error::Options(format!(
                "`categorical` '{n}' is not a feature column (it is the {}); only feature \
                 columns can be one-hot encoded",
                roles.of(i).unwrap_or("dropped or not in `features`")
            )));
        }
        categorical.push(i);
    }
    Ok((feature_idx, categorical))
}

/// Each feature column as a number, or one-hot over its categories.
fn column_encodings(raw: &RawTable, feature_idx: &[usize], categorical: &[usize]) -> Vec<ColumnEncoding> {
    feature_idx
        .iter()
        .map(|&i| {
            let name = raw.headers[i].clone();
            if categorical.contains(&i) {
                let categories: Vec<String> = raw.columns[i]
                    .distinct()
                    .into_iter()
                    .filter(|c| !is_missing(c))
                    .map(|c| c.into_owned())
                    .collect();
                ColumnEncoding::OneHot { name, categories }
            } else {
                ColumnEncoding::Numeric { name }
            }
        })
        .collect()
}

/// Chooses the task (if not given) and fits the target encoding of column `t`.
///
/// Labels are the distinct cell texts (a numeric column's cells formatted
/// back, so `0`/`1` stay `"0"`/`"1"`), in numeric order when all are numbers.
fn fit_target(raw: &RawTable, t: usize, task: Option<Task>) -> Result<(Task, Option<TargetEncoding>)> {
    let name = raw.headers[t].clone();
    let column = &raw.columns[t];
    if let Some(row) = (0..raw.rows()).find(|&r| column.is_missing(r)) {
        let cell = column.text(row);
        return Err(data_err(
            &raw.source,
            raw.lines[row],
            t + 1,
            format!(
                "missing target value ({cell:?}) in column '{name}'; rows with a missing \
                 target must be removed (use predict to fill them in)"
            ),
        ));
    }
    let cells = column.distinct();
    let numbers: Option<Vec<f64>> =
        cells.iter().map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite())).collect();
    let looks_like_classes = match &numbers {
        None => true,
        Some(v) => {
            let mut ints: Vec<f64> = v.clone();
            ints.sort_by(f64::total_cmp);
            ints.dedup();
            v.iter().all(|x| x.fract() == 0.0) && ints.len() <= MAX_INFERRED_CLASSES
        }
    };
    let task = task.unwrap_or(if looks_like_classes { Task::Classify } else { Task::Regress });
    let labels = || -> Vec<String> {
        let mut labels: Vec<(f64, &str)> = match &numbers {
            Some(v) => v.iter().copied().zip(cells.iter().map(|c| c.as_ref())).collect(),
            None => cells.iter().map(|c| (0.0, c.as_ref())).collect(),
        };
        labels.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        match numbers {
            Some(_) => labels.dedup_by(|a, b| a.0 == b.0),
            None => labels.dedup_by(|a, b| a.1 == b.1),
        }
        labels.into_iter().map(|(_, s)| s.to_string()).collect()
    };
    let enc = match task {
        Task::Classify => {
            let labels = labels();
            if labels.len() < 2 {
                return Err(Error::Dataset(format!(
                    "target column '{name}' of {} has only one class ('{}'); classification \
                     needs at least two (check `target`, or use `task` reconstruct)",
                    raw.source,
                    labels.first().map_or("", String::as_str)
                )));
            }
            TargetEncoding::Classes { name, labels }
        }
        Task::Reconstruct if looks_like_classes => TargetEncoding::Classes { name, labels: labels() },
        Task::Regress | Task::Reconstruct => TargetEncoding::Value { name, more: Vec::new() },
    };
    Ok((task, Some(enc)))
}

#[cfg(test)]
#[path = "prepare_tests.rs"]
mod tests;

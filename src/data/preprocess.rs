//! Missing values and normalization, fitted on the training rows only.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::prepare::{Dataset, MissingPolicy, Normalize};
use super::raw::data_err;

/// Imputation and normalization fitted on training rows; saved with a model
/// and reapplied unchanged at eval/predict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// The missing-value policy it was fitted with.
    pub missing: MissingPolicy,
    /// Per-feature value that replaces NaN: the training median for
    /// [`MissingPolicy::Median`], the training mean otherwise (0 when a
    /// column has no value).
    pub fill: Vec<f32>,
    /// The normalization it was fitted with.
    pub normalize: Normalize,
    /// Per-feature value subtracted first.
    pub shift: Vec<f32>,
    /// Per-feature factor applied after the shift.
    pub scale: Vec<f32>,
}

impl Preprocessor {
    /// Fits imputation (mean/median of the non-missing training values; 0 if
    /// none) and normalization (z-score: shift = mean, scale = 1/std
    /// (population), std < 1e-12 gives scale 1; min-max: shift = min, scale =
    /// 1/(max - min), a range < 1e-12 gives scale 1; none: shift 0, scale 1),
    /// both on `train_rows` only, the normalization computed after imputation.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn fit(
        ds: &Dataset,
        train_rows: &[usize],
        missing: MissingPolicy,
        normalize: Normalize,
    ) -> Preprocessor {
        let cols = ds.cols();
        let mut fill = Vec::with_capacity(cols);
        let mut shift = Vec::with_capacity(cols);
        let mut scale = Vec::with_capacity(cols);
        let mut values = Vec::with_capacity(train_rows.len());
        for c in 0..cols {
            values.clear();
            values.extend(train_rows.iter().map(|&r| f64::from(ds.row(r)[c])).filter(|v| !v.is_nan()));
            let present = values.len();
            let f = if present == 0 {
                0.0
            } else if missing == MissingPolicy::Median {
                values.sort_by(f64::total_cmp);
                let mid = present / 2;
                if present % 2 == 1 {
                    values[mid]
                } else {
                    (values[mid - 1] + values[mid]) / 2.0
                }
            } else {
                values.iter().sum::<f64>() / present as f64
            };
            let f = f as f32;
            fill.push(f);
            // Imputed values join the statistics, as the model will see them.
            values.resize(train_rows.len(), f64::from(f));
            let (s, k) = fit_scale(&values, normalize);
            shift.push(s);
            scale.push(k);
        }
        Preprocessor { missing, fill, normalize, shift, scale }
    }

    /// Leaves the given feature columns as they are (no fill, shift or
    /// scale): a step mask must stay 0 and 1.
    pub fn keep_as_is(&mut self, columns: &[usize]) {
        for &c in columns {
            (self.fill[c], self.shift[c], self.scale[c]) = (0.0, 0.0, 1.0);
        }
    }

    /// Imputes NaN with `fill`, then sets `x = (x - shift) * scale`, in place
    /// over every row of the row-major `features` (row length `fill.len()`).
    pub fn apply(&self, features: &mut [f32]) {
        let cols = self.fill.len();
        if cols == 0 {
            return;
        }
        debug_assert_eq!(features.len() % cols, 0, "features not a multiple of cols");
        for row in features.chunks_exact_mut(cols) {
            for (((x, f), s), k) in row.iter_mut().zip(&self.fill).zip(&self.shift).zip(&self.scale) {
                if x.is_nan() {
                    *x = *f;
                }
                *x = (*x - s) * k;
            }
        }
    }
}

/// Shift and scale of one column's (imputed) training values.
fn fit_scale(values: &[f64], normalize: Normalize) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let inv = |spread: f64| {
        if spread < 1e-12 {
            1.0
        } else {
            (1.0 / spread) as f32
        }
    };
    match normalize {
        Normalize::None => (0.0, 1.0),
        Normalize::Zscore => {
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            (mean as f32, inv(var.sqrt()))
        }
        Normalize::Minmax => {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (min as f32, inv(max - min))
        }
    }
}

/// Applies the missing policy before fitting and returns the rows to use.
///
/// - [`MissingPolicy::Error`]: if any feature is missing, an [`Error::Data`]
///   at the first missing cell (file, line, column) saying how many values
///   are missing in which columns and which `--missing` options exist;
/// - [`MissingPolicy::DropRows`]: the rows without a missing feature
///   ([`Error::Dataset`] if none is left);
/// - [`MissingPolicy::Mean`] / [`MissingPolicy::Median`]: every row.
///
/// A missing category counts as one missing value.
pub fn rows_after_missing_policy(ds: &Dataset, policy: MissingPolicy) -> Result<Vec<usize>> {
    if matches!(policy, MissingPolicy::Mean | MissingPolicy::Median) {
        return Ok((0..ds.rows()).collect());
    }
    // Feature range of each raw column.
    let mut blocks = Vec::with_capacity(ds.encoding.columns.len());
    let mut start = 0;
    for c in &ds.encoding.columns {
        blocks.push(start..start + c.width());
        start += c.width();
    }
    let mut counts = vec![0u64; blocks.len()];
    let mut first: Option<(usize, usize)> = None;
    let mut kept = Vec::with_capacity(ds.rows());
    for r in 0..ds.rows() {
        let row = ds.row(r);
        let mut complete = true;
        for (b, range) in blocks.iter().enumerate() {
            if row[range.clone()].iter().any(|x| x.is_nan()) {
                counts[b] += 1;
                complete = false;
                first.get_or_insert((r, b));
            }
        }
        if complete {
            kept.push(r);
        }
    }
    let Some((r, b)) = first else {
        return Ok(kept);
    };
    let total: u64 = counts.iter().sum();
    let names: Vec<&str> =
        ds.encoding.columns.iter().zip(&counts).filter(|(_, &n)| n > 0).map(|(c, _)| c.name()).collect();
    if policy == MissingPolicy::Error {
        return Err(data_err(
            &ds.source,
            ds.lines.get(r).copied().unwrap_or(0),
            ds.source_columns.get(b).copied().unwrap_or(0) as usize,
            format!(
                "{total} missing {} in column(s) {}; first here. Use `missing` \
                 drop-rows|mean|median",
                if total == 1 { "value" } else { "values" },
                names.join(", ")
            ),
        ));
    }
    if kept.is_empty() {
        return Err(Error::Dataset(format!(
            "every row of {} has a missing value (in column(s) {}), so `missing` drop-rows \
             leaves nothing; use `missing` mean or `missing` median",
            ds.source,
            names.join(", ")
        )));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{encode_fit, parse_raw_csv, PrepareOptions};

    fn ds(text: &str, categorical: &[&str]) -> Dataset {
        let opts = PrepareOptions {
            target: Some("y".into()),
            categorical: categorical.iter().map(|s| s.to_string()).collect(),
            ..PrepareOptions::default()
        };
        encode_fit(&parse_raw_csv(text, "t.csv").unwrap(), &opts).unwrap()
    }

    fn close(a: f32, b: f32) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    const MISSING: &str = "a,b,c,y\n1,2,x,0\n2,,y,1\n3,NA,,0\n?,4,x,1\n5,6,y,0\n";

    #[test]
    fn error_policy() {
        let d = ds(MISSING, &["c"]);
        let e = rows_after_missing_policy(&d, MissingPolicy::Error).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:3:2: 4 missing values in column(s) a, b, c; first here."), "{e}");
        assert!(e.contains("`missing` drop-rows|mean|median"), "{e}");
        let d = ds("a,b,y\n1,2,0\n3,,1\n", &[]);
        let e = rows_after_missing_policy(&d, MissingPolicy::Error).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:3:2: 1 missing value in column(s) b;"), "{e}");
        let d = ds("a,y\n1,0\n2,1\n", &[]);
        assert_eq!(rows_after_missing_policy(&d, MissingPolicy::Error).unwrap(), vec![0, 1]);
    }

    #[test]
    fn drop_rows_and_fill_policies() {
        let d = ds(MISSING, &["c"]);
        assert_eq!(rows_after_missing_policy(&d, MissingPolicy::DropRows).unwrap(), vec![0, 4]);
        for p in [MissingPolicy::Mean, MissingPolicy::Median] {
            assert_eq!(rows_after_missing_policy(&d, p).unwrap(), vec![0, 1, 2, 3, 4]);
        }
        let d = ds("a,b,y\n1,,0\n,2,1\n", &[]);
        let e = rows_after_missing_policy(&d, MissingPolicy::DropRows).unwrap_err();
        assert!(matches!(e, Error::Dataset(_)) && e.to_string().contains("`missing` mean"), "{e}");
    }

    #[test]
    fn fill_from_train_rows_only() {
        // Column a: train rows 0, 1, 2, 4 hold 1, NaN, 4, 10; row 3 (not
        // train) holds 1000 and must not count.
        let d = ds("a,y\n1,0\n,1\n4,0\n1000,1\n10,0\n", &[]);
        let train = [0, 1, 2, 4];
        let p = Preprocessor::fit(&d, &train, MissingPolicy::Mean, Normalize::None);
        close(p.fill[0], 5.0);
        assert_eq!((p.shift[0], p.scale[0]), (0.0, 1.0));
        let p = Preprocessor::fit(&d, &train, MissingPolicy::Median, Normalize::None);
        close(p.fill[0], 4.0);
        let p = Preprocessor::fit(&d, &[0, 1, 4], MissingPolicy::Median, Normalize::None);
        close(p.fill[0], 5.5);
        let p = Preprocessor::fit(&d, &[1], MissingPolicy::Mean, Normalize::Zscore);
        assert_eq!((p.fill[0], p.shift[0], p.scale[0]), (0.0, 0.0, 1.0));
        let mut f = d.features.clone();
        let p = Preprocessor::fit(&d, &train, MissingPolicy::Median, Normalize::None);
        p.apply(&mut f);
        assert_eq!(f, vec![1.0, 4.0, 4.0, 1000.0, 10.0]);
    }

    #[test]
    fn zscore_and_minmax_on_train_rows() {
        // a on train rows 0..3: 1, 2, 3 (mean 2, std sqrt(2/3)); b constant 5;
        // row 3 (not train) is far off and must not count.
        let d = ds("a,b,y\n1,5,0\n2,5,1\n3,5,0\n100,-7,1\n", &[]);
        let train = [0, 1, 2];
        let z = Preprocessor::fit(&d, &train, MissingPolicy::Error, Normalize::Zscore);
        close(z.shift[0], 2.0);
        close(z.scale[0], 1.0 / (2.0f32 / 3.0).sqrt());
        assert_eq!((z.shift[1], z.scale[1]), (5.0, 1.0));
        let mut f = d.features.clone();
        z.apply(&mut f);
        let s = 1.5f32.sqrt();
        for (a, b) in f[..6].iter().zip([-s, 0.0, 0.0, 0.0, s, 0.0]) {
            close(*a, b);
        }
        let m = Preprocessor::fit(&d, &train, MissingPolicy::Error, Normalize::Minmax);
        assert_eq!((m.shift.clone(), m.scale.clone()), (vec![1.0, 5.0], vec![0.5, 1.0]));
        let mut f = d.features.clone();
        m.apply(&mut f);
        assert_eq!(f, vec![0.0, 0.0, 0.5, 0.0, 1.0, 0.0, 49.5, -12.0]);
        // Imputed values join the statistics: a = 2, NaN→2 (mean), 2 → std 0.
        let d = ds("a,y\n2,0\n,1\n2,0\n", &[]);
        let p = Preprocessor::fit(&d, &[0, 1, 2], MissingPolicy::Mean, Normalize::Zscore);
        assert_eq!((p.fill[0], p.shift[0], p.scale[0]), (2.0, 2.0, 1.0));
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""missing":"mean""#) && json.contains(r#""normalize":"zscore""#));
        assert_eq!(serde_json::from_str::<Preprocessor>(&json).unwrap(), p);
    }

    #[test]
    fn one_hot_missing_is_imputed_per_category() {
        let d = ds("c,y\nx,0\ny,1\n,0\nx,1\n", &["c"]);
        let p = Preprocessor::fit(&d, &[0, 1, 2, 3], MissingPolicy::Mean, Normalize::None);
        close(p.fill[0], 2.0 / 3.0);
        close(p.fill[1], 1.0 / 3.0);
    }
}

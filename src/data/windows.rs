//! Sliding windows over a signal table (one row per sample, one or more
//! numeric columns) for sequence models, and the split by time that keeps
//! every window of the test period out of training.
//!
//! Window k covers samples [k*S, k*S + W) and its targets are the H samples
//! after the window's last one (forecasting, `horizon` H), or the label at
//! the window's last sample (classification, a label column). The windowed
//! table has one row per window: the values time-major (`{col}_t{t}` for t in
//! 0..W, each signal column in turn), so the model reads them as [W, F]; then
//! the target columns (`{col}_next` for H = 1, `{col}_next1` .. `{col}_nextH`
//! otherwise).
//!
//! Split by time: the record is cut into train, validation and test periods
//! (in that order, by sample fractions) and a window belongs to a period only
//! if it and its target lie inside it; windows across a boundary are dropped,
//! so no test sample is ever seen in training.

use super::raw::RawTable;
use super::raw_column::{NumericCells, RawColumn, TextCells};
use super::split::Split;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How to cut windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowOptions {
    /// Samples per window (W).
    pub window: usize,
    /// Samples between window starts (S).
    pub stride: usize,
    /// Forecast this many samples after the window (H); ignored with a
    /// label column.
    pub horizon: usize,
    /// Signal columns; empty: every numeric column except the label.
    pub signals: Vec<String>,
    /// The numeric column to forecast (default: the only signal column), or
    /// a text label column whose value at the window's last sample is the
    /// window's class.
    pub target: Option<String>,
}

/// A windowed table and what was done to make it.
pub struct Windows {
    /// One row per window: W * F value columns, then the target columns.
    pub table: RawTable,
    /// Names of the target columns in `table`: H forecast steps, or the label.
    pub targets: Vec<String>,
    /// Whether the targets are a forecast (numbers) rather than a label.
    pub forecast: bool,
    /// [W, F]: the model's input shape.
    pub shape: [usize; 2],
    /// Windows of each period, by row of `table`.
    pub split: Split,
    /// Sample ranges [start, end) of the train, validation and test periods.
    pub periods: [(usize, usize); 3],
    /// Forecasting: the mean squared error of repeating each test window's
    /// last value of the target column for every step of the horizon (in the
    /// data's units).
    pub naive_test_mse: Option<f64>,
}

impl Windows {
    /// One line for the output, e.g. `split by time: train samples 0-75600 (9443 windows), ...`.
    pub fn describe(&self) -> String {
        let names = ["train", "validation", "test"];
        let counts = [self.split.train.len(), self.split.val.len(), self.split.test.len()];
        let parts: Vec<String> = (0..3)
            .map(|i| {
                let (a, b) = self.periods[i];
                format!("{} samples {a}-{b} ({} windows)", names[i], counts[i])
            })
            .collect();
        format!("split by time, never shuffled: {}", parts.join(", "))
    }
}

/// Cuts `raw` into windows and splits them by time (`val_frac`, `test_frac`
/// of the samples, the test period last).
pub fn window_table(raw: &RawTable, opts: &WindowOptions, val_frac: f64, test_frac: f64) -> Result<Windows> {
    cut(raw, opts, val_frac, test_frac, false)
}

/// Every window of `raw`, also those whose forecast targets lie past the
/// end of the record (their target cells are missing): what `predict`
/// forecasts from, up to the samples that follow the file. No split.
pub fn windows_to_end(raw: &RawTable, opts: &WindowOptions) -> Result<Windows> {
    cut(raw, opts, 0.0, 0.0, true)
}

/// [`window_table`]; with `open_end` also the windows whose targets are past the end.
fn cut(
    raw: &RawTable,
    opts: &WindowOptions,
    val_frac: f64,
    test_frac: f64,
    open_end: bool,
) -> Result<Windows> {
    let (w, s) = (opts.window, opts.stride);
    if w == 0 || s == 0 {
        return Err(Error::Options("`window` and `stride` must be at least 1".into()));
    }
    let (label, signals, values) = signals_of(raw, opts)?;
    let label = label.as_deref();
    let n = raw.rows();
    let forecast = forecast_of(opts, label, &signals)?;
    let h = if forecast.is_some() { opts.horizon.max(1) } else { 0 };
    let span = w + h; // samples a window and its target cover
    let need = if open_end { w } else { span };
    if n < need {
        return Err(Error::Dataset(format!(
            "{}: {n} samples are fewer than one window of {w} plus the horizon {h}",
            raw.source
        )));
    }
    // periods by sample: train, validation, test
    let test_start = n - ((n as f64 * test_frac).round() as usize).min(n);
    let val_start = test_start - ((n as f64 * val_frac).round() as usize).min(test_start);
    let periods = [(0, val_start), (val_start, test_start), (test_start, n)];
    let starts: Vec<usize> = (0..=n - need).step_by(s).collect();
    let f = signals.len();
    let mut cols: Vec<Vec<f32>> = vec![Vec::with_capacity(starts.len()); w * f];
    let mut target_num: Vec<Vec<f32>> = vec![Vec::with_capacity(starts.len()); h];
    let mut target_text = TextCells::default();
    let mut split = Split { train: Vec::new(), val: Vec::new(), test: Vec::new() };
    let label_col = label.and_then(|l| raw.column(l));
    let mut naive = (0.0f64, 0usize);
    for (row, &k) in starts.iter().enumerate() {
        for t in 0..w {
            for (c, v) in values.iter().enumerate() {
                cols[t * f + c].push(v[k + t]);
            }
        }
        let end = k + span; // exclusive
        match (forecast, label_col) {
            (Some(c), _) => {
                for (j, col) in target_num.iter_mut().enumerate() {
                    // past the end of the record (open_end): not known yet
                    col.push(values[c].get(k + w + j).copied().unwrap_or(f32::NAN));
                }
            }
            (None, Some(li)) => target_text.push(&raw.columns[li].text(k + w - 1)),
            _ => {}
        }
        let period = periods.iter().position(|(a, b)| k >= *a && end <= *b);
        match period {
            Some(0) => split.train.push(row),
            Some(1) => split.val.push(row),
            Some(2) => {
                split.test.push(row);
                if let Some(c) = forecast {
                    let last = values[c][k + w - 1] as f64;
                    for j in 0..h {
                        let d = values[c][k + w + j] as f64 - last;
                        naive = (naive.0 + d * d, naive.1 + 1);
                    }
                }
            }
            _ => {}
        }
    }
    if !open_end && (split.train.is_empty() || (test_frac > 0.0 && split.test.is_empty())) {
        return Err(Error::Dataset(format!(
            "{}: {n} samples give no whole window of {w} (+{h}) in the train or test period; \
             use a shorter `window` or other `val_frac`/`test_frac`",
            raw.source
        )));
    }
    let (mut headers, targets) = window_headers(&signals, w, forecast, label, h);
    headers.extend(targets.iter().cloned());
    let mut columns: Vec<RawColumn> =
        cols.into_iter().map(|v| RawColumn::Numeric(NumericCells::from_values(v))).collect();
    if forecast.is_some() {
        columns.extend(target_num.into_iter().map(|v| RawColumn::Numeric(NumericCells::from_values(v))));
    } else {
        columns.push(RawColumn::Text(target_text));
    }
    let lines: Vec<u64> =
        starts.iter().map(|k| raw.lines.get(*k).copied().unwrap_or(*k as u64 + 2)).collect();
    let table =
        RawTable { source: format!("{} (windows of {w}, stride {s})", raw.source), headers, columns, lines };
    Ok(Windows {
        table,
        targets,
        forecast: forecast.is_some(),
        shape: [w, f],
        split,
        periods,
        naive_test_mse: (naive.1 > 0).then(|| naive.0 / naive.1 as f64),
    })
}

/// The label column (a text target), the signal columns and their values,
/// each checked to be numeric and complete.
#[allow(clippy::type_complexity)]
fn signals_of<'r>(
    raw: &'r RawTable,
    opts: &WindowOptions,
) -> Result<(Option<String>, Vec<String>, Vec<&'r [f32]>)> {
    let numeric = |name: &str| -> Result<&[f32]> {
        let i = raw.column(name).ok_or_else(|| {
            Error::Options(format!("{}: no column '{name}'; columns are: {}", raw.source, raw.column_list()))
        })?;
        match &raw.columns[i] {
            RawColumn::Numeric(c) => Ok(c.values()),
            RawColumn::Text(_) => Err(Error::Dataset(format!(
                "{}: signal column '{name}' has text cells; a signal column must be numeric",
                raw.source
            ))),
        }
    };
    // a text target is the windows' class; a numeric one is forecast
    let label = opts
        .target
        .clone()
        .filter(|t| raw.column(t).is_some_and(|i| matches!(raw.columns[i], RawColumn::Text(_))));
    let signals: Vec<String> = if opts.signals.is_empty() {
        raw.headers
            .iter()
            .zip(&raw.columns)
            .filter(|(h, c)| matches!(c, RawColumn::Numeric(_)) && Some(h.as_str()) != label.as_deref())
            .map(|(h, _)| h.clone())
            .collect()
    } else {
        opts.signals.clone()
    };
    if signals.is_empty() {
        return Err(Error::Dataset(format!("{}: no numeric signal column to window", raw.source)));
    }
    let values: Vec<&[f32]> = signals.iter().map(|n| numeric(n)).collect::<Result<_>>()?;
    for (name, v) in signals.iter().zip(&values) {
        if let Some(r) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::Dataset(format!(
                "{}:{}: column '{name}' has a missing or non-finite value; a signal must be complete \
                 (clean or interpolate it first)",
                raw.source,
                raw.lines.get(r).copied().unwrap_or(0)
            )));
        }
    }
    Ok((label, signals, values))
}

/// The signal a window forecasts (its index), or `None` when a label column is the target.
fn forecast_of(opts: &WindowOptions, label: Option<&str>, signals: &[String]) -> Result<Option<usize>> {
    // the forecast column (a signal) or the label column
    Ok(match (&opts.target, label) {
        (_, Some(_)) => None,
        (Some(t), None) => Some(signals.iter().position(|s| s == t).ok_or_else(|| {
            Error::Options(format!("`target` '{t}' is not one of the signal columns {signals:?}"))
        })?),
        (None, None) if signals.len() == 1 => Some(0),
        (None, None) => {
            return Err(Error::Options(format!(
                "{} signal columns {signals:?}: say which one to forecast with `target`",
                signals.len()
            )))
        }
    })
}

/// The window table's headers (each signal at each step) and target columns.
fn window_headers(
    signals: &[String],
    w: usize,
    forecast: Option<usize>,
    label: Option<&str>,
    h: usize,
) -> (Vec<String>, Vec<String>) {
    let mut headers = Vec::with_capacity(w * signals.len() + h.max(1));
    for t in 0..w {
        for name in signals {
            headers.push(format!("{name}_t{t}"));
        }
    }
    let targets: Vec<String> = match (forecast, label) {
        (Some(c), _) if h == 1 => vec![format!("{}_next", signals[c])],
        (Some(c), _) => (1..=h).map(|j| format!("{}_next{j}", signals[c])).collect(),
        (None, Some(l)) => vec![l.to_string()],
        _ => unreachable!("a window target is a forecast or a label"),
    };
    (headers, targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parse_raw_csv;

    fn signal(n: usize) -> RawTable {
        let mut text = String::from("a,b\n");
        for i in 0..n {
            text.push_str(&format!("{i},{}\n", 100 + i));
        }
        parse_raw_csv(&text, "sig.csv").unwrap()
    }

    #[test]
    fn windows_are_time_major_with_the_next_sample_as_target() {
        let opts =
            WindowOptions { window: 3, stride: 2, horizon: 1, signals: vec![], target: Some("a".into()) };
        let w = window_table(&signal(20), &opts, 0.2, 0.2).unwrap();
        assert_eq!(w.shape, [3, 2]);
        assert_eq!(&w.table.headers[..4], ["a_t0", "b_t0", "a_t1", "b_t1"]);
        assert_eq!(w.targets, ["a_next"]);
        let col = |name: &str| match &w.table.columns[w.table.column(name).unwrap()] {
            RawColumn::Numeric(c) => c.values().to_vec(),
            _ => panic!(),
        };
        // window 1 starts at sample 2: a = 2, 3, 4; target a[5]
        assert_eq!(col("a_t0")[1], 2.0);
        assert_eq!(col("b_t2")[1], 104.0);
        assert_eq!(col("a_next")[1], 5.0);
        // periods 0-12, 12-16, 16-20; windows cover 4 samples (3 + target)
        assert_eq!(w.periods, [(0, 12), (12, 16), (16, 20)]);
        assert_eq!(w.split.train, vec![0, 1, 2, 3, 4]); // starts 0..8, end <= 12
        assert_eq!(w.split.val, vec![6]); // start 12
        assert_eq!(w.split.test, vec![8]); // start 16
                                           // the naive forecast misses by 1 on this ramp
        assert_eq!(w.naive_test_mse, Some(1.0));
    }

    #[test]
    fn no_test_window_ever_overlaps_training() {
        let opts =
            WindowOptions { window: 5, stride: 1, horizon: 1, signals: vec!["a".into()], target: None };
        let w = window_table(&signal(100), &opts, 0.1, 0.2).unwrap();
        let start = |r: &usize| *r; // stride 1: row = start sample
        let train_end = w.split.train.iter().map(|r| start(r) + 6).max().unwrap();
        let test_begin = w.split.test.iter().map(start).min().unwrap();
        assert!(train_end <= w.periods[0].1 && test_begin >= w.periods[2].0);
        assert!(train_end <= test_begin);
    }

    #[test]
    fn bad_window_requests_say_what_to_change() {
        let raw = signal(10);
        let mut opts =
            WindowOptions { window: 20, stride: 1, horizon: 1, signals: vec![], target: Some("a".into()) };
        assert!(window_table(&raw, &opts, 0.1, 0.2)
            .err()
            .unwrap()
            .to_string()
            .contains("fewer than one window"));
        opts.window = 3;
        opts.target = None;
        assert!(window_table(&raw, &opts, 0.1, 0.2).err().unwrap().to_string().contains("`target`"));
        opts.target = Some("zz".into());
        assert!(window_table(&raw, &opts, 0.1, 0.2).err().unwrap().to_string().contains("'zz'"));
    }

    #[test]
    fn a_longer_horizon_gives_one_target_column_per_step() {
        let opts =
            WindowOptions { window: 3, stride: 2, horizon: 3, signals: vec![], target: Some("b".into()) };
        let w = window_table(&signal(30), &opts, 0.2, 0.2).unwrap();
        assert_eq!(w.targets, ["b_next1", "b_next2", "b_next3"]);
        assert_eq!(w.table.headers.len(), 3 * 2 + 3);
        let col = |name: &str| match &w.table.columns[w.table.column(name).unwrap()] {
            RawColumn::Numeric(c) => c.values().to_vec(),
            _ => panic!(),
        };
        // window 1 covers samples 2, 3, 4: b forecasts 105, 106, 107
        assert_eq!([col("b_next1")[1], col("b_next2")[1], col("b_next3")[1]], [105.0, 106.0, 107.0]);
        // a window and its 3 targets must fit the period: periods 0-18, 18-24, 24-30
        assert_eq!(w.periods, [(0, 18), (18, 24), (24, 30)]);
        let last_train_start = w.split.train.iter().map(|r| r * 2).max().unwrap();
        assert!(last_train_start + 6 <= 18);
        // on this ramp the naive forecast misses by 1, 2 and 3: mean (1 + 4 + 9) / 3
        assert!((w.naive_test_mse.unwrap() - 14.0 / 3.0).abs() < 1e-9);
        // predict also gets the windows whose targets follow the record, targets missing
        let all = windows_to_end(&signal(30), &opts).unwrap();
        assert_eq!(all.table.rows(), (30 - 3) / 2 + 1);
        assert_eq!(w.table.rows(), (30 - 6) / 2 + 1);
        let last = all.table.rows() - 1; // starts at 26: samples 26, 27, 28; 29 is known
        let next = |name: &str| match &all.table.columns[all.table.column(name).unwrap()] {
            RawColumn::Numeric(c) => c.values()[last],
            _ => panic!(),
        };
        assert_eq!(next("b_next1"), 129.0);
        assert!(next("b_next2").is_nan() && next("b_next3").is_nan());
    }
}

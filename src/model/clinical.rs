//! The test figures a clinical reader asks for beside the point estimates:
//! 95% intervals (Wilson for proportions, a seeded stratified bootstrap for
//! the AUC, F1, Brier score, R² and MAE), how honest the probabilities are
//! (ECE, MCE and Brier before and after the saved temperature), the
//! operating point and the point at validation-chosen sensitivity 0.95 on
//! the test rows, and the same figures per subgroup.

use super::decision::Decision;
use super::saved::{ModelFile, TargetScale};
use crate::data::Task;
use crate::metrics::calibration::{brier, calibration_errors};
use crate::metrics::intervals::{bootstrap, bootstrap_rows, wilson, Z95};
use crate::metrics::operating::{choose_threshold, OperatingRule};
use crate::metrics::{argmax, binary_metrics_at, regression_metrics, roc_auc_of, RegressionMetrics};
use serde::Serialize;

/// Subgroups with fewer test rows are reported as too small.
pub const MIN_SUBGROUP_ROWS: usize = 10;

/// A figure with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WithInterval {
    /// The figure on the test rows.
    pub value: f64,
    /// Its 95% confidence interval.
    pub ci95: [f64; 2],
}

/// Named figures in their order; JSON: an object of `{"value", "ci95"}` by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures(#[serde(serialize_with = "in_order")] pub Vec<(String, WithInterval)>);

impl Figures {
    /// The figure called `name`.
    pub fn get(&self, name: &str) -> Option<WithInterval> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, w)| *w)
    }
}

/// Calibration of the probabilities on the test rows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Expected calibration error (15 bins).
    pub ece: f64,
    /// Maximum calibration error.
    pub mce: f64,
    /// Brier score.
    pub brier: f64,
}

/// The test probabilities' calibration as trained and with the model's temperature.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CalibrationFigures {
    /// As trained (temperature 1).
    pub before: Calibration,
    /// The model's temperature (fitted on the validation split).
    pub temperature: f64,
    /// With it.
    pub after: Calibration,
}

/// A binary model's test figures at one threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointFigures {
    /// The rule that chose the threshold.
    pub rule: String,
    /// The threshold on the calibrated probability.
    pub threshold: f64,
    /// Sensitivity and specificity on the validation split, where it was chosen.
    pub validation: [f64; 2],
    /// Sensitivity, specificity, PPV, NPV and accuracy on the test rows, with Wilson intervals.
    pub test: Figures,
    /// Test counts `[[TN, FP], [FN, TP]]`.
    pub confusion: [[u64; 2]; 2],
}

/// One subgroup's test figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Subgroup {
    /// The column's value.
    pub value: String,
    /// Test rows in it.
    pub n: usize,
    /// Fewer than [`MIN_SUBGROUP_ROWS`] rows: no figures.
    pub too_small: bool,
    /// Its figures with intervals (as the whole test split's).
    pub figures: Figures,
}

/// The subgroups of one column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubgroupColumn {
    /// The column.
    pub column: String,
    /// Its values' subgroups, in order of value.
    pub groups: Vec<Subgroup>,
    /// For each figure, the largest difference between two subgroups that are not too small.
    #[serde(serialize_with = "gaps_in_order")]
    pub largest_gap: Vec<(String, f64)>,
}

/// What `summary.json` reports under `"clinical"`.
#[derive(Clone, Debug, Serialize)]
pub struct ClinicalFigures {
    /// Test figures with intervals, as the saved model answers (its
    /// temperature and operating point). Binary: accuracy, sensitivity,
    /// specificity, PPV, NPV (Wilson); AUC, F1, Brier (bootstrap).
    /// Multiclass: accuracy. Regression: R², MAE (bootstrap).
    pub test_ci95: Figures,
    /// Classifiers: calibration before and after the temperature.
    pub calibration: Option<CalibrationFigures>,
    /// The operating point the model was given, on the test rows.
    pub operating_point: Option<PointFigures>,
    /// Binary models: the test figures at the threshold chosen on the
    /// validation split for sensitivity 0.95 (when it can be met there).
    pub at_sensitivity_95: Option<PointFigures>,
    /// Subgroup analysis, one entry per subgroup column.
    pub subgroups: Vec<SubgroupColumn>,
}

/// Rows' labels or targets and the model's raw outputs (rows x `cols`).
#[derive(Clone, Copy)]
pub struct Outcomes<'a> {
    /// Class index per row, or the target value(s) in original units.
    pub targets: &'a [f32],
    /// Logits or scaled values.
    pub outputs: &'a [f32],
    /// Output columns.
    pub cols: usize,
}

/// What the figures of a set of rows are computed from.
enum Rows {
    Binary { labels: Vec<u32>, probs: Vec<f64>, threshold: f64 },
    Multiclass { labels: Vec<u32>, probs: Vec<f64>, k: usize },
    Regression { targets: Vec<f64>, preds: Vec<f64>, width: usize },
}

impl Rows {
    fn of(file: &ModelFile, o: Outcomes) -> Option<Rows> {
        let d = &file.decision;
        match file.task {
            Task::Classify => {
                let labels = o.targets.iter().map(|t| *t as u32).collect();
                let probs = d.probabilities(o.outputs, o.cols);
                Some(if o.cols == 1 {
                    Rows::Binary { labels, probs, threshold: d.threshold() }
                } else {
                    Rows::Multiclass { labels, probs, k: o.cols }
                })
            }
            Task::Regress => {
                let s = file.target_scale.unwrap_or(TargetScale { mean: 0.0, std: 1.0 });
                Some(Rows::Regression {
                    targets: o.targets.iter().map(|v| *v as f64).collect(),
                    preds: o.outputs.iter().map(|v| (*v * s.std + s.mean) as f64).collect(),
                    width: o.cols.max(1),
                })
            }
            Task::Reconstruct => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            Rows::Binary { labels, .. } | Rows::Multiclass { labels, .. } => labels.len(),
            Rows::Regression { targets, width, .. } => targets.len() / width,
        }
    }

    /// The rows `keep` (indices into these rows).
    fn subset(&self, keep: &[usize]) -> Rows {
        let pick = |v: &[f64], w: usize| keep.iter().flat_map(|r| v[r * w..(r + 1) * w].to_vec()).collect();
        match self {
            Rows::Binary { labels, probs, threshold } => Rows::Binary {
                labels: keep.iter().map(|r| labels[*r]).collect(),
                probs: pick(probs, 1),
                threshold: *threshold,
            },
            Rows::Multiclass { labels, probs, k } => Rows::Multiclass {
                labels: keep.iter().map(|r| labels[*r]).collect(),
                probs: pick(probs, *k),
                k: *k,
            },
            Rows::Regression { targets, preds, width } => {
                Rows::Regression { targets: pick(targets, *width), preds: pick(preds, *width), width: *width }
            }
        }
    }

    /// The figures with their intervals.
    fn figures(&self, resamples: usize, seed: u64) -> Figures {
        Figures(match self {
            Rows::Binary { labels, probs, threshold } => {
                binary_figures(labels, probs, *threshold, resamples, seed)
            }
            Rows::Multiclass { labels, probs, k } => {
                let right =
                    probs.chunks(*k).zip(labels).filter(|(row, y)| argmax(row) == **y as usize).count();
                vec![proportion("accuracy", right as u64, labels.len() as u64)]
            }
            Rows::Regression { targets, preds, width } => {
                let strata = vec![0u32; targets.len() / width];
                let of_rows = |rows: &[usize], f: fn(&RegressionMetrics) -> f64| {
                    let (t, p): (Vec<f64>, Vec<f64>) = rows
                        .iter()
                        .flat_map(|r| (r * width..(r + 1) * width).map(|i| (targets[i], preds[i])))
                        .unzip();
                    f(&regression_metrics(&t, &p))
                };
                let m = regression_metrics(targets, preds);
                let r2 = bootstrap_rows(&strata, resamples, seed, |rows| of_rows(rows, |m| m.r2));
                let mae = bootstrap_rows(&strata, resamples, seed, |rows| of_rows(rows, |m| m.mae));
                vec![
                    ("r2".to_string(), WithInterval { value: m.r2, ci95: [r2.0, r2.1] }),
                    ("mae".to_string(), WithInterval { value: m.mae, ci95: [mae.0, mae.1] }),
                ]
            }
        })
    }
}

/// A proportion k / n with its Wilson interval.
fn proportion(name: &str, k: u64, n: u64) -> (String, WithInterval) {
    let (lo, hi) = wilson(k, n, Z95);
    (name.to_string(), WithInterval { value: if n > 0 { k as f64 / n as f64 } else { 0.0 }, ci95: [lo, hi] })
}

/// The proportions of a confusion matrix `[[TN, FP], [FN, TP]]`.
fn proportions(confusion: [[u64; 2]; 2]) -> Vec<(String, WithInterval)> {
    let [[tn, fp], [fn_, tp]] = confusion;
    vec![
        proportion("accuracy", tp + tn, tp + tn + fp + fn_),
        proportion("sensitivity", tp, tp + fn_),
        proportion("specificity", tn, tn + fp),
        proportion("ppv", tp, tp + fp),
        proportion("npv", tn, tn + fn_),
    ]
}

fn binary_figures(
    labels: &[u32],
    probs: &[f64],
    threshold: f64,
    resamples: usize,
    seed: u64,
) -> Vec<(String, WithInterval)> {
    let m = binary_metrics_at(labels, probs, threshold);
    let boot = |name: &str, value: f64, f: &dyn Fn(&[u32], &[f64]) -> f64| {
        let (lo, hi) = bootstrap(labels, probs, resamples, seed, f);
        (name.to_string(), WithInterval { value, ci95: [lo, hi] })
    };
    let mut out = proportions(m.confusion);
    // the AUC needs both classes (a subgroup may lack one)
    if m.confusion[0].iter().sum::<u64>() > 0 && m.confusion[1].iter().sum::<u64>() > 0 {
        out.push(boot("roc_auc", m.roc_auc, &roc_auc_of));
    }
    out.push(boot("f1", m.f1, &|l, p| binary_metrics_at(l, p, threshold).f1));
    out.push(boot("brier", brier(labels, probs, 1), &|l, p| brier(l, p, 1)));
    out
}

/// A binary model's figures at the threshold `rule` chooses on the
/// validation rows; `None` when it cannot be met there.
fn at_point(rule: OperatingRule, val: (&[u32], &[f64]), test: (&[u32], &[f64])) -> Option<PointFigures> {
    let (threshold, sens, spec) = choose_threshold(rule, val.0, val.1).ok()?;
    Some(point_figures(rule, threshold, [sens, spec], test))
}

fn point_figures(
    rule: OperatingRule,
    threshold: f64,
    validation: [f64; 2],
    test: (&[u32], &[f64]),
) -> PointFigures {
    let confusion = binary_metrics_at(test.0, test.1, threshold).confusion;
    let mut test = proportions(confusion);
    // sensitivity, specificity, PPV, NPV first, then accuracy
    test.rotate_left(1);
    PointFigures { rule: rule.to_string(), threshold, validation, test: Figures(test), confusion }
}

/// The figures of the test rows (and, for the point at sensitivity 0.95,
/// the validation rows when there are some) as `file`'s model answers;
/// `subgroups` holds each subgroup column's value for every test row.
/// `None` for autoencoders or no test rows.
pub fn clinical_figures(
    file: &ModelFile,
    val: Option<Outcomes>,
    test: Outcomes,
    subgroups: &[(String, Vec<String>)],
) -> Option<ClinicalFigures> {
    let rows = Rows::of(file, test)?;
    if rows.len() == 0 {
        return None;
    }
    let (resamples, seed) = (file.training.evaluation.bootstrap.max(1), file.training.seed);
    let d = &file.decision;
    let calibration = (file.task == Task::Classify).then(|| {
        let labels: Vec<u32> = test.targets.iter().map(|t| *t as u32).collect();
        let calib = |t: f64| {
            let p = Decision { temperature: t, operating_point: None }.probabilities(test.outputs, test.cols);
            let (ece, mce) = calibration_errors(&labels, &p, test.cols);
            Calibration { ece, mce, brier: brier(&labels, &p, test.cols) }
        };
        CalibrationFigures { before: calib(1.0), temperature: d.temperature, after: calib(d.temperature) }
    });
    let (mut operating_point, mut at_sensitivity_95) = (None, None);
    if let Rows::Binary { labels, probs, .. } = &rows {
        operating_point = d.operating_point.as_ref().map(|o| {
            let v = [o.validation_sensitivity, o.validation_specificity];
            point_figures(o.rule, o.threshold, v, (labels, probs))
        });
        if let Some(Rows::Binary { labels: vl, probs: vp, .. }) = val.and_then(|v| Rows::of(file, v)) {
            at_sensitivity_95 = at_point(OperatingRule::Sensitivity(0.95), (&vl, &vp), (labels, probs));
        }
    }
    let subgroups = subgroups.iter().map(|(c, v)| subgroup_column(c, v, &rows, resamples, seed)).collect();
    Some(ClinicalFigures {
        test_ci95: rows.figures(resamples, seed),
        calibration,
        operating_point,
        at_sensitivity_95,
        subgroups,
    })
}

fn subgroup_column(
    column: &str,
    values: &[String],
    rows: &Rows,
    resamples: usize,
    seed: u64,
) -> SubgroupColumn {
    let mut distinct: Vec<&String> = values.iter().collect();
    distinct.sort();
    distinct.dedup();
    let groups: Vec<Subgroup> = distinct
        .into_iter()
        .map(|value| {
            let keep: Vec<usize> = (0..values.len()).filter(|r| &values[*r] == value).collect();
            let too_small = keep.len() < MIN_SUBGROUP_ROWS;
            let figures =
                if too_small { Figures::default() } else { rows.subset(&keep).figures(resamples, seed) };
            Subgroup { value: value.clone(), n: keep.len(), too_small, figures }
        })
        .collect();
    let mut largest_gap: Vec<(String, f64)> = Vec::new();
    for g in groups.iter().filter(|g| !g.too_small) {
        for (name, w) in &g.figures.0 {
            let others = groups.iter().filter(|h| !h.too_small).filter_map(|h| h.figures.get(name));
            let gap = others.map(|o| (o.value - w.value).abs()).fold(0.0, f64::max);
            match largest_gap.iter_mut().find(|(n, _)| n == name) {
                Some((_, best)) => *best = best.max(gap),
                None => largest_gap.push((name.clone(), gap)),
            }
        }
    }
    SubgroupColumn { column: column.to_string(), groups, largest_gap }
}

fn in_order<S: serde::Serializer>(v: &[(String, WithInterval)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, w)| (k, w)))
}

fn gaps_in_order<S: serde::Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, g)| (k, g)))
}

/// `0.906 (0.758-0.968)`.
pub fn with_interval(w: &WithInterval) -> String {
    format!("{:.3} ({:.3}-{:.3})", w.value, w.ci95[0], w.ci95[1])
}

/// The figures as the terminal shows them.
pub fn format_clinical(c: &ClinicalFigures) -> String {
    let mut out = String::from("test, 95% intervals:\n");
    for (name, w) in &c.test_ci95.0 {
        out.push_str(&format!("  {name:<22} {}\n", with_interval(w)));
    }
    if let Some(cal) = &c.calibration {
        let (b, a) = (cal.before, cal.after);
        out.push_str(&format!(
            "  calibration            ECE {:.3}, MCE {:.3}, Brier {:.4}; with temperature {:.2} (fitted on validation): ECE {:.3}, MCE {:.3}, Brier {:.4}\n",
            b.ece, b.mce, b.brier, cal.temperature, a.ece, a.mce, a.brier
        ));
    }
    for (title, p) in [("operating point", &c.operating_point), ("at sensitivity 0.95", &c.at_sensitivity_95)]
    {
        let Some(p) = p else { continue };
        let figures: Vec<String> =
            p.test.0.iter().take(4).map(|(n, w)| format!("{n} {}", with_interval(w))).collect();
        let [[tn, fp], [fn_, tp]] = p.confusion;
        out.push_str(&format!(
            "  {title:<22} {} (threshold {:.3}; validation sensitivity {:.3}, specificity {:.3}): test {}; TP {tp} FP {fp} FN {fn_} TN {tn}\n",
            p.rule, p.threshold, p.validation[0], p.validation[1], figures.join(", ")
        ));
    }
    for col in &c.subgroups {
        out.push_str(&format!("subgroups by {}:\n", col.column));
        for g in &col.groups {
            if g.too_small {
                out.push_str(&format!(
                    "  {:<22} n {:>4}: too small (fewer than {MIN_SUBGROUP_ROWS} rows)\n",
                    g.value, g.n
                ));
                continue;
            }
            let figures: Vec<String> =
                g.figures.0.iter().map(|(n, w)| format!("{n} {}", with_interval(w))).collect();
            out.push_str(&format!("  {:<22} n {:>4}: {}\n", g.value, g.n, figures.join(", ")));
        }
        let gaps: Vec<String> = col.largest_gap.iter().map(|(n, g)| format!("{n} {g:.3}")).collect();
        if !gaps.is_empty() {
            out.push_str(&format!("  largest gap            {}\n", gaps.join(", ")));
        }
    }
    out
}

//! How a classifier's logits become its answer: one temperature that
//! makes the probabilities honest, and for a binary model the threshold
//! of its operating point. Both are chosen on the validation split after
//! training, saved in `model.json`, and applied by eval, predict, explain
//! and the library's [`crate::Model`].

use super::config::{Calibrate, EvaluationOptions};
use super::evaluate::probabilities_at;
use crate::data::{Encoding, Task};
use crate::error::{Error, Result};
use crate::metrics::argmax;
use crate::metrics::calibration::fit_temperature;
use crate::metrics::operating::{choose_threshold, OperatingRule};
use serde::{Deserialize, Serialize};

/// The temperature and operating point of a classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Decision {
    /// Probabilities are softmax (or sigmoid) of logits / temperature; 1:
    /// as trained.
    pub temperature: f64,
    /// A binary model's threshold; none: 0.5.
    pub operating_point: Option<OperatingPoint>,
}

impl Default for Decision {
    fn default() -> Self {
        Decision { temperature: 1.0, operating_point: None }
    }
}

/// A threshold chosen by a rule on the validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The rule asked for.
    pub rule: OperatingRule,
    /// A row is positive when its (calibrated) probability is at least this.
    pub threshold: f64,
    /// The sensitivity it gave on the validation split.
    pub validation_sensitivity: f64,
    /// The specificity it gave on the validation split.
    pub validation_specificity: f64,
}

impl Decision {
    /// Class probabilities (rows x `k`; `k` = 1: the positive class's)
    /// from logits, with the temperature applied.
    ///
    /// ```
    /// let d = medgpu::model::Decision { temperature: 2.0, operating_point: None };
    /// let p = d.probabilities(&[2.0], 1);
    /// assert!((p[0] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
    /// ```
    pub fn probabilities(&self, logits: &[f32], k: usize) -> Vec<f64> {
        probabilities_at(logits, k, self.temperature)
    }

    /// The threshold of a binary model's positive class.
    pub fn threshold(&self) -> f64 {
        self.operating_point.as_ref().map_or(0.5, |o| o.threshold)
    }

    /// Each row's class from its probabilities (rows x `k`): a binary
    /// model's row is class 1 at or above [`Decision::threshold`], a
    /// multiclass row the most probable class (the first on ties).
    pub fn classes(&self, probs: &[f64], k: usize) -> Vec<usize> {
        if k == 1 {
            let t = self.threshold();
            probs.iter().map(|p| usize::from(*p >= t)).collect()
        } else {
            probs.chunks(k).map(argmax).collect()
        }
    }
}

/// Checks, before training, that the evaluation options fit the task:
/// calibration asked for on a task without classes, or an operating
/// point on a model without exactly two classes, is an error.
pub fn check_options(opts: &EvaluationOptions, encoding: &Encoding) -> Result<()> {
    let classes = encoding.num_classes().filter(|_| encoding.task == Task::Classify);
    if opts.calibrate == Calibrate::Temperature && classes.is_none() {
        return Err(Error::Options(format!(
            "`calibrate` temperature scales class probabilities, and this {:?} task has none: leave \
             `calibrate` out",
            encoding.task
        )));
    }
    if let (Some(rule), false) = (opts.operating_point, classes == Some(2)) {
        return Err(Error::Options(format!(
            "`operating_point` {rule} needs a model with two classes (a positive and a negative); this \
             one has {}",
            classes.map_or("no classes".to_string(), |k| format!("{k} classes"))
        )));
    }
    Ok(())
}

/// The decision of a classifier with `k` logit columns (1: binary), fitted
/// on the validation rows' labels and logits: the temperature (unless
/// `opts` turn it off), then the operating point on the calibrated
/// probabilities. The second value says why the operating point could not
/// be met, when it could not; the decision then has none.
pub fn fit_decision(
    opts: &EvaluationOptions,
    labels: &[u32],
    logits: &[f32],
    k: usize,
) -> (Decision, Option<Error>) {
    let temperature = match opts.calibrate {
        Calibrate::None => 1.0,
        _ if labels.is_empty() => 1.0,
        _ => fit_temperature(labels, logits, k),
    };
    let mut decision = Decision { temperature, operating_point: None };
    let Some(rule) = opts.operating_point.filter(|_| k == 1) else { return (decision, None) };
    let probs = decision.probabilities(logits, k);
    match choose_threshold(rule, labels, &probs) {
        Ok((threshold, sensitivity, specificity)) => {
            decision.operating_point = Some(OperatingPoint {
                rule,
                threshold,
                validation_sensitivity: sensitivity,
                validation_specificity: specificity,
            });
            (decision, None)
        }
        Err(e) => (decision, Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temperature_keeps_every_predicted_class() {
        let logits: Vec<f32> = (0..60).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.7).collect();
        for (k, t) in [(1, 0.3), (1, 4.0), (3, 0.5), (3, 2.5)] {
            let plain = Decision::default();
            let warm = Decision { temperature: t, operating_point: None };
            assert_eq!(
                plain.classes(&plain.probabilities(&logits, k), k),
                warm.classes(&warm.probabilities(&logits, k), k),
                "k {k}, T {t}"
            );
        }
    }

    #[test]
    fn the_operating_point_is_chosen_on_calibrated_probabilities() {
        // logits 3, 2, 1, -1, -2: labels 1, 0, 1, 1, 0; sensitivity 1 stops at logit -1
        let (labels, logits) = ([1u32, 0, 1, 1, 0], [3.0f32, 2.0, 1.0, -1.0, -2.0]);
        let opts = EvaluationOptions {
            operating_point: Some(OperatingRule::Sensitivity(1.0)),
            ..EvaluationOptions::default()
        };
        let (d, err) = fit_decision(&opts, &labels, &logits, 1);
        assert!(err.is_none());
        let op = d.operating_point.clone().unwrap();
        // halfway between the probabilities of logits -1 and -2
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z / d.temperature).exp());
        let want = (sigmoid(-1.0) + sigmoid(-2.0)) / 2.0;
        assert!((op.threshold - want).abs() < 1e-12, "{} vs {want}", op.threshold);
        assert_eq!((op.validation_sensitivity, op.validation_specificity), (1.0, 0.5));
        assert_eq!(d.classes(&d.probabilities(&logits, 1), 1), [1, 1, 1, 1, 0]);
        // none: the probabilities as trained
        let off = EvaluationOptions { calibrate: Calibrate::None, ..opts };
        assert_eq!(fit_decision(&off, &labels, &logits, 1).0.temperature, 1.0);
    }

    #[test]
    fn options_that_do_not_fit_the_task_are_refused() {
        use crate::data::TargetEncoding;
        let mut enc = Encoding {
            task: Task::Regress,
            target: Some(TargetEncoding::Value { name: "y".into(), more: Vec::new() }),
            columns: Vec::new(),
            id_column: None,
            group_column: None,
        };
        let cal = EvaluationOptions { calibrate: Calibrate::Temperature, ..EvaluationOptions::default() };
        let e = check_options(&cal, &enc).unwrap_err().to_string();
        assert!(e.contains("`calibrate`") && e.contains("Regress"), "{e}");
        assert!(check_options(&EvaluationOptions::default(), &enc).is_ok());
        enc.task = Task::Classify;
        enc.target = Some(TargetEncoding::Classes {
            name: "c".into(),
            labels: vec!["a".into(), "b".into(), "c".into()],
        });
        let op = EvaluationOptions {
            operating_point: Some(OperatingRule::Youden),
            ..EvaluationOptions::default()
        };
        let e = check_options(&op, &enc).unwrap_err().to_string();
        assert!(e.contains("two classes") && e.contains("3 classes"), "{e}");
    }
}

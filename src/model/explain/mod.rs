//! Explanations of a saved model's outputs: integrated gradients, saliency
//! and SmoothGrad from one input-gradient program (the explained output,
//! `LossKind::OutputScore`, differentiated with respect to the input),
//! replayed over batches of rows and interpolation points with one
//! readback per batch; and for autoencoders each feature's share of the
//! reconstruction error.
//!
//! Attributions are in the model's normalized input units: integrated
//! gradients do not depend on them (they sum to F(x) − F(x')); a saliency
//! is the change of the output per training standard deviation of the
//! feature (z-scores).

mod gradcam;
mod gradients;
mod paths;
mod sanity;

pub use gradcam::{bilinear, cam, layer_gradient, LayerGradient};
pub use paths::Rule;
pub use sanity::{sanity_check, SanityStep};

use super::infer::{run_normalized, Inference, INFER_BATCH};
use super::saved::head_for;
use super::saved::TrainedModel;
use crate::data::{TargetEncoding, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::metrics::argmax;
use gradcam::{conv_layer, grad_cam};
use gradients::InputGradients;
use paths::{integrated, refine_incomplete, smoothgrad};
use std::sync::Arc;

/// The point integrated gradients start from.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    /// Zeros in normalized units (under z-scores, the training mean).
    Zeros,
    /// Each feature's training mean (the imputation value; the median
    /// under the median missing-value policy).
    TrainMean,
    /// One row in the data's own units, in the model's input order.
    Row(Vec<f32>),
}

/// An attribution method.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    /// Integrated gradients along the straight path from the baseline.
    IntegratedGradients {
        /// Points on the path.
        steps: usize,
        /// Where the points lie.
        rule: Rule,
        /// The path's start.
        baseline: Baseline,
    },
    /// The input gradient (absolute unless `signed`).
    Saliency {
        /// Keep the sign.
        signed: bool,
    },
    /// The input gradient averaged over noisy copies of each row.
    SmoothGrad {
        /// Noisy copies per row.
        samples: usize,
        /// Noise standard deviation in units of each feature's training
        /// standard deviation.
        noise: f32,
        /// Keep the sign.
        signed: bool,
        /// Seed of the noise (the same seed gives the same attributions).
        seed: u64,
    },
    /// Each feature's share of an autoencoder's reconstruction error.
    ErrorShare,
    /// Grad-CAM (convolutional models): the ReLU of the layer's channels
    /// weighted by the spatial means of their gradients, upsampled
    /// (bilinear) to the input's height and width; every input channel of
    /// a pixel gets the pixel's value.
    GradCam {
        /// The convolution layer (default: the last one).
        layer: Option<String>,
    },
}

impl Method {
    /// The method's name as the command line spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Method::IntegratedGradients { .. } => "integrated-gradients",
            Method::Saliency { .. } => "saliency",
            Method::SmoothGrad { .. } => "smoothgrad",
            Method::ErrorShare => "error-share",
            Method::GradCam { .. } => "grad-cam",
        }
    }
}

/// Which output is explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Classification: the positive class of a binary model, the predicted
    /// class of each row otherwise; regression: the first target.
    Default,
    /// This class (an index into the labels) or target column.
    Output(usize),
}

/// Attributions of a set of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// The method's name.
    pub method: &'static str,
    /// The model's inputs, in order.
    pub features: Vec<String>,
    /// rows x features attributions.
    pub attributions: Vec<f64>,
    /// The class or target column explained for each row.
    pub explained: Vec<usize>,
    /// The explained output F(x) of each row (a logit or class score, a
    /// standardized value; an autoencoder's mean squared error).
    pub output: Vec<f64>,
    /// Integrated gradients: F(baseline) for each row's explained output.
    pub baseline_output: Vec<f64>,
    /// Integrated gradients: the completeness gap, sum of attributions −
    /// (F(x) − F(baseline)), per row.
    pub delta: Vec<f64>,
    /// Integrated gradients: the parts the path of each row was split into
    /// (1: the rule once; more where the gap was over the tolerance).
    pub panels: Vec<usize>,
    /// Submits of the input-gradient program (each one batch of points and
    /// one readback).
    pub submits: usize,
}

impl Explanation {
    /// Number of rows explained.
    pub fn rows(&self) -> usize {
        self.output.len()
    }

    /// Row `r`'s attributions.
    pub fn row(&self, r: usize) -> &[f64] {
        let f = self.features.len();
        &self.attributions[r * f..(r + 1) * f]
    }

    /// Sequence models (inputs [steps, channels] per row, step-major): the
    /// attributions of each step summed over its channels, rows x steps.
    pub fn per_step(&self, steps: usize) -> Vec<f64> {
        let f = self.features.len();
        let channels = f / steps.max(1);
        (0..self.rows())
            .flat_map(|r| {
                (0..steps).map(move |t| self.row(r)[t * channels..(t + 1) * channels].iter().sum::<f64>())
            })
            .collect()
    }

    /// The mean absolute attribution of each feature over the rows.
    pub fn importance(&self) -> Vec<f64> {
        let f = self.features.len();
        let mut out = vec![0.0; f];
        for r in 0..self.rows() {
            for (o, a) in out.iter_mut().zip(self.row(r)) {
                *o += a.abs();
            }
        }
        out.iter().map(|v| v / self.rows().max(1) as f64).collect()
    }
}

/// Explains `rows` (rows x features in the data's own units, the model's
/// input order) with `method` for the output `target` chooses.
pub fn explain(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    target: Target,
    method: &Method,
) -> Result<Explanation> {
    explain_in_batches(gpu, model, rows, target, method, INFER_BATCH)
}

/// [`explain`] with `points_per_submit` rows or interpolation points in
/// each replay of the input-gradient program (for comparisons: `explain`
/// takes 256).
pub fn explain_in_batches(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    target: Target,
    method: &Method,
    points_per_submit: usize,
) -> Result<Explanation> {
    let pick = |inf: &Inference| Scores::choose(model, inf, target);
    let mut x = rows.to_vec();
    model.file.preprocessor.apply(&mut x);
    explain_with(gpu, model, x, method, &pick, points_per_submit)
}

/// [`explain`] of rows already normalized with the model's saved
/// preprocessing (as [`crate::model::Inference::inputs`] holds them).
pub fn explain_normalized(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    normalized: Vec<f32>,
    target: Target,
    method: &Method,
) -> Result<Explanation> {
    let pick = |inf: &Inference| Scores::choose(model, inf, target);
    explain_with(gpu, model, normalized, method, &pick, INFER_BATCH)
}

/// [`explain`] of normalized rows `x` with the explained outputs picked
/// by `pick` from the model's outputs on the rows.
fn explain_with(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    x: Vec<f32>,
    method: &Method,
    pick: &dyn Fn(&Inference) -> Result<Scores>,
    points_per_submit: usize,
) -> Result<Explanation> {
    let f = &model.file;
    let cols = f.encoding.num_features();
    if cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(Error::Options(format!("{} values do not make whole rows of {cols} inputs", x.len())));
    }
    check_fits(model, method)?;
    let inf = run_normalized(gpu.clone(), model, x.clone())?;
    let mut e = Explanation {
        method: method.name(),
        features: f.feature_names.clone(),
        attributions: Vec::new(),
        explained: Vec::new(),
        output: Vec::new(),
        baseline_output: Vec::new(),
        delta: Vec::new(),
        panels: Vec::new(),
        submits: 0,
    };
    if let Method::ErrorShare = method {
        error_share(&inf, &mut e);
        return Ok(e);
    }
    let scores = pick(&inf)?;
    e.explained = scores.column.clone();
    e.output = scores.of(&inf.outputs, inf.cols);
    if let Method::GradCam { layer } = method {
        let (a, submits) = grad_cam(gpu, model, &x, &scores, layer.as_deref(), points_per_submit)?;
        e.attributions = a;
        e.submits = submits;
        return Ok(e);
    }
    let mut grads = InputGradients::new(gpu.clone(), model, points_per_submit)?;
    match method {
        Method::Saliency { signed } => {
            let g = grads.run(&x, &scores.column_f32())?;
            e.attributions = scores.signed(&g, cols).map(|v| if *signed { v } else { v.abs() }).collect();
        }
        Method::SmoothGrad { samples, noise, signed, seed } => {
            e.attributions = smoothgrad(&mut grads, &x, &scores, (*samples, *noise, *signed, *seed))?;
        }
        Method::IntegratedGradients { steps, rule, baseline } => {
            let b = baseline_row(model, baseline)?;
            let inf_b = run_normalized(gpu, model, b.clone())?;
            let fb = inf_b.outputs.get(..inf_b.cols).unwrap_or(&[]);
            e.baseline_output = (0..e.rows()).map(|r| scores.sign[r] * fb[scores.column[r]] as f64).collect();
            e.attributions = integrated(&mut grads, &x, &b, &scores, rule.nodes(*steps))?;
            e.panels = vec![1; e.rows()];
            refine_incomplete(&mut e, &mut grads, (&x, &b), &scores, (*rule, *steps))?;
        }
        Method::GradCam { .. } | Method::ErrorShare => {}
    }
    e.submits = grads.submits;
    Ok(e)
}

/// The completeness tolerance: 1% of |F(x) − F(baseline)|, at least 1e-4.
pub fn completeness_tolerance(change: f64) -> f64 {
    (0.01 * change.abs()).max(1e-4)
}

/// Refuses a method that does not fit the model, saying what does.
fn check_fits(model: &TrainedModel, method: &Method) -> Result<()> {
    let reconstruct = model.file.task == Task::Reconstruct;
    match method {
        Method::ErrorShare if !reconstruct => Err(Error::Options(
            "`method` error-share explains autoencoders; this model classifies or regresses: use \
             integrated-gradients, saliency or smoothgrad"
                .into(),
        )),
        Method::ErrorShare => Ok(()),
        _ if reconstruct => Err(Error::Options(format!(
            "`method` {} needs a classifier or regressor; an autoencoder is explained by error-share",
            method.name()
        ))),
        Method::GradCam { layer } => {
            let f = &model.file;
            let g = f.model.build(f.encoding.num_features(), head_for(&f.encoding)?, 1, false, 0)?;
            conv_layer(&g, layer.as_deref()).map(|_| ())
        }
        _ => Ok(()),
    }
}

/// Each row's explained output: its column and sign (a binary model's one
/// logit explains its first class with the sign flipped).
struct Scores {
    column: Vec<usize>,
    sign: Vec<f64>,
}

impl Scores {
    fn choose(model: &TrainedModel, inf: &Inference, target: Target) -> Result<Scores> {
        let (rows, cols) = (inf.outputs.len() / inf.cols.max(1), inf.cols);
        let labels = match &model.file.encoding.target {
            Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
            _ => Vec::new(),
        };
        let classify = model.file.task == Task::Classify;
        let choices = if classify { labels.len() } else { cols };
        if let Target::Output(c) = target {
            if c >= choices {
                let names =
                    if classify { labels.join(", ") } else { format!("0 to {}", cols.saturating_sub(1)) };
                return Err(Error::Options(format!("`target` {c} is not one of the outputs ({names})")));
            }
        }
        let (column, sign): (Vec<usize>, Vec<f64>) = (0..rows)
            .map(|r| match (target, classify && cols == 1) {
                // one logit: the log-odds of the second class
                (Target::Output(0), true) => (0, -1.0),
                (_, true) => (0, 1.0),
                (Target::Output(c), false) => (c, 1.0),
                (Target::Default, false) if classify => {
                    let row = &inf.outputs[r * cols..(r + 1) * cols];
                    (argmax(row), 1.0)
                }
                (Target::Default, false) => (0, 1.0),
            })
            .unzip();
        Ok(Scores { column, sign })
    }

    /// The explained output of each row of `outputs` (rows x cols).
    fn of(&self, outputs: &[f32], cols: usize) -> Vec<f64> {
        (0..self.column.len()).map(|r| self.sign[r] * outputs[r * cols + self.column[r]] as f64).collect()
    }

    fn column_f32(&self) -> Vec<f32> {
        self.column.iter().map(|c| *c as f32).collect()
    }

    /// Gradients (rows x cols) of the logits, times each row's sign.
    fn signed<'a>(&'a self, g: &'a [f32], cols: usize) -> impl Iterator<Item = f64> + 'a {
        g.iter().enumerate().map(move |(i, v)| self.sign[i / cols] * *v as f64)
    }
}

/// The baseline in normalized units.
fn baseline_row(model: &TrainedModel, baseline: &Baseline) -> Result<Vec<f32>> {
    let p = &model.file.preprocessor;
    let cols = model.file.encoding.num_features();
    let mut b = match baseline {
        Baseline::Zeros => return Ok(vec![0.0; cols]),
        Baseline::TrainMean => p.fill.clone(),
        Baseline::Row(r) if r.len() == cols => r.clone(),
        Baseline::Row(r) => {
            return Err(Error::Options(format!(
                "the baseline row has {} values; the model has {cols} inputs ({})",
                r.len(),
                model.file.feature_names.join(", ")
            )))
        }
    };
    p.apply(&mut b);
    Ok(b)
}

/// Each feature's share of each row's squared reconstruction error.
fn error_share(inf: &Inference, e: &mut Explanation) {
    let cols = inf.cols;
    for (recon, x) in inf.outputs.chunks(cols).zip(inf.inputs.chunks(cols)) {
        let sq: Vec<f64> = recon.iter().zip(x).map(|(a, b)| ((a - b) as f64).powi(2)).collect();
        let total: f64 = sq.iter().sum();
        e.output.push(total / cols as f64);
        e.attributions.extend(sq.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }));
        e.explained.push(0);
    }
}

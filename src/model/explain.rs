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

use super::infer::{load_params, run_normalized, Inference, INFER_BATCH};
use super::saved::{head_for, TrainedModel};
use crate::data::{SplitMix64, TargetEncoding, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{GpuDataset, LossKind, Mode, Op, Program, ProgramOptions, TensorId};
use crate::kernels::PipelineCache;
use std::sync::Arc;

/// How integrated gradients place their points on the path from the
/// baseline to the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Gauss-Legendre nodes and weights on [0, 1] (exact for polynomials
    /// of degree up to 2·steps − 1).
    GaussLegendre,
    /// The midpoints of `steps` equal intervals.
    RiemannMiddle,
    /// Both ends and `steps − 2` equal intervals between, ends weighted half.
    RiemannTrapezoid,
}

impl Rule {
    /// `steps` points of the rule on each of `panels` equal parts of
    /// [0, 1] (a composite rule: a kink of a ReLU network inside one part
    /// costs less than across the whole path); weights sum to 1.
    pub fn composite(self, steps: usize, panels: usize) -> Vec<(f64, f64)> {
        let p = panels.max(1) as f64;
        let one = self.nodes(steps);
        (0..panels.max(1)).flat_map(|k| one.iter().map(move |(a, w)| ((k as f64 + a) / p, w / p))).collect()
    }

    /// `steps` points α in [0, 1] with weights summing to 1.
    ///
    /// ```
    /// use medgpu::model::explain::Rule;
    /// let n = Rule::GaussLegendre.nodes(2);
    /// let x = 0.5 / 3f64.sqrt();
    /// assert!((n[0].0 - (0.5 - x)).abs() < 1e-14 && (n[1].0 - (0.5 + x)).abs() < 1e-14);
    /// assert!((n[0].1 - 0.5).abs() < 1e-14);
    /// ```
    pub fn nodes(self, steps: usize) -> Vec<(f64, f64)> {
        let n = steps.max(1);
        match self {
            Rule::GaussLegendre => gauss_legendre(n),
            Rule::RiemannMiddle => (0..n).map(|j| ((j as f64 + 0.5) / n as f64, 1.0 / n as f64)).collect(),
            Rule::RiemannTrapezoid if n == 1 => vec![(1.0, 1.0)],
            Rule::RiemannTrapezoid => {
                let h = 1.0 / (n - 1) as f64;
                (0..n).map(|j| (j as f64 * h, if j == 0 || j == n - 1 { h / 2.0 } else { h })).collect()
            }
        }
    }
}

/// Gauss-Legendre nodes on [0, 1]: the roots of the Legendre polynomial
/// P_n by Newton's method from Chebyshev guesses, weights 1 / ((1 − x²) P_n'(x)²)
/// on [−1, 1], both mapped to [0, 1].
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let p = if n == 1 { x } else { p1 };
            let prev = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (x * p - prev) / (x * x - 1.0);
            let step = p / dp;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        out.push(((1.0 - x) / 2.0, w / 2.0));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

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
    explain_with(gpu, model, rows, method, &pick, points_per_submit)
}

/// [`explain`] with the explained outputs picked by `pick` from the
/// model's outputs on the rows.
fn explain_with(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    method: &Method,
    pick: &dyn Fn(&Inference) -> Result<Scores>,
    points_per_submit: usize,
) -> Result<Explanation> {
    let f = &model.file;
    let cols = f.encoding.num_features();
    if cols == 0 || !rows.len().is_multiple_of(cols) {
        return Err(Error::Options(format!("{} values do not make whole rows of {cols} inputs", rows.len())));
    }
    check_fits(model, method)?;
    let mut x = rows.to_vec();
    f.preprocessor.apply(&mut x);
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
        Method::GradCam { layer } => {
            let (a, submits) = grad_cam(gpu, model, &x, &scores, layer.as_deref(), points_per_submit)?;
            e.attributions = a;
            grads.submits += submits;
        }
        Method::ErrorShare => {}
    }
    e.submits = grads.submits;
    Ok(e)
}

/// The completeness tolerance: 1% of |F(x) − F(baseline)|, at least 1e-4.
pub fn completeness_tolerance(change: f64) -> f64 {
    (0.01 * change.abs()).max(1e-4)
}

/// Most panels a path is split into before its gap is reported as it is.
const MAX_PANELS: usize = 64;

/// Sets the completeness gaps and integrates again, on 4, 16 and 64 parts
/// of the path, the rows whose gap is over the tolerance (a ReLU network
/// is piecewise linear along the path: the kinks are what the rule misses).
fn refine_incomplete(
    e: &mut Explanation,
    grads: &mut InputGradients,
    (x, b): (&[f32], &[f32]),
    scores: &Scores,
    (rule, steps): (Rule, usize),
) -> Result<()> {
    let cols = b.len();
    let gap = |e: &Explanation, r: usize| e.row(r).iter().sum::<f64>() - (e.output[r] - e.baseline_output[r]);
    e.delta = (0..e.rows()).map(|r| gap(e, r)).collect();
    let over = |e: &Explanation, r: usize| {
        e.delta[r].abs() > completeness_tolerance(e.output[r] - e.baseline_output[r])
    };
    let mut todo: Vec<usize> = (0..e.rows()).filter(|r| over(e, *r)).collect();
    let mut panels = 1;
    while !todo.is_empty() && panels < MAX_PANELS {
        panels *= 4;
        let sub_x: Vec<f32> = todo.iter().flat_map(|r| x[r * cols..(r + 1) * cols].iter().copied()).collect();
        let sub = Scores {
            column: todo.iter().map(|r| scores.column[*r]).collect(),
            sign: todo.iter().map(|r| scores.sign[*r]).collect(),
        };
        let a = integrated(grads, &sub_x, b, &sub, rule.composite(steps, panels))?;
        for (k, r) in todo.iter().enumerate() {
            e.attributions[r * cols..(r + 1) * cols].copy_from_slice(&a[k * cols..(k + 1) * cols]);
            e.delta[*r] = gap(e, *r);
            e.panels[*r] = panels;
        }
        todo.retain(|r| over(e, *r));
    }
    Ok(())
}

/// One step of the model-randomization test.
#[derive(Clone, Debug, PartialEq)]
pub struct SanityStep {
    /// The layer re-initialized at this step (those above it already are).
    pub layer: String,
    /// Mean over the rows of the Spearman rank correlation between the
    /// absolute attributions of the trained and the randomized model.
    pub spearman: f64,
}

/// The model-randomization test of Adebayo et al. (2018, "Sanity checks
/// for saliency maps"): re-initializes the layers from the top down, one
/// at a time (weights drawn as at training start, from `seed`), explains
/// the same rows and outputs again, and compares. Attributions that
/// depend on what the model learned fall well below a correlation of 1.
pub fn sanity_check(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    target: Target,
    method: &Method,
    seed: u64,
) -> Result<(Explanation, Vec<SanityStep>)> {
    let original = explain(gpu.clone(), model, rows, target, method)?;
    let f = &model.file;
    let graph = f.model.build(f.encoding.num_features(), head_for(&f.encoding)?, 1, false, seed)?;
    let fresh = crate::graph::ParamStore::init(&gpu, &graph, seed)?.read_all(&gpu)?;
    // layers in creation order: a parameter's layer is its name before the first dot
    let mut layers: Vec<String> = Vec::new();
    for t in graph.params() {
        let layer = graph.name(t).split('.').next().unwrap_or("").to_string();
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    // the randomized models explain the outputs the trained one explained
    let mut x = rows.to_vec();
    f.preprocessor.apply(&mut x);
    let same = Scores::choose(model, &run_normalized(gpu.clone(), model, x)?, target)?;
    let mut randomized = model.clone();
    let mut steps = Vec::new();
    for layer in layers.iter().rev() {
        for (name, t) in randomized.weights.iter_mut() {
            if name.split('.').next() == Some(layer.as_str()) {
                t.values = fresh[name].clone();
            }
        }
        let pick = |_: &Inference| Ok(Scores { column: same.column.clone(), sign: same.sign.clone() });
        let e = explain_with(gpu.clone(), &randomized, rows, method, &pick, INFER_BATCH)?;
        let cols = e.features.len();
        let abs = |v: &[f64]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
        let rho: f64 = (0..e.rows())
            .map(|r| {
                crate::metrics::spearman(
                    &abs(original.row(r)),
                    &abs(&e.attributions[r * cols..(r + 1) * cols]),
                )
            })
            .sum::<f64>()
            / e.rows().max(1) as f64;
        steps.push(SanityStep { layer: layer.clone(), spearman: rho });
    }
    Ok((original, steps))
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
                    (row.iter().enumerate().fold(0, |b, (j, v)| if *v > row[b] { j } else { b }), 1.0)
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

/// Integrated gradients of the rows `x` (normalized) from the baseline `b`:
/// (x − b) times the weighted sum of the gradients at the nodes.
fn integrated(
    grads: &mut InputGradients,
    x: &[f32],
    b: &[f32],
    scores: &Scores,
    nodes: Vec<(f64, f64)>,
) -> Result<Vec<f64>> {
    let cols = b.len();
    let rows = x.len() / cols;
    let (mut points, mut classes) = (Vec::with_capacity(rows * nodes.len() * cols), Vec::new());
    for r in 0..rows {
        for (a, _) in &nodes {
            points.extend((0..cols).map(|i| b[i] + (*a as f32) * (x[r * cols + i] - b[i])));
            classes.push(scores.column[r] as f32);
        }
    }
    let g = grads.run(&points, &classes)?;
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for (j, (_, w)) in nodes.iter().enumerate() {
            let at = (r * nodes.len() + j) * cols;
            for i in 0..cols {
                out[r * cols + i] += w * g[at + i] as f64;
            }
        }
        for i in 0..cols {
            out[r * cols + i] *= scores.sign[r] * (x[r * cols + i] - b[i]) as f64;
        }
    }
    Ok(out)
}

/// SmoothGrad: the mean over `samples` noisy copies of each row (noise
/// N(0, noise²) in normalized units, drawn from a generator keyed by the
/// seed, the row and the copy) of the signed or absolute gradient.
fn smoothgrad(
    grads: &mut InputGradients,
    x: &[f32],
    scores: &Scores,
    (samples, noise, signed, seed): (usize, f32, bool, u64),
) -> Result<Vec<f64>> {
    let cols = grads.cols;
    let rows = x.len() / cols;
    let samples = samples.max(1);
    let (mut points, mut classes) = (Vec::with_capacity(rows * samples * cols), Vec::new());
    for r in 0..rows {
        for s in 0..samples {
            let mut rng =
                SplitMix64::new(seed ^ ((r as u64) << 32 | s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            points.extend((0..cols).map(|i| x[r * cols + i] + noise * normal(&mut rng)));
            classes.push(scores.column[r] as f32);
        }
    }
    let g = grads.run(&points, &classes)?;
    let mut out = vec![0.0; rows * cols];
    for (p, gp) in g.chunks(cols).enumerate() {
        let r = p / samples;
        for i in 0..cols {
            let v = scores.sign[r] * gp[i] as f64;
            out[r * cols + i] += if signed { v } else { v.abs() } / samples as f64;
        }
    }
    Ok(out)
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut SplitMix64) -> f32 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
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

/// The output of the convolution layer `name` (default: the last one),
/// with a message naming the choices when there is none.
fn conv_layer(graph: &crate::graph::Graph, name: Option<&str>) -> Result<(TensorId, String)> {
    let convs: Vec<(TensorId, String)> = graph
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::Conv2d { name, out, .. } => Some((*out, name.clone())),
            _ => None,
        })
        .collect();
    if convs.is_empty() {
        return Err(Error::Options(
            "`method` grad-cam needs a convolutional model; this one has no convolution layer: use \
             integrated-gradients, saliency or smoothgrad"
                .into(),
        ));
    }
    let list = || convs.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        None => Ok(convs[convs.len() - 1].clone()),
        Some(n) => convs.iter().find(|(_, c)| c == n).cloned().ok_or_else(|| {
            Error::Options(format!(
                "`layer` '{n}' is not a convolution layer of the model; they are: {}",
                list()
            ))
        }),
    }
}

/// A convolution layer's output and the gradient of the explained output
/// with respect to it, for a set of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerGradient {
    /// The layer's name.
    pub layer: String,
    /// The layer's output shape per row: [channels, height, width].
    pub shape: [usize; 3],
    /// The layer's output, rows x channels x height x width.
    pub values: Vec<f32>,
    /// d(explained output)/d(layer output), same layout.
    pub grads: Vec<f32>,
    /// Submits of the program (one per batch).
    pub submits: usize,
}

/// The output of convolution `layer` (default: the last) and its gradient
/// for `rows` (the data's own units), batches of `per_submit` rows through
/// one program (`Mode::LayerGradient`).
pub fn layer_gradient(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    target: Target,
    layer: Option<&str>,
) -> Result<LayerGradient> {
    let mut x = rows.to_vec();
    model.file.preprocessor.apply(&mut x);
    let inf = run_normalized(gpu.clone(), model, x.clone())?;
    let scores = Scores::choose(model, &inf, target)?;
    layer_gradient_normalized(gpu, model, &x, &scores, layer, INFER_BATCH)
}

fn layer_gradient_normalized(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    x: &[f32],
    scores: &Scores,
    layer: Option<&str>,
    per_submit: usize,
) -> Result<LayerGradient> {
    let f = &model.file;
    let cols = f.encoding.num_features();
    let head = crate::models::Head { loss: LossKind::OutputScore, ..head_for(&f.encoding)? };
    let graph = f.model.build(cols, head, per_submit.max(1), false, f.training.seed)?;
    let (t, name) = conv_layer(&graph, layer)?;
    let s = graph.shape(t);
    let shape = [s[1], s[2], s[3]];
    let params = load_params(&gpu, model, &graph)?;
    let data = Arc::new(GpuDataset::upload(&gpu, x, &scores.column_f32(), cols, 1)?);
    let mut cache = PipelineCache::persistent(&gpu);
    let mode = ProgramOptions { mode: Mode::LayerGradient(t) };
    let mut prog = Program::compile(gpu, &graph, params, data, mode, &mut cache)?;
    cache.save();
    let (n, per_row) = (x.len() / cols, shape.iter().product::<usize>());
    let mut out = LayerGradient { layer: name, shape, values: Vec::new(), grads: Vec::new(), submits: 0 };
    for start in (0..n).step_by(graph.batch) {
        let ids: Vec<u32> = (start as u32..(start + graph.batch).min(n) as u32).collect();
        prog.compute_gradients(&ids)?;
        out.submits += 1;
        let (v, g) = prog.read_layer()?;
        out.values.extend_from_slice(&v[..ids.len() * per_row]);
        for (k, gv) in g[..ids.len() * per_row].iter().enumerate() {
            out.grads.push((scores.sign[start + k / per_row] as f32) * gv);
        }
    }
    Ok(out)
}

/// Grad-CAM maps of the rows `x` (normalized), one value per input
/// feature, and the submits it took.
fn grad_cam(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    x: &[f32],
    scores: &Scores,
    layer: Option<&str>,
    per_submit: usize,
) -> Result<(Vec<f64>, usize)> {
    let Some([c_in, h_in, w_in]) = model.file.model.input_shape else {
        return Err(Error::Options("`method` grad-cam needs image input (an input shape C,H,W)".into()));
    };
    let lg = layer_gradient_normalized(gpu, model, x, scores, layer, per_submit)?;
    let [c, h, w] = lg.shape;
    let per_row = c * h * w;
    let mut out = Vec::with_capacity(x.len());
    for (a, g) in lg.values.chunks(per_row).zip(lg.grads.chunks(per_row)) {
        let map = cam(a, g, [c, h, w]);
        let up = bilinear(&map, (h, w), (h_in, w_in));
        for _ in 0..c_in {
            out.extend(up.iter().copied());
        }
    }
    Ok((out, lg.submits))
}

/// ReLU of the channels of `a` ([c, h, w]) weighted by the spatial means
/// of their gradients `g`.
pub fn cam(a: &[f32], g: &[f32], [c, h, w]: [usize; 3]) -> Vec<f64> {
    let plane = h * w;
    let alpha: Vec<f64> = (0..c)
        .map(|k| g[k * plane..(k + 1) * plane].iter().map(|v| *v as f64).sum::<f64>() / plane as f64)
        .collect();
    (0..plane).map(|p| (0..c).map(|k| alpha[k] * a[k * plane + p] as f64).sum::<f64>().max(0.0)).collect()
}

/// Bilinear resampling of a (h, w) map to (oh, ow), pixel centres aligned.
pub fn bilinear(map: &[f64], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f64> {
    let at = |i: usize, n: usize, on: usize| {
        let s = ((i as f64 + 0.5) * n as f64 / on as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let lo = s.floor() as usize;
        (lo, (lo + 1).min(n - 1), s - lo as f64)
    };
    let mut out = Vec::with_capacity(oh * ow);
    for i in 0..oh {
        let (y0, y1, fy) = at(i, h, oh);
        for j in 0..ow {
            let (x0, x1, fx) = at(j, w, ow);
            let top = map[y0 * w + x0] * (1.0 - fx) + map[y0 * w + x1] * fx;
            let bottom = map[y1 * w + x0] * (1.0 - fx) + map[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// The input-gradient program of a model, compiled once per data set of
/// points and replayed over batches of them.
struct InputGradients {
    gpu: Arc<Gpu>,
    model_graph: crate::graph::Graph,
    params: Arc<crate::graph::ParamStore>,
    cols: usize,
    submits: usize,
}

impl InputGradients {
    fn new(gpu: Arc<Gpu>, model: &TrainedModel, batch: usize) -> Result<InputGradients> {
        let f = &model.file;
        let cols = f.encoding.num_features();
        let head = crate::models::Head { loss: LossKind::OutputScore, ..head_for(&f.encoding)? };
        let model_graph = f.model.build(cols, head, batch.max(1), false, f.training.seed)?;
        let params = load_params(&gpu, model, &model_graph)?;
        Ok(InputGradients { gpu, model_graph, params, cols, submits: 0 })
    }

    /// d(the chosen logit)/d(input) of each point (points x cols, the
    /// chosen logit's column per point in `classes`): batches of points
    /// through one program, one submit and one readback each.
    fn run(&mut self, points: &[f32], classes: &[f32]) -> Result<Vec<f32>> {
        let n = classes.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let data = Arc::new(GpuDataset::upload(&self.gpu, points, classes, self.cols, 1)?);
        let mut cache = PipelineCache::persistent(&self.gpu);
        let mode = ProgramOptions { mode: Mode::InputGradient };
        let mut prog = Program::compile(
            self.gpu.clone(),
            &self.model_graph,
            self.params.clone(),
            data,
            mode,
            &mut cache,
        )?;
        cache.save();
        let mut out = Vec::with_capacity(n * self.cols);
        let batch = self.model_graph.batch;
        for start in (0..n).step_by(batch) {
            let ids: Vec<u32> = (start as u32..(start + batch).min(n) as u32).collect();
            prog.compute_gradients(&ids)?;
            self.submits += 1;
            let g = prog.read_input_grad()?;
            out.extend_from_slice(&g[..ids.len() * self.cols]);
        }
        Ok(out)
    }
}

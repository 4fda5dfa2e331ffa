//! Integrated gradients along the straight path from the baseline (the
//! nodes of each rule, the refinement of incomplete rows) and SmoothGrad.

use super::gradients::InputGradients;
use super::{completeness_tolerance, Explanation, Scores};
use crate::data::SplitMix64;
use crate::error::Result;

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

/// Most panels a path is split into before its gap is reported as it is.
const MAX_PANELS: usize = 64;

/// Sets the completeness gaps and integrates again, on 4, 16 and 64 parts
/// of the path, the rows whose gap is over the tolerance (a ReLU network
/// is piecewise linear along the path: the kinks are what the rule misses).
pub(super) fn refine_incomplete(
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

/// Integrated gradients of the rows `x` (normalized) from the baseline `b`:
/// (x − b) times the weighted sum of the gradients at the nodes.
pub(super) fn integrated(
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
pub(super) fn smoothgrad(
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

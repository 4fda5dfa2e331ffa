//! f64 reference twins of every kernel, same names and argument order, as
//! plain loops. Tests compare the GPU against these, and finite differences
//! of [`graph::forward`] check every backward rule.

pub mod conv;
pub mod graph;
pub mod rnn;

pub use conv::*;

use crate::kernels::Act;

/// y = act(x), as in shaders/common.wgsl.
pub fn act_apply(act: Act, x: f64) -> f64 {
    match act {
        Act::None => x,
        Act::Relu => x.max(0.0),
        Act::LeakyRelu => {
            if x > 0.0 {
                x
            } else {
                0.01 * x
            }
        }
        Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Act::Tanh => x.tanh(),
    }
}

/// act'(x) written through y = act(x).
pub fn act_grad_from_y(act: Act, y: f64) -> f64 {
    match act {
        Act::None => 1.0,
        Act::Relu => (y > 0.0) as u32 as f64,
        Act::LeakyRelu => {
            if y > 0.0 {
                1.0
            } else {
                0.01
            }
        }
        Act::Sigmoid => y * (1.0 - y),
        Act::Tanh => 1.0 - y * y,
    }
}

/// Plain C = op(A) op(B) with op(A) [m,k], op(B) [k,n].
fn product(ta: bool, tb: bool, m: usize, n: usize, k: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s += av * bv;
            }
            c[i * n + j] = s;
        }
    }
    c
}

/// The matmul epilogue options, as in [`crate::kernels::Epilogue`].
#[derive(Clone, Copy, Debug)]
pub struct Epi<'a> {
    /// Bias \[n\] added (forward).
    pub bias: Option<&'a [f64]>,
    /// Activation.
    pub act: Act,
    /// act'(aux) multiplied in.
    pub grad_act: Option<(Act, &'a [f64])>,
    /// Accumulate into c instead of overwriting.
    pub accumulate: bool,
}

fn epilogue(m: usize, n: usize, acc: Vec<f64>, epi: Epi, c: &mut [f64]) {
    for i in 0..m {
        for j in 0..n {
            let idx = i * n + j;
            let mut v = acc[idx] + epi.bias.map_or(0.0, |b| b[j]);
            v = act_apply(epi.act, v);
            if let Some((g, aux)) = epi.grad_act {
                v *= act_grad_from_y(g, aux[idx]);
            }
            c[idx] = if epi.accumulate { c[idx] + v } else { v };
        }
    }
}

/// C\[m,n\] = A\[m,k\] · B\[k,n\] with the epilogue.
pub fn matmul_nn(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], epi: Epi, c: &mut [f64]) {
    epilogue(m, n, product(false, false, m, n, k, a, b), epi, c);
}

/// C\[m,n\] = A\[m,k\] · B\[n,k\]ᵀ with the epilogue.
pub fn matmul_nt(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], epi: Epi, c: &mut [f64]) {
    epilogue(m, n, product(false, true, m, n, k, a, b), epi, c);
}

/// C\[m,n\] = A\[k,m\]ᵀ · B\[k,n\] with the epilogue; `bias_grad` (n) gets B's column sums.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn matmul_tn(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    b: &[f64],
    epi: Epi,
    c: &mut [f64],
    bias_grad: Option<&mut [f64]>,
) {
    epilogue(m, n, product(true, false, m, n, k, a, b), Epi { bias: None, ..epi }, c);
    if let Some(g) = bias_grad {
        for j in 0..n {
            let s: f64 = (0..k).map(|p| b[p * n + j]).sum();
            g[j] = if epi.accumulate { g[j] + s } else { s };
        }
    }
}

/// out = act(x).
pub fn activation_forward(act: Act, x: &[f64], out: &mut [f64]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = act_apply(act, *v);
    }
}

/// out (+)= dy * act'(y).
pub fn activation_backward(act: Act, accumulate: bool, dy: &[f64], y: &[f64], out: &mut [f64]) {
    for i in 0..out.len() {
        let g = dy[i] * act_grad_from_y(act, y[i]);
        out[i] = if accumulate { out[i] + g } else { g };
    }
}

/// out (+)= x.
pub fn add_into(accumulate: bool, x: &[f64], out: &mut [f64]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = if accumulate { *o + v } else { *v };
    }
}

/// Row softmax of x [rows, cols].
pub fn softmax_forward(rows: usize, cols: usize, x: &[f64], out: &mut [f64]) {
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - mx).exp()).sum();
        for j in 0..cols {
            out[r * cols + j] = (row[j] - mx).exp() / s;
        }
    }
}

/// out (+)= y * (dy - rowsum(dy * y)).
pub fn softmax_backward(rows: usize, cols: usize, accumulate: bool, dy: &[f64], y: &[f64], out: &mut [f64]) {
    for r in 0..rows {
        let base = r * cols;
        let d: f64 = (0..cols).map(|j| dy[base + j] * y[base + j]).sum();
        for j in 0..cols {
            let g = y[base + j] * (dy[base + j] - d);
            out[base + j] = if accumulate { out[base + j] + g } else { g };
        }
    }
}

/// Which loss (mirrors [`crate::graph::LossKind`]).
pub use crate::graph::LossKind;

/// A loss kernel's results: sum of the valid rows' losses, and dL/dlogits of the mean.
pub fn loss(
    kind: LossKind,
    rows: usize,
    cols: usize,
    tcols: usize,
    batch: &[u32],
    targets: &[f64],
    logits: &[f64],
) -> (f64, Vec<f64>) {
    let count = (batch[0] as usize).min(rows);
    let mut grad = vec![0.0; rows * cols];
    let mut total = 0.0;
    for r in 0..count {
        let base = r * cols;
        let t = &targets[batch[1 + r] as usize * tcols..];
        match kind {
            LossKind::Mse => {
                let mut row = 0.0;
                for j in 0..cols {
                    let d = logits[base + j] - t[j];
                    row += d * d;
                    grad[base + j] = 2.0 * d / (count * cols) as f64;
                }
                total += row / cols as f64;
            }
            LossKind::BceWithLogits => {
                let mut row = 0.0;
                for j in 0..cols {
                    let z = logits[base + j];
                    row += z.max(0.0) - z * t[j] + (1.0 + (-z.abs()).exp()).ln();
                    grad[base + j] = (1.0 / (1.0 + (-z).exp()) - t[j]) / (count * cols) as f64;
                }
                total += row / cols as f64;
            }
            LossKind::SoftmaxCrossEntropy => {
                let label = t[0] as usize;
                let row = &logits[base..base + cols];
                let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                for j in 0..cols {
                    let p = (row[j] - lse).exp();
                    grad[base + j] = (p - (j == label) as u32 as f64) / count as f64;
                }
                total += lse - row[label];
            }
            LossKind::OutputScore => {
                let k = (t[0] as usize).min(cols - 1);
                grad[base + k] = 1.0;
                total += logits[base + k];
            }
        }
    }
    (total, grad)
}

/// Hyper-parameters of one optimizer step.
#[derive(Clone, Copy, Debug)]
pub struct Hyper {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2.
    pub beta2: f64,
    /// Adam epsilon.
    pub eps: f64,
    /// Step number, from 1.
    pub t: i32,
    /// AdamW.
    pub decoupled: bool,
}

/// SGD with momentum and L2 decay.
pub fn sgd_step(h: &Hyper, params: &mut [f64], grads: &[f64], velocity: &mut [f64]) {
    for i in 0..params.len() {
        let g = grads[i] + h.weight_decay * params[i];
        velocity[i] = h.momentum * velocity[i] + g;
        params[i] -= h.lr * velocity[i];
    }
}

/// Adam / AdamW with bias correction.
pub fn adam_step(h: &Hyper, params: &mut [f64], grads: &[f64], m: &mut [f64], v: &mut [f64]) {
    let bc1 = 1.0 - h.beta1.powi(h.t);
    let bc2 = 1.0 - h.beta2.powi(h.t);
    for i in 0..params.len() {
        let p = params[i];
        let mut g = grads[i];
        if !h.decoupled {
            g += h.weight_decay * p;
        }
        m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * g;
        v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g * g;
        let mut step = (m[i] / bc1) / ((v[i] / bc2).sqrt() + h.eps);
        if h.decoupled {
            step += h.weight_decay * p;
        }
        params[i] = p - h.lr * step;
    }
}

/// out[r, :] = data[batch[1 + r], :] for r < rows.
pub fn gather_rows(rows: usize, cols: usize, batch: &[u32], data: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        let src = batch[1 + r] as usize * cols;
        out[r * cols..(r + 1) * cols].copy_from_slice(&data[src..src + cols]);
    }
    out
}

/// mix32 of shaders/common.wgsl.
pub fn mix32(x: u32) -> u32 {
    let mut h = x;
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// counter_uniform of shaders/common.wgsl, in [0, 1).
pub fn counter_uniform(seed: u32, step: u32, stream: u32, index: u32) -> f64 {
    let h = mix32(mix32(mix32(mix32(seed) ^ step) ^ stream) ^ index);
    (h >> 8) as f64 / 16_777_216.0
}

fn keep_scale(seed: u32, step: u32, stream: u32, p: f64, i: usize) -> f64 {
    // compare in f32, as the shader does
    if counter_uniform(seed, step, stream, i as u32) as f32 >= p as f32 {
        1.0 / (1.0 - p)
    } else {
        0.0
    }
}

/// out = x * keep / (1 - p).
pub fn dropout_forward(seed: u32, step: u32, stream: u32, p: f64, x: &[f64], out: &mut [f64]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = x[i] * keep_scale(seed, step, stream, p, i);
    }
}

/// out (+)= dy * keep / (1 - p).
pub fn dropout_backward(
    seed: u32,
    step: u32,
    stream: u32,
    p: f64,
    accumulate: bool,
    dy: &[f64],
    out: &mut [f64],
) {
    for (i, o) in out.iter_mut().enumerate() {
        let g = dy[i] * keep_scale(seed, step, stream, p, i);
        *o = if accumulate { *o + g } else { g };
    }
}

/// (min(1, max_norm / norm), norm) of a gradient vector: grad_norm_partial then grad_clip_scale.
pub fn clip_factor(grads: &[f64], max_norm: f64) -> (f64, f64) {
    let norm = grads.iter().map(|g| g * g).sum::<f64>().sqrt();
    (if norm > max_norm { max_norm / norm } else { 1.0 }, norm)
}

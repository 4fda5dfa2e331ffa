//! f64 twins of the image kernels (conv.wgsl, pool.wgsl, batchnorm.wgsl),
//! written the direct way: the backward passes scatter from each output,
//! where the GPU gathers, so the two are independent.

use super::{act_apply, act_grad_from_y};
use crate::kernels::{Act, NormGeom, WindowGeom};

/// Input position (iy, ix) of output (oy, ox) and window offset (ky, kx), if inside.
fn tap(g: &WindowGeom, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.sh + ky).checked_sub(g.ph)?;
    let ix = (ox * g.sw + kx).checked_sub(g.pw)?;
    (iy < g.h && ix < g.w).then_some((iy, ix))
}

fn xi(g: &WindowGeom, b: usize, c: usize, y: usize, x: usize) -> usize {
    ((b * g.c + c) * g.h + y) * g.w + x
}

fn yi(g: &WindowGeom, b: usize, o: usize, y: usize, x: usize) -> usize {
    ((b * g.oc + o) * g.oh + y) * g.ow + x
}

fn wi(g: &WindowGeom, o: usize, c: usize, ky: usize, kx: usize) -> usize {
    ((o * g.c + c) * g.kh + ky) * g.kw + kx
}

/// Calls `f(b, o, oy, ox, c, ky, kx, x index)` for every tap of the convolution inside the input.
fn for_each_tap(g: &WindowGeom, mut f: impl FnMut([usize; 4], [usize; 3], usize)) {
    for b in 0..g.batch {
        for o in 0..g.oc {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for c in 0..g.c {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                    f([b, o, oy, ox], [c, ky, kx], xi(g, b, c, iy, ix));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y = act(conv2d(x, w) + bias).
pub fn conv2d_forward(g: &WindowGeom, x: &[f64], w: &[f64], bias: Option<&[f64]>, act: Act, y: &mut [f64]) {
    let mut z = vec![0.0; g.out_len()];
    for_each_tap(g, |[b, o, oy, ox], [c, ky, kx], i| {
        z[yi(g, b, o, oy, ox)] += x[i] * w[wi(g, o, c, ky, kx)];
    });
    for (idx, v) in z.iter().enumerate() {
        let o = (idx / (g.oh * g.ow)) % g.oc;
        y[idx] = act_apply(act, v + bias.map_or(0.0, |bb| bb[o]));
    }
}

/// dx (+)= conv2d_transpose(dy, w), times act'(aux) when `grad_act` is given.
pub fn conv2d_backward_input(
    g: &WindowGeom,
    dy: &[f64],
    w: &[f64],
    grad_act: Option<(Act, &[f64])>,
    accumulate: bool,
    dx: &mut [f64],
) {
    let mut d = vec![0.0; g.in_len()];
    for_each_tap(g, |[b, o, oy, ox], [c, ky, kx], i| {
        d[i] += dy[yi(g, b, o, oy, ox)] * w[wi(g, o, c, ky, kx)];
    });
    store_grad(d, grad_act, accumulate, dx);
}

/// dw (+)= sum of dy * x over batch and pixels; `dbias` (+)= sum of dy per channel.
pub fn conv2d_backward_weight(
    g: &WindowGeom,
    x: &[f64],
    dy: &[f64],
    accumulate: bool,
    dw: &mut [f64],
    dbias: Option<&mut [f64]>,
) {
    let mut d = vec![0.0; g.oc * g.c * g.kh * g.kw];
    for_each_tap(g, |[b, o, oy, ox], [c, ky, kx], i| {
        d[wi(g, o, c, ky, kx)] += dy[yi(g, b, o, oy, ox)] * x[i];
    });
    store_grad(d, None, accumulate, dw);
    if let Some(db) = dbias {
        let mut s = vec![0.0; g.oc];
        for (idx, v) in dy.iter().enumerate().take(g.out_len()) {
            s[(idx / (g.oh * g.ow)) % g.oc] += v;
        }
        store_grad(s, None, accumulate, db);
    }
}

fn store_grad(d: Vec<f64>, grad_act: Option<(Act, &[f64])>, accumulate: bool, out: &mut [f64]) {
    for (i, mut v) in d.into_iter().enumerate() {
        if let Some((a, aux)) = grad_act {
            v *= act_grad_from_y(a, aux[i]);
        }
        out[i] = if accumulate { out[i] + v } else { v };
    }
}

/// The input positions (plane index) window (oy, ox) covers.
fn window(g: &WindowGeom, oy: usize, ox: usize) -> Vec<usize> {
    let mut v = Vec::new();
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                v.push(iy * g.w + ix);
            }
        }
    }
    v
}

/// Max pool: y and the plane index of each maximum (first on ties; -1 for an empty window).
pub fn maxpool_forward(g: &WindowGeom, x: &[f64], y: &mut [f64], argmax: &mut [i64]) {
    for p in 0..g.batch * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = (p * g.oh + oy) * g.ow + ox;
                let (mut best, mut at) = (0.0, -1i64);
                for i in window(g, oy, ox) {
                    let v = x[p * g.h * g.w + i];
                    if at < 0 || v > best {
                        best = v;
                        at = i as i64;
                    }
                }
                y[o] = best;
                argmax[o] = at;
            }
        }
    }
}

/// Max pool backward: each dy goes to its window's maximum.
pub fn maxpool_backward(
    g: &WindowGeom,
    dy: &[f64],
    argmax: &[i64],
    grad_act: Option<(Act, &[f64])>,
    accumulate: bool,
    dx: &mut [f64],
) {
    let mut d = vec![0.0; g.in_len()];
    for p in 0..g.batch * g.c {
        for r in 0..g.oh * g.ow {
            let o = p * g.oh * g.ow + r;
            if argmax[o] >= 0 {
                d[p * g.h * g.w + argmax[o] as usize] += dy[o];
            }
        }
    }
    store_grad(d, grad_act, accumulate, dx);
}

/// Average pool over the input positions each window covers.
pub fn avgpool_forward(g: &WindowGeom, x: &[f64], y: &mut [f64]) {
    for p in 0..g.batch * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let win = window(g, oy, ox);
                let s: f64 = win.iter().map(|i| x[p * g.h * g.w + i]).sum();
                y[(p * g.oh + oy) * g.ow + ox] = if win.is_empty() { 0.0 } else { s / win.len() as f64 };
            }
        }
    }
}

/// Average pool backward: dy / count to every covered position.
pub fn avgpool_backward(
    g: &WindowGeom,
    dy: &[f64],
    grad_act: Option<(Act, &[f64])>,
    accumulate: bool,
    dx: &mut [f64],
) {
    let mut d = vec![0.0; g.in_len()];
    for p in 0..g.batch * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let win = window(g, oy, ox);
                for i in &win {
                    d[p * g.h * g.w + i] += dy[(p * g.oh + oy) * g.ow + ox] / win.len() as f64;
                }
            }
        }
    }
    store_grad(d, grad_act, accumulate, dx);
}

/// Nearest upsampling by (sh, sw).
pub fn upsample_forward(g: &WindowGeom, x: &[f64], y: &mut [f64]) {
    for p in 0..g.batch * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                y[(p * g.oh + oy) * g.ow + ox] = x[(p * g.h + oy / g.sh) * g.w + ox / g.sw];
            }
        }
    }
}

/// Upsampling backward: the sum over each input's copies.
pub fn upsample_backward(
    g: &WindowGeom,
    dy: &[f64],
    grad_act: Option<(Act, &[f64])>,
    accumulate: bool,
    dx: &mut [f64],
) {
    let mut d = vec![0.0; g.in_len()];
    for p in 0..g.batch * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                d[(p * g.h + oy / g.sh) * g.w + ox / g.sw] += dy[(p * g.oh + oy) * g.ow + ox];
            }
        }
    }
    store_grad(d, grad_act, accumulate, dx);
}

/// Index of value e (over rows then positions) of channel c.
fn at(g: &NormGeom, c: usize, e: usize) -> usize {
    ((e / g.s) * g.c + c) * g.s + e % g.s
}

/// Training batch norm over the first `valid` rows: y, saved (mean, inv_std
/// per channel), and the running statistics moved by `momentum` when given.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn batchnorm_forward_train(
    g: &NormGeom,
    valid: usize,
    act: Act,
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running: Option<(&mut [f64], &mut [f64])>,
    saved: &mut [f64],
    y: &mut [f64],
) {
    let n = valid * g.s;
    let mut stats = Vec::new();
    for c in 0..g.c {
        let mean = (0..n).map(|e| x[at(g, c, e)]).sum::<f64>() / n as f64;
        let var = (0..n).map(|e| (x[at(g, c, e)] - mean).powi(2)).sum::<f64>() / n as f64;
        let inv_std = 1.0 / (var + g.eps as f64).sqrt();
        saved[2 * c] = mean;
        saved[2 * c + 1] = inv_std;
        for e in 0..g.batch * g.s {
            let i = at(g, c, e);
            y[i] = act_apply(act, gamma[c] * (x[i] - mean) * inv_std + beta[c]);
        }
        stats.push((mean, if n > 1 { var * n as f64 / (n - 1) as f64 } else { var }));
    }
    if let Some((rm, rv)) = running {
        let m = g.momentum as f64;
        for (c, (mean, unbiased)) in stats.into_iter().enumerate() {
            rm[c] = (1.0 - m) * rm[c] + m * mean;
            rv[c] = (1.0 - m) * rv[c] + m * unbiased;
        }
    }
}

/// Eval batch norm with the running statistics.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn batchnorm_forward_eval(
    g: &NormGeom,
    act: Act,
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    y: &mut [f64],
) {
    for (i, v) in x.iter().enumerate().take(g.batch * g.c * g.s) {
        let c = (i / g.s) % g.c;
        let inv_std = 1.0 / (running_var[c] + g.eps as f64).sqrt();
        y[i] = act_apply(act, gamma[c] * (v - running_mean[c]) * inv_std + beta[c]);
    }
}

/// dx = dy * gamma / sqrt(running var + eps) (added to `dx` with `accumulate`).
pub fn batchnorm_backward_eval(
    g: &NormGeom,
    gamma: &[f64],
    running_var: &[f64],
    dy: &[f64],
    accumulate: bool,
    dx: &mut [f64],
) {
    for (i, d) in dy.iter().enumerate().take(g.batch * g.c * g.s) {
        let c = (i / g.s) % g.c;
        let v = d * gamma[c] / (running_var[c] + g.eps as f64).sqrt();
        dx[i] = if accumulate { dx[i] + v } else { v };
    }
}

/// Batch-norm backward over the first `valid` rows (dx 0 on the others).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn batchnorm_backward(
    g: &NormGeom,
    valid: usize,
    x: &[f64],
    gamma: &[f64],
    dy: &[f64],
    saved: &[f64],
    accumulate_params: bool,
    accumulate: bool,
    dgamma: &mut [f64],
    dbeta: &mut [f64],
    dx: &mut [f64],
) {
    let n = valid * g.s;
    for c in 0..g.c {
        let (mean, inv_std) = (saved[2 * c], saved[2 * c + 1]);
        let xhat = |i: usize| (x[i] - mean) * inv_std;
        let db: f64 = (0..n).map(|e| dy[at(g, c, e)]).sum();
        let dg: f64 = (0..n).map(|e| dy[at(g, c, e)] * xhat(at(g, c, e))).sum();
        dgamma[c] = if accumulate_params { dgamma[c] + dg } else { dg };
        dbeta[c] = if accumulate_params { dbeta[c] + db } else { db };
        for e in 0..g.batch * g.s {
            let i = at(g, c, e);
            let v = if e < n {
                gamma[c] * inv_std / n as f64 * (n as f64 * dy[i] - db - xhat(i) * dg)
            } else {
                0.0
            };
            dx[i] = if accumulate { dx[i] + v } else { v };
        }
    }
}

//! f64 twins of the recurrent kernels (rnn.wgsl), step by step as the
//! equations read.

use crate::kernels::RnnGeom;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// What the LSTM forward writes: gates [B, T, 4H], cells [B, T, H], hprev
/// [B, T, H] and the output ([B, H] or [B, T, H]).
pub struct LstmForward {
    /// Activated gates i, f, g, o.
    pub gates: Vec<f64>,
    /// c_t.
    pub cells: Vec<f64>,
    /// h_{t-1}.
    pub hprev: Vec<f64>,
    /// h_T or every h_t.
    pub out: Vec<f64>,
}

/// LSTM over all steps from gx = x . w_ih + b [B, T, 4H] and w_hh [H, 4H].
pub fn lstm_forward(g: &RnnGeom, gx: &[f64], whh: &[f64]) -> LstmForward {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let g4 = 4 * hd;
    let mut f = LstmForward {
        gates: vec![0.0; b_n * t_n * g4],
        cells: vec![0.0; b_n * t_n * hd],
        hprev: vec![0.0; b_n * t_n * hd],
        out: vec![0.0; if g.last_only { b_n * hd } else { b_n * t_n * hd }],
    };
    for b in 0..b_n {
        let (mut h, mut c) = (vec![0.0; hd], vec![0.0; hd]);
        for t in 0..t_n {
            let row = b * t_n + t;
            let mut a = vec![0.0; g4];
            for (j, aj) in a.iter_mut().enumerate() {
                let z = gx[row * g4 + j] + (0..hd).map(|k| h[k] * whh[k * g4 + j]).sum::<f64>();
                *aj = if (2 * hd..3 * hd).contains(&j) { z.tanh() } else { sigmoid(z) };
            }
            f.gates[row * g4..(row + 1) * g4].copy_from_slice(&a);
            f.hprev[row * hd..(row + 1) * hd].copy_from_slice(&h);
            for u in 0..hd {
                c[u] = a[hd + u] * c[u] + a[u] * a[2 * hd + u];
                h[u] = a[3 * hd + u] * c[u].tanh();
            }
            f.cells[row * hd..(row + 1) * hd].copy_from_slice(&c);
            if !g.last_only {
                f.out[row * hd..(row + 1) * hd].copy_from_slice(&h);
            }
        }
        if g.last_only {
            f.out[b * hd..(b + 1) * hd].copy_from_slice(&h);
        }
    }
    f
}

/// Backpropagation through time: dz [B, T, 4H] (gradient of the gate
/// pre-activations) from dout and the forward's gates and cells.
pub fn lstm_backward(g: &RnnGeom, dout: &[f64], whh: &[f64], gates: &[f64], cells: &[f64]) -> Vec<f64> {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let g4 = 4 * hd;
    let mut dz = vec![0.0; b_n * t_n * g4];
    for b in 0..b_n {
        let (mut dh_rec, mut dc) = (vec![0.0; hd], vec![0.0; hd]);
        for t in (0..t_n).rev() {
            let row = b * t_n + t;
            for u in 0..hd {
                let mut dh = dh_rec[u];
                if !g.last_only {
                    dh += dout[row * hd + u];
                } else if t + 1 == t_n {
                    dh += dout[b * hd + u];
                }
                let gt = |k: usize| gates[row * g4 + k * hd + u];
                let (i, f, gg, o) = (gt(0), gt(1), gt(2), gt(3));
                let c = cells[row * hd + u];
                let cp = if t > 0 { cells[(row - 1) * hd + u] } else { 0.0 };
                let tc = c.tanh();
                dc[u] += dh * o * (1.0 - tc * tc);
                dz[row * g4 + u] = dc[u] * gg * i * (1.0 - i);
                dz[row * g4 + hd + u] = dc[u] * cp * f * (1.0 - f);
                dz[row * g4 + 2 * hd + u] = dc[u] * i * (1.0 - gg * gg);
                dz[row * g4 + 3 * hd + u] = dh * tc * o * (1.0 - o);
                dc[u] *= f;
            }
            for (u, d) in dh_rec.iter_mut().enumerate() {
                *d = (0..g4).map(|k| dz[row * g4 + k] * whh[u * g4 + k]).sum();
            }
        }
    }
    dz
}

//! f64 twins of the recurrent kernels (rnn.wgsl), step by step as the
//! equations read, with what they read besides their operands in [`Side`].
//! (dL/d(initial state) is checked by finite differences in the gradient
//! tests, not here.)

use crate::kernels::RnnGeom;

/// The step mask and the initial state of a recurrence.
#[derive(Clone, Copy, Debug, Default)]
pub struct Side<'a> {
    /// The model input [B, T, C] whose last channel marks real steps when
    /// `g.mask_width` is C > 0 (ignored, and may be empty, when it is 0); a
    /// padded step keeps the state and passes dL/dh through.
    pub mask: &'a [f64],
    /// The initial state [B, S] when `g.init_width` is S > 0 (LSTM: h then
    /// c); ignored otherwise (zeros).
    pub init: &'a [f64],
}

impl Side<'_> {
    /// Whether step t of sequence b is real (not padding).
    fn real(&self, g: &RnnGeom, b: usize, t: usize) -> bool {
        let c = g.mask_width;
        c == 0 || self.mask[(b * g.steps + t) * c + c - 1] > 0.5
    }

    /// The initial state of sequence b: h (H values), then c for an LSTM.
    fn state(&self, g: &RnnGeom, b: usize, width: usize) -> Vec<f64> {
        match g.init_width {
            0 => vec![0.0; width],
            s => self.init[b * s..b * s + width].to_vec(),
        }
    }
}

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
pub fn lstm_forward(g: &RnnGeom, gx: &[f64], whh: &[f64], side: Side) -> LstmForward {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let g4 = 4 * hd;
    let mut f = LstmForward {
        gates: vec![0.0; b_n * t_n * g4],
        cells: vec![0.0; b_n * t_n * hd],
        hprev: vec![0.0; b_n * t_n * hd],
        out: vec![0.0; if g.last_only { b_n * hd } else { b_n * t_n * hd }],
    };
    for b in 0..b_n {
        let s0 = side.state(g, b, 2 * hd);
        let (mut h, mut c) = (s0[..hd].to_vec(), s0[hd..].to_vec());
        for t in 0..t_n {
            let row = b * t_n + t;
            let mut a = vec![0.0; g4];
            for (j, aj) in a.iter_mut().enumerate() {
                let z = gx[row * g4 + j] + (0..hd).map(|k| h[k] * whh[k * g4 + j]).sum::<f64>();
                *aj = if (2 * hd..3 * hd).contains(&j) { z.tanh() } else { sigmoid(z) };
            }
            f.gates[row * g4..(row + 1) * g4].copy_from_slice(&a);
            f.hprev[row * hd..(row + 1) * hd].copy_from_slice(&h);
            for u in (0..hd).filter(|_| side.real(g, b, t)) {
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
pub fn lstm_backward(
    g: &RnnGeom,
    dout: &[f64],
    whh: &[f64],
    gates: &[f64],
    cells: &[f64],
    side: Side,
) -> Vec<f64> {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let g4 = 4 * hd;
    let mut dz = vec![0.0; b_n * t_n * g4];
    for b in 0..b_n {
        let (mut dh_rec, mut dc) = (vec![0.0; hd], vec![0.0; hd]);
        for t in (0..t_n).rev() {
            let row = b * t_n + t;
            if passes_through(g, side, dout, b, t, &mut dh_rec) {
                continue;
            }
            for u in 0..hd {
                let dh = dh_rec[u] + dh_at(g, dout, b, t, u);
                let gt = |k: usize| gates[row * g4 + k * hd + u];
                let (i, f, gg, o) = (gt(0), gt(1), gt(2), gt(3));
                let c = cells[row * hd + u];
                let cp = if t > 0 { cells[(row - 1) * hd + u] } else { side.state(g, b, 2 * hd)[hd + u] };
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

/// What the GRU and Elman forwards write: gates (GRU r, z, n), cells (GRU
/// gh_n; Elman h_t), hprev and the output.
pub struct RecurrenceForward {
    /// GRU: r, z, n [B, T, 3H]; Elman: empty.
    pub gates: Vec<f64>,
    /// GRU: gh_n; Elman: h_t [B, T, H].
    pub cells: Vec<f64>,
    /// h_{t-1} [B, T, H].
    pub hprev: Vec<f64>,
    /// h_T or every h_t.
    pub out: Vec<f64>,
}

fn out_len(g: &RnnGeom) -> usize {
    if g.last_only {
        g.batch * g.hidden
    } else {
        g.batch * g.steps * g.hidden
    }
}

/// GRU over all steps from gx = x . w_ih + b_ih [B, T, 3H], w_hh [H, 3H], b_hh \[3H\].
pub fn gru_forward(g: &RnnGeom, gx: &[f64], whh: &[f64], bhh: &[f64], side: Side) -> RecurrenceForward {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let g3 = 3 * hd;
    let mut f = RecurrenceForward {
        gates: vec![0.0; b_n * t_n * g3],
        cells: vec![0.0; b_n * t_n * hd],
        hprev: vec![0.0; b_n * t_n * hd],
        out: vec![0.0; out_len(g)],
    };
    for b in 0..b_n {
        let mut h = side.state(g, b, hd);
        for t in 0..t_n {
            let row = b * t_n + t;
            let gh: Vec<f64> =
                (0..g3).map(|j| bhh[j] + (0..hd).map(|k| h[k] * whh[k * g3 + j]).sum::<f64>()).collect();
            f.hprev[row * hd..(row + 1) * hd].copy_from_slice(&h);
            for u in 0..hd {
                let r = sigmoid(gx[row * g3 + u] + gh[u]);
                let z = sigmoid(gx[row * g3 + hd + u] + gh[hd + u]);
                let n = (gx[row * g3 + 2 * hd + u] + r * gh[2 * hd + u]).tanh();
                f.gates[row * g3 + u] = r;
                f.gates[row * g3 + hd + u] = z;
                f.gates[row * g3 + 2 * hd + u] = n;
                f.cells[row * hd + u] = gh[2 * hd + u];
                if side.real(g, b, t) {
                    h[u] = (1.0 - z) * n + z * h[u];
                }
            }
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

/// At a padded step of sequence b: adds the output gradient of step t to
/// dL/dh, which (with dL/dc) passes unchanged to the step before, and
/// returns true (no gate gradient); false at a real step.
fn passes_through(g: &RnnGeom, side: Side, dout: &[f64], b: usize, t: usize, dh_rec: &mut [f64]) -> bool {
    if side.real(g, b, t) {
        return false;
    }
    for (u, d) in dh_rec.iter_mut().enumerate() {
        *d += dh_at(g, dout, b, t, u);
    }
    true
}

fn dh_at(g: &RnnGeom, dout: &[f64], b: usize, t: usize, u: usize) -> f64 {
    if !g.last_only {
        dout[(b * g.steps + t) * g.hidden + u]
    } else if t + 1 == g.steps {
        dout[b * g.hidden + u]
    } else {
        0.0
    }
}

/// GRU backpropagation through time: (gradient of gx, gradient of gh), each [B, T, 3H].
pub fn gru_backward(
    g: &RnnGeom,
    dout: &[f64],
    whh: &[f64],
    f: &RecurrenceForward,
    side: Side,
) -> (Vec<f64>, Vec<f64>) {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let g3 = 3 * hd;
    let (mut dgx, mut dgh) = (vec![0.0; b_n * t_n * g3], vec![0.0; b_n * t_n * g3]);
    for b in 0..b_n {
        let mut dh_rec = vec![0.0; hd];
        for t in (0..t_n).rev() {
            let row = b * t_n + t;
            if passes_through(g, side, dout, b, t, &mut dh_rec) {
                continue;
            }
            let mut direct = vec![0.0; hd];
            for u in 0..hd {
                let dh = dh_rec[u] + dh_at(g, dout, b, t, u);
                let (r, z, n) =
                    (f.gates[row * g3 + u], f.gates[row * g3 + hd + u], f.gates[row * g3 + 2 * hd + u]);
                let (ghn, hp) = (f.cells[row * hd + u], f.hprev[row * hd + u]);
                let dan = dh * (1.0 - z) * (1.0 - n * n);
                let dar = dan * ghn * r * (1.0 - r);
                let daz = dh * (hp - n) * z * (1.0 - z);
                dgx[row * g3 + u] = dar;
                dgx[row * g3 + hd + u] = daz;
                dgx[row * g3 + 2 * hd + u] = dan;
                dgh[row * g3 + u] = dar;
                dgh[row * g3 + hd + u] = daz;
                dgh[row * g3 + 2 * hd + u] = dan * r;
                direct[u] = dh * z;
            }
            for u in 0..hd {
                dh_rec[u] = direct[u] + (0..g3).map(|j| dgh[row * g3 + j] * whh[u * g3 + j]).sum::<f64>();
            }
        }
    }
    (dgx, dgh)
}

/// Elman RNN over all steps: h_t = act(gx + h_{t-1} . w_hh), gx [B, T, H].
pub fn elman_forward(
    g: &RnnGeom,
    act: crate::kernels::Act,
    gx: &[f64],
    whh: &[f64],
    side: Side,
) -> RecurrenceForward {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let mut f = RecurrenceForward {
        gates: Vec::new(),
        cells: vec![0.0; b_n * t_n * hd],
        hprev: vec![0.0; b_n * t_n * hd],
        out: vec![0.0; out_len(g)],
    };
    for b in 0..b_n {
        let mut h = side.state(g, b, hd);
        for t in 0..t_n {
            let row = b * t_n + t;
            f.hprev[row * hd..(row + 1) * hd].copy_from_slice(&h);
            let a: Vec<f64> = (0..hd)
                .map(|u| gx[row * hd + u] + (0..hd).map(|k| h[k] * whh[k * hd + u]).sum::<f64>())
                .collect();
            for u in (0..hd).filter(|_| side.real(g, b, t)) {
                h[u] = super::act_apply(act, a[u]);
            }
            f.cells[row * hd..(row + 1) * hd].copy_from_slice(&h);
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

/// Elman backpropagation through time: the pre-activation gradient [B, T, H].
pub fn elman_backward(
    g: &RnnGeom,
    act: crate::kernels::Act,
    dout: &[f64],
    whh: &[f64],
    cells: &[f64],
    side: Side,
) -> Vec<f64> {
    let (b_n, t_n, hd) = (g.batch, g.steps, g.hidden);
    let mut da = vec![0.0; b_n * t_n * hd];
    for b in 0..b_n {
        let mut dh_rec = vec![0.0; hd];
        for t in (0..t_n).rev() {
            let row = b * t_n + t;
            if passes_through(g, side, dout, b, t, &mut dh_rec) {
                continue;
            }
            for u in 0..hd {
                let dh = dh_rec[u] + dh_at(g, dout, b, t, u);
                da[row * hd + u] = dh * super::act_grad_from_y(act, cells[row * hd + u]);
            }
            for u in 0..hd {
                dh_rec[u] = (0..hd).map(|k| da[row * hd + k] * whh[u * hd + k]).sum();
            }
        }
    }
    da
}

// Prelude of the recurrent families (rnn.wgsl: persistent kernels;
// rnn_step.wgsl: one dispatch per step): equations, uniform, bindings and
// helpers. The input projection for all steps is one matmul before the
// recurrence:
//   gx [B, T, 4H] = x [B*T, F] . w_ih [F, 4H] + b [4H]
// LSTM, gate order i, f, g, o (as PyTorch); with z = gx[b, t] + h_{t-1} . w_hh [H, 4H]:
//   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  h_{-1} = c_{-1} = 0
//   (or an initial state: see init_width)
// The forward saves the gates, c_t and h_{t-1} for the backward and the
// weight gradients (dw_hh = hprev^T . dz, dw_ih = x^T . dz: matmuls after it).
// GRU (gate order r, z, n as PyTorch; the reset gate is applied after the
// hidden matmul): with gx = x . w_ih + b_ih [B, T, 3H] and
// gh = h_{t-1} . w_hh + b_hh [3H]:
//   r = sigmoid(gx_r + gh_r), z = sigmoid(gx_z + gh_z),
//   n = tanh(gx_n + r * gh_n),  h_t = (1 - z) * n + z * h_{t-1}.
// The forward saves r, z, n (`gates`) and gh_n (`cells`); the backward
// writes the gradient of gx (dst) and of gh (`aux`), whose matmuls with x
// and h_{t-1} give the weight and bias gradients.
// Elman: h_t = act(gx + h_{t-1} . w_hh) with ACT (tanh or relu); h_t is
// saved in `cells`, the backward writes the pre-activation gradient.

// Padded steps (sequences of different lengths): with mask_width C > 0 the
// last of the C channels of the model input `mask` [B, T, C] is 1 at real
// steps and 0 at padding. A padded step keeps the state as it was
// (h_t = h_{t-1}, c_t = c_{t-1}, its gate gradients are 0 and dL/dh passes
// through to the step before unchanged), so padding changes neither the
// outputs at real steps nor any gradient.

// reverse: run from the last step to the first (the backward direction of a
// bidirectional layer); the output row is out_width wide and this layer's
// h starts at out_offset in it (both directions write one tensor).
// Initial state: with init_width S > 0 the state before the first step is
// read from `init` [B, S] (h, then c for an LSTM: S = 2H; S = H otherwise)
// instead of 0, and with init_grad 1 the backward writes dL/d(init) to
// `dinit` [B, S] (2: adds it).
// step: the step a per-step kernel processes (rnn_step.wgsl).
// hprev_unread 1: nothing reads hprev but a backward that recomputes it
// (lstm_backward_grads_lanes without a step mask), or nothing at all; the
// LSTM forward of rnn_lanes.wgsl then skips writing it.
struct Rnn {
    batch: u32, steps: u32, hidden: u32, last_only: u32,
    reverse: u32, out_width: u32, out_offset: u32, mask_width: u32,
    init_width: u32, init_grad: u32, step: u32, hprev_unread: u32,
}

@group(0) @binding(0) var<uniform> rn: Rnn;
// forward: gx [B, T, 4H] (LSTM with INPUTS > 0: x [B, T, F]); backward: dout
// ([B, H] when last_only, else [B, T, H])
@group(0) @binding(1) var<storage, read_write> src: array<f32>;
// w_hh [H, 4H]
@group(0) @binding(2) var<storage, read_write> whh: array<f32>;
// gates [B, T, 4H] (activated)
@group(0) @binding(3) var<storage, read_write> gates: array<f32>;
// cells [B, T, H]
@group(0) @binding(4) var<storage, read_write> cells: array<f32>;
// hprev [B, T, H]: h_{t-1}
@group(0) @binding(5) var<storage, read_write> hprev: array<f32>;
// forward: out ([B, H] when last_only, else [B, T, H]); backward: dz [B, T, 4H]
@group(0) @binding(6) var<storage, read_write> dst: array<f32>;
// GRU: b_hh [3H] (forward), the gradient of gh [B, T, 3H] (backward); LSTM
// forward with INPUTS > 0 (rnn_persistent.wgsl): w_ih [F, 4H]; unused otherwise
@group(0) @binding(7) var<storage, read_write> aux: array<f32>;
// the model input [B, T, mask_width] whose last channel marks real steps (mask_width > 0)
@group(0) @binding(8) var<storage, read_write> mask: array<f32>;
// the initial state [B, init_width] (forward; the LSTM backward reads c)
@group(0) @binding(9) var<storage, read_write> init: array<f32>;
// the gradient of the initial state [B, init_width] (backward); LSTM
// forward with INPUTS > 0: the input bias b [4H]
@group(0) @binding(10) var<storage, read_write> dinit: array<f32>;

override ACT: u32 = 4u;

// The time step processed tt-th.
fn time(tt: u32) -> u32 {
    return select(tt, rn.steps - 1u - tt, rn.reverse != 0u);
}

// Index of unit u of output row r (a batch row, or a (row, step) pair).
fn out_at(r: u32, u: u32) -> u32 {
    return r * rn.out_width + rn.out_offset + u;
}

// dL/dh of unit u at the step processed tt-th (row `row` of sequence b)
// coming from the layer's output: every step, or only the last one.
fn dout(row: u32, b: u32, tt: u32, u: u32) -> f32 {
    if (rn.last_only == 0u) { return src[out_at(row, u)]; }
    // a branch, not a select: only the last step reads memory
    if (tt + 1u == rn.steps) { return src[out_at(b, u)]; }
    return 0.0;
}

// Whether step t of sequence b is a real step (not padding).
fn real(b: u32, t: u32) -> bool {
    if (rn.mask_width == 0u) { return true; }
    return mask[(b * rn.steps + t) * rn.mask_width + rn.mask_width - 1u] > 0.5;
}

// Entry i of sequence b's initial state: 0 without one.
fn init_at(b: u32, i: u32) -> f32 {
    if (rn.init_width == 0u) { return 0.0; }
    return init[b * rn.init_width + i];
}

// Stores dL/d(initial state) entry i of sequence b (nothing without one).
fn put_dinit(b: u32, i: u32, v: f32) {
    if (rn.init_grad == 0u) { return; }
    let at = b * rn.init_width + i;
    dinit[at] = select(v, dinit[at] + v, rn.init_grad == 2u);
}

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}


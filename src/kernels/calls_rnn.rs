//! Host fns of the recurrent kernels (shaders/rnn.wgsl): shapes in, a
//! [`Call`] out, bindings in the shader's order.

use super::calls::{Act, Call};
use super::KernelId;

/// Largest hidden size the persistent kernels take (one invocation per
/// unit, 64 per workgroup); larger layers run step by step.
pub const RNN_MAX_HIDDEN: usize = 64;

/// Shape of a recurrent layer call: `batch` sequences of `steps` steps,
/// `hidden` units; `last_only` when the layer outputs only h_T.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RnnGeom {
    /// Sequences per batch.
    pub batch: usize,
    /// Time steps.
    pub steps: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Output (and its gradient) is h_T [batch, hidden] instead of every h_t [batch, steps, hidden].
    pub last_only: bool,
    /// Run from the last step to the first (a bidirectional layer's second direction).
    pub reverse: bool,
    /// Width of an output row (2 * hidden for a bidirectional layer).
    pub out_width: usize,
    /// Where this direction's h starts in an output row.
    pub out_offset: usize,
    /// Channels C of the model input [batch, steps, C] whose last channel
    /// marks real steps (1) and padding (0); 0: every step is real.
    pub mask_width: usize,
    /// Width S of the initial state [batch, S] (LSTM: h then c, 2H; GRU
    /// and Elman: H); 0: the state starts at 0.
    pub init_width: usize,
    /// The backward writes dL/d(initial state) (`dinit`).
    pub init_grad: bool,
    /// ... adding it to the buffer instead of overwriting it.
    pub init_accumulate: bool,
    /// Run one dispatch per step (rnn_step.wgsl) instead of the persistent
    /// kernels: always when `hidden` is above [`RNN_MAX_HIDDEN`].
    pub per_step: bool,
    /// Nothing reads h_{t-1} (`hprev`) after the forward but a backward
    /// that recomputes it ([`lstm_backward_with_grads`] without a step
    /// mask), or nothing at all: the LSTM forward of rnn_lanes.wgsl then
    /// does not write it (the other kernels write it anyway).
    pub hprev_unread: bool,
}

impl RnnGeom {
    /// One direction writing its own output: forward in time, rows `hidden` wide.
    pub fn new(batch: usize, steps: usize, hidden: usize, last_only: bool) -> RnnGeom {
        RnnGeom {
            batch,
            steps,
            hidden,
            last_only,
            reverse: false,
            out_width: hidden,
            out_offset: 0,
            mask_width: 0,
            init_width: 0,
            init_grad: false,
            init_accumulate: false,
            per_step: hidden > RNN_MAX_HIDDEN,
            hprev_unread: false,
        }
    }

    /// The uniform; `step`: the step a per-step kernel processes.
    fn words(&self, step: usize) -> Vec<u32> {
        [
            self.batch,
            self.steps,
            self.hidden,
            self.last_only as usize,
            self.reverse as usize,
            self.out_width,
            self.out_offset,
            self.mask_width,
            self.init_width,
            // dinit: 0 not written, 1 written, 2 added to
            if self.init_grad { 1 + self.init_accumulate as usize } else { 0 },
            step,
            self.hprev_unread as usize,
        ]
        .iter()
        .map(|v| *v as u32)
        .collect()
    }
}

/// The buffers of an LSTM recurrence call.
#[derive(Clone, Debug)]
pub struct LstmOperands<B> {
    /// Forward: gx [B, T, 4H]; backward: dL/dout.
    pub src: B,
    /// w_hh [H, 4H].
    pub whh: B,
    /// Activated gates [B, T, 4H] (written forward, read backward).
    pub gates: B,
    /// c_t [B, T, H] (written forward, read backward).
    pub cells: B,
    /// h_{t-1} [B, T, H] (written forward; unused backward).
    pub hprev: B,
    /// Forward: the output h; backward: dz [B, T, 4H].
    pub dst: B,
    /// The model input [B, T, C] whose last channel marks real steps (any
    /// buffer when `RnnGeom::mask_width` is 0).
    pub mask: B,
    /// The initial state [B, S] (any buffer when `RnnGeom::init_width` is 0).
    pub init: B,
    /// Backward: dL/d(initial state) [B, S] (any buffer when `init_width` is 0).
    pub dinit: B,
}

/// The buffers of a GRU or Elman recurrence call (see rnn.wgsl).
#[derive(Clone, Debug)]
pub struct RecurrenceOperands<B> {
    /// Forward: gx [B, T, G*H]; backward: dL/dout.
    pub src: B,
    /// w_hh [H, G*H].
    pub whh: B,
    /// GRU: r, z, n [B, T, 3H]; Elman: unused.
    pub gates: B,
    /// GRU: gh_n [B, T, H]; Elman: h_t [B, T, H].
    pub cells: B,
    /// h_{t-1} [B, T, H].
    pub hprev: B,
    /// Forward: the output h; backward: the gradient of gx.
    pub dst: B,
    /// GRU: b_hh \[3H\] forward, the gradient of gh [B, T, 3H] backward; Elman: unused.
    pub aux: B,
    /// The model input [B, T, C] whose last channel marks real steps (any
    /// buffer when `RnnGeom::mask_width` is 0).
    pub mask: B,
    /// The initial state [B, S] (any buffer when `RnnGeom::init_width` is 0).
    pub init: B,
    /// Backward: dL/d(initial state) [B, S] (any buffer when `init_width` is 0).
    pub dinit: B,
}

fn recurrence<B>(kernel: KernelId, g: &RnnGeom, act: Option<Act>, bindings: Vec<B>) -> Call<B> {
    // HIDDEN: a constant trip count for the loops over the units (see rnn_persistent.wgsl)
    let mut overrides = vec![("HIDDEN", g.hidden as f64)];
    overrides.extend(act.map(|a| ("ACT", a.code())));
    Call {
        kernel,
        overrides,
        uniform: g.words(0),
        bindings,
        // a workgroup of 64 holds 64 / hidden rows
        groups: [g.batch.div_ceil((64 / g.hidden.max(1)).max(1)) as u32, 1, 1],
    }
}

fn lstm<B: Clone>(kernel: KernelId, g: &RnnGeom, o: LstmOperands<B>) -> Call<B> {
    let dummy = o.hprev.clone();
    recurrence(
        kernel,
        g,
        None,
        vec![o.src, o.whh, o.gates, o.cells, o.hprev, o.dst, dummy, o.mask, o.init, o.dinit],
    )
}

/// The LSTM recurrence over all steps (rows of a batch in parallel).
pub fn lstm_forward<B: Clone>(g: &RnnGeom, o: LstmOperands<B>) -> Call<B> {
    lstm(KernelId::LstmForward, g, o)
}

/// Most input features for which [`lstm_forward_from_input`] computes the
/// input projection itself (each step reads F values of x instead of 4H of gx).
pub const RNN_MAX_FUSED_INPUTS: usize = 8;

/// [`lstm_forward`] from the layer input x [B, T, F] (F at most
/// [`RNN_MAX_FUSED_INPUTS`]), w_ih [F, 4H] and b \[4H\] instead of gx: the
/// kernel adds x_t . w_ih + b itself (`o.src` is x; `o.dinit` is unused).
pub fn lstm_forward_from_input<B: Clone>(
    g: &RnnGeom,
    features: usize,
    o: LstmOperands<B>,
    w_ih: B,
    b: B,
) -> Call<B> {
    let mut call = lstm(KernelId::LstmForward, g, o);
    // bindings: src, whh, gates, cells, hprev, dst, aux, mask, init, dinit
    call.bindings[6] = w_ih;
    call.bindings[9] = b;
    call.overrides.push(("INPUTS", features as f64));
    call
}

/// Backpropagation through time of [`lstm_forward`]: dz [B, T, 4H] (the
/// gradient of the gates' pre-activations) from dL/dout.
pub fn lstm_backward<B: Clone>(g: &RnnGeom, o: LstmOperands<B>) -> Call<B> {
    lstm(KernelId::LstmBackward, g, o)
}

/// Rows of dz one workgroup of [`rnn_weight_grads`] sums (rnn_grads.wgsl `CHUNK`).
pub const RNN_GRADS_CHUNK: usize = 128;

/// The buffers of [`rnn_weight_grads`].
#[derive(Clone, Debug)]
pub struct RnnGradOperands<B> {
    /// h_{t-1} [K, H] (K = batch * steps).
    pub hprev: B,
    /// The layer input x [K, F].
    pub x: B,
    /// The gradient of the gates' pre-activations [K, N].
    pub dz: B,
    /// Scratch for the partial sums [K / CHUNK rounded up, H + F + 1, N].
    pub partials: B,
    /// dL/dw_hh [H, N].
    pub whh: B,
    /// dL/dw_ih [F, N].
    pub wih: B,
    /// dL/db \[N\].
    pub bias: B,
    /// Add to w_hh's, w_ih's and b's gradient instead of writing it.
    pub accumulate: [bool; 3],
}

/// Whether a recurrent layer's weight gradients take [`rnn_weight_grads`]
/// on an adapter with variants `v`: CPU adapters that run rnn_lanes.wgsl,
/// H a multiple of 4 up to 32, 1 to [`RNN_MAX_FUSED_INPUTS`] features.
pub fn rnn_grads_fit(v: super::Variants, g: &RnnGeom, features: usize) -> bool {
    let lanes = super::variants::lanes_hidden(g.hidden);
    v.rnn_lanes && !g.per_step && lanes && (1..=RNN_MAX_FUSED_INPUTS).contains(&features)
}

/// Partial sums of [`rnn_weight_grads`]: chunks of [`RNN_GRADS_CHUNK`] rows.
pub fn rnn_grads_chunks(rows: usize) -> usize {
    rows.div_ceil(RNN_GRADS_CHUNK).max(1)
}

/// dw_hh = hprev^T . dz, dw_ih = x^T . dz and db = the column sums of dz
/// over `rows` rows, dz `width` wide, in one pass over dz and a sum of the
/// partials (shaders/rnn_grads.wgsl): two calls.
pub fn rnn_weight_grads<B: Clone>(
    rows: usize,
    hidden: usize,
    features: usize,
    width: usize,
    o: RnnGradOperands<B>,
) -> Vec<Call<B>> {
    let chunks = rnn_grads_chunks(rows);
    let reduce = rnn_grads_reduce(rows, hidden, features, width, chunks, o);
    let partial = Call {
        kernel: KernelId::RnnGradsPartial,
        // one subgroup per 32 columns and chunk of rows
        groups: [width.div_ceil(4).div_ceil(8) as u32, chunks as u32, 1],
        ..reduce.clone()
    };
    vec![partial, reduce]
}

/// rnn_grads_reduce: the sum of `chunks` partials [chunks, H + F + 1, N]
/// into the gradients (uniform, overrides and bindings of rnn_grads.wgsl).
fn rnn_grads_reduce<B: Clone>(
    rows: usize,
    hidden: usize,
    features: usize,
    width: usize,
    chunks: usize,
    o: RnnGradOperands<B>,
) -> Call<B> {
    let [a, b, c] = o.accumulate.map(|f| f as usize);
    let uniform: Vec<u32> = [rows, width, chunks, a, b, c, 0, 0].iter().map(|v| *v as u32).collect();
    Call {
        kernel: KernelId::RnnGradsReduce,
        overrides: vec![("HIDDEN", hidden as f64), ("INPUTS", features as f64)],
        uniform,
        bindings: vec![o.hprev, o.x, o.dz, o.partials, o.whh, o.wih, o.bias],
        // one invocation per vec4 of the (H + F + 1) x N sums
        groups: [((hidden + features + 1) * width.div_ceil(4)).div_ceil(64) as u32, 1, 1],
    }
}

/// Storage buffers the rnn_lanes kernels bind: the 10 of every
/// recurrence, 7 vec4 views and x and the partials of
/// [`lstm_backward_with_grads`] (adapters with fewer take other kernels).
pub const RNN_LANES_STORAGE_BUFFERS: u32 = 19;

/// Fewest workgroups the LSTM kernels of rnn_lanes.wgsl run (when the
/// batch has that many sequences): each runs batch / this many sequences in
/// turn, so that the weights each loads first serve several and the
/// partials of [`lstm_backward_with_grads`] stay few, while every core has
/// work.
pub const LSTM_LANES_MIN_GROUPS: usize = 16;

/// Sequences one workgroup of the LSTM kernels of rnn_lanes.wgsl runs.
pub fn lstm_lanes_rows_per_group(batch: usize) -> usize {
    (batch / LSTM_LANES_MIN_GROUPS).max(1)
}

/// Partials [`lstm_backward_with_grads`] writes (its workgroups).
pub fn lstm_grads_partials(batch: usize) -> usize {
    batch.div_ceil(lstm_lanes_rows_per_group(batch)).max(1)
}

/// [`lstm_backward`] and the weight gradients of [`rnn_weight_grads`] in
/// one pass (rnn_lanes.wgsl `lstm_backward_grads_lanes`, then
/// rnn_grads_reduce): for adapters that run rnn_lanes.wgsl, where
/// [`rnn_grads_fit`]. Each workgroup sums its sequences' products of
/// h_{t-1}, x and 1 with dz as it computes dz, into partial
/// [`lstm_grads_partials`] x (H + F + 1) x 4H of `grads.partials`. Without
/// `store_dz` (nothing reads dz after it: the layer's input needs no
/// gradient) dz is not written.
pub fn lstm_backward_with_grads<B: Clone>(
    g: &RnnGeom,
    features: usize,
    o: LstmOperands<B>,
    grads: RnnGradOperands<B>,
    store_dz: bool,
) -> Vec<Call<B>> {
    let rows_per_group = lstm_lanes_rows_per_group(g.batch);
    let partials = lstm_grads_partials(g.batch);
    let mut call = super::variants::rnn_lanes(lstm_backward(g, o), KernelId::LstmBackwardGradsLanes);
    call.overrides.push(("INPUTS", features as f64));
    call.overrides.push(("ROWS", rows_per_group as f64));
    call.overrides.push(("STORE_DZ", store_dz as u32 as f64));
    call.bindings.push(grads.x.clone());
    call.bindings.push(grads.partials.clone());
    call.groups = [partials as u32, 1, 1];
    let width = 4 * g.hidden;
    let reduce = rnn_grads_reduce(g.batch * g.steps, g.hidden, features, width, partials, grads);
    vec![call, reduce]
}

impl<B> RecurrenceOperands<B> {
    /// The LSTM's view of the same buffers (it has no `aux`).
    pub fn lstm(self) -> LstmOperands<B> {
        LstmOperands {
            src: self.src,
            whh: self.whh,
            gates: self.gates,
            cells: self.cells,
            hprev: self.hprev,
            dst: self.dst,
            mask: self.mask,
            init: self.init,
            dinit: self.dinit,
        }
    }
}

fn operands<B>(o: RecurrenceOperands<B>) -> Vec<B> {
    vec![o.src, o.whh, o.gates, o.cells, o.hprev, o.dst, o.aux, o.mask, o.init, o.dinit]
}

/// The GRU recurrence over all steps.
pub fn gru_forward<B>(g: &RnnGeom, o: RecurrenceOperands<B>) -> Call<B> {
    recurrence(KernelId::GruForward, g, None, operands(o))
}

/// Backpropagation through time of [`gru_forward`]: the gradients of gx (dst) and gh (aux).
pub fn gru_backward<B>(g: &RnnGeom, o: RecurrenceOperands<B>) -> Call<B> {
    recurrence(KernelId::GruBackward, g, None, operands(o))
}

/// The Elman recurrence h_t = act(gx + h_{t-1} . w_hh) over all steps.
pub fn elman_forward<B>(g: &RnnGeom, act: Act, o: RecurrenceOperands<B>) -> Call<B> {
    recurrence(KernelId::ElmanForward, g, Some(act), operands(o))
}

/// Backpropagation through time of [`elman_forward`]: the pre-activation gradient (dst).
pub fn elman_backward<B>(g: &RnnGeom, act: Act, o: RecurrenceOperands<B>) -> Call<B> {
    recurrence(KernelId::ElmanBackward, g, Some(act), operands(o))
}

/// One call per step of a per-step kernel, steps in `order` (forward: 0 to
/// T-1; backward: T-1 down to 0, then T to write dL/d(initial state)).
fn per_step<B: Clone>(
    kernel: KernelId,
    g: &RnnGeom,
    act: Option<Act>,
    bindings: Vec<B>,
    order: impl Iterator<Item = usize>,
) -> Vec<Call<B>> {
    order
        .map(|step| Call {
            kernel,
            overrides: act.map(|a| vec![("ACT", a.code())]).unwrap_or_default(),
            uniform: g.words(step),
            bindings: bindings.clone(),
            // one invocation per (row, unit)
            groups: [(g.batch * g.hidden).div_ceil(64) as u32, 1, 1],
        })
        .collect()
}

fn backward_order(g: &RnnGeom) -> impl Iterator<Item = usize> {
    (0..g.steps).rev().chain(g.init_grad.then_some(g.steps))
}

/// [`lstm_forward`] one dispatch per step (any hidden size).
pub fn lstm_forward_steps<B: Clone>(g: &RnnGeom, o: LstmOperands<B>) -> Vec<Call<B>> {
    let dummy = o.hprev.clone();
    let b =
        vec![o.src, o.whh, o.gates, o.cells, o.hprev, o.dst, dummy.clone(), o.mask, o.init, o.dinit, dummy];
    per_step(KernelId::LstmStepForward, g, None, b, 0..g.steps)
}

/// [`lstm_backward`] one dispatch per step; `carry` [B, 2H] is scratch.
pub fn lstm_backward_steps<B: Clone>(g: &RnnGeom, o: LstmOperands<B>, carry: B) -> Vec<Call<B>> {
    let dummy = o.hprev.clone();
    let b = vec![o.src, o.whh, o.gates, o.cells, o.hprev, o.dst, dummy, o.mask, o.init, o.dinit, carry];
    per_step(KernelId::LstmStepBackward, g, None, b, backward_order(g))
}

fn step_operands<B>(o: RecurrenceOperands<B>, carry: B) -> Vec<B> {
    vec![o.src, o.whh, o.gates, o.cells, o.hprev, o.dst, o.aux, o.mask, o.init, o.dinit, carry]
}

/// [`gru_forward`] one dispatch per step (any hidden size).
pub fn gru_forward_steps<B: Clone>(g: &RnnGeom, o: RecurrenceOperands<B>) -> Vec<Call<B>> {
    let dummy = o.hprev.clone();
    per_step(KernelId::GruStepForward, g, None, step_operands(o, dummy), 0..g.steps)
}

/// [`gru_backward`] one dispatch per step; `carry` [B, 2H] is scratch.
pub fn gru_backward_steps<B: Clone>(g: &RnnGeom, o: RecurrenceOperands<B>, carry: B) -> Vec<Call<B>> {
    per_step(KernelId::GruStepBackward, g, None, step_operands(o, carry), backward_order(g))
}

/// [`elman_forward`] one dispatch per step (any hidden size).
pub fn elman_forward_steps<B: Clone>(g: &RnnGeom, act: Act, o: RecurrenceOperands<B>) -> Vec<Call<B>> {
    let dummy = o.hprev.clone();
    per_step(KernelId::ElmanStepForward, g, Some(act), step_operands(o, dummy), 0..g.steps)
}

/// [`elman_backward`] one dispatch per step; `carry` [B, 2H] is scratch.
pub fn elman_backward_steps<B: Clone>(
    g: &RnnGeom,
    act: Act,
    o: RecurrenceOperands<B>,
    carry: B,
) -> Vec<Call<B>> {
    per_step(KernelId::ElmanStepBackward, g, Some(act), step_operands(o, carry), backward_order(g))
}

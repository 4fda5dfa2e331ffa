//! Host fns of the recurrent kernels (shaders/rnn.wgsl): shapes in, a
//! [`Call`] out, bindings in the shader's order.

use super::calls::Call;
use super::KernelId;

/// Largest hidden size the persistent kernels take (one invocation per
/// unit, 64 per workgroup).
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
}

impl RnnGeom {
    fn words(&self) -> Vec<u32> {
        vec![self.batch as u32, self.steps as u32, self.hidden as u32, self.last_only as u32]
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
}

fn lstm<B>(kernel: KernelId, g: &RnnGeom, o: LstmOperands<B>) -> Call<B> {
    Call {
        kernel,
        overrides: vec![],
        uniform: g.words(),
        bindings: vec![o.src, o.whh, o.gates, o.cells, o.hprev, o.dst],
        // a workgroup of 64 holds 64 / hidden rows
        groups: [g.batch.div_ceil((64 / g.hidden.max(1)).max(1)) as u32, 1, 1],
    }
}

/// The LSTM recurrence over all steps, one workgroup per sequence.
pub fn lstm_forward<B>(g: &RnnGeom, o: LstmOperands<B>) -> Call<B> {
    lstm(KernelId::LstmForward, g, o)
}

/// Backpropagation through time of [`lstm_forward`]: dz [B, T, 4H] (the
/// gradient of the gates' pre-activations) from dL/dout.
pub fn lstm_backward<B>(g: &RnnGeom, o: LstmOperands<B>) -> Call<B> {
    lstm(KernelId::LstmBackward, g, o)
}

//! The ops a graph is made of, and what autodiff asks of each: which
//! tensors it reads (and can pass a gradient to), which it writes, and the
//! activation fused into its output. Each op family's shape rule, forward
//! lowering and backward rule are in `ops/`.

use super::{Act, Cell, Graph, LossKind, PoolKind, TargetSource, TensorId, WindowGeom};

/// One forward op.
#[derive(Clone, Debug)]
pub enum Op {
    /// Gathers the batch's feature rows from the data set.
    Input {
        /// [batch, features]
        out: TensorId,
    },
    /// out = act(x · w + b): x [batch, in], w [in, out], b \[out\].
    Linear {
        /// Layer name for messages.
        name: String,
        /// Input.
        x: TensorId,
        /// Weight.
        w: TensorId,
        /// Optional bias.
        b: Option<TensorId>,
        /// Fused activation.
        act: Act,
        /// Output.
        out: TensorId,
    },
    /// out = act(x), elementwise.
    Activation {
        /// Op name.
        name: String,
        /// Input.
        x: TensorId,
        /// Activation.
        act: Act,
        /// Output.
        out: TensorId,
    },
    /// out = softmax of each row of x.
    Softmax {
        /// Op name.
        name: String,
        /// Input.
        x: TensorId,
        /// Output.
        out: TensorId,
    },
    /// Inverted dropout (training programs only; inference graphs omit it).
    Dropout {
        /// Op name.
        name: String,
        /// Input.
        x: TensorId,
        /// Drop probability in [0, 1).
        rate: f32,
        /// Random stream of this layer.
        stream: u32,
        /// Output.
        out: TensorId,
    },
    /// 2-D convolution, NCHW: out = act(conv(x, w) + b), w [OC, C, KH, KW].
    Conv2d {
        /// Layer name for messages.
        name: String,
        /// Input [batch, C, H, W].
        x: TensorId,
        /// Weight [OC, C, KH, KW].
        w: TensorId,
        /// Optional bias \[OC\].
        b: Option<TensorId>,
        /// Fused activation.
        act: Act,
        /// Shapes, stride and padding.
        geom: WindowGeom,
        /// Output [batch, OC, OH, OW].
        out: TensorId,
    },
    /// Max or average pooling, or nearest upsampling, over NCHW planes.
    Pool {
        /// Layer name for messages.
        name: String,
        /// Which window op.
        kind: PoolKind,
        /// Input [batch, C, H, W].
        x: TensorId,
        /// Shapes, window, stride and padding.
        geom: WindowGeom,
        /// Max pooling: the in-plane index of each maximum [batch, C, OH, OW].
        argmax: Option<TensorId>,
        /// Output [batch, C, OH, OW].
        out: TensorId,
    },
    /// Batch normalization per channel (dim 1) with a fused activation.
    BatchNorm {
        /// Layer name for messages.
        name: String,
        /// Input [batch, C] or [batch, C, H, W].
        x: TensorId,
        /// Scale \[C\].
        gamma: TensorId,
        /// Shift \[C\].
        beta: TensorId,
        /// Running mean \[C\] (state).
        running_mean: TensorId,
        /// Running variance \[C\] (state).
        running_var: TensorId,
        /// Batch mean and 1/std per channel \[2C\], kept for the backward.
        saved: TensorId,
        /// Fused activation.
        act: Act,
        /// Added to the variance.
        eps: f32,
        /// Weight of each batch in the running statistics.
        momentum: f32,
        /// Batch statistics (training graph) or running statistics (inference graph).
        training: bool,
        /// Output, same shape as x.
        out: TensorId,
    },
    /// A recurrent layer over a sequence x [batch, T, F] (LSTM, GRU or
    /// Elman; see rnn.wgsl for the equations and gate order).
    Recurrent {
        /// Layer name for messages.
        name: String,
        /// Which cell.
        cell: Cell,
        /// Input [batch, T, F].
        x: TensorId,
        /// Input weights [F, G*H] (G gates: LSTM 4, GRU 3, Elman 1).
        w_ih: TensorId,
        /// Recurrent weights [H, G*H].
        w_hh: TensorId,
        /// Input bias \[G*H\].
        b: TensorId,
        /// GRU: the hidden bias \[3H\] (inside the reset gate's product).
        b_hh: Option<TensorId>,
        /// x . w_ih + b for every step [batch, T, G*H].
        gx: TensorId,
        /// LSTM and GRU: activated gates [batch, T, G*H], kept for the backward.
        gates: Option<TensorId>,
        /// LSTM: c_t; GRU: the hidden part of n; Elman: h_t [batch, T, H].
        cells: TensorId,
        /// h_{t-1} of every step [batch, T, H], for the w_hh gradient.
        hprev: TensorId,
        /// Shapes (`mask_width` > 0 when `mask` is set).
        geom: crate::kernels::RnnGeom,
        /// The tensor [batch, T, C] whose last channel marks real steps: a
        /// padded step keeps the state (see rnn.wgsl).
        mask: Option<TensorId>,
        /// The initial state [batch, S] (LSTM: h then c, S = 2H; otherwise
        /// S = H); `None`: zeros.
        init: Option<TensorId>,
        /// Output: h_T [batch, H], or every h_t [batch, T, H].
        out: TensorId,
    },
    /// The training objective (mean over the valid rows of the batch).
    Loss {
        /// Logits [batch, cols].
        logits: TensorId,
        /// Which loss.
        kind: LossKind,
        /// Compared with what.
        target: TargetSource,
    },
}

impl Op {
    /// The tensors the op reads that a gradient can flow to, each with
    /// whether the op's input-gradient kernel can also apply the
    /// derivative of the activation fused into that tensor's producer.
    pub fn inputs(&self) -> Vec<(TensorId, bool)> {
        match self {
            Op::Linear { x, w, b, .. } | Op::Conv2d { x, w, b, .. } => {
                let mut v = vec![(*x, true), (*w, false)];
                v.extend(b.map(|b| (b, false)));
                v
            }
            Op::Pool { x, .. } => vec![(*x, true)],
            Op::Recurrent { x, w_ih, w_hh, b, b_hh, init, .. } => {
                let mut v = vec![(*x, true), (*w_ih, false), (*w_hh, false), (*b, false)];
                v.extend(b_hh.map(|bh| (bh, false)));
                v.extend(init.map(|i| (i, false)));
                v
            }
            Op::BatchNorm { x, gamma, beta, .. } => vec![(*x, false), (*gamma, false), (*beta, false)],
            Op::Activation { x, .. } | Op::Softmax { x, .. } | Op::Dropout { x, .. } => {
                vec![(*x, false)]
            }
            Op::Loss { logits, .. } => vec![(*logits, false)],
            Op::Input { .. } => vec![],
        }
    }

    /// The tensor the op computes from its inputs (none for the input,
    /// which gathers data, and the loss).
    pub fn output(&self) -> Option<TensorId> {
        match self {
            Op::Linear { out, .. }
            | Op::Activation { out, .. }
            | Op::Softmax { out, .. }
            | Op::Dropout { out, .. }
            | Op::Conv2d { out, .. }
            | Op::Pool { out, .. }
            | Op::BatchNorm { out, .. }
            | Op::Recurrent { out, .. } => Some(*out),
            Op::Input { .. } | Op::Loss { .. } => None,
        }
    }

    /// The activation fused into the op's output (dense, convolution and
    /// batch norm layers).
    pub fn fused_act(&self) -> Option<Act> {
        match self {
            Op::Linear { act, .. } | Op::Conv2d { act, .. } | Op::BatchNorm { act, .. } => Some(*act),
            _ => None,
        }
    }
}

impl Graph {
    /// The activation fused into the op that produced `t` (`Act::None`
    /// otherwise: a standalone activation op runs its own backward).
    pub fn producer_act(&self, t: TensorId) -> Act {
        self.ops.iter().find_map(|o| o.fused_act().filter(|_| o.output() == Some(t))).unwrap_or(Act::None)
    }
}

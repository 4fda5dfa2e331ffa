//! The symbolic graph: tensors with shapes, ops with shape rules.
//!
//! A [`Graph`] is built once per model and batch size. Every tensor's first
//! dimension is the batch, except parameters. Shape errors name the op and
//! both shapes. [`Program::compile`] appends the backward pass (see
//! [`autodiff`]), plans memory ([`plan`]) and creates every dispatch once.

pub mod autodiff;
pub mod config;
pub mod image_ops;
mod lower_forward;
pub mod params;
pub mod plan;
pub mod program;
mod rnn_grads;
pub mod run;
pub mod timing;

pub use crate::kernels::{Act, WindowGeom};
pub use config::{
    GpuDataset, MemoryReport, Mode, NonFinitePolicy, Optimizer, OptimizerConfig, ProgramOptions,
};
pub use image_ops::{Cell, Padding, PoolKind};
pub use params::ParamStore;
pub use program::Program;
pub use run::{Predictions, StepStats};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Index of a tensor in its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub usize);

/// How a parameter is initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    /// U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
    XavierUniform,
    /// N(0, 2 / fan_in).
    HeNormal,
    /// All zeros (biases).
    Zeros,
    /// All ones (batch-norm scale, running variance).
    Ones,
    /// LSTM bias \[4H\]: 1 for the forget gate (second quarter), 0 elsewhere,
    /// so cells keep their state early in training.
    LstmBias,
}

/// What a tensor is and where it will live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The batch of input features, gathered from the data set.
    Input,
    /// A trainable parameter (parameter arena).
    Param(Init),
    /// Non-trainable state kept with the parameters and saved in checkpoints
    /// (batch-norm running statistics); placed after every `Param` in the
    /// arena so the optimizer's range leaves it alone.
    State(Init),
    /// The gradient of a parameter (gradient arena, same offset as the parameter).
    ParamGrad(TensorId),
    /// An intermediate value or gradient (activation arena, reused by liveness).
    Activation,
}

/// A tensor's name, shape and class.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// Name, e.g. `dense1.weight` or `grad(dense1.out)`.
    pub name: String,
    /// Shape; batch first for non-parameters.
    pub shape: Vec<usize>,
    /// What it is.
    pub class: Class,
}

impl TensorInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor without elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loss functions; each is one kernel giving the value and the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean squared error against target columns.
    Mse,
    /// Binary cross-entropy on logits (0/1 targets).
    BceWithLogits,
    /// Softmax cross-entropy with an integer class id.
    SoftmaxCrossEntropy,
}

/// What the loss compares the logits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    /// The data set's target columns.
    Targets,
    /// The data set's own features (autoencoders).
    Features,
}

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

/// A model's forward computation for one batch size.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Rows per batch.
    pub batch: usize,
    /// All tensors.
    pub tensors: Vec<TensorInfo>,
    /// Ops in execution order.
    pub ops: Vec<Op>,
    /// The prediction tensor read back in inference.
    pub output: Option<TensorId>,
    /// Further tensors read back in inference, by name (e.g. an autoencoder's `code`).
    pub extra_outputs: Vec<(String, TensorId)>,
    /// The gathered input batch.
    pub input: Option<TensorId>,
    /// Seed of the graph's random ops (dropout).
    pub seed: u64,
    /// A sequence input [batch, T, C] whose last channel marks real steps
    /// (1) and padding (0), for every recurrent layer added after
    /// [`Graph::set_step_mask`].
    pub step_mask: Option<TensorId>,
    /// Run recurrent layers added from now on one dispatch per step even
    /// when the persistent kernels fit (for tests and comparisons).
    pub rnn_per_step: bool,
}

impl Graph {
    /// An empty graph for `batch` rows per step.
    pub fn new(batch: usize) -> Graph {
        Graph {
            batch,
            tensors: Vec::new(),
            ops: Vec::new(),
            output: None,
            extra_outputs: Vec::new(),
            input: None,
            seed: 0,
            step_mask: None,
            rnn_per_step: false,
        }
    }

    /// Shape of a tensor.
    pub fn shape(&self, t: TensorId) -> &[usize] {
        &self.tensors[t.0].shape
    }

    /// Name of a tensor.
    pub fn name(&self, t: TensorId) -> &str {
        &self.tensors[t.0].name
    }

    pub(crate) fn add_tensor(&mut self, name: String, shape: Vec<usize>, class: Class) -> TensorId {
        self.tensors.push(TensorInfo { name, shape, class });
        TensorId(self.tensors.len() - 1)
    }

    /// Values per batch row of a tensor: the product of its dims after the first.
    pub fn row_len(&self, t: TensorId) -> usize {
        self.shape(t)[1..].iter().product()
    }

    /// The input batch [batch, features]; one per graph.
    pub fn input(&mut self, features: usize) -> Result<TensorId> {
        self.input_shaped(&[features])
    }

    /// The input batch [batch, ...shape] (e.g. [C, H, W] for images, each
    /// data row holding the values in that order); one per graph.
    pub fn input_shaped(&mut self, shape: &[usize]) -> Result<TensorId> {
        if self.input.is_some() {
            return Err(Error::Model("a graph has exactly one input".into()));
        }
        if shape.is_empty() || shape.contains(&0) || self.batch == 0 {
            return Err(Error::Model(format!(
                "input needs at least one feature and one row per batch, got batch {} and shape {shape:?}",
                self.batch
            )));
        }
        let mut full = vec![self.batch];
        full.extend_from_slice(shape);
        let out = self.add_tensor("input".into(), full, Class::Input);
        self.ops.push(Op::Input { out });
        self.input = Some(out);
        Ok(out)
    }

    /// A trainable parameter.
    pub fn param(&mut self, name: &str, shape: &[usize], init: Init) -> Result<TensorId> {
        self.stored(name, shape, Class::Param(init))
    }

    /// Non-trainable state stored with the parameters (see [`Class::State`]).
    pub fn state(&mut self, name: &str, shape: &[usize], init: Init) -> Result<TensorId> {
        self.stored(name, shape, Class::State(init))
    }

    fn stored(&mut self, name: &str, shape: &[usize], class: Class) -> Result<TensorId> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(Error::Model(format!("two tensors are named '{name}'")));
        }
        if shape.is_empty() || shape.contains(&0) {
            return Err(Error::Model(format!("parameter '{name}' has an empty shape {shape:?}")));
        }
        Ok(self.add_tensor(name.into(), shape.to_vec(), class))
    }

    pub(crate) fn activation_out(&mut self, name: &str, shape: Vec<usize>) -> TensorId {
        self.add_tensor(format!("{name}.out"), shape, Class::Activation)
    }

    /// out = act(x · w + b), with shape checks that name the op.
    pub fn linear(
        &mut self,
        name: &str,
        x: TensorId,
        w: TensorId,
        b: Option<TensorId>,
        act: Act,
    ) -> Result<TensorId> {
        let xs = self.shape(x).to_vec();
        let ws = self.shape(w).to_vec();
        // an image input [batch, C, H, W] is read flattened: [batch, C*H*W]
        if xs.len() < 2 || ws.len() != 2 || self.row_len(x) != ws[0] {
            return Err(Error::Model(format!(
                "linear '{name}': input shape {xs:?} does not match weight shape {ws:?} (need [batch, k] and [k, n])"
            )));
        }
        if let Some(b) = b {
            let bs = self.shape(b).to_vec();
            if bs != [ws[1]] {
                return Err(Error::Model(format!(
                    "linear '{name}': bias shape {bs:?} does not match weight shape {ws:?} (need [{}])",
                    ws[1]
                )));
            }
        }
        if self.tensors[x.0].class != Class::Input && self.tensors[x.0].class != Class::Activation {
            return Err(Error::Model(format!("linear '{name}': input must be a batch tensor")));
        }
        let out = self.activation_out(name, vec![xs[0], ws[1]]);
        self.ops.push(Op::Linear { name: name.into(), x, w, b, act, out });
        Ok(out)
    }

    /// A dense layer: creates `name.weight` [in, units] and `name.bias` \[units\].
    pub fn dense(&mut self, name: &str, x: TensorId, units: usize, act: Act) -> Result<TensorId> {
        let xs = self.shape(x).to_vec();
        if xs.len() < 2 {
            return Err(Error::Model(format!("dense '{name}': input shape {xs:?} is not [batch, features]")));
        }
        let features = self.row_len(x);
        let init = match act {
            Act::Relu | Act::LeakyRelu => Init::HeNormal,
            _ => Init::XavierUniform,
        };
        let w = self.param(&format!("{name}.weight"), &[features, units], init)?;
        let b = self.param(&format!("{name}.bias"), &[units], Init::Zeros)?;
        self.linear(name, x, w, Some(b), act)
    }

    /// out = act(x), elementwise.
    pub fn activation(&mut self, name: &str, x: TensorId, act: Act) -> Result<TensorId> {
        let shape = self.shape(x).to_vec();
        let out = self.activation_out(name, shape);
        self.ops.push(Op::Activation { name: name.into(), x, act, out });
        Ok(out)
    }

    /// Inverted dropout with drop probability `rate`, its mask drawn from
    /// (graph seed, step, this layer's name, element).
    pub fn dropout(&mut self, name: &str, x: TensorId, rate: f32) -> Result<TensorId> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::Model(format!("dropout '{name}': rate {rate} is not in [0, 1)")));
        }
        let shape = self.shape(x).to_vec();
        let out = self.activation_out(name, shape);
        // FNV-1a of the name: the layer's random stream
        let stream = name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
        self.ops.push(Op::Dropout { name: name.into(), x, rate, stream, out });
        Ok(out)
    }

    /// Row softmax of a [batch, classes] tensor.
    pub fn softmax(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let shape = self.shape(x).to_vec();
        if shape.len() != 2 {
            return Err(Error::Model(format!(
                "softmax '{name}': input shape {shape:?} is not [batch, classes]"
            )));
        }
        let out = self.activation_out(name, shape);
        self.ops.push(Op::Softmax { name: name.into(), x, out });
        Ok(out)
    }

    /// Sets the training loss on `logits` (one loss per graph).
    pub fn loss(&mut self, logits: TensorId, kind: LossKind, target: TargetSource) -> Result<()> {
        if self.ops.iter().any(|o| matches!(o, Op::Loss { .. })) {
            return Err(Error::Model("a graph has exactly one loss".into()));
        }
        let shape = self.shape(logits).to_vec();
        if shape.len() != 2 && (kind == LossKind::SoftmaxCrossEntropy || shape.len() < 2) {
            return Err(Error::Model(format!("loss: logits shape {shape:?} is not [batch, outputs]")));
        }
        if kind == LossKind::SoftmaxCrossEntropy && shape[1] < 2 {
            return Err(Error::Model(format!(
                "softmax cross-entropy needs at least 2 classes, logits shape is {shape:?}"
            )));
        }
        self.ops.push(Op::Loss { logits, kind, target });
        Ok(())
    }

    /// Marks the tensor read back by inference.
    pub fn set_output(&mut self, t: TensorId) {
        self.output = Some(t);
    }

    /// Marks a further tensor read back by inference under `name`.
    pub fn add_extra_output(&mut self, name: &str, t: TensorId) {
        self.extra_outputs.push((name.into(), t));
    }

    /// The loss op, if any: (logits, kind, target).
    pub fn loss_op(&self) -> Option<(TensorId, LossKind, TargetSource)> {
        self.ops.iter().find_map(|o| match o {
            Op::Loss { logits, kind, target } => Some((*logits, *kind, *target)),
            _ => None,
        })
    }

    /// Tensors stored in the parameter arena: every trainable parameter in
    /// creation order, then every state tensor in creation order.
    pub fn params(&self) -> Vec<TensorId> {
        let of = |want_state: bool| {
            (0..self.tensors.len()).filter(move |i| match self.tensors[*i].class {
                Class::Param(_) => !want_state,
                Class::State(_) => want_state,
                _ => false,
            })
        };
        of(false).chain(of(true)).map(TensorId).collect()
    }
}

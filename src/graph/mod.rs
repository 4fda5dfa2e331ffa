//! The symbolic graph: tensors with shapes, ops with shape rules.
//!
//! A [`Graph`] is built once per model and batch size. Every tensor's first
//! dimension is the batch, except parameters. Shape errors name the op and
//! both shapes. [`Program::compile`] appends the backward pass (see
//! [`autodiff`]), plans memory ([`plan`]) and creates every dispatch once.

pub mod autodiff;
pub mod config;
pub mod image_ops;
mod op;
mod ops;
pub mod params;
pub mod plan;
pub mod program;
pub mod run;
pub mod schedule;
pub mod timing;

pub use crate::kernels::{Act, WindowGeom};
pub use config::{
    GpuDataset, MemoryReport, Mode, NonFinitePolicy, Optimizer, OptimizerConfig, ProgramOptions,
};
pub use image_ops::{Padding, PoolKind};
pub use op::Op;
pub use ops::recurrent::Cell;
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
    /// Not a training loss: the output being explained, each row's logit
    /// in the column its first target names, with gradient 1 there (not
    /// averaged over the batch: every row is explained on its own).
    OutputScore,
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

    /// Marks the tensor read back by inference.
    pub fn set_output(&mut self, t: TensorId) {
        self.output = Some(t);
    }

    /// Marks a further tensor read back by inference under `name`.
    pub fn add_extra_output(&mut self, name: &str, t: TensorId) {
        self.extra_outputs.push((name.into(), t));
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

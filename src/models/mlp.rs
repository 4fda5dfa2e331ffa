//! Dense networks: input -> hidden layers (one activation) -> linear output.
//! A shorthand for [`ModelSpec::mlp`] with its head.

use super::spec::{Head, ModelSpec};
use crate::error::Result;
use crate::graph::{Act, Graph, LossKind, TargetSource};
use serde::{Deserialize, Serialize};

/// A multi-layer perceptron.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    /// Input features.
    pub inputs: usize,
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    /// Output units (1 for binary classification and scalar regression).
    pub outputs: usize,
    /// Activation of the hidden layers.
    pub activation: Act,
    /// Training loss on the output logits.
    pub loss: LossKind,
    /// What the loss compares with.
    pub target: TargetSource,
}

impl MlpSpec {
    /// The layer sizes, input to output, e.g. `30-64-32-1`.
    pub fn describe(&self) -> String {
        self.model().describe(self.inputs, self.outputs)
    }

    /// The same network as a general model spec.
    pub fn model(&self) -> ModelSpec {
        ModelSpec::mlp(&self.hidden, self.activation, 0.0)
    }

    /// Builds the graph for `batch` rows: layers `dense1`.. and `output`
    /// (logits, the graph's output), and the loss.
    pub fn build(&self, batch: usize) -> Result<Graph> {
        let head = Head { outputs: self.outputs, loss: self.loss, target: self.target };
        self.model().build(self.inputs, head, batch, true, 0)
    }
}

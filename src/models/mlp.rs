//! Dense networks: input -> hidden layers (one activation) -> linear output.

use crate::error::{Error, Result};
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
        let mut v = vec![self.inputs];
        v.extend(&self.hidden);
        v.push(self.outputs);
        v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("-")
    }

    /// Builds the graph for `batch` rows: layers `dense1`..`denseN`, the
    /// output (logits) marked as the graph's output, and the loss.
    pub fn build(&self, batch: usize) -> Result<Graph> {
        if self.hidden.contains(&0) || self.outputs == 0 {
            return Err(Error::Model(format!(
                "MLP {}: every layer needs at least one unit",
                self.describe()
            )));
        }
        let mut g = Graph::new(batch);
        let mut x = g.input(self.inputs)?;
        for (i, units) in self.hidden.iter().enumerate() {
            x = g.dense(&format!("dense{}", i + 1), x, *units, self.activation)?;
        }
        let logits = g.dense(&format!("dense{}", self.hidden.len() + 1), x, self.outputs, Act::None)?;
        g.set_output(logits);
        g.loss(logits, self.loss, self.target)?;
        Ok(g)
    }
}

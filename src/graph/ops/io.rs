//! The graph's ends: the input batch (rows gathered from the data set by
//! index) and the loss, whose value and gradient one kernel computes.

use super::super::autodiff::Ref;
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::{Class, Graph, LossKind, Op, TargetSource, TensorId};
use crate::kernels::{self, Call, LossOperands};

impl Graph {
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

    /// The loss op, if any: (logits, kind, target).
    pub fn loss_op(&self) -> Option<(TensorId, LossKind, TargetSource)> {
        self.ops.iter().find_map(|o| match o {
            Op::Loss { logits, kind, target } => Some((*logits, *kind, *target)),
            _ => None,
        })
    }
}

/// The input gathers the batch's rows; the loss has no forward call of its
/// own (its kernel computes value and gradient in the backward).
pub(super) fn forward(f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    if let Op::Input { out } = op {
        let n = f.graph.row_len(*out);
        calls.push(kernels::gather_rows(f.graph.batch, n, Ref::Batch, Ref::Features, Ref::T(*out)));
    }
}

/// The loss's value (accumulated into the statistics) and its gradient
/// with respect to the logits; `tcols` target values per row.
pub(super) fn loss_backward(bw: &mut Backward, op: &Op, tcols: usize) {
    let Op::Loss { logits, kind, target } = op else { return };
    // image outputs (a convolutional decoder) are read flattened
    let s = [bw.graph.batch, bw.graph.row_len(*logits)];
    let g = bw.grad(*logits);
    bw.accumulates(*logits);
    let (targets, tc) = match target {
        TargetSource::Targets => (Ref::Targets, tcols),
        TargetSource::Features => (Ref::Features, s[1]),
    };
    let o = LossOperands {
        batch: Ref::Batch,
        targets,
        logits: Ref::T(*logits),
        grad: Ref::T(g),
        stats: Ref::Stats,
    };
    bw.calls.push(match kind {
        LossKind::Mse => kernels::mse_loss(s[0], s[1], tc, o),
        LossKind::BceWithLogits => kernels::bce_with_logits_loss(s[0], s[1], tc, o),
        LossKind::SoftmaxCrossEntropy => kernels::softmax_cross_entropy_loss(s[0], s[1], tc, o),
        LossKind::OutputScore => kernels::output_score(s[0], s[1], tc, o),
    });
}

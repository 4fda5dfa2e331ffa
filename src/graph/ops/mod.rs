//! Every op in one place: one file per op family holds the op's shape rule
//! (the [`Graph`] method that adds it), its forward lowering and its
//! backward rule. This module routes each [`Op`] to its family and holds
//! what the families share: the forward context and the backward context
//! (gradient buffers, "first contribution overwrites" flags, fusions).

mod conv;
mod dense;
mod elementwise;
mod io;
mod norm;
mod pool;
pub mod recurrent;
mod recurrent_grads;

use super::autodiff::{Pass, Ref};
use super::{Act, Class, Graph, Op, TensorId, TensorInfo};
use crate::error::Result;
use crate::kernels::{Call, Variants};

/// What every forward lowering reads.
pub(super) struct Forward<'g> {
    /// The graph being lowered.
    pub graph: &'g Graph,
    /// Forward only (inference) or forward and backward (training).
    pub pass: Pass,
    /// Training steps update state tensors (batch-norm running statistics).
    pub update_state: bool,
    /// The kernel variants the adapter runs.
    pub variants: Variants,
}

/// The forward calls of every op of the graph, in graph order.
pub(super) fn forward_calls(f: &Forward) -> Vec<Call<Ref>> {
    let mut calls = Vec::new();
    for op in &f.graph.ops {
        match op {
            Op::Input { .. } | Op::Loss { .. } => io::forward(f, op, &mut calls),
            Op::Linear { .. } => dense::forward(f, op, &mut calls),
            Op::Activation { .. } | Op::Softmax { .. } | Op::Dropout { .. } => {
                elementwise::forward(f, op, &mut calls)
            }
            Op::Conv2d { .. } => conv::forward(f, op, &mut calls),
            Op::Pool { .. } => pool::forward(f, op, &mut calls),
            Op::BatchNorm { .. } => norm::forward(f, op, &mut calls),
            Op::Recurrent { .. } => recurrent::forward(f, op, &mut calls),
        }
    }
    calls
}

/// The backward calls of `op`, whose output `y` has the gradient `gy` and,
/// before the fused activation, `gz` (the same tensor when there is none).
pub(super) fn backward(bw: &mut Backward, op: &Op, y: TensorId, gy: TensorId, gz: TensorId) -> Result<()> {
    match op {
        Op::Input { .. } | Op::Loss { .. } => Ok(()),
        Op::Linear { .. } => dense::backward(bw, op, gz),
        Op::Activation { .. } | Op::Softmax { .. } | Op::Dropout { .. } => {
            elementwise::backward(bw, op, y, gy)
        }
        Op::Conv2d { .. } => conv::backward(bw, op, gz),
        Op::Pool { .. } => pool::backward(bw, op, gz),
        Op::BatchNorm { .. } => norm::backward(bw, op, gz),
        Op::Recurrent { .. } => recurrent::backward(bw, op, gz),
    }
}

/// The loss's gradient calls (the start of the backward pass).
pub(super) fn loss_backward(bw: &mut Backward, op: &Op, tcols: usize) {
    io::loss_backward(bw, op, tcols)
}

/// The state of the backward lowering: the tensor list it extends, the
/// calls it appends, and per tensor whether it needs a gradient, whether
/// the producer's activation derivative is fused into its one consumer's
/// input-gradient kernel, its gradient buffer and whether that was written.
pub(super) struct Backward<'g> {
    /// The graph being lowered.
    pub graph: &'g Graph,
    /// The graph's tensors and those added by the backward.
    pub tensors: Vec<TensorInfo>,
    /// Calls in execution order.
    pub calls: Vec<Call<Ref>>,
    /// The kernel variants the adapter runs.
    pub variants: Variants,
    needs: Vec<bool>,
    fused: Vec<bool>,
    gbuf: Vec<Option<TensorId>>,
    written: Vec<bool>,
}

impl<'g> Backward<'g> {
    /// A backward lowering after the forward `calls`, given which tensors
    /// need a gradient and which fuse the producer's activation derivative.
    pub fn new(
        graph: &'g Graph,
        calls: Vec<Call<Ref>>,
        needs: Vec<bool>,
        fused: Vec<bool>,
        variants: Variants,
    ) -> Backward<'g> {
        let n = graph.tensors.len();
        Backward {
            graph,
            tensors: graph.tensors.clone(),
            calls,
            variants,
            needs,
            fused,
            gbuf: vec![None; n],
            written: vec![false; n],
        }
    }

    /// Whether `x` needs a gradient.
    pub fn needs(&self, x: TensorId) -> bool {
        self.needs[x.0]
    }

    /// The gradient buffer of `x`, created on first use.
    pub fn grad(&mut self, x: TensorId) -> TensorId {
        if let Some(g) = self.gbuf[x.0] {
            return g;
        }
        let info = &self.graph.tensors[x.0];
        let class = match info.class {
            Class::Param(_) => Class::ParamGrad(x),
            _ => Class::Activation,
        };
        let g = self.add(format!("grad({})", info.name), info.shape.clone(), class);
        self.gbuf[x.0] = Some(g);
        g
    }

    /// The gradient of `x` if one was made.
    pub fn grad_if_made(&self, x: TensorId) -> Option<TensorId> {
        self.gbuf[x.0]
    }

    /// A weight's gradient buffer, its bias's (written by the same kernel,
    /// when the bias needs one) and whether the kernel accumulates into them.
    pub fn weight_grads(
        &mut self,
        w: TensorId,
        bias: Option<TensorId>,
    ) -> (TensorId, Option<TensorId>, bool) {
        let gw = self.grad(w);
        let gb = bias.filter(|b| self.needs(*b)).map(|b| self.grad(b));
        let acc = self.accumulates(w);
        if let Some(b) = bias {
            self.accumulates(b);
        }
        (gw, gb, acc)
    }

    /// Whether a contribution to `x`'s gradient accumulates: the first
    /// contribution overwrites, later ones add.
    pub fn accumulates(&mut self, x: TensorId) -> bool {
        std::mem::replace(&mut self.written[x.0], true)
    }

    /// For an input-gradient kernel writing dL/dx: the producer's
    /// activation whose derivative it applies and the tensor that
    /// derivative reads, when that activation is fused into it.
    pub fn fused_act(&self, x: TensorId) -> (Act, Option<Ref>) {
        if self.fused[x.0] {
            (self.graph.producer_act(x), Some(Ref::T(x)))
        } else {
            (Act::None, None)
        }
    }

    /// A scratch activation tensor.
    pub fn scratch(&mut self, name: String, shape: Vec<usize>) -> TensorId {
        self.add(name, shape, Class::Activation)
    }

    fn add(&mut self, name: String, shape: Vec<usize>, class: Class) -> TensorId {
        self.tensors.push(TensorInfo { name, shape, class });
        TensorId(self.tensors.len() - 1)
    }
}

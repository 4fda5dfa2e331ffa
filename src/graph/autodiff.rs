//! Lowering a graph to kernel calls: every op's forward (in graph order),
//! then reverse-mode autodiff: which tensors need a gradient, then every
//! op's backward rule in reverse order. Each op's forward and backward
//! rules live with its shape rule in `ops/`; this file holds what all ops
//! share.
//!
//! Fusions made in lowering, each saving a dispatch per step:
//! - bias + activation run in the forward matmul's epilogue (ops/dense.rs);
//! - the bias gradient is an extra output row of the weight-gradient matmul;
//! - when a tensor's gradient has a single contributor that is a matmul
//!   (dx = dz · Wᵀ), the activation backward of the layer that produced it
//!   runs in that matmul's epilogue, so it writes dL/dz directly.
//!
//! Gradients are never zeroed: the first contribution to a gradient overwrites
//! it and later ones accumulate, decided here at compile time.

use super::ops;
use super::{Act, Class, Graph, Op, TensorId, TensorInfo};
use crate::error::{Error, Result};
use crate::kernels::{self, Call};

/// A binding as the compiler names it, resolved to a buffer range later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    /// A graph tensor (its class says which arena).
    T(TensorId),
    /// The batch buffer: count, then row ids.
    Batch,
    /// The data set's features.
    Features,
    /// The data set's targets.
    Targets,
    /// Loss statistics [sum, count].
    Stats,
    /// The whole parameter arena.
    Params,
    /// The whole gradient arena.
    Grads,
    /// Optimizer state slot 0 (Adam m, SGD velocity).
    StateM,
    /// Optimizer state slot 1 (Adam v).
    StateV,
    /// A small unused buffer for bindings a specialization ignores.
    Dummy,
    /// The step counter of this replay (dropout draws).
    Step,
    /// Partial sums of squared gradients (the guard).
    GuardPartials,
    /// The guard's result: gradient factor, norm, skip flag.
    Guard,
}

/// What to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Forward only.
    Forward,
    /// Forward, loss and backward.
    ForwardBackward,
}

/// Kernel calls and the extended tensor list.
pub struct Lowered {
    /// All tensors: the graph's plus the gradients added here.
    pub tensors: Vec<TensorInfo>,
    /// Calls in execution order.
    pub calls: Vec<Call<Ref>>,
    /// dL/dinput, when asked for.
    pub input_grad: Option<TensorId>,
    /// dL/d(the kept layer's output), when asked for.
    pub layer_grad: Option<TensorId>,
}

/// Which gradients a backward pass computes and keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradRequest {
    /// Keep dL/dinput.
    pub input: bool,
    /// Compute every parameter's gradient.
    pub params: bool,
    /// Keep dL/d(this tensor), with respect to its value after the
    /// activation fused into its op (its producer's activation derivative
    /// is then never fused into a consumer's kernel).
    pub layer: Option<TensorId>,
}

/// Lowers `graph`, computing and keeping the gradients `grads` asks for;
/// with `update_state` training steps update state tensors (batch-norm
/// running statistics).
pub fn lower(
    graph: &Graph,
    pass: Pass,
    grads: GradRequest,
    update_state: bool,
    tcols: usize,
    variants: kernels::Variants,
) -> Result<Lowered> {
    let calls = ops::forward_calls(&ops::Forward { graph, pass, update_state, variants });
    if pass == Pass::Forward {
        return Ok(Lowered { tensors: graph.tensors.clone(), calls, input_grad: None, layer_grad: None });
    }
    let Some((loss_logits, _, _)) = graph.loss_op() else {
        return Err(Error::Model("training needs a loss; the graph has none".into()));
    };
    let plan = GradientPlan::new(graph, grads, loss_logits)?;
    let mut bw = ops::Backward::new(graph, calls, plan.needs.clone(), plan.fused.clone(), variants);
    for op in graph.ops.iter().rev() {
        if let Op::Loss { .. } = op {
            ops::loss_backward(&mut bw, op, tcols);
            continue;
        }
        let Some(y) = op.output() else { continue };
        if !plan.needs[y.0] || plan.count[y.0] == 0 {
            continue;
        }
        let gy = bw.grad(y);
        let gz = activation_backward(&mut bw, &plan, y, gy);
        ops::backward(&mut bw, op, y, gy, gz)?;
    }
    let input_grad = if grads.input { graph.input.and_then(|i| bw.grad_if_made(i)) } else { None };
    let layer_grad = grads.layer.and_then(|t| bw.grad_if_made(t));
    Ok(Lowered { tensors: bw.tensors, calls: bw.calls, input_grad, layer_grad })
}

/// dL/d(pre-activation) of `y` from its gradient `gy`: `gy` itself when
/// its producer has no activation or its consumer's kernel fused the
/// derivative in, else a scratch tensor written by the activation backward.
fn activation_backward(bw: &mut ops::Backward, plan: &GradientPlan, y: TensorId, gy: TensorId) -> TensorId {
    let act = bw.graph.producer_act(y);
    if plan.fused[y.0] || act == Act::None {
        return gy;
    }
    let info = &bw.graph.tensors[y.0];
    let (len, name, shape) = (info.len(), format!("gradz({})", info.name), info.shape.clone());
    let z = bw.scratch(name, shape);
    bw.calls.push(kernels::activation_backward(len, act, false, Ref::T(gy), Ref::T(y), Ref::T(z)));
    z
}

/// Which tensors need a gradient, how many ops contribute to each, and
/// whether the one contributor can fuse the producer's activation derivative.
struct GradientPlan {
    needs: Vec<bool>,
    count: Vec<usize>,
    fused: Vec<bool>,
}

impl GradientPlan {
    fn new(graph: &Graph, grads: GradRequest, loss_logits: TensorId) -> Result<GradientPlan> {
        let (input_grad, param_grads) = (grads.input, grads.params);
        // parameters (when asked), the input (when asked), and everything computed from them
        let n = graph.tensors.len();
        let mut needs = vec![false; n];
        for (i, ti) in graph.tensors.iter().enumerate() {
            let param = param_grads && matches!(ti.class, Class::Param(_));
            needs[i] = param || (input_grad && ti.class == Class::Input);
        }
        for op in &graph.ops {
            if let Some(out) = op.output() {
                needs[out.0] = Some(out) == grads.layer || op.inputs().iter().any(|(x, _)| needs[x.0]);
            }
        }
        // a tensor's gradient is non-zero only if the loss depends on it
        let mut reaches_loss = vec![false; n];
        reaches_loss[loss_logits.0] = true;
        for op in graph.ops.iter().rev() {
            if op.output().is_some_and(|out| reaches_loss[out.0]) {
                for (x, _) in op.inputs() {
                    reaches_loss[x.0] = true;
                }
            }
        }
        // contributors to each gradient, and whether the only one can fuse
        let mut count = vec![0usize; n];
        let mut via_fusable = vec![false; n];
        for op in &graph.ops {
            let live = match op {
                Op::Loss { .. } => true,
                _ => op.output().is_some_and(|o| reaches_loss[o.0] && needs[o.0]),
            };
            if !live {
                continue;
            }
            for (x, is_dx) in op.inputs() {
                if needs[x.0] {
                    count[x.0] += 1;
                    via_fusable[x.0] = is_dx;
                }
            }
        }
        for p in graph.params() {
            if count[p.0] > 1 {
                return Err(Error::Model(format!(
                    "parameter '{}' is used by {} ops; shared weights are not supported yet",
                    graph.name(p),
                    count[p.0]
                )));
            }
        }
        // a kept layer's gradient is taken after its activation: never fused away
        let fused = (0..n)
            .map(|i| {
                let kept = grads.layer == Some(TensorId(i));
                !kept && count[i] == 1 && via_fusable[i] && graph.producer_act(TensorId(i)) != Act::None
            })
            .collect();
        Ok(GradientPlan { needs, count, fused })
    }
}

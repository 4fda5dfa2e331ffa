//! Lowering a graph to kernel calls: the forward ops (lower_forward.rs),
//! then reverse-mode autodiff. This file is the one place where every
//! backward rule lives.
//!
//! Fusions made in lowering, each saving a dispatch per step:
//! - bias + activation run in the forward matmul's epilogue (lower_forward.rs);
//! - the bias gradient is an extra output row of the weight-gradient matmul;
//! - when a tensor's gradient has a single contributor that is a matmul
//!   (dx = dz · Wᵀ), the activation backward of the layer that produced it
//!   runs in that matmul's epilogue, so it writes dL/dz directly.
//!
//! Gradients are never zeroed: the first contribution to a gradient overwrites
//! it and later ones accumulate, decided here at compile time.

use super::lower_forward::norm_geom;
use super::rnn_grads::{backward_calls, RecurrentGrads, RecurrentLayer};
use super::{Act, Cell, Class, Graph, LossKind, Op, PoolKind, TargetSource, TensorId, TensorInfo};
use crate::error::{Error, Result};
use crate::kernels::{
    self, Call, ConvOperands, DropoutParams, Epilogue, LossOperands, MatmulOperands, NormBackward,
    RecurrenceOperands,
};

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
}

/// The activation fused into the Linear, Conv2d or BatchNorm op that
/// produced `t` (None otherwise: a standalone Activation op runs its own backward).
fn producer_act(graph: &Graph, t: TensorId) -> Act {
    graph
        .ops
        .iter()
        .find_map(|o| match o {
            Op::Linear { out, act, .. } | Op::Conv2d { out, act, .. } | Op::BatchNorm { out, act, .. }
                if *out == t =>
            {
                Some(*act)
            }
            _ => None,
        })
        .unwrap_or(Act::None)
}

/// Lowers `graph`; with `input_grad` the gradient w.r.t. the input batch is
/// kept; with `update_state` training steps update state tensors (batch-norm
/// running statistics).
pub fn lower(
    graph: &Graph,
    pass: Pass,
    input_grad: bool,
    update_state: bool,
    tcols: usize,
    variants: kernels::Variants,
) -> Result<Lowered> {
    let mut tensors = graph.tensors.clone();
    let mut calls = super::lower_forward::forward_calls(graph, pass, update_state, variants);
    let t = Ref::T;
    let b = graph.batch;
    if pass == Pass::Forward {
        return Ok(Lowered { tensors, calls, input_grad: None });
    }
    let Some((loss_logits, _, _)) = graph.loss_op() else {
        return Err(Error::Model("training needs a loss; the graph has none".into()));
    };

    // Which tensors need a gradient: parameters, the input when asked, and
    // everything computed from them.
    let n = graph.tensors.len();
    let mut needs = vec![false; n];
    for (i, ti) in graph.tensors.iter().enumerate() {
        needs[i] = matches!(ti.class, Class::Param(_)) || (input_grad && ti.class == Class::Input);
    }
    // (input, the consumer's dx kernel can fuse the producer's activation
    // derivative) for every differentiable edge
    let edges = |op: &Op| -> Vec<(TensorId, bool)> {
        match op {
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
    };
    let out_of = |op: &Op| -> Option<TensorId> {
        match op {
            Op::Linear { out, .. }
            | Op::Activation { out, .. }
            | Op::Softmax { out, .. }
            | Op::Dropout { out, .. }
            | Op::Conv2d { out, .. }
            | Op::Pool { out, .. }
            | Op::BatchNorm { out, .. }
            | Op::Recurrent { out, .. } => Some(*out),
            _ => None,
        }
    };
    for op in &graph.ops {
        if let Some(out) = out_of(op) {
            needs[out.0] = edges(op).iter().any(|(x, _)| needs[x.0]);
        }
    }
    // Contributors to each gradient, and whether the only one can fuse the
    // activation derivative.
    let mut count = vec![0usize; n];
    let mut via_fusable = vec![false; n];
    let reaches_loss = {
        // a tensor's gradient is non-zero only if the loss depends on it
        let mut r = vec![false; n];
        r[loss_logits.0] = true;
        for op in graph.ops.iter().rev() {
            if let Some(out) = out_of(op) {
                if r[out.0] {
                    for (x, _) in edges(op) {
                        r[x.0] = true;
                    }
                }
            }
        }
        r
    };
    for op in &graph.ops {
        let live = match op {
            Op::Loss { .. } => true,
            _ => out_of(op).is_some_and(|o| reaches_loss[o.0] && needs[o.0]),
        };
        if !live {
            continue;
        }
        for (x, is_dx) in edges(op) {
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
    let fused: Vec<bool> = (0..n)
        .map(|i| count[i] == 1 && via_fusable[i] && producer_act(graph, TensorId(i)) != Act::None)
        .collect();

    // Gradient buffers, created on first use.
    let mut gbuf: Vec<Option<TensorId>> = vec![None; n];
    let mut written = vec![false; n];
    let mut grad_of = |x: TensorId, tensors: &mut Vec<TensorInfo>| -> TensorId {
        if let Some(g) = gbuf[x.0] {
            return g;
        }
        let info = &graph.tensors[x.0];
        let class = match info.class {
            Class::Param(_) => Class::ParamGrad(x),
            _ => Class::Activation,
        };
        tensors.push(TensorInfo { name: format!("grad({})", info.name), shape: info.shape.clone(), class });
        let g = TensorId(tensors.len() - 1);
        gbuf[x.0] = Some(g);
        g
    };
    // first contribution overwrites, later ones accumulate
    let mut first = |x: TensorId| -> bool {
        let acc = written[x.0];
        written[x.0] = true;
        acc
    };

    for op in graph.ops.iter().rev() {
        if let Op::Loss { logits, kind, target } = op {
            // image outputs (a convolutional decoder) are read flattened
            let s = [graph.batch, graph.row_len(*logits)];
            let g = grad_of(*logits, &mut tensors);
            first(*logits);
            let (targets, tc) = match target {
                TargetSource::Targets => (Ref::Targets, tcols),
                TargetSource::Features => (Ref::Features, s[1]),
            };
            let o = LossOperands {
                batch: Ref::Batch,
                targets,
                logits: t(*logits),
                grad: t(g),
                stats: Ref::Stats,
            };
            calls.push(match kind {
                LossKind::Mse => kernels::mse_loss(s[0], s[1], tc, o),
                LossKind::BceWithLogits => kernels::bce_with_logits_loss(s[0], s[1], tc, o),
                LossKind::SoftmaxCrossEntropy => kernels::softmax_cross_entropy_loss(s[0], s[1], tc, o),
            });
            continue;
        }
        let Some(y) = out_of(op) else { continue };
        if !needs[y.0] || count[y.0] == 0 {
            continue;
        }
        let gy = grad_of(y, &mut tensors);
        // gz: dL/d(pre-activation) of y
        let act = producer_act(graph, y);
        let gz = if fused[y.0] || act == Act::None {
            gy
        } else {
            let info = &graph.tensors[y.0];
            tensors.push(TensorInfo {
                name: format!("gradz({})", info.name),
                shape: info.shape.clone(),
                class: Class::Activation,
            });
            let z = TensorId(tensors.len() - 1);
            calls.push(kernels::activation_backward(info.len(), act, false, t(gy), t(y), t(z)));
            z
        };
        match op {
            Op::Linear { x, w, b: bias, .. } => {
                let (k, nout) = (graph.shape(*w)[0], graph.shape(*w)[1]);
                if needs[w.0] {
                    let gw = grad_of(*w, &mut tensors);
                    let gb = bias.filter(|b| needs[b.0]).map(|bb| grad_of(bb, &mut tensors));
                    let acc = first(*w);
                    if let Some(bb) = bias {
                        first(*bb);
                    }
                    let ops = MatmulOperands { a: t(*x), b: t(gz), bias: gb.map(t), aux: None, c: t(gw) };
                    let epi = Epilogue { accumulate: acc, ..Epilogue::PLAIN };
                    calls.push(kernels::matmul_tn(k, nout, b, ops, epi, Ref::Dummy));
                }
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let grad_act = if fused[x.0] { producer_act(graph, *x) } else { Act::None };
                    let aux = fused[x.0].then_some(t(*x));
                    let ops = MatmulOperands { a: t(gz), b: t(*w), bias: None, aux, c: t(gx) };
                    let epi = Epilogue { act: Act::None, grad_act, accumulate: acc };
                    calls.push(kernels::matmul_nt(b, k, nout, ops, epi, Ref::Dummy));
                }
            }
            Op::Activation { x, act, .. } => {
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let len = graph.tensors[x.0].len();
                    calls.push(kernels::activation_backward(len, *act, acc, t(gy), t(y), t(gx)));
                }
            }
            Op::Softmax { x, .. } => {
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let s = graph.shape(*x);
                    calls.push(kernels::softmax_backward(s[0], s[1], acc, t(gy), t(y), t(gx)));
                }
            }
            Op::Dropout { x, rate, stream, .. } => {
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let n = graph.tensors[x.0].len();
                    let d = DropoutParams { n, seed: graph.seed as u32, layer: *stream, p: *rate };
                    calls.push(kernels::dropout_backward(d, acc, Ref::Step, t(gy), t(gx)));
                }
            }
            Op::Conv2d { x, w, b: bias, geom, .. } => {
                if needs[w.0] {
                    let gw = grad_of(*w, &mut tensors);
                    let gb = bias.filter(|b| needs[b.0]).map(|bb| grad_of(bb, &mut tensors));
                    let acc = first(*w);
                    if let Some(bb) = bias {
                        first(*bb);
                    }
                    let o = ConvOperands { a: t(*x), b: t(gz), bias: gb.map(t), aux: None, out: t(gw) };
                    calls.push(kernels::conv2d_backward_weight(geom, o, acc, Ref::Dummy));
                }
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let grad_act = if fused[x.0] { producer_act(graph, *x) } else { Act::None };
                    let aux = fused[x.0].then_some(t(*x));
                    let o = ConvOperands { a: t(gz), b: t(*w), bias: None, aux, out: t(gx) };
                    calls.push(kernels::conv2d_backward_input(geom, o, grad_act, acc, Ref::Dummy));
                }
            }
            Op::Pool { kind, x, geom, argmax, .. } => {
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let grad_act = if fused[x.0] { producer_act(graph, *x) } else { Act::None };
                    let aux = fused[x.0].then_some(t(*x));
                    let (dy, dx) = (t(gz), t(gx));
                    calls.push(match kind {
                        PoolKind::Max => {
                            let arg = argmax.map_or(Ref::Dummy, t);
                            kernels::maxpool_backward(geom, grad_act, acc, dy, arg, aux, dx, Ref::Dummy)
                        }
                        PoolKind::Avg => {
                            kernels::avgpool_backward(geom, grad_act, acc, dy, aux, dx, Ref::Dummy)
                        }
                        PoolKind::Upsample => {
                            kernels::upsample_backward(geom, grad_act, acc, dy, aux, dx, Ref::Dummy)
                        }
                    });
                }
            }
            Op::BatchNorm { x, gamma, beta, saved, eps, momentum, training, .. } => {
                if !training {
                    return Err(Error::Model(
                        "batch norm with running statistics (an inference graph) cannot be trained".into(),
                    ));
                }
                let g = norm_geom(graph, *x, *eps, *momentum);
                let (gg, gbeta) = (grad_of(*gamma, &mut tensors), grad_of(*beta, &mut tensors));
                let accp = first(*gamma);
                first(*beta);
                // dx is always written; without a consumer it is scratch
                let gx = grad_of(*x, &mut tensors);
                let acc = if needs[x.0] { first(*x) } else { false };
                let o = NormBackward {
                    batch: Ref::Batch,
                    x: t(*x),
                    gamma: t(*gamma),
                    dy: t(gz),
                    saved: t(*saved),
                    dgamma: t(gg),
                    dbeta: t(gbeta),
                    dx: t(gx),
                };
                calls.push(kernels::batchnorm_backward(&g, accp, acc, o));
            }
            Op::Recurrent {
                cell,
                x,
                w_ih,
                w_hh,
                b: bias,
                b_hh,
                gates,
                cells,
                hprev,
                geom,
                mask,
                init,
                ..
            } => {
                let (rows, features, width) =
                    (geom.batch * geom.steps, graph.shape(*w_ih)[0], graph.shape(*w_hh)[1]);
                let scratch = |what: &str, tensors: &mut Vec<TensorInfo>| {
                    tensors.push(TensorInfo {
                        name: format!("{what}({})", graph.name(*cells)),
                        shape: vec![geom.batch, geom.steps, width],
                        class: Class::Activation,
                    });
                    TensorId(tensors.len() - 1)
                };
                // the gradients of gx and of the hidden product (one tensor but for the GRU)
                let dgx = scratch("gradgx", &mut tensors);
                let dgh = if *cell == Cell::Gru { scratch("gradgh", &mut tensors) } else { dgx };
                let o = RecurrenceOperands {
                    src: t(gz),
                    whh: t(*w_hh),
                    gates: gates.map_or(Ref::Dummy, t),
                    cells: t(*cells),
                    hprev: t(*hprev),
                    dst: t(dgx),
                    aux: if *cell == Cell::Gru { t(dgh) } else { Ref::Dummy },
                    mask: mask.map_or(Ref::Dummy, t),
                    init: init.map_or(Ref::Dummy, t),
                    dinit: Ref::Dummy,
                };
                // dL/d(initial state), when the state comes from a tensor that needs it
                let (mut geom, mut o) = (*geom, o);
                if let Some(i) = init.filter(|i| needs[i.0]) {
                    o.dinit = t(grad_of(i, &mut tensors));
                    geom.init_grad = true;
                    geom.init_accumulate = first(i);
                }
                // per step: each unit's dL/dh (and dL/dc) between the step dispatches
                let carry = geom.per_step.then(|| {
                    tensors.push(TensorInfo {
                        name: format!("carry({})", graph.name(*cells)),
                        shape: vec![geom.batch, 2 * geom.hidden],
                        class: Class::Activation,
                    });
                    t(TensorId(tensors.len() - 1))
                });
                let gwhh = grad_of(*w_hh, &mut tensors);
                let gbhh = b_hh.map(|bh| grad_of(bh, &mut tensors));
                let (gwih, gb) = (grad_of(*w_ih, &mut tensors), grad_of(*bias, &mut tensors));
                let accumulate = [first(*w_hh), b_hh.is_some_and(&mut first), first(*w_ih), first(*bias)];
                let grads = RecurrentGrads { whh: gwhh, bhh: gbhh, wih: gwih, bias: gb, accumulate };
                let name = graph.name(*cells);
                let dz_needed = needs[x.0];
                let layer = RecurrentLayer { cell: *cell, geom: &geom, features, width, name, dz_needed };
                let inputs = (*hprev, *x, dgx, dgh);
                let carry = carry.unwrap_or(Ref::Dummy);
                calls.extend(backward_calls(&layer, o, carry, inputs, grads, variants, &mut tensors));
                if needs[x.0] {
                    let gx = grad_of(*x, &mut tensors);
                    let acc = first(*x);
                    let grad_act = if fused[x.0] { producer_act(graph, *x) } else { Act::None };
                    let aux = fused[x.0].then_some(t(*x));
                    let ops = MatmulOperands { a: t(dgx), b: t(*w_ih), bias: None, aux, c: t(gx) };
                    let epi = Epilogue { act: Act::None, grad_act, accumulate: acc };
                    calls.push(kernels::matmul_nt(rows, features, width, ops, epi, Ref::Dummy));
                }
            }
            Op::Input { .. } | Op::Loss { .. } => {}
        }
    }
    let input_grad = if input_grad { graph.input.and_then(|i| gbuf[i.0]) } else { None };
    Ok(Lowered { tensors, calls, input_grad })
}

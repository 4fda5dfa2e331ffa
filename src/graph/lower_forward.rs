//! The forward half of lowering a graph to kernel calls (the backward and
//! the rest: autodiff.rs): one or more calls per op, in graph order.

use super::autodiff::{Pass, Ref};
use super::{Cell, Graph, Op, PoolKind, TensorId};
use crate::kernels::{
    self, Call, ConvOperands, DropoutParams, Epilogue, MatmulOperands, NormForward, NormGeom,
    RecurrenceOperands,
};

/// The forward calls of every op of `graph`; with `update_state` training
/// steps update state tensors (batch-norm running statistics).
pub(super) fn forward_calls(
    graph: &Graph,
    pass: Pass,
    update_state: bool,
    variants: kernels::Variants,
) -> Vec<Call<Ref>> {
    let mut calls = Vec::new();
    let t = Ref::T;
    let b = graph.batch;
    for op in &graph.ops {
        match op {
            Op::Input { out } => {
                let f = graph.row_len(*out);
                calls.push(kernels::gather_rows(b, f, Ref::Batch, Ref::Features, t(*out)));
            }
            Op::Linear { x, w, b: bias, act, out, .. } => {
                let (k, n) = (graph.shape(*w)[0], graph.shape(*w)[1]);
                let ops = MatmulOperands { a: t(*x), b: t(*w), bias: bias.map(t), aux: None, c: t(*out) };
                let epi = Epilogue { act: *act, ..Epilogue::PLAIN };
                calls.push(kernels::matmul_nn(b, n, k, ops, epi, Ref::Dummy));
            }
            Op::Activation { x, act, out, .. } => {
                let n = graph.tensors[x.0].len();
                calls.push(kernels::activation_forward(n, *act, t(*x), t(*out), Ref::Dummy));
            }
            Op::Softmax { x, out, .. } => {
                let s = graph.shape(*x);
                calls.push(kernels::softmax_forward(s[0], s[1], t(*x), t(*out), Ref::Dummy));
            }
            Op::Dropout { x, rate, stream, out, .. } => {
                let n = graph.tensors[x.0].len();
                if pass == Pass::Forward {
                    // inference: dropout is the identity
                    calls.push(kernels::add_into(n, false, t(*x), t(*out), Ref::Dummy));
                } else {
                    let d = DropoutParams { n, seed: graph.seed as u32, layer: *stream, p: *rate };
                    calls.push(kernels::dropout_forward(d, Ref::Step, t(*x), t(*out)));
                }
            }
            Op::Conv2d { x, w, b: bias, act, geom, out, .. } => {
                let o = ConvOperands { a: t(*x), b: t(*w), bias: bias.map(t), aux: None, out: t(*out) };
                calls.push(kernels::conv2d_forward(geom, o, *act, Ref::Dummy));
            }
            Op::Pool { kind, x, geom, argmax, out, .. } => calls.push(match kind {
                PoolKind::Max => {
                    let arg = argmax.map_or(Ref::Dummy, t);
                    kernels::maxpool_forward(geom, t(*x), arg, t(*out), Ref::Dummy)
                }
                PoolKind::Avg => kernels::avgpool_forward(geom, t(*x), t(*out), Ref::Dummy),
                PoolKind::Upsample => kernels::upsample_forward(geom, t(*x), t(*out), Ref::Dummy),
            }),
            Op::BatchNorm {
                x,
                gamma,
                beta,
                running_mean,
                running_var,
                saved,
                act,
                eps,
                momentum,
                training,
                out,
                ..
            } => {
                let g = norm_geom(graph, *x, *eps, *momentum);
                // a training graph compiled for inference still normalizes with the batch
                let batch_stats = *training && pass == Pass::ForwardBackward;
                let o = NormForward {
                    batch: Ref::Batch,
                    x: t(*x),
                    gamma: t(*gamma),
                    beta: t(*beta),
                    running_mean: t(*running_mean),
                    running_var: t(*running_var),
                    saved: if batch_stats { t(*saved) } else { Ref::Dummy },
                    y: t(*out),
                };
                calls.push(if batch_stats {
                    kernels::batchnorm_forward_train(&g, *act, update_state, o)
                } else {
                    kernels::batchnorm_forward_eval(&g, *act, o)
                });
            }
            Op::Recurrent {
                cell,
                x,
                w_ih,
                w_hh,
                b: bias,
                b_hh,
                gx,
                gates,
                cells,
                hprev,
                geom,
                mask,
                init,
                out,
                ..
            } => {
                let (rows, features, width) =
                    (geom.batch * geom.steps, graph.shape(*w_ih)[0], graph.shape(*w_hh)[1]);
                // a persistent LSTM over few features adds x . w_ih + b itself (gx stays unused)
                let fused =
                    *cell == Cell::Lstm && !geom.per_step && features <= kernels::RNN_MAX_FUSED_INPUTS;
                if !fused {
                    let ops =
                        MatmulOperands { a: t(*x), b: t(*w_ih), bias: Some(t(*bias)), aux: None, c: t(*gx) };
                    calls.push(kernels::matmul_nn(rows, width, features, ops, Epilogue::PLAIN, Ref::Dummy));
                }
                let o = RecurrenceOperands {
                    src: if fused { t(*x) } else { t(*gx) },
                    whh: t(*w_hh),
                    gates: gates.map_or(Ref::Dummy, t),
                    cells: t(*cells),
                    hprev: t(*hprev),
                    dst: t(*out),
                    aux: b_hh.map_or(Ref::Dummy, t),
                    mask: mask.map_or(Ref::Dummy, t),
                    init: init.map_or(Ref::Dummy, t),
                    dinit: Ref::Dummy,
                };
                // h_{t-1} is read by nothing (inference), or only by an LSTM
                // backward that recomputes it (no step mask)
                let recomputed = *cell == Cell::Lstm
                    && geom.mask_width == 0
                    && kernels::rnn_grads_fit(variants, geom, features);
                let hprev_unread = pass == Pass::Forward || recomputed;
                let geom = &kernels::RnnGeom { hprev_unread, ..*geom };
                if fused {
                    calls.push(kernels::lstm_forward_from_input(
                        geom,
                        features,
                        o.lstm(),
                        t(*w_ih),
                        t(*bias),
                    ));
                } else {
                    calls.extend(cell.forward_calls(geom, o));
                }
            }
            Op::Loss { .. } => {}
        }
    }
    calls
}

/// Batch-norm geometry of x: [batch, C] or [batch, C, H, W].
pub(super) fn norm_geom(graph: &Graph, x: TensorId, eps: f32, momentum: f32) -> NormGeom {
    let s = graph.shape(x);
    NormGeom { batch: s[0], c: s[1], s: s[2..].iter().product(), eps, momentum }
}

//! Lowering of a recurrent layer's backward and weight gradients: two
//! matmuls over all B*T rows (any adapter), or on CPU adapters that run
//! rnn_lanes.wgsl, one pass over dz that sums all three in chunks and adds
//! the chunks (shaders/rnn_grads.wgsl: Elman layers, LSTMs of more than 8
//! features), or for an LSTM the backward itself summing them as it
//! computes dz, per group of sequences (rnn_lanes.wgsl).

use super::super::autodiff::Ref;
use super::recurrent::Cell;
use crate::graph::{Class, TensorId, TensorInfo};
use crate::kernels::{
    self, Call, Epilogue, MatmulOperands, RecurrenceOperands, RnnGeom, RnnGradOperands, Variants,
};

/// The gradient tensors of a recurrent layer's weights, and whether each
/// adds to what an earlier op wrote (w_hh, b_hh, w_ih, b).
pub(super) struct RecurrentGrads {
    /// dL/dw_hh [H, G*H].
    pub whh: TensorId,
    /// dL/db_hh [G*H] (GRU only).
    pub bhh: Option<TensorId>,
    /// dL/dw_ih [F, G*H].
    pub wih: TensorId,
    /// dL/db [G*H].
    pub bias: TensorId,
    /// Accumulate into w_hh's, b_hh's, w_ih's and b's gradient.
    pub accumulate: [bool; 4],
}

/// What the lowering knows of the layer.
pub(super) struct RecurrentLayer<'a> {
    /// The cell.
    pub cell: Cell,
    /// Its geometry (batch, steps, hidden, ...).
    pub geom: &'a RnnGeom,
    /// Input features F.
    pub features: usize,
    /// Gate columns G*H.
    pub width: usize,
    /// A name for its scratch tensors.
    pub name: &'a str,
    /// Whether dz (the gradient of gx) is read after the weight gradients
    /// (by the input gradient's matmul).
    pub dz_needed: bool,
}

/// Backpropagation through the layer (o: its operands, `carry`: the
/// per-step kernels' scratch) and the calls writing its weight gradients
/// `g` (see [`weight_grad_calls`]): for an LSTM where the one-pass weight
/// gradients fit, one kernel does both and a second adds its partials.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_calls(
    layer: &RecurrentLayer<'_>,
    o: RecurrenceOperands<Ref>,
    carry: Ref,
    (hprev, x, dgx, dgh): (TensorId, TensorId, TensorId, TensorId),
    g: RecurrentGrads,
    variants: Variants,
    tensors: &mut Vec<TensorInfo>,
) -> Vec<Call<Ref>> {
    let geom = layer.geom;
    if layer.cell == Cell::Lstm && kernels::rnn_grads_fit(variants, geom, layer.features) {
        let partials = partials_tensor(layer, kernels::lstm_grads_partials(geom.batch), tensors);
        let [acc_hh, _, acc_ih, acc_b] = g.accumulate;
        let grads = RnnGradOperands {
            hprev: Ref::T(hprev),
            x: Ref::T(x),
            dz: Ref::T(dgx),
            partials: Ref::T(partials),
            whh: Ref::T(g.whh),
            wih: Ref::T(g.wih),
            bias: Ref::T(g.bias),
            accumulate: [acc_hh, acc_ih, acc_b],
        };
        return kernels::lstm_backward_with_grads(geom, layer.features, o.lstm(), grads, layer.dz_needed);
    }
    let mut calls = layer.cell.backward_calls(geom, o, carry);
    calls.extend(weight_grad_calls(layer, (hprev, x, dgx, dgh), g, variants, tensors));
    calls
}

/// Scratch for `chunks` partial sums of the weight gradients [chunks, H + F + 1, G*H].
fn partials_tensor(layer: &RecurrentLayer<'_>, chunks: usize, tensors: &mut Vec<TensorInfo>) -> TensorId {
    tensors.push(TensorInfo {
        name: format!("partials({})", layer.name),
        shape: vec![chunks, layer.geom.hidden + layer.features + 1, layer.width],
        class: Class::Activation,
    });
    TensorId(tensors.len() - 1)
}

/// The calls writing `g` from (hprev [B*T, H], x [B*T, F], the gradient of
/// gx and that of the hidden product (the same tensor but for the GRU),
/// both [B*T, G*H]).
fn weight_grad_calls(
    layer: &RecurrentLayer<'_>,
    (hprev, x, dgx, dgh): (TensorId, TensorId, TensorId, TensorId),
    g: RecurrentGrads,
    variants: Variants,
    tensors: &mut Vec<TensorInfo>,
) -> Vec<Call<Ref>> {
    let t = Ref::T;
    let (geom, features, width) = (layer.geom, layer.features, layer.width);
    let rows = geom.batch * geom.steps;
    let [acc_hh, acc_bhh, acc_ih, acc_b] = g.accumulate;
    if layer.cell != Cell::Gru && kernels::rnn_grads_fit(variants, geom, features) {
        let partials = partials_tensor(layer, kernels::rnn_grads_chunks(rows), tensors);
        let o = RnnGradOperands {
            hprev: t(hprev),
            x: t(x),
            dz: t(dgx),
            partials: t(partials),
            whh: t(g.whh),
            wih: t(g.wih),
            bias: t(g.bias),
            accumulate: [acc_hh, acc_ih, acc_b],
        };
        return kernels::rnn_weight_grads(rows, geom.hidden, features, width, o);
    }
    // dw_hh (and db_hh) = hprev^T . dgh, dw_ih (and db) = x^T . dgx; a GRU's
    // b_hh, when there, is written alongside w_hh (one accumulate flag)
    debug_assert!(g.bhh.is_none() || acc_bhh == acc_hh);
    let ops = MatmulOperands { a: t(hprev), b: t(dgh), bias: g.bhh.map(t), aux: None, c: t(g.whh) };
    let epi = Epilogue { accumulate: acc_hh, ..Epilogue::PLAIN };
    let mut calls = vec![kernels::matmul_tn(geom.hidden, width, rows, ops, epi, Ref::Dummy)];
    let ops = MatmulOperands { a: t(x), b: t(dgx), bias: Some(t(g.bias)), aux: None, c: t(g.wih) };
    let epi = Epilogue { accumulate: acc_ih, ..Epilogue::PLAIN };
    calls.push(kernels::matmul_tn(features, width, rows, ops, epi, Ref::Dummy));
    calls
}

//! An f64 interpreter of a [`Graph`]'s forward pass and loss, for gradient
//! checks by central finite differences.

use super::{activation_forward, gather_rows, loss, matmul_nn, softmax_forward, Epi};
use crate::graph::{Cell, Graph, LossKind, Op, PoolKind, TargetSource};
use crate::kernels::NormGeom;
use std::collections::BTreeMap;

/// The data a forward pass reads.
pub struct RefData<'a> {
    /// Features [N, cols].
    pub features: &'a [f64],
    /// Feature columns.
    pub cols: usize,
    /// Targets [N, tcols].
    pub targets: &'a [f64],
    /// Target columns.
    pub tcols: usize,
}

/// Values of every graph tensor after a forward pass, and the mean loss.
pub struct RefForward {
    /// Tensor values by tensor index (params included).
    pub values: Vec<Vec<f64>>,
    /// Mean loss over the valid rows, if the graph has a loss (for
    /// [`LossKind::OutputScore`], the sum of the rows' explained outputs).
    pub loss: Option<f64>,
}

/// Runs the forward pass of `graph` on the batch [count, ids...] with
/// `params` by name. `input` overrides the gathered input when given.
pub fn forward(
    graph: &Graph,
    params: &BTreeMap<String, Vec<f64>>,
    data: &RefData,
    batch: &[u32],
    input: Option<&[f64]>,
) -> RefForward {
    forward_fixing(graph, params, data, batch, input, &BTreeMap::new())
}

/// [`forward`] with the outputs of some ops fixed: each tensor (by index)
/// in `fixed` takes the given values instead of its op's, so that the
/// output can be differentiated with respect to an inner layer.
pub fn forward_fixing(
    graph: &Graph,
    params: &BTreeMap<String, Vec<f64>>,
    data: &RefData,
    batch: &[u32],
    input: Option<&[f64]>,
    fixed: &BTreeMap<usize, Vec<f64>>,
) -> RefForward {
    let mut values: Vec<Vec<f64>> = graph
        .tensors
        .iter()
        .map(|t| params.get(&t.name).cloned().unwrap_or_else(|| vec![0.0; t.len()]))
        .collect();
    let b = graph.batch;
    let mut mean_loss = None;
    for op in &graph.ops {
        match op {
            Op::Input { out } => {
                values[out.0] = match input {
                    Some(x) => x.to_vec(),
                    None => gather_rows(b, data.cols, batch, data.features),
                };
            }
            Op::Linear { x, w, b: bias, act, out, .. } => {
                let (k, n) = (graph.shape(*w)[0], graph.shape(*w)[1]);
                let mut c = vec![0.0; b * n];
                let bias_v = bias.map(|t| values[t.0].clone());
                let epi = Epi { bias: bias_v.as_deref(), act: *act, grad_act: None, accumulate: false };
                matmul_nn(b, n, k, &values[x.0], &values[w.0], epi, &mut c);
                values[out.0] = c;
            }
            Op::Activation { x, act, out, .. } => {
                let mut o = vec![0.0; values[x.0].len()];
                activation_forward(*act, &values[x.0], &mut o);
                values[out.0] = o;
            }
            Op::Softmax { x, out, .. } => {
                let s = graph.shape(*x);
                let mut o = vec![0.0; s[0] * s[1]];
                softmax_forward(s[0], s[1], &values[x.0], &mut o);
                values[out.0] = o;
            }
            Op::Dropout { x, rate, stream, out, .. } => {
                // the reference uses step 0, as a Gradients program does
                let mut o = vec![0.0; values[x.0].len()];
                super::dropout_forward(graph.seed as u32, 0, *stream, *rate as f64, &values[x.0], &mut o);
                values[out.0] = o;
            }
            Op::Conv2d { x, w, b: bias, act, geom, out, .. } => {
                let mut o = vec![0.0; geom.out_len()];
                let bias_v = bias.map(|t| values[t.0].clone());
                super::conv2d_forward(geom, &values[x.0], &values[w.0], bias_v.as_deref(), *act, &mut o);
                values[out.0] = o;
            }
            Op::Pool { kind, x, geom, out, .. } => {
                let mut o = vec![0.0; geom.out_len()];
                match kind {
                    PoolKind::Max => {
                        let mut arg = vec![0i64; geom.out_len()];
                        super::maxpool_forward(geom, &values[x.0], &mut o, &mut arg);
                    }
                    PoolKind::Avg => super::avgpool_forward(geom, &values[x.0], &mut o),
                    PoolKind::Upsample => super::upsample_forward(geom, &values[x.0], &mut o),
                }
                values[out.0] = o;
            }
            Op::BatchNorm { out, .. } => values[out.0] = batchnorm(graph, op, &values, batch),
            Op::Recurrent { .. } => recurrent(graph, op, &mut values),
            Op::Loss { logits, kind, target } => {
                let s = [b, graph.row_len(*logits)];
                let (t, tc) = match target {
                    TargetSource::Targets => (data.targets, data.tcols),
                    TargetSource::Features => (data.features, data.cols),
                };
                let (sum, _) = loss(*kind, s[0], s[1], tc, batch, t, &values[logits.0]);
                let count = (batch[0] as usize).min(b).max(1);
                // the explained output is each row's own, summed, not a mean
                let per = if *kind == LossKind::OutputScore { 1 } else { count };
                mean_loss = Some(sum / per as f64);
            }
        }
        if let Some(t) = op.output() {
            if let Some(v) = fixed.get(&t.0) {
                values[t.0] = v.clone();
            }
        }
    }
    RefForward { values, loss: mean_loss }
}

/// The f64 batch norm of `op` (batch statistics in a training graph).
fn batchnorm(graph: &Graph, op: &Op, values: &[Vec<f64>], batch: &[u32]) -> Vec<f64> {
    let Op::BatchNorm { x, gamma, beta, running_mean, running_var, act, eps, momentum, training, .. } = op
    else {
        return Vec::new();
    };
    let s = graph.shape(*x);
    let g = NormGeom { batch: s[0], c: s[1], s: s[2..].iter().product(), eps: *eps, momentum: *momentum };
    let mut o = vec![0.0; values[x.0].len()];
    let (xv, gv, bv) = (&values[x.0], &values[gamma.0], &values[beta.0]);
    if *training {
        let valid = (batch[0] as usize).clamp(1, graph.batch);
        let mut saved = vec![0.0; 2 * g.c];
        super::batchnorm_forward_train(&g, valid, *act, xv, gv, bv, None, &mut saved, &mut o);
    } else {
        let (rm, rv) = (&values[running_mean.0], &values[running_var.0]);
        super::batchnorm_forward_eval(&g, *act, xv, gv, bv, rm, rv, &mut o);
    }
    o
}

/// The f64 recurrent layer of `op`: its direction's units of each output row.
fn recurrent(graph: &Graph, op: &Op, values: &mut [Vec<f64>]) {
    let Op::Recurrent { cell, x, w_ih, w_hh, b: bias, b_hh, geom, mask, init, out, .. } = op else { return };
    let (rows, features, width) = (geom.batch * geom.steps, graph.shape(*w_ih)[0], graph.shape(*w_hh)[1]);
    let mut gx = vec![0.0; rows * width];
    let epi = Epi {
        bias: Some(&values[bias.0]),
        act: crate::kernels::Act::None,
        grad_act: None,
        accumulate: false,
    };
    matmul_nn(rows, width, features, &values[x.0], &values[w_ih.0], epi, &mut gx);
    // the reverse direction: the forward twin on the time-reversed sequence
    let plain = crate::kernels::RnnGeom {
        mask_width: geom.mask_width,
        init_width: geom.init_width,
        ..crate::kernels::RnnGeom::new(geom.batch, geom.steps, geom.hidden, geom.last_only)
    };
    let flip = |v: &[f64], w: usize| -> Vec<f64> {
        let mut o = v.to_vec();
        for b in 0..geom.batch {
            for t in 0..geom.steps {
                let (src, dst) = ((b * geom.steps + t) * w, (b * geom.steps + geom.steps - 1 - t) * w);
                o[dst..dst + w].copy_from_slice(&v[src..src + w]);
            }
        }
        o
    };
    let mut m = mask.map(|m| values[m.0].clone()).unwrap_or_default();
    if geom.reverse {
        gx = flip(&gx, width);
        if !m.is_empty() {
            m = flip(&m, geom.mask_width);
        }
    }
    let whh = &values[w_hh.0];
    let init = init.map(|i| values[i.0].clone()).unwrap_or_default();
    let side = super::rnn::Side { mask: &m, init: &init };
    let mut h = match cell {
        Cell::Lstm => super::rnn::lstm_forward(&plain, &gx, whh, side).out,
        Cell::Gru => {
            // a GRU always has b_hh; zeros stand in for a graph without one
            let bhh = b_hh.map(|t| values[t.0].clone()).unwrap_or_else(|| vec![0.0; width]);
            super::rnn::gru_forward(&plain, &gx, whh, &bhh, side).out
        }
        Cell::Elman(act) => super::rnn::elman_forward(&plain, *act, &gx, whh, side).out,
    };
    if geom.reverse && !geom.last_only {
        h = flip(&h, geom.hidden);
    }
    let o = &mut values[out.0];
    for (r, row) in h.chunks(geom.hidden).enumerate() {
        let at = r * geom.out_width + geom.out_offset;
        o[at..at + geom.hidden].copy_from_slice(row);
    }
}

//! Batch normalization per channel with a fused activation: batch
//! statistics in training graphs (updating the running ones), running
//! statistics in inference graphs.

use super::super::autodiff::{Pass, Ref};
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::{Act, Class, Graph, Init, Op, TensorId};
use crate::kernels::{self, Call, NormBackward, NormBackwardEval, NormForward, NormGeom};

impl Graph {
    /// Batch normalization over dim 1 of [batch, C] or [batch, C, H, W]:
    /// creates `name.gamma` (ones), `name.beta` (zeros) and the state
    /// `name.running_mean` (zeros), `name.running_var` (ones). A training
    /// graph normalizes with the batch statistics, an inference graph with
    /// the running ones.
    pub fn batchnorm(
        &mut self,
        name: &str,
        x: TensorId,
        eps: f32,
        momentum: f32,
        act: Act,
        training: bool,
    ) -> Result<TensorId> {
        let shape = self.shape(x).to_vec();
        if shape.len() != 2 && shape.len() != 4 {
            return Err(Error::Model(format!(
                "batchnorm '{name}': input shape {shape:?} is neither [batch, features] nor [batch, C, H, W]"
            )));
        }
        if !(eps > 0.0 && eps.is_finite() && (0.0..=1.0).contains(&momentum)) {
            return Err(Error::Model(format!(
                "batchnorm '{name}': eps must be > 0 and momentum in [0, 1], got eps {eps} and momentum {momentum}"
            )));
        }
        let c = shape[1];
        let gamma = self.param(&format!("{name}.gamma"), &[c], Init::Ones)?;
        let beta = self.param(&format!("{name}.beta"), &[c], Init::Zeros)?;
        let running_mean = self.state(&format!("{name}.running_mean"), &[c], Init::Zeros)?;
        let running_var = self.state(&format!("{name}.running_var"), &[c], Init::Ones)?;
        let saved = self.add_tensor(format!("{name}.saved"), vec![2 * c], Class::Activation);
        let out = self.activation_out(name, shape);
        self.ops.push(Op::BatchNorm {
            name: name.into(),
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
        });
        Ok(out)
    }
}

/// Batch-norm geometry of x: [batch, C] or [batch, C, H, W].
fn norm_geom(graph: &Graph, x: TensorId, eps: f32, momentum: f32) -> NormGeom {
    let s = graph.shape(x);
    NormGeom { batch: s[0], c: s[1], s: s[2..].iter().product(), eps, momentum }
}

/// Normalizes with the batch's statistics (training) or the running ones.
pub(super) fn forward(f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    let t = Ref::T;
    let Op::BatchNorm {
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
    } = op
    else {
        return;
    };
    let g = norm_geom(f.graph, *x, *eps, *momentum);
    // a training graph compiled for inference still normalizes with the batch
    let batch_stats = *training && f.pass == Pass::ForwardBackward;
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
        kernels::batchnorm_forward_train(&g, *act, f.update_state, o)
    } else {
        kernels::batchnorm_forward_eval(&g, *act, o)
    });
}

/// dgamma, dbeta and dx in one kernel (dx is always written; without a
/// consumer it is scratch).
pub(super) fn backward(bw: &mut Backward, op: &Op, gz: TensorId) -> Result<()> {
    let t = Ref::T;
    let Op::BatchNorm { x, gamma, beta, saved, eps, momentum, training, .. } = op else { return Ok(()) };
    let g = norm_geom(bw.graph, *x, *eps, *momentum);
    if !training {
        return backward_eval(bw, op, &g, gz);
    }
    let (gg, gbeta) = (bw.grad(*gamma), bw.grad(*beta));
    let accp = bw.accumulates(*gamma);
    bw.accumulates(*beta);
    let gx = bw.grad(*x);
    let acc = if bw.needs(*x) { bw.accumulates(*x) } else { false };
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
    bw.calls.push(kernels::batchnorm_backward(&g, accp, acc, o));
    Ok(())
}

/// With running statistics (an inference graph): dx only, for gradients of
/// a trained model (explanations); its parameters cannot be trained here.
fn backward_eval(bw: &mut Backward, op: &Op, g: &NormGeom, gz: TensorId) -> Result<()> {
    let t = Ref::T;
    let Op::BatchNorm { x, gamma, beta, running_mean, running_var, .. } = op else { return Ok(()) };
    if bw.needs(*gamma) || bw.needs(*beta) {
        return Err(Error::Model(
            "batch norm with running statistics (an inference graph) cannot be trained".into(),
        ));
    }
    if !bw.needs(*x) {
        return Ok(());
    }
    let gx = bw.grad(*x);
    let acc = bw.accumulates(*x);
    let o = NormBackwardEval {
        batch: Ref::Batch,
        x: t(*x),
        gamma: t(*gamma),
        dy: t(gz),
        running_mean: t(*running_mean),
        running_var: t(*running_var),
        dx: t(gx),
    };
    bw.calls.push(kernels::batchnorm_backward_eval(g, acc, o));
    Ok(())
}

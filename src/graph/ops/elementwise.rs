//! Elementwise ops: a standalone activation, row softmax and inverted
//! dropout (its mask drawn from the graph seed, the step and the layer).

use super::super::autodiff::{Pass, Ref};
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::{Act, Graph, Op, TensorId};
use crate::kernels::{self, Call, DropoutParams};

impl Graph {
    /// out = act(x), elementwise.
    pub fn activation(&mut self, name: &str, x: TensorId, act: Act) -> Result<TensorId> {
        let shape = self.shape(x).to_vec();
        let out = self.activation_out(name, shape);
        self.ops.push(Op::Activation { name: name.into(), x, act, out });
        Ok(out)
    }

    /// Inverted dropout with drop probability `rate`, its mask drawn from
    /// (graph seed, step, this layer's name, element).
    pub fn dropout(&mut self, name: &str, x: TensorId, rate: f32) -> Result<TensorId> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::Model(format!("dropout '{name}': rate {rate} is not in [0, 1)")));
        }
        let shape = self.shape(x).to_vec();
        let out = self.activation_out(name, shape);
        // FNV-1a of the name: the layer's random stream
        let stream = name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
        self.ops.push(Op::Dropout { name: name.into(), x, rate, stream, out });
        Ok(out)
    }

    /// Row softmax of a [batch, classes] tensor.
    pub fn softmax(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let shape = self.shape(x).to_vec();
        if shape.len() != 2 {
            return Err(Error::Model(format!(
                "softmax '{name}': input shape {shape:?} is not [batch, classes]"
            )));
        }
        let out = self.activation_out(name, shape);
        self.ops.push(Op::Softmax { name: name.into(), x, out });
        Ok(out)
    }
}

/// The forward call of an activation, softmax or dropout (the identity in
/// inference programs).
pub(super) fn forward(f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    let (t, g) = (Ref::T, f.graph);
    match op {
        Op::Activation { x, act, out, .. } => {
            let n = g.tensors[x.0].len();
            calls.push(kernels::activation_forward(n, *act, t(*x), t(*out), Ref::Dummy));
        }
        Op::Softmax { x, out, .. } => {
            let s = g.shape(*x);
            calls.push(kernels::softmax_forward(s[0], s[1], t(*x), t(*out), Ref::Dummy));
        }
        Op::Dropout { x, rate, stream, out, .. } => {
            let n = g.tensors[x.0].len();
            if f.pass == Pass::Forward {
                // inference: dropout is the identity
                calls.push(kernels::add_into(n, false, t(*x), t(*out), Ref::Dummy));
            } else {
                let d = DropoutParams { n, seed: g.seed as u32, layer: *stream, p: *rate };
                calls.push(kernels::dropout_forward(d, Ref::Step, t(*x), t(*out)));
            }
        }
        _ => {}
    }
}

/// dx from dy (`gy`) and the output `y`.
pub(super) fn backward(bw: &mut Backward, op: &Op, y: TensorId, gy: TensorId) -> Result<()> {
    let t = Ref::T;
    let x = match op {
        Op::Activation { x, .. } | Op::Softmax { x, .. } | Op::Dropout { x, .. } => *x,
        _ => return Ok(()),
    };
    if !bw.needs(x) {
        return Ok(());
    }
    let gx = bw.grad(x);
    let acc = bw.accumulates(x);
    let call = match op {
        Op::Activation { act, .. } => {
            let len = bw.graph.tensors[x.0].len();
            kernels::activation_backward(len, *act, acc, t(gy), t(y), t(gx))
        }
        Op::Softmax { .. } => {
            let s = bw.graph.shape(x);
            kernels::softmax_backward(s[0], s[1], acc, t(gy), t(y), t(gx))
        }
        Op::Dropout { rate, stream, .. } => {
            let n = bw.graph.tensors[x.0].len();
            let d = DropoutParams { n, seed: bw.graph.seed as u32, layer: *stream, p: *rate };
            kernels::dropout_backward(d, acc, Ref::Step, t(gy), t(gx))
        }
        _ => return Ok(()),
    };
    bw.calls.push(call);
    Ok(())
}

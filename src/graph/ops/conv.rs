//! 2-D convolutions over NCHW images: out = act(conv(x, w) + b), with the
//! bias and activation fused into the forward kernel.

use super::super::autodiff::Ref;
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::image_ops::Window;
use crate::graph::{Act, Graph, Init, Op, TensorId};
use crate::kernels::{self, Call, ConvOperands};

impl Graph {
    /// A 2-D convolution layer: creates `name.weight` [filters, C, KH, KW]
    /// and `name.bias` \[filters\]; out = act(conv(x) + bias).
    pub fn conv2d(
        &mut self,
        name: &str,
        x: TensorId,
        filters: usize,
        win: Window,
        act: Act,
    ) -> Result<TensorId> {
        if filters == 0 {
            return Err(Error::Model(format!("conv2d '{name}': filters must be at least 1")));
        }
        let g = self.geom("conv2d", name, x, filters, win)?;
        let init = match act {
            Act::Relu | Act::LeakyRelu => Init::HeNormal,
            _ => Init::XavierUniform,
        };
        let w = self.param(&format!("{name}.weight"), &[filters, g.c, g.kh, g.kw], init)?;
        let b = Some(self.param(&format!("{name}.bias"), &[filters], Init::Zeros)?);
        let out = self.activation_out(name, vec![g.batch, filters, g.oh, g.ow]);
        self.ops.push(Op::Conv2d { name: name.into(), x, w, b, act, geom: g, out });
        Ok(out)
    }
}

/// The convolution with its bias and activation.
pub(super) fn forward(_f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    let t = Ref::T;
    if let Op::Conv2d { x, w, b: bias, act, geom, out, .. } = op {
        let o = ConvOperands { a: t(*x), b: t(*w), bias: bias.map(t), aux: None, out: t(*out) };
        calls.push(kernels::conv2d_forward(geom, o, *act, Ref::Dummy));
    }
}

/// dw (and db) from x and gz; dx from gz and w, with the producer's
/// activation derivative fused in when it can be.
pub(super) fn backward(bw: &mut Backward, op: &Op, gz: TensorId) -> Result<()> {
    let t = Ref::T;
    let Op::Conv2d { x, w, b: bias, geom, .. } = op else { return Ok(()) };
    if bw.needs(*w) {
        let (gw, gb, acc) = bw.weight_grads(*w, *bias);
        let o = ConvOperands { a: t(*x), b: t(gz), bias: gb.map(t), aux: None, out: t(gw) };
        bw.calls.push(kernels::conv2d_backward_weight(geom, o, acc, Ref::Dummy));
    }
    if bw.needs(*x) {
        let gx = bw.grad(*x);
        let acc = bw.accumulates(*x);
        let (grad_act, aux) = bw.fused_act(*x);
        let o = ConvOperands { a: t(gz), b: t(*w), bias: None, aux, out: t(gx) };
        bw.calls.push(kernels::conv2d_backward_input(geom, o, grad_act, acc, Ref::Dummy));
    }
    Ok(())
}

//! Window ops without weights over NCHW images: max and average pooling
//! and nearest-neighbour upsampling.

use super::super::autodiff::Ref;
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::image_ops::{Padding, Pair, PoolKind, Window};
use crate::graph::{Class, Graph, Op, TensorId, WindowGeom};
use crate::kernels::{self, Call};

impl Graph {
    /// Max or average pooling with `win`.
    pub fn pool2d(&mut self, name: &str, kind: PoolKind, x: TensorId, win: Window) -> Result<TensorId> {
        let what = if kind == PoolKind::Max { "maxpool2d" } else { "avgpool2d" };
        let c = self.image_shape(what, name, x)?[1];
        let g = self.geom(what, name, x, c, win)?;
        let shape = vec![g.batch, c, g.oh, g.ow];
        let argmax = (kind == PoolKind::Max)
            .then(|| self.add_tensor(format!("{name}.argmax"), shape.clone(), Class::Activation));
        let out = self.activation_out(name, shape);
        self.ops.push(Op::Pool { name: name.into(), kind, x, geom: g, argmax, out });
        Ok(out)
    }

    /// Average over each whole plane: [batch, C, H, W] -> [batch, C, 1, 1].
    pub fn global_avgpool2d(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let [_, _, h, w] = self.image_shape("global_avgpool2d", name, x)?;
        let win = Window { kernel: Pair::Each([h, w]), stride: Pair::Both(1), padding: Padding::VALID };
        self.pool2d(name, PoolKind::Avg, x, win)
    }

    /// Nearest-neighbour upsampling by `factor`: [.., H, W] -> [.., H*fh, W*fw].
    pub fn upsample2d(&mut self, name: &str, x: TensorId, factor: Pair) -> Result<TensorId> {
        let [batch, c, h, w] = self.image_shape("upsample2d", name, x)?;
        let (fh, fw) = factor.hw();
        if fh == 0 || fw == 0 {
            return Err(Error::Model(format!("upsample2d '{name}': the factor must be at least 1")));
        }
        let g = WindowGeom {
            batch,
            c,
            h,
            w,
            oc: c,
            oh: h * fh,
            ow: w * fw,
            kh: fh,
            kw: fw,
            sh: fh,
            sw: fw,
            ph: 0,
            pw: 0,
        };
        let out = self.activation_out(name, vec![batch, c, g.oh, g.ow]);
        self.ops.push(Op::Pool {
            name: name.into(),
            kind: PoolKind::Upsample,
            x,
            geom: g,
            argmax: None,
            out,
        });
        Ok(out)
    }
}

/// The pooling or upsampling kernel (max pooling also records each window's argmax).
pub(super) fn forward(_f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    let t = Ref::T;
    let Op::Pool { kind, x, geom, argmax, out, .. } = op else { return };
    calls.push(match kind {
        PoolKind::Max => {
            let arg = argmax.map_or(Ref::Dummy, t);
            kernels::maxpool_forward(geom, t(*x), arg, t(*out), Ref::Dummy)
        }
        PoolKind::Avg => kernels::avgpool_forward(geom, t(*x), t(*out), Ref::Dummy),
        PoolKind::Upsample => kernels::upsample_forward(geom, t(*x), t(*out), Ref::Dummy),
    });
}

/// dx from gz, with the producer's activation derivative fused in when it can be.
pub(super) fn backward(bw: &mut Backward, op: &Op, gz: TensorId) -> Result<()> {
    let t = Ref::T;
    let Op::Pool { kind, x, geom, argmax, .. } = op else { return Ok(()) };
    if !bw.needs(*x) {
        return Ok(());
    }
    let gx = bw.grad(*x);
    let acc = bw.accumulates(*x);
    let (grad_act, aux) = bw.fused_act(*x);
    let (dy, dx) = (t(gz), t(gx));
    bw.calls.push(match kind {
        PoolKind::Max => {
            let arg = argmax.map_or(Ref::Dummy, t);
            kernels::maxpool_backward(geom, grad_act, acc, dy, arg, aux, dx, Ref::Dummy)
        }
        PoolKind::Avg => kernels::avgpool_backward(geom, grad_act, acc, dy, aux, dx, Ref::Dummy),
        PoolKind::Upsample => kernels::upsample_backward(geom, grad_act, acc, dy, aux, dx, Ref::Dummy),
    });
    Ok(())
}

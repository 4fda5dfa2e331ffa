//! Dense layers: out = act(x · w + b), the bias and activation fused into
//! the matmul's epilogue; the backward's bias gradient is an extra output
//! row of the weight-gradient matmul.

use super::super::autodiff::Ref;
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::{Act, Class, Graph, Init, Op, TensorId};
use crate::kernels::{self, Call, Epilogue, MatmulOperands};

impl Graph {
    /// out = act(x · w + b), with shape checks that name the op.
    pub fn linear(
        &mut self,
        name: &str,
        x: TensorId,
        w: TensorId,
        b: Option<TensorId>,
        act: Act,
    ) -> Result<TensorId> {
        let xs = self.shape(x).to_vec();
        let ws = self.shape(w).to_vec();
        // an image input [batch, C, H, W] is read flattened: [batch, C*H*W]
        if xs.len() < 2 || ws.len() != 2 || self.row_len(x) != ws[0] {
            return Err(Error::Model(format!(
                "linear '{name}': input shape {xs:?} does not match weight shape {ws:?} (need [batch, k] and [k, n])"
            )));
        }
        if let Some(b) = b {
            let bs = self.shape(b).to_vec();
            if bs != [ws[1]] {
                return Err(Error::Model(format!(
                    "linear '{name}': bias shape {bs:?} does not match weight shape {ws:?} (need [{}])",
                    ws[1]
                )));
            }
        }
        if self.tensors[x.0].class != Class::Input && self.tensors[x.0].class != Class::Activation {
            return Err(Error::Model(format!("linear '{name}': input must be a batch tensor")));
        }
        let out = self.activation_out(name, vec![xs[0], ws[1]]);
        self.ops.push(Op::Linear { name: name.into(), x, w, b, act, out });
        Ok(out)
    }

    /// A dense layer: creates `name.weight` [in, units] and `name.bias` \[units\].
    pub fn dense(&mut self, name: &str, x: TensorId, units: usize, act: Act) -> Result<TensorId> {
        let xs = self.shape(x).to_vec();
        if xs.len() < 2 {
            return Err(Error::Model(format!("dense '{name}': input shape {xs:?} is not [batch, features]")));
        }
        let features = self.row_len(x);
        let init = match act {
            Act::Relu | Act::LeakyRelu => Init::HeNormal,
            _ => Init::XavierUniform,
        };
        let w = self.param(&format!("{name}.weight"), &[features, units], init)?;
        let b = self.param(&format!("{name}.bias"), &[units], Init::Zeros)?;
        self.linear(name, x, w, Some(b), act)
    }
}

/// x [batch, k] · w [k, n] (+ b, act) -> out [batch, n].
pub(super) fn forward(f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    let t = Ref::T;
    if let Op::Linear { x, w, b: bias, act, out, .. } = op {
        let (k, n) = (f.graph.shape(*w)[0], f.graph.shape(*w)[1]);
        let ops = MatmulOperands { a: t(*x), b: t(*w), bias: bias.map(t), aux: None, c: t(*out) };
        let epi = Epilogue { act: *act, ..Epilogue::PLAIN };
        calls.push(kernels::matmul_nn(f.graph.batch, n, k, ops, epi, Ref::Dummy));
    }
}

/// dw (and db) = xᵀ · gz; dx = gz · wᵀ, with the producer's activation
/// derivative fused in when it can be.
pub(super) fn backward(bw: &mut Backward, op: &Op, gz: TensorId) -> Result<()> {
    let t = Ref::T;
    let Op::Linear { x, w, b: bias, .. } = op else { return Ok(()) };
    let (k, nout, b) = (bw.graph.shape(*w)[0], bw.graph.shape(*w)[1], bw.graph.batch);
    if bw.needs(*w) {
        let (gw, gb, acc) = bw.weight_grads(*w, *bias);
        let ops = MatmulOperands { a: t(*x), b: t(gz), bias: gb.map(t), aux: None, c: t(gw) };
        let epi = Epilogue { accumulate: acc, ..Epilogue::PLAIN };
        bw.calls.push(kernels::matmul_tn(k, nout, b, ops, epi, Ref::Dummy));
    }
    if bw.needs(*x) {
        let gx = bw.grad(*x);
        let acc = bw.accumulates(*x);
        let (grad_act, aux) = bw.fused_act(*x);
        let ops = MatmulOperands { a: t(gz), b: t(*w), bias: None, aux, c: t(gx) };
        let epi = Epilogue { act: Act::None, grad_act, accumulate: acc };
        bw.calls.push(kernels::matmul_nt(b, k, nout, ops, epi, Ref::Dummy));
    }
    Ok(())
}

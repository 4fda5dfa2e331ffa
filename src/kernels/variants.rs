//! Kernel variants: the same kernel with another grid and the same
//! bindings, uniform and results, chosen per adapter (tested against the
//! same references as the portable kernels).

use super::calls::Call;
use super::calls_conv::subgroup_grid;
use super::KernelId;

/// Kernel variants an adapter can run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variants {
    /// Subgroup operations with at least 8 invocations per subgroup
    /// (shaders/conv_sg.wgsl: the convolution forward and input gradient;
    /// shaders/matmul_sg.wgsl: the three matmuls).
    pub subgroup8: bool,
}

/// The fastest variant of `call` the adapter runs (the call itself when
/// there is none).
pub fn specialize<B>(call: Call<B>, v: Variants) -> Call<B> {
    if !v.subgroup8 {
        return call;
    }
    match call.kernel {
        KernelId::MatmulNn => matmul_sg(call, KernelId::MatmulNnSg),
        KernelId::MatmulNt => matmul_sg(call, KernelId::MatmulNtSg),
        KernelId::MatmulTn => matmul_sg(call, KernelId::MatmulTnSg),
        KernelId::Conv2dForward => conv_sg(call, KernelId::Conv2dForwardSg),
        KernelId::Conv2dBackwardInput => conv_sg(call, KernelId::Conv2dBackwardInputSg),
        _ => call,
    }
}

/// matmul_sg.wgsl: 256 rows x 8 columns of C per workgroup; kept for C
/// with fewer than 16 rows, where most of a subgroup's 32 rows would idle.
fn matmul_sg<B>(mut call: Call<B>, kernel: KernelId) -> Call<B> {
    // uniform: m, n, k
    if let [m, n, ..] = *call.uniform.as_slice() {
        if m >= 16 {
            call.groups = [n.div_ceil(8), m.div_ceil(256), 1];
            call.kernel = kernel;
        }
    }
    call
}

/// conv_sg.wgsl: rows are output pixels (forward) or input pixels (input
/// gradient), columns output or input channels.
fn conv_sg<B>(mut call: Call<B>, kernel: KernelId) -> Call<B> {
    if call.uniform.len() < 9 {
        return call;
    }
    let w = |i: usize| call.uniform[i] as usize;
    let (batch, c, h, ww, oc, oh, ow) = (w(0), w(1), w(2), w(3), w(4), w(5), w(6));
    let (rows, cols) =
        if kernel == KernelId::Conv2dForwardSg { (batch * oh * ow, oc) } else { (batch * h * ww, c) };
    call.kernel = kernel;
    call.groups = subgroup_grid(rows, cols);
    call
}

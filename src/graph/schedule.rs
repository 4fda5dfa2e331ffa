//! Scheduling choices made from a compiled model's shape, not from its
//! spec: whether a software adapter should run the kernels inline.

use super::{Graph, Op};

/// Whether a software adapter should run this graph's kernels on the
/// submitting thread ([`crate::gpu::DeviceOptions::software_inline`]):
/// yes for dense models whose hidden layers have up to 256 units, whose
/// many small kernels cost less than a hand-off to llvmpipe's thread pool
/// each; no with convolution, pooling or recurrent layers, or wider dense
/// ones, whose longer kernels gain from every core. The output layer does
/// not count (an autoencoder's is as wide as its data). `medgpu train` and
/// `medgpu bench --suite train` run each model the way this chooses.
pub fn prefers_inline_kernels(graph: &Graph) -> bool {
    let head = graph.loss_op().map(|(logits, _, _)| logits).or(graph.output);
    graph.ops.iter().all(|op| match op {
        Op::Linear { w, out, .. } => Some(*out) == head || graph.shape(*w)[1] <= 256,
        Op::Conv2d { .. } | Op::Pool { .. } | Op::Recurrent { .. } => false,
        Op::Input { .. } | Op::Activation { .. } | Op::Softmax { .. } | Op::Dropout { .. } => true,
        Op::BatchNorm { .. } | Op::Loss { .. } => true,
    })
}

//! The memory plan: an offset for every activation-arena tensor, reusing
//! memory between tensors whose lifetimes do not overlap.
//!
//! A tensor lives from the first call that binds it to the last one (pinned
//! tensors to the end). Tensors are placed first-fit in order of first use;
//! a block is free for a new tensor only if its last use is strictly before
//! the new tensor's first use, so no kernel reads and writes the same memory.

use super::autodiff::Ref;
use super::{Class, TensorId, TensorInfo};
use crate::kernels::Call;

/// Offsets are multiples of this many f32 (256 bytes: the largest storage
/// offset alignment wgpu allows an adapter to ask for).
pub const ALIGN_F32: usize = 64;

/// Rounds a length in f32 up to the alignment.
pub fn align(len: usize) -> usize {
    len.div_ceil(ALIGN_F32) * ALIGN_F32
}

/// Where each activation tensor lives.
#[derive(Clone, Debug)]
pub struct ActivationPlan {
    /// Offset in f32 per tensor (None for tensors outside the arena or unused).
    pub offsets: Vec<Option<usize>>,
    /// Arena length in f32.
    pub len: usize,
    /// Sum of the sizes of all planned tensors (what no reuse would need).
    pub unshared_len: usize,
}

/// Plans the activation arena for `calls`; `pinned` tensors stay live to the end.
pub fn plan_activations(
    tensors: &[TensorInfo],
    calls: &[Call<Ref>],
    pinned: &[TensorId],
) -> ActivationPlan {
    let n = tensors.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    for (i, c) in calls.iter().enumerate() {
        for r in &c.bindings {
            if let Ref::T(t) = r {
                first[t.0] = first[t.0].min(i);
                last[t.0] = last[t.0].max(i);
            }
        }
    }
    for p in pinned {
        if first[p.0] != usize::MAX {
            last[p.0] = usize::MAX;
        }
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|i| {
            matches!(tensors[*i].class, Class::Activation | Class::Input) && first[*i] != usize::MAX
        })
        .collect();
    order.sort_by_key(|i| (first[*i], *i));
    // placed blocks: (offset, len, last use)
    let mut blocks: Vec<(usize, usize, usize)> = Vec::new();
    let mut offsets = vec![None; n];
    let mut end = 0;
    let mut unshared = 0;
    for i in order {
        let len = align(tensors[i].len());
        unshared += len;
        let mut live: Vec<(usize, usize)> = blocks
            .iter()
            .filter(|(_, _, l)| *l >= first[i])
            .map(|(o, s, _)| (*o, *s))
            .collect();
        live.sort();
        let mut at = 0;
        for (o, s) in live {
            if at + len <= o {
                break;
            }
            at = at.max(o + s);
        }
        offsets[i] = Some(at);
        blocks.push((at, len, last[i]));
        end = end.max(at + len);
    }
    ActivationPlan {
        offsets,
        len: end,
        unshared_len: unshared,
    }
}

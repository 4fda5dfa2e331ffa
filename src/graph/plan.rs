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
pub fn plan_activations(tensors: &[TensorInfo], calls: &[Call<Ref>], pinned: &[TensorId]) -> ActivationPlan {
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
        .filter(|i| matches!(tensors[*i].class, Class::Activation | Class::Input) && first[*i] != usize::MAX)
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
        let mut live: Vec<(usize, usize)> =
            blocks.iter().filter(|(_, _, l)| *l >= first[i]).map(|(o, s, _)| (*o, *s)).collect();
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
    ActivationPlan { offsets, len: end, unshared_len: unshared }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::autodiff::GradRequest;
    use crate::graph::autodiff::{lower, Pass};
    use crate::graph::{Act, Graph, LossKind, TargetSource};

    #[test]
    fn live_tensors_never_share_memory_and_dead_ones_are_reused() {
        let mut g = Graph::new(8);
        let x = g.input(10).unwrap();
        let mut h = x;
        for i in 0..4 {
            h = g.dense(&format!("d{i}"), h, 16, Act::Relu).unwrap();
        }
        let y = g.dense("out", h, 1, Act::None).unwrap();
        g.loss(y, LossKind::BceWithLogits, TargetSource::Targets).unwrap();
        for pass in [Pass::Forward, Pass::ForwardBackward] {
            let low = lower(
                &g,
                pass,
                GradRequest { input: false, params: true, layer: None },
                false,
                1,
                Default::default(),
            )
            .unwrap();
            let plan = plan_activations(&low.tensors, &low.calls, &[]);
            // lifetimes as the planner sees them
            let mut span = vec![(usize::MAX, 0usize); low.tensors.len()];
            for (i, c) in low.calls.iter().enumerate() {
                for r in &c.bindings {
                    if let Ref::T(t) = r {
                        span[t.0] = (span[t.0].0.min(i), span[t.0].1.max(i));
                    }
                }
            }
            let placed: Vec<usize> = (0..low.tensors.len()).filter(|i| plan.offsets[*i].is_some()).collect();
            for &a in &placed {
                for &b in &placed {
                    if a >= b {
                        continue;
                    }
                    let overlap_time = span[a].0 <= span[b].1 && span[b].0 <= span[a].1;
                    let (oa, ob) = (plan.offsets[a].unwrap(), plan.offsets[b].unwrap());
                    let (la, lb) = (align(low.tensors[a].len()), align(low.tensors[b].len()));
                    let overlap_mem = oa < ob + lb && ob < oa + la;
                    assert!(
                        !(overlap_time && overlap_mem),
                        "{} and {} are live together and share memory",
                        low.tensors[a].name,
                        low.tensors[b].name
                    );
                }
            }
            if pass == Pass::Forward {
                assert!(plan.len < plan.unshared_len, "forward activations should be reused");
            }
        }
    }
}

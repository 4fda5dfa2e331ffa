// The gradient guard, run before every optimizer step: the global gradient
// norm (for clipping) and the non-finite check, in two fixed-order stages (no
// atomics, so results are bit-identical run to run). A NaN or Inf anywhere in
// the gradients makes the sum of squares non-finite, so one reduction serves
// both.

struct Params {
    n: u32,          // gradient values
    parts: u32,      // partial sums written by stage 1
    max_norm: f32,   // clip to this norm (CLIP)
    stop: u32,       // 1: after a bad step, skip every later step too (on-nonfinite stop)
}

override CLIP: bool = false;

// 64 invocations of 16 vec4 each: a partial sums WG * ITEMS * 4 = 4096
// values (kernels::NORM_CHUNK). On lavapipe every 8 invocations are a
// coroutine that each barrier of the tree switches through, and a vec4
// load is one per-lane loop for four values.
const WG: u32 = 64u;
const ITEMS: u32 = 16u;

@group(0) @binding(0) var<uniform> prm: Params;
// grads [n]: the gradient arena, read as ceil(n / 4) vec4 (the arena's
// length is a multiple of 64 values)
@group(0) @binding(1) var<storage, read_write> grads: array<vec4<f32>>;
// partials [parts]
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
// stats [4]: loss sum, rows, bad steps, first bad step (shared with the loss kernels)
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
// step [4]: word 0 is this step's number
@group(0) @binding(4) var<storage, read_write> step: array<u32>;
// guard [4]: factor the optimizer applies to the gradients, the norm, skip flag
@group(0) @binding(5) var<storage, read_write> guard: array<f32>;

var<workgroup> part: array<f32, WG>;

fn tree_sum(t: u32, v: f32) -> f32 {
    part[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (t < s) { part[t] = part[t] + part[t + s]; }
        workgroupBarrier();
    }
    return part[0];
}

// Stage 1: partials[g] = sum of grads^2 over chunk g (WG * ITEMS values).
@compute @workgroup_size(WG, 1, 1)
fn grad_norm_partial(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let base = wg.x * WG * ITEMS;
    let len4 = (prm.n + 3u) / 4u;
    var s = 0.0;
    for (var j = 0u; j < ITEMS; j = j + 1u) {
        let i = base + j * WG + t;
        if (i < len4) { let g = grads[i]; s = s + dot(g, g); }
    }
    let total = tree_sum(t, s);
    if (t == 0u) { partials[wg.x] = total; }
}

// Stage 2 (one workgroup): the norm, the clip factor and the skip decision.
// (Small arenas use the fused optimizer forms in optim.wgsl instead.)
@compute @workgroup_size(WG, 1, 1)
fn grad_guard(@builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    for (var i = t; i < prm.parts; i = i + WG) { s = s + partials[i]; }
    let total = tree_sum(t, s);
    if (t == 0u) {
        let norm = sqrt(total);
        let bad = !is_finite(total);
        if (bad) {
            if (stats[2] == 0.0) { stats[3] = f32(step[0]); }
            stats[2] = stats[2] + 1.0;
        }
        let skip = bad || (prm.stop == 1u && stats[2] > 0.0);
        var factor = 1.0;
        if (CLIP && norm > prm.max_norm) { factor = prm.max_norm / norm; }
        guard[0] = factor;
        guard[1] = norm;
        guard[2] = select(0.0, 1.0, skip);
    }
}

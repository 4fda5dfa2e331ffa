// Inverted dropout: out = x * keep / (1 - p), keep = (u >= p) with u drawn
// from counter_uniform(seed, step, layer, i). The backward pass redraws the
// same u, so no mask is stored. Only in training programs; inference graphs
// leave dropout out.

struct Params { n: u32, seed: u32, layer: u32, p: f32 }

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> prm: Params;
// step [4]: the optimizer step of this replay (word 0), copied in per step
@group(0) @binding(1) var<storage, read_write> step: array<u32>;
// x [n]: input (forward) or dL/dout (backward)
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
// out [n]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn keep_scale(i: u32) -> f32 {
    let u = counter_uniform(prm.seed, step[0], prm.layer, i);
    return select(0.0, 1.0 / (1.0 - prm.p), u >= prm.p);
}

@compute @workgroup_size(256, 1, 1)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= prm.n) { return; }
    out[i] = x[i] * keep_scale(i);
}

// out (+)= dy * keep / (1 - p)
@compute @workgroup_size(256, 1, 1)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= prm.n) { return; }
    let g = x[i] * keep_scale(i);
    if (ACCUMULATE) { out[i] = out[i] + g; } else { out[i] = g; }
}

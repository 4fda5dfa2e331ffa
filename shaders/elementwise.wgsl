// Elementwise kernels over n values; 1-D grids folded into 2-D past 65535 groups.

struct Len { n: u32, pad0: u32, pad1: u32, pad2: u32 }

override ACT: u32 = 0u;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> len: Len;
// x [n]: input (activation input, or dy for the backward, or the source of add_into)
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
// y [n]: the forward output act(x) (read by activation_backward only)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
// out [n]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn put(i: u32, v: f32) {
    if (ACCUMULATE) { out[i] = out[i] + v; } else { out[i] = v; }
}

// out = act(x)
@compute @workgroup_size(256, 1, 1)
fn activation_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= len.n) { return; }
    put(i, act_apply(ACT, x[i]));
}

// out (+)= x * act'(y), where x holds dL/dy
@compute @workgroup_size(256, 1, 1)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= len.n) { return; }
    put(i, x[i] * act_grad_from_y(ACT, y[i]));
}

// out (+)= x
@compute @workgroup_size(256, 1, 1)
fn add_into(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= len.n) { return; }
    put(i, x[i]);
}

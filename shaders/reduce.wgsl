// Reductions: row-wise over a [rows, cols] matrix (softmax, one invocation
// per row) and over a whole buffer (the gradient norm).

struct Dims { rows: u32, cols: u32, pad0: u32, pad1: u32 }

override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> dims: Dims;
// x [rows, cols]: logits (forward) or dL/dy (backward)
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
// y [rows, cols]: the softmax output (read by softmax_backward)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
// out [rows, cols]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// out = softmax(x) per row, shifted by the row max for stability
@compute @workgroup_size(64, 1, 1)
fn softmax_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= dims.rows) { return; }
    let base = r * dims.cols;
    var mx = x[base];
    for (var j = 1u; j < dims.cols; j = j + 1u) { mx = max(mx, x[base + j]); }
    var s = 0.0;
    for (var j = 0u; j < dims.cols; j = j + 1u) { s = s + exp(x[base + j] - mx); }
    for (var j = 0u; j < dims.cols; j = j + 1u) { out[base + j] = exp(x[base + j] - mx) / s; }
}

// out (+)= y * (dy - sum_j dy_j * y_j), with x holding dy
@compute @workgroup_size(64, 1, 1)
fn softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= dims.rows) { return; }
    let base = r * dims.cols;
    var d = 0.0;
    for (var j = 0u; j < dims.cols; j = j + 1u) { d = d + x[base + j] * y[base + j]; }
    for (var j = 0u; j < dims.cols; j = j + 1u) {
        let g = y[base + j] * (x[base + j] - d);
        if (ACCUMULATE) { out[base + j] = out[base + j] + g; } else { out[base + j] = g; }
    }
}

// Global gradient norm for clipping, in two fixed-order stages (no atomics,
// so the result is bit-identical run to run).
const NORM_WG: u32 = 256u;
const NORM_ITEMS: u32 = 16u;
var<workgroup> norm_partial: array<f32, NORM_WG>;

fn tree_sum(t: u32, v: f32) -> f32 {
    norm_partial[t] = v;
    workgroupBarrier();
    for (var s = NORM_WG / 2u; s > 0u; s = s >> 1u) {
        if (t < s) { norm_partial[t] = norm_partial[t] + norm_partial[t + s]; }
        workgroupBarrier();
    }
    return norm_partial[0];
}

// Stage 1: out[group] = sum of x^2 over this group's NORM_WG * NORM_ITEMS
// values of x [rows] (the gradient arena).
@compute @workgroup_size(256, 1, 1)
fn grad_norm_partial(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let base = wg.x * NORM_WG * NORM_ITEMS;
    var s = 0.0;
    for (var j = 0u; j < NORM_ITEMS; j = j + 1u) {
        let i = base + j * NORM_WG + t;
        if (i < dims.rows) { let g = x[i]; s = s + g * g; }
    }
    let total = tree_sum(t, s);
    if (t == 0u) { out[wg.x] = total; }
}

// Stage 2 (one workgroup): x [rows] holds the partial sums; writes
// out[0] = min(1, max_norm / norm) (the factor the optimizer applies) and
// out[1] = norm. max_norm is the f32 in dims.cols.
@compute @workgroup_size(256, 1, 1)
fn grad_clip_scale(@builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    for (var i = t; i < dims.rows; i = i + NORM_WG) { s = s + x[i]; }
    let total = tree_sum(t, s);
    if (t == 0u) {
        let norm = sqrt(total);
        let max_norm = bitcast<f32>(dims.cols);
        out[0] = select(1.0, max_norm / norm, norm > max_norm);
        out[1] = norm;
    }
}

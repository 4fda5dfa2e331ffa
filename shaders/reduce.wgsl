// Row-wise reductions over a [rows, cols] matrix: one invocation per row.

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

// Reductions over a [rows, cols] matrix: softmax one invocation per row,
// column_sums one per column.

// stride and offset: column_sums only (row r's values start at x[r * stride + offset])
struct Dims { rows: u32, cols: u32, stride: u32, offset: u32 }

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

// out[j] (+)= sum over r < rows of x[r * stride + offset + j], for j < cols,
// rows added in order (no atomics: the same result on every run).
@compute @workgroup_size(256, 1, 1)
fn column_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= dims.cols) { return; }
    var s = 0.0;
    for (var r = 0u; r < dims.rows; r = r + 1u) { s = s + x[r * dims.stride + dims.offset + j]; }
    if (ACCUMULATE) { out[j] = out[j] + s; } else { out[j] = s; }
}

// Batch assembly from the data set that lives on the GPU for the whole run.

struct Dims { rows: u32, cols: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
// batch [1 + rows]: count, then the data-set row of each batch row
@group(0) @binding(1) var<storage, read_write> batch: array<u32>;
// data [N, cols]: the whole data set's features
@group(0) @binding(2) var<storage, read_write> data: array<f32>;
// out [rows, cols]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// out[r, j] = data[batch[1 + r], j]
@compute @workgroup_size(256, 1, 1)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= dims.rows * dims.cols) { return; }
    let r = i / dims.cols;
    let j = i - r * dims.cols;
    out[i] = data[batch[1u + r] * dims.cols + j];
}

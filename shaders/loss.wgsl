// Loss value and gradient in one dispatch of one workgroup.
// Rows of the batch at or past count (= batch[0], the last partial batch) get
// a zero gradient and add nothing, so padding never changes the result.
// Row losses are summed in a fixed order (strided, then a tree), so the result
// is bit-identical run to run; stats[0] += sum of row losses, stats[1] += count
// (stats[2], stats[3] belong to the gradient guard).
// The gradient is that of the mean loss over the count valid rows.

struct Dims { rows: u32, cols: u32, tcols: u32, pad: u32 }

// Invocations of the one workgroup: a power of two from 8 to 256 that the
// host sizes to the batch (kernels::loss_workgroup).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> dims: Dims;
// batch [1 + rows]: count, then the data-set row of each batch row
@group(0) @binding(1) var<storage, read_write> batch: array<u32>;
// targets [N, tcols]: the whole data set's targets (class ids as f32 for CE)
@group(0) @binding(2) var<storage, read_write> targets: array<f32>;
// logits [rows, cols]
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
// grad [rows, cols]: dL/dlogits, overwritten
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// stats [4]: running sum of row losses and of rows; guard counters
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn finish(t: u32, mine: f32, count: u32) {
    partial[t] = mine;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (t < s) { partial[t] = partial[t] + partial[t + s]; }
        workgroupBarrier();
    }
    // a non-finite batch loss is left out of the running sum; the guard
    // (on the gradients, which it makes non-finite too) counts the step
    if (t == 0u && is_finite(partial[0])) {
        stats[0] = stats[0] + partial[0];
        stats[1] = stats[1] + f32(count);
    }
}

fn valid_count() -> u32 { return min(batch[0], dims.rows); }

// Mean squared error over cols; targets row has tcols == cols values.
@compute @workgroup_size(WG, 1, 1)
fn mse_loss(@builtin(local_invocation_index) t: u32) {
    let count = valid_count();
    let scale = 2.0 / (f32(max(count, 1u)) * f32(dims.cols));
    var mine = 0.0;
    for (var r = t; r < dims.rows; r = r + WG) {
        let base = r * dims.cols;
        let tbase = batch[1u + r] * dims.tcols;
        var row = 0.0;
        for (var j = 0u; j < dims.cols; j = j + 1u) {
            let d = logits[base + j] - targets[tbase + j];
            row = row + d * d;
            grad[base + j] = select(0.0, scale * d, r < count);
        }
        if (r < count) { mine = mine + row / f32(dims.cols); }
    }
    finish(t, mine, count);
}

// Binary cross-entropy on logits (each column an independent 0/1 target):
// loss = max(z,0) - z*t + log(1 + exp(-|z|)), gradient sigmoid(z) - t.
@compute @workgroup_size(WG, 1, 1)
fn bce_with_logits_loss(@builtin(local_invocation_index) t: u32) {
    let count = valid_count();
    let scale = 1.0 / (f32(max(count, 1u)) * f32(dims.cols));
    var mine = 0.0;
    for (var r = t; r < dims.rows; r = r + WG) {
        let base = r * dims.cols;
        let tbase = batch[1u + r] * dims.tcols;
        var row = 0.0;
        for (var j = 0u; j < dims.cols; j = j + 1u) {
            let z = logits[base + j];
            let y = targets[tbase + j];
            row = row + max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
            let p = 1.0 / (1.0 + exp(-z));
            grad[base + j] = select(0.0, scale * (p - y), r < count);
        }
        if (r < count) { mine = mine + row / f32(dims.cols); }
    }
    finish(t, mine, count);
}

// The output being explained (attributions, not training): each valid row's
// logit in the column its first target names; the gradient is 1 there and
// 0 elsewhere, not divided by the count (every row is explained on its own).
@compute @workgroup_size(WG, 1, 1)
fn output_score(@builtin(local_invocation_index) t: u32) {
    let count = valid_count();
    var mine = 0.0;
    for (var r = t; r < dims.rows; r = r + WG) {
        let base = r * dims.cols;
        let k = min(u32(targets[batch[1u + r] * dims.tcols]), dims.cols - 1u);
        for (var j = 0u; j < dims.cols; j = j + 1u) {
            grad[base + j] = select(0.0, 1.0, r < count && j == k);
        }
        if (r < count) { mine = mine + logits[base + k]; }
    }
    finish(t, mine, count);
}

// Softmax cross-entropy with an integer class id in the first target column.
@compute @workgroup_size(WG, 1, 1)
fn softmax_cross_entropy_loss(@builtin(local_invocation_index) t: u32) {
    let count = valid_count();
    let scale = 1.0 / f32(max(count, 1u));
    var mine = 0.0;
    for (var r = t; r < dims.rows; r = r + WG) {
        let base = r * dims.cols;
        let label = u32(targets[batch[1u + r] * dims.tcols]);
        var mx = logits[base];
        for (var j = 1u; j < dims.cols; j = j + 1u) { mx = max(mx, logits[base + j]); }
        var s = 0.0;
        for (var j = 0u; j < dims.cols; j = j + 1u) { s = s + exp(logits[base + j] - mx); }
        let lse = mx + log(s);
        for (var j = 0u; j < dims.cols; j = j + 1u) {
            let p = exp(logits[base + j] - lse);
            let g = p - select(0.0, 1.0, j == label);
            grad[base + j] = select(0.0, scale * g, r < count);
        }
        if (r < count) { mine = mine + lse - logits[base + label]; }
    }
    finish(t, mine, count);
}

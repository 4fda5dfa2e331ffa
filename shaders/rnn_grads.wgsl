// The weight gradients of an LSTM or Elman layer in one pass over dz, for
// CPU adapters with 8-wide subgroups (chosen when the graph is lowered, with
// rnn_lanes.wgsl): over all K = B*T rows of the layer,
//   dw_hh [H, N] = hprev^T . dz,  dw_ih [F, N] = x^T . dz,  db [N] = sum of dz
// (N = 4H for an LSTM, H for an Elman RNN), where the portable path runs two
// matmuls that each read dz once more. H is a multiple of 4 up to 32, F from
// 1 to 8.
// rnn_grads_partial: a workgroup (one subgroup) owns 32 columns and one
// chunk of CHUNK rows; lane l owns columns 4l..4l+3 and sums, row by row,
// their products with the row's H + F + 1 left-hand values (hprev, x, 1)
// into `part` [S, H + F + 1, N] (S chunks). Per row it loads one vec4 of dz,
// one of hprev and one value of x, and subgroupBroadcast hands hprev and x
// to every lane: on lavapipe each load is a loop over the lanes, which the
// matmuls paid per 4 rows of C.
// rnn_grads_reduce: sums the S partials in order into the gradients,
// writing them or adding to them (acc_*).

override HIDDEN: u32;
override INPUTS: u32;
// rows of a chunk
override CHUNK: u32 = 128u;

struct Grads {
    rows: u32, width: u32, chunks: u32, acc_hh: u32,
    acc_ih: u32, acc_b: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> gd: Grads;
// hprev [K, H]
@group(0) @binding(1) var<storage, read_write> hprev4: array<vec4<f32>>;
// x [K, F]
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
// dz [K, N]
@group(0) @binding(3) var<storage, read_write> dz4: array<vec4<f32>>;
// partial sums [S, H + F + 1, N]
@group(0) @binding(4) var<storage, read_write> part4: array<vec4<f32>>;
// dw_hh [H, N], dw_ih [F, N], db [N]
@group(0) @binding(5) var<storage, read_write> dwhh4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dwih4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> db4: array<vec4<f32>>;

// acc[4m + i] += h[4m + i] * d for the 4 hprev values lane m loaded (`hm`).
fn add_lane_rows(hm: vec4<f32>, m: u32, d: vec4<f32>, acc: ptr<function, array<vec4<f32>, 41>>) {
    if (4u * m >= HIDDEN) { return; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        (*acc)[4u * m + i] = (*acc)[4u * m + i] + hm[i] * d;
    }
}

// part4 rows 4m..4m+3 from acc (m a constant at every call: a private array
// indexed only by constants stays in registers on lavapipe, where one
// indexed access makes all of its writes per-lane loops).
fn store_lane_rows(acc: ptr<function, array<vec4<f32>, 41>>, m: u32, base: u32, n4: u32, col: u32) {
    if (4u * m >= HIDDEN) { return; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        part4[(base + 4u * m + i) * n4 + col] = (*acc)[4u * m + i];
    }
}

// part4 row HIDDEN + f from acc (f a constant at every call)
fn store_input_row(acc: ptr<function, array<vec4<f32>, 41>>, f: u32, base: u32, n4: u32, col: u32) {
    if (f >= INPUTS) { return; }
    part4[(base + HIDDEN + f) * n4 + col] = (*acc)[HIDDEN + f];
}

@compute @workgroup_size(8, 1, 1)
fn rnn_grads_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let n4 = gd.width / 4u; // vec4 per row of dz
    let h4 = HIDDEN / 4u;
    // this lane's vec4 column: lanes past the last mirror it (every lane
    // takes part in the broadcasts) and store nothing
    let owns = wid.x * 8u + lane < n4;
    let col = min(wid.x * 8u + lane, n4 - 1u);
    let first = wid.y * CHUNK;
    let last = min(first + CHUNK, gd.rows);
    // rows 0..H: hprev; H..H+F: x; H+F: the bias (ones)
    var acc: array<vec4<f32>, 41>;
    for (var r = first; r < last; r = r + 1u) {
        let d = dz4[r * n4 + col];
        // lane l < H/4 loads hprev[r, 4l..4l+3], lane l < F loads x[r, l]
        let hl = hprev4[r * h4 + min(lane, h4 - 1u)];
        var xl = 0.0;
        if (INPUTS > 0u) { xl = x[r * INPUTS + min(lane, INPUTS - 1u)]; }
        add_lane_rows(subgroupBroadcast(hl, 0u), 0u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 1u), 1u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 2u), 2u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 3u), 3u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 4u), 4u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 5u), 5u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 6u), 6u, d, &acc);
        add_lane_rows(subgroupBroadcast(hl, 7u), 7u, d, &acc);
        if (INPUTS > 0u) { acc[HIDDEN] = acc[HIDDEN] + subgroupBroadcast(xl, 0u) * d; }
        if (INPUTS > 1u) { acc[HIDDEN + 1u] = acc[HIDDEN + 1u] + subgroupBroadcast(xl, 1u) * d; }
        if (INPUTS > 2u) { acc[HIDDEN + 2u] = acc[HIDDEN + 2u] + subgroupBroadcast(xl, 2u) * d; }
        if (INPUTS > 3u) { acc[HIDDEN + 3u] = acc[HIDDEN + 3u] + subgroupBroadcast(xl, 3u) * d; }
        if (INPUTS > 4u) { acc[HIDDEN + 4u] = acc[HIDDEN + 4u] + subgroupBroadcast(xl, 4u) * d; }
        if (INPUTS > 5u) { acc[HIDDEN + 5u] = acc[HIDDEN + 5u] + subgroupBroadcast(xl, 5u) * d; }
        if (INPUTS > 6u) { acc[HIDDEN + 6u] = acc[HIDDEN + 6u] + subgroupBroadcast(xl, 6u) * d; }
        if (INPUTS > 7u) { acc[HIDDEN + 7u] = acc[HIDDEN + 7u] + subgroupBroadcast(xl, 7u) * d; }
        acc[HIDDEN + INPUTS] = acc[HIDDEN + INPUTS] + d;
    }
    if (!owns) { return; }
    let base = wid.y * (HIDDEN + INPUTS + 1u);
    store_lane_rows(&acc, 0u, base, n4, col);
    store_lane_rows(&acc, 1u, base, n4, col);
    store_lane_rows(&acc, 2u, base, n4, col);
    store_lane_rows(&acc, 3u, base, n4, col);
    store_lane_rows(&acc, 4u, base, n4, col);
    store_lane_rows(&acc, 5u, base, n4, col);
    store_lane_rows(&acc, 6u, base, n4, col);
    store_lane_rows(&acc, 7u, base, n4, col);
    for (var f = 0u; f < 8u; f = f + 1u) {
        store_input_row(&acc, f, base, n4, col);
    }
    part4[(base + HIDDEN + INPUTS) * n4 + col] = acc[HIDDEN + INPUTS];
}

@compute @workgroup_size(64, 1, 1)
fn rnn_grads_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n4 = gd.width / 4u;
    let lhs = HIDDEN + INPUTS + 1u;
    let i = gid.x;
    if (i >= lhs * n4) { return; }
    let r = i / n4;
    let c = i % n4;
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < gd.chunks; k = k + 1u) {
        s = s + part4[(k * lhs + r) * n4 + c];
    }
    if (r < HIDDEN) {
        let at = r * n4 + c;
        dwhh4[at] = select(s, dwhh4[at] + s, gd.acc_hh != 0u);
    } else if (r < HIDDEN + INPUTS) {
        let at = (r - HIDDEN) * n4 + c;
        dwih4[at] = select(s, dwih4[at] + s, gd.acc_ih != 0u);
    } else {
        db4[c] = select(s, db4[c] + s, gd.acc_b != 0u);
    }
}

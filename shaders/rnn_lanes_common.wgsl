// Shared by rnn_lanes.wgsl (LSTM) and rnn_lanes_gru_elman.wgsl (GRU,
// Elman), prepended to both by src/kernels/table.rs after
// rnn_common.wgsl: their overrides, vec4 bindings and lane helpers.
//
// Recurrences (LSTM, GRU, Elman) with one 8-wide subgroup per batch row, for CPU
// adapters (lavapipe), when H is a multiple of 4 and at most 32: lane l
// owns units 4l..4l+3 and keeps their columns (forward) or rows
// (backward) of w_hh in private memory; h (forward) and the gate
// gradients (backward) reach the other lanes by subgroupBroadcast. So a
// step needs no workgroup memory and no barrier, and every storage
// access moves 4 units as one vec4. On a CPU adapter each storage or
// workgroup access is a loop over the lanes: the persistent kernels
// (rnn_persistent.wgsl, one invocation per unit) make about 7 times as
// many of them per row and step, and two barriers.
// (Equations, uniform and bindings: rnn_common.wgsl.)
// HIDDEN and INPUTS as in rnn_persistent.wgsl.

override HIDDEN: u32;
override INPUTS: u32 = 0u;
// sequences one workgroup of lstm_forward_lanes and lstm_backward_grads_lanes runs in turn
override ROWS: u32 = 1u;
// 0: lstm_backward_grads_lanes does not write dz (nothing reads it after)
override STORE_DZ: u32 = 1u;

// src, gates, cells, hprev, dst and aux again, read and written 4 values at a
// time (the forward from the input binds gates in place of src)
@group(0) @binding(11) var<storage, read_write> src4: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> gates4: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> cells4: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> hprev4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> dst4: array<vec4<f32>>;
// aux again (the GRU backward's gradient of gh)
@group(0) @binding(16) var<storage, read_write> aux4: array<vec4<f32>>;
// w_hh again: each lane's 4 units of a row are one aligned vec4 (H is a
// multiple of 4), so loading a lane's weights takes a quarter of the loads
@group(0) @binding(17) var<storage, read_write> whh4: array<vec4<f32>>;
// lstm_backward_grads_lanes: x [B, T, F] (the layer input) and the partial
// weight gradients [S, H + F + 1, 4H]
@group(0) @binding(18) var<storage, read_write> xin: array<f32>;
@group(0) @binding(19) var<storage, read_write> part4: array<vec4<f32>>;

// Entries first..first+3 of sequence b's initial state (0 without one).
fn init4(b: u32, first: u32) -> vec4<f32> {
    return vec4<f32>(init_at(b, first), init_at(b, first + 1u), init_at(b, first + 2u), init_at(b, first + 3u));
}

fn sigmoid4(z: vec4<f32>) -> vec4<f32> {
    return 1.0 / (1.0 + exp(-z));
}

fn tanh4(z: vec4<f32>) -> vec4<f32> {
    return tanh(clamp(z, vec4<f32>(-15.0), vec4<f32>(15.0)));
}

// The first unit u of lane `lane` (lanes past the last unit group mirror
// the last one: every lane takes part in the broadcasts, and their results
// are dropped).
fn first_unit(lane: u32) -> u32 {
    return 4u * min(lane, HIDDEN / 4u - 1u);
}

// This lane's columns of a w_hh [H, G*H] of G gates: w[4k + q] = units
// u..u+3 of gate q in row k (the forward). One loop per gate, each small
// enough for Mesa's NIR to unroll: one loop over all of w is not unrolled,
// w then stays an indexed array in memory, and LLVM takes about 20 s
// longer to compile the kernel on lavapipe.
fn load_cols(w: ptr<function, array<vec4<f32>, 128>>, u: u32, gates: u32) {
    load_gate_cols(w, u, gates, 0u);
    load_gate_cols(w, u, gates, 1u);
    load_gate_cols(w, u, gates, 2u);
    if (gates > 3u) { load_gate_cols(w, u, gates, 3u); }
}

// load_cols for gate `q` (a constant at every call).
fn load_gate_cols(w: ptr<function, array<vec4<f32>, 128>>, u: u32, gates: u32, q: u32) {
    let gh = gates * HIDDEN;
    for (var k = 0u; k < HIDDEN; k = k + 1u) {
        (*w)[4u * k + q] = whh4[(k * gh + q * HIDDEN + u) / 4u];
    }
}

// This lane's rows: wt[j] = rows u..u+3 of w_hh [H, N] at column j (the
// backward), N = `cols` (a multiple of 4): 4 columns of the 4 rows per 4
// vec4 loads, turned round in registers. In 4 loops over a quarter of the
// columns each, for NIR to unroll (as load_cols).
fn load_rows(wt: ptr<function, array<vec4<f32>, 128>>, u: u32, cols: u32) {
    load_rows_part(wt, u, cols, 0u);
    load_rows_part(wt, u, cols, 1u);
    load_rows_part(wt, u, cols, 2u);
    load_rows_part(wt, u, cols, 3u);
}

// load_rows for quarter `part` (a constant at every call) of the columns.
fn load_rows_part(wt: ptr<function, array<vec4<f32>, 128>>, u: u32, cols: u32, part: u32) {
    let n4 = cols / 4u;
    for (var j4 = part * n4 / 4u; j4 < (part + 1u) * n4 / 4u; j4 = j4 + 1u) {
        let r0 = whh4[u * n4 + j4];
        let r1 = whh4[(u + 1u) * n4 + j4];
        let r2 = whh4[(u + 2u) * n4 + j4];
        let r3 = whh4[(u + 3u) * n4 + j4];
        (*wt)[4u * j4] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        (*wt)[4u * j4 + 1u] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        (*wt)[4u * j4 + 2u] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        (*wt)[4u * j4 + 3u] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
    }
}

// Forward: z[q] += h_k * w[4k + q] for the 4 units k = 4m..4m+3 that lane
// m owns (`hm`: their h). m is a constant at every call, so after
// inlining every index is one and w stays out of any indexed load. (A GRU
// has 3 gates: its w[4k + 3] stay 0.)
fn add_lane_h(hm: vec4<f32>, m: u32, w: ptr<function, array<vec4<f32>, 128>>, z: ptr<function, array<vec4<f32>, 4>>) {
    if (4u * m >= HIDDEN) { return; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let k = 4u * m + i;
        (*z)[0] = (*z)[0] + hm[i] * (*w)[4u * k];
        (*z)[1] = (*z)[1] + hm[i] * (*w)[4u * k + 1u];
        (*z)[2] = (*z)[2] + hm[i] * (*w)[4u * k + 2u];
        (*z)[3] = (*z)[3] + hm[i] * (*w)[4u * k + 3u];
    }
}

// Backward: s[q] += dz_j * wt[qH + j] over the columns j = 4m + i of the
// units lane m owns (`d0`..`d3`: their gradients for gates i, f, g, o; a
// GRU passes 0 for d3, and its wt past 3H stay 0): one sum per gate, four
// independent chains of multiply-adds instead of one four times as long.
fn add_lane_dz(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>, m: u32, wt: ptr<function, array<vec4<f32>, 128>>, s: ptr<function, array<vec4<f32>, 4>>) {
    if (4u * m >= HIDDEN) { return; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let j = 4u * m + i;
        (*s)[0] = (*s)[0] + d0[i] * (*wt)[j];
        (*s)[1] = (*s)[1] + d1[i] * (*wt)[HIDDEN + j];
        (*s)[2] = (*s)[2] + d2[i] * (*wt)[2u * HIDDEN + j];
        (*s)[3] = (*s)[3] + d3[i] * (*wt)[3u * HIDDEN + j];
    }
}

// Forward: z += the row's h (spread over the lanes, 4 units each) times
// this lane's columns of w_hh.
fn row_times_w(h: vec4<f32>, w: ptr<function, array<vec4<f32>, 128>>, z: ptr<function, array<vec4<f32>, 4>>) {
    add_lane_h(subgroupBroadcast(h, 0u), 0u, w, z);
    add_lane_h(subgroupBroadcast(h, 1u), 1u, w, z);
    add_lane_h(subgroupBroadcast(h, 2u), 2u, w, z);
    add_lane_h(subgroupBroadcast(h, 3u), 3u, w, z);
    add_lane_h(subgroupBroadcast(h, 4u), 4u, w, z);
    add_lane_h(subgroupBroadcast(h, 5u), 5u, w, z);
    add_lane_h(subgroupBroadcast(h, 6u), 6u, w, z);
    add_lane_h(subgroupBroadcast(h, 7u), 7u, w, z);
}

// Backward: the row's gate gradients (spread over the lanes: d0..d3 for
// gates 0..3 of 4 units each) times this lane's rows of w_hh.
fn row_times_wt(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>, wt: ptr<function, array<vec4<f32>, 128>>) -> vec4<f32> {
    var s: array<vec4<f32>, 4>;
    add_lane_dz(subgroupBroadcast(d0, 0u), subgroupBroadcast(d1, 0u), subgroupBroadcast(d2, 0u), subgroupBroadcast(d3, 0u), 0u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 1u), subgroupBroadcast(d1, 1u), subgroupBroadcast(d2, 1u), subgroupBroadcast(d3, 1u), 1u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 2u), subgroupBroadcast(d1, 2u), subgroupBroadcast(d2, 2u), subgroupBroadcast(d3, 2u), 2u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 3u), subgroupBroadcast(d1, 3u), subgroupBroadcast(d2, 3u), subgroupBroadcast(d3, 3u), 3u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 4u), subgroupBroadcast(d1, 4u), subgroupBroadcast(d2, 4u), subgroupBroadcast(d3, 4u), 4u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 5u), subgroupBroadcast(d1, 5u), subgroupBroadcast(d2, 5u), subgroupBroadcast(d3, 5u), 5u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 6u), subgroupBroadcast(d1, 6u), subgroupBroadcast(d2, 6u), subgroupBroadcast(d3, 6u), 6u, wt, &s);
    add_lane_dz(subgroupBroadcast(d0, 7u), subgroupBroadcast(d1, 7u), subgroupBroadcast(d2, 7u), subgroupBroadcast(d3, 7u), 7u, wt, &s);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// dL/dh of units u..u+3 at the step processed tt-th from the layer's output.
fn dout4(row: u32, b: u32, tt: u32, u: u32) -> vec4<f32> {
    if (rn.last_only == 0u) { return src4[out_at(row, u) / 4u]; }
    if (tt + 1u == rn.steps) { return src4[out_at(b, u) / 4u]; }
    return vec4<f32>(0.0);
}

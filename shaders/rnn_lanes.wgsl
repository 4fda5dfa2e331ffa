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
// u..u+3 of gate q in row k (the forward).
fn load_cols(w: ptr<function, array<vec4<f32>, 128>>, u: u32, gates: u32) {
    let gh = gates * HIDDEN;
    for (var k = 0u; k < HIDDEN; k = k + 1u) {
        for (var q = 0u; q < gates; q = q + 1u) {
            (*w)[4u * k + q] = whh4[(k * gh + q * HIDDEN + u) / 4u];
        }
    }
}

// This lane's rows: wt[j] = rows u..u+3 of w_hh [H, N] at column j (the
// backward), N = `cols`: 4 columns of the 4 rows per 4 vec4 loads, turned
// round in registers.
fn load_rows(wt: ptr<function, array<vec4<f32>, 128>>, u: u32, cols: u32) {
    let n4 = cols / 4u;
    for (var j4 = 0u; j4 < n4; j4 = j4 + 1u) {
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

// Backward: s += dz_j * wt[j] over the gate columns j = qH + 4m + i of the
// units lane m owns (`d0`..`d3`: their gradients for gates i, f, g, o; a
// GRU passes 0 for d3, and its wt past 3H stay 0).
fn add_lane_dz(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>, m: u32, wt: ptr<function, array<vec4<f32>, 128>>) -> vec4<f32> {
    var s = vec4<f32>(0.0);
    if (4u * m >= HIDDEN) { return s; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let j = 4u * m + i;
        s = s + d0[i] * (*wt)[j] + d1[i] * (*wt)[HIDDEN + j];
        s = s + d2[i] * (*wt)[2u * HIDDEN + j] + d3[i] * (*wt)[3u * HIDDEN + j];
    }
    return s;
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
    var s = add_lane_dz(subgroupBroadcast(d0, 0u), subgroupBroadcast(d1, 0u), subgroupBroadcast(d2, 0u), subgroupBroadcast(d3, 0u), 0u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 1u), subgroupBroadcast(d1, 1u), subgroupBroadcast(d2, 1u), subgroupBroadcast(d3, 1u), 1u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 2u), subgroupBroadcast(d1, 2u), subgroupBroadcast(d2, 2u), subgroupBroadcast(d3, 2u), 2u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 3u), subgroupBroadcast(d1, 3u), subgroupBroadcast(d2, 3u), subgroupBroadcast(d3, 3u), 3u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 4u), subgroupBroadcast(d1, 4u), subgroupBroadcast(d2, 4u), subgroupBroadcast(d3, 4u), 4u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 5u), subgroupBroadcast(d1, 5u), subgroupBroadcast(d2, 5u), subgroupBroadcast(d3, 5u), 5u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 6u), subgroupBroadcast(d1, 6u), subgroupBroadcast(d2, 6u), subgroupBroadcast(d3, 6u), 6u, wt);
    s = s + add_lane_dz(subgroupBroadcast(d0, 7u), subgroupBroadcast(d1, 7u), subgroupBroadcast(d2, 7u), subgroupBroadcast(d3, 7u), 7u, wt);
    return s;
}

// The LSTM forward over sequence b, from this lane's columns of w_hh (w)
// and, with INPUTS > 0, of w_ih and b (wx, bx).
fn lstm_forward_row(
    b: u32,
    lane: u32,
    w: ptr<function, array<vec4<f32>, 128>>,
    wx: ptr<function, array<vec4<f32>, 32>>,
    bx: ptr<function, array<vec4<f32>, 4>>,
) {
    let hd = HIDDEN;
    let g4 = 4u * hd;
    let q4 = hd / 4u; // vec4 per gate row
    let owns = lane < q4;
    let u = first_unit(lane);
    var h = init4(b, u);
    var c = init4(b, hd + u);
    for (var tt = 0u; tt < rn.steps; tt = tt + 1u) {
        let row = b * rn.steps + time(tt);
        let keep = real(b, time(tt));
        let at = (row * g4 + u) / 4u; // gate i of units u..u+3 (vec4 index)
        var z: array<vec4<f32>, 4>;
        if (INPUTS > 0u) {
            z = *bx;
            for (var f = 0u; f < INPUTS; f = f + 1u) {
                let x = src[row * INPUTS + f];
                z[0] = z[0] + x * (*wx)[4u * f];
                z[1] = z[1] + x * (*wx)[4u * f + 1u];
                z[2] = z[2] + x * (*wx)[4u * f + 2u];
                z[3] = z[3] + x * (*wx)[4u * f + 3u];
            }
        } else {
            z = array<vec4<f32>, 4>(src4[at], src4[at + q4], src4[at + 2u * q4], src4[at + 3u * q4]);
        }
        row_times_w(h, w, &z);
        let gi = sigmoid4(z[0]);
        let gf = sigmoid4(z[1]);
        let gg = tanh4(z[2]);
        let go = sigmoid4(z[3]);
        if (owns) {
            gates4[at] = gi;
            gates4[at + q4] = gf;
            gates4[at + 2u * q4] = gg;
            gates4[at + 3u * q4] = go;
            if (rn.hprev_unread == 0u) { hprev4[(row * hd + u) / 4u] = h; }
        }
        if (keep) {
            c = gf * c + gi * gg;
            h = go * tanh4(c);
        }
        if (owns) {
            cells4[(row * hd + u) / 4u] = c;
            if (rn.last_only == 0u) { dst4[out_at(row, u) / 4u] = h; }
        }
    }
    if (owns && rn.last_only != 0u) { dst4[out_at(b, u) / 4u] = h; }
}

// A workgroup runs ROWS sequences in turn: the weights it loads first
// serve them all.
@compute @workgroup_size(8, 1, 1)
fn lstm_forward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hd = HIDDEN;
    let g4 = 4u * hd;
    let u = first_unit(lane);
    // w[4k + q]: units u..u+3 of gate q in row k of w_hh
    var w: array<vec4<f32>, 128>;
    load_cols(&w, u, 4u);
    // with INPUTS > 0: wx[4f + q] from w_ih (aux) and bx[q] from b (dinit)
    var wx: array<vec4<f32>, 32>;
    var bx: array<vec4<f32>, 4>;
    if (INPUTS > 0u) {
        for (var q = 0u; q < 4u; q = q + 1u) {
            for (var f = 0u; f < INPUTS; f = f + 1u) {
                wx[4u * f + q] = aux4[(f * g4 + q * hd + u) / 4u];
            }
            let at = q * hd + u;
            bx[q] = vec4<f32>(dinit[at], dinit[at + 1u], dinit[at + 2u], dinit[at + 3u]);
        }
    }
    for (var r = 0u; r < ROWS; r = r + 1u) {
        let b = wid.x * ROWS + r;
        if (b >= rn.batch) { break; }
        lstm_forward_row(b, lane, &w, &wx, &bx);
    }
}

// dL/dh of units u..u+3 at the step processed tt-th from the layer's output.
fn dout4(row: u32, b: u32, tt: u32, u: u32) -> vec4<f32> {
    if (rn.last_only == 0u) { return src4[out_at(row, u) / 4u]; }
    if (tt + 1u == rn.steps) { return src4[out_at(b, u) / 4u]; }
    return vec4<f32>(0.0);
}

// Sums of lstm_backward_grads_lanes, per lane: acc[4r + q] = row r of
// [hprev | x | 1]^T . dz at gate q's columns u..u+3 (rows r < H: hprev,
// H + f: input f, H + F: the bias), up to 4 (32 + 8 + 1) vec4.
alias GradSums = array<vec4<f32>, 164>;

// acc[4k + q] += h_k * d[q] for the 4 units k = 4m..4m+3 that lane m owns
// (`hm`: their h_{t-1}); m is a constant at every call, and so every index.
fn add_lane_hprev(hm: vec4<f32>, m: u32, d: array<vec4<f32>, 4>, acc: ptr<function, GradSums>) {
    if (4u * m >= HIDDEN) { return; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let k = 4u * (4u * m + i);
        (*acc)[k] = (*acc)[k] + hm[i] * d[0];
        (*acc)[k + 1u] = (*acc)[k + 1u] + hm[i] * d[1];
        (*acc)[k + 2u] = (*acc)[k + 2u] + hm[i] * d[2];
        (*acc)[k + 3u] = (*acc)[k + 3u] + hm[i] * d[3];
    }
}

// acc row `r` (a constant) += v * d, for r below H + INPUTS + 1.
fn add_grad_row(v: f32, r: u32, d: array<vec4<f32>, 4>, acc: ptr<function, GradSums>) {
    if (r > HIDDEN + INPUTS) { return; }
    (*acc)[4u * r] = (*acc)[4u * r] + v * d[0];
    (*acc)[4u * r + 1u] = (*acc)[4u * r + 1u] + v * d[1];
    (*acc)[4u * r + 2u] = (*acc)[4u * r + 2u] + v * d[2];
    (*acc)[4u * r + 3u] = (*acc)[4u * r + 3u] + v * d[3];
}

// Adds row `row`'s products to acc: h_{t-1} (`hp`: this lane's units) and x
// from the lanes that hold them (lane m: h of units 4m..4m+3 and input m)
// by subgroupBroadcast.
fn add_grads(row: u32, lane: u32, u: u32, hp: vec4<f32>, d: array<vec4<f32>, 4>, acc: ptr<function, GradSums>) {
    add_lane_hprev(subgroupBroadcast(hp, 0u), 0u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 1u), 1u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 2u), 2u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 3u), 3u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 4u), 4u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 5u), 5u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 6u), 6u, d, acc);
    add_lane_hprev(subgroupBroadcast(hp, 7u), 7u, d, acc);
    let f = max(INPUTS, 1u);
    let xl = xin[row * INPUTS + min(lane, f - 1u)];
    if (INPUTS > 0u) { add_grad_row(subgroupBroadcast(xl, 0u), HIDDEN, d, acc); }
    if (INPUTS > 1u) { add_grad_row(subgroupBroadcast(xl, 1u), HIDDEN + 1u, d, acc); }
    if (INPUTS > 2u) { add_grad_row(subgroupBroadcast(xl, 2u), HIDDEN + 2u, d, acc); }
    if (INPUTS > 3u) { add_grad_row(subgroupBroadcast(xl, 3u), HIDDEN + 3u, d, acc); }
    if (INPUTS > 4u) { add_grad_row(subgroupBroadcast(xl, 4u), HIDDEN + 4u, d, acc); }
    if (INPUTS > 5u) { add_grad_row(subgroupBroadcast(xl, 5u), HIDDEN + 5u, d, acc); }
    if (INPUTS > 6u) { add_grad_row(subgroupBroadcast(xl, 6u), HIDDEN + 6u, d, acc); }
    if (INPUTS > 7u) { add_grad_row(subgroupBroadcast(xl, 7u), HIDDEN + 7u, d, acc); }
    add_grad_row(1.0, HIDDEN + INPUTS, d, acc);
}

// Stores acc row `r` (a constant) as row r of partial `s`: part4 [S, H + F + 1, 4H].
fn store_grad_row(acc: ptr<function, GradSums>, r: u32, s: u32, u: u32) {
    if (r > HIDDEN + INPUTS) { return; }
    let at = ((s * (HIDDEN + INPUTS + 1u) + r) * 4u * HIDDEN + u) / 4u;
    let q4 = HIDDEN / 4u;
    part4[at] = (*acc)[4u * r];
    part4[at + q4] = (*acc)[4u * r + 1u];
    part4[at + 2u * q4] = (*acc)[4u * r + 2u];
    part4[at + 3u * q4] = (*acc)[4u * r + 3u];
}

// store_grad_row for rows 4m..4m+3 (m a constant), below H.
fn store_lane_rows(acc: ptr<function, GradSums>, m: u32, s: u32, u: u32) {
    if (4u * m >= HIDDEN) { return; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        store_grad_row(acc, 4u * m + i, s, u);
    }
}

// Backpropagation through time of sequence b: dz (dst4) and dL/d(initial
// state); with `grads` (a constant at every call) also the sequence's
// weight-gradient sums, added to acc.
fn lstm_backward_row(b: u32, lane: u32, wt: ptr<function, array<vec4<f32>, 128>>, grads: bool, acc: ptr<function, GradSums>) {
    let hd = HIDDEN;
    let g4 = 4u * hd;
    let q4 = hd / 4u;
    let owns = lane < q4;
    let u = first_unit(lane);
    var dh_rec = vec4<f32>(0.0);
    var dc = vec4<f32>(0.0);
    let h0 = init4(b, u);
    let c0 = init4(b, hd + u);
    // Without a step mask h_{t-1} = o_{t-1} * tanh(c_{t-1}) exactly as the
    // forward computed it, from values this loop loads anyway: the forward
    // need not write hprev nor this loop read it (with one, a padded step
    // keeps h, and hprev is read).
    let recompute = rn.mask_width == 0u;
    // o and tanh(c) of the step processed next (read once: they are the
    // step before's o_{t-1} and tanh(c_{t-1}))
    let last = b * rn.steps + time(rn.steps - 1u);
    var go = gates4[(last * g4 + u) / 4u + 3u * q4];
    var tc = tanh4(cells4[(last * hd + u) / 4u]);
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let tt = rn.steps - 1u - step;
        let row = b * rn.steps + time(tt);
        let keep = real(b, time(tt));
        let dh = dh_rec + dout4(row, b, tt, u);
        let at = (row * g4 + u) / 4u;
        let gi = gates4[at];
        let gf = gates4[at + q4];
        let gg = gates4[at + 2u * q4];
        var cp = c0;
        var go_prev = vec4<f32>(0.0);
        if (tt > 0u) {
            let prev = b * rn.steps + time(tt - 1u);
            cp = cells4[(prev * hd + u) / 4u];
            go_prev = gates4[(prev * g4 + u) / 4u + 3u * q4];
        }
        let tc_prev = tanh4(cp);
        // a padded step: no gate gradient, dc and dh pass to the step before
        var d0 = vec4<f32>(0.0);
        var d1 = vec4<f32>(0.0);
        var d2 = vec4<f32>(0.0);
        var d3 = vec4<f32>(0.0);
        if (keep) {
            dc = dc + dh * go * (1.0 - tc * tc);
            d0 = dc * gg * gi * (1.0 - gi);
            d1 = dc * cp * gf * (1.0 - gf);
            d2 = dc * gi * (1.0 - gg * gg);
            d3 = dh * tc * go * (1.0 - go);
            dc = dc * gf;
        }
        if (owns && STORE_DZ != 0u) {
            dst4[at] = d0;
            dst4[at + q4] = d1;
            dst4[at + 2u * q4] = d2;
            dst4[at + 3u * q4] = d3;
        }
        if (grads) {
            var hp = h0;
            if (!recompute) {
                hp = hprev4[(row * hd + u) / 4u];
            } else if (tt > 0u) {
                hp = go_prev * tc_prev;
            }
            add_grads(row, lane, u, hp, array<vec4<f32>, 4>(d0, d1, d2, d3), acc);
        }
        // dL/dh_{t-1} through the recurrence: rows u..u+3 of w_hh . dz
        let s = row_times_wt(d0, d1, d2, d3, wt);
        dh_rec = select(dh, s, keep);
        go = go_prev;
        tc = tc_prev;
    }
    if (owns) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            put_dinit(b, u + i, dh_rec[i]);
            put_dinit(b, hd + u + i, dc[i]);
        }
    }
}

@compute @workgroup_size(8, 1, 1)
fn lstm_backward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    // wt[j]: rows u..u+3 of w_hh at column j
    var wt: array<vec4<f32>, 128>;
    load_rows(&wt, first_unit(lane), 4u * HIDDEN);
    var unused: GradSums;
    lstm_backward_row(wid.x, lane, &wt, false, &unused);
}

// lstm_backward_lanes with the weight gradients of rnn_grads_partial: a
// workgroup runs ROWS sequences in turn and sums, at each step, the
// products of h_{t-1}, x and 1 with the dz it has just computed into
// registers; it stores them once, as partial wid.x of part4 [S, H + F + 1,
// 4H] (rnn_grads_reduce adds the S partials). dz never has to be read back
// and h_{t-1} is read once per step instead of once per 32 columns.
@compute @workgroup_size(8, 1, 1)
fn lstm_backward_grads_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let u = first_unit(lane);
    var wt: array<vec4<f32>, 128>;
    load_rows(&wt, u, 4u * HIDDEN);
    var acc: GradSums;
    for (var r = 0u; r < ROWS; r = r + 1u) {
        let b = wid.x * ROWS + r;
        if (b >= rn.batch) { break; }
        lstm_backward_row(b, lane, &wt, true, &acc);
    }
    if (lane >= HIDDEN / 4u) { return; }
    // every acc index a constant (written out by lane groups of rows, as
    // they were summed: one indexed access would spill acc)
    store_lane_rows(&acc, 0u, wid.x, u);
    store_lane_rows(&acc, 1u, wid.x, u);
    store_lane_rows(&acc, 2u, wid.x, u);
    store_lane_rows(&acc, 3u, wid.x, u);
    store_lane_rows(&acc, 4u, wid.x, u);
    store_lane_rows(&acc, 5u, wid.x, u);
    store_lane_rows(&acc, 6u, wid.x, u);
    store_lane_rows(&acc, 7u, wid.x, u);
    for (var f = 0u; f <= 8u; f = f + 1u) {
        store_grad_row(&acc, HIDDEN + f, wid.x, u);
    }
}

@compute @workgroup_size(8, 1, 1)
fn gru_forward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hd = HIDDEN;
    let g3 = 3u * hd;
    let q4 = hd / 4u;
    let b = wid.x;
    let owns = lane < q4;
    let u = first_unit(lane);
    // w[4k + q]: units u..u+3 of gate q (r, z, n) in row k of w_hh
    var w: array<vec4<f32>, 128>;
    load_cols(&w, u, 3u);
    // b_hh (aux) for gates r, z, n
    var bh: array<vec4<f32>, 4>;
    for (var q = 0u; q < 3u; q = q + 1u) {
        let at = q * hd + u;
        bh[q] = vec4<f32>(aux[at], aux[at + 1u], aux[at + 2u], aux[at + 3u]);
    }
    var h = init4(b, u);
    for (var tt = 0u; tt < rn.steps; tt = tt + 1u) {
        let row = b * rn.steps + time(tt);
        let keep = real(b, time(tt));
        let at = (row * g3 + u) / 4u; // gate r of units u..u+3 (vec4 index)
        // gh = b_hh + h_{t-1} . w_hh
        var gh = bh;
        row_times_w(h, &w, &gh);
        let r = sigmoid4(src4[at] + gh[0]);
        let z = sigmoid4(src4[at + q4] + gh[1]);
        let n = tanh4(src4[at + 2u * q4] + r * gh[2]);
        if (owns) {
            gates4[at] = r;
            gates4[at + q4] = z;
            gates4[at + 2u * q4] = n;
            cells4[(row * hd + u) / 4u] = gh[2];
            hprev4[(row * hd + u) / 4u] = h;
        }
        if (keep) { h = (1.0 - z) * n + z * h; }
        if (owns && rn.last_only == 0u) { dst4[out_at(row, u) / 4u] = h; }
    }
    if (owns && rn.last_only != 0u) { dst4[out_at(b, u) / 4u] = h; }
}

@compute @workgroup_size(8, 1, 1)
fn gru_backward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hd = HIDDEN;
    let g3 = 3u * hd;
    let q4 = hd / 4u;
    let b = wid.x;
    let owns = lane < q4;
    let u = first_unit(lane);
    // wt[j]: rows u..u+3 of w_hh at column j
    var wt: array<vec4<f32>, 128>;
    load_rows(&wt, u, 3u * HIDDEN);
    var dh_rec = vec4<f32>(0.0);
    let zero = vec4<f32>(0.0);
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let tt = rn.steps - 1u - step;
        let row = b * rn.steps + time(tt);
        let keep = real(b, time(tt));
        let dh = dh_rec + dout4(row, b, tt, u);
        let at = (row * g3 + u) / 4u;
        let r = gates4[at];
        let z = gates4[at + q4];
        let n = gates4[at + 2u * q4];
        let ghn = cells4[(row * hd + u) / 4u];
        let hp = hprev4[(row * hd + u) / 4u];
        // a padded step: no gate gradient, dh passes to the step before
        let m = select(0.0, 1.0, keep);
        let dan = m * dh * (1.0 - z) * (1.0 - n * n);
        let dar = dan * ghn * r * (1.0 - r);
        let daz = m * dh * (hp - n) * z * (1.0 - z);
        let dgn = dan * r;
        if (owns) {
            dst4[at] = dar;
            dst4[at + q4] = daz;
            dst4[at + 2u * q4] = dan;
            aux4[at] = dar;
            aux4[at + q4] = daz;
            aux4[at + 2u * q4] = dgn;
        }
        // dL/dh_{t-1}: through z, and through the hidden product (rows u..u+3 of w_hh . dgh)
        let s = row_times_wt(dar, daz, dgn, zero, &wt);
        dh_rec = select(dh, dh * z, keep) + s;
    }
    if (owns) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            put_dinit(b, u + i, dh_rec[i]);
        }
    }
}

// Elman: the sum of hm[i] * w[4m + i] over the 4 units lane m owns (w[k]:
// this lane's 4 columns of row k of w_hh forward, its 4 rows at column k
// backward).
fn add_lane_1(hm: vec4<f32>, m: u32, w: ptr<function, array<vec4<f32>, 32>>) -> vec4<f32> {
    var s = vec4<f32>(0.0);
    if (4u * m >= HIDDEN) { return s; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        s = s + hm[i] * (*w)[4u * m + i];
    }
    return s;
}

// Elman: sum over the row's h (or pre-activation gradients `v`, spread over
// the lanes) times this lane's w.
fn row_times_w1(v: vec4<f32>, w: ptr<function, array<vec4<f32>, 32>>) -> vec4<f32> {
    var s = add_lane_1(subgroupBroadcast(v, 0u), 0u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 1u), 1u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 2u), 2u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 3u), 3u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 4u), 4u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 5u), 5u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 6u), 6u, w);
    s = s + add_lane_1(subgroupBroadcast(v, 7u), 7u, w);
    return s;
}

@compute @workgroup_size(8, 1, 1)
fn elman_forward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hd = HIDDEN;
    let q4 = hd / 4u;
    let b = wid.x;
    let owns = lane < q4;
    let u = first_unit(lane);
    // w[k]: units u..u+3 of row k of w_hh
    var w: array<vec4<f32>, 32>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = whh4[(k * hd + u) / 4u];
    }
    var h = init4(b, u);
    for (var tt = 0u; tt < rn.steps; tt = tt + 1u) {
        let row = b * rn.steps + time(tt);
        let keep = real(b, time(tt));
        let at = (row * hd + u) / 4u;
        let a = src4[at] + row_times_w1(h, &w);
        if (owns) { hprev4[at] = h; }
        if (keep) {
            h = vec4<f32>(act_apply(ACT, a.x), act_apply(ACT, a.y), act_apply(ACT, a.z), act_apply(ACT, a.w));
        }
        if (owns) {
            cells4[at] = h;
            if (rn.last_only == 0u) { dst4[out_at(row, u) / 4u] = h; }
        }
    }
    if (owns && rn.last_only != 0u) { dst4[out_at(b, u) / 4u] = h; }
}

@compute @workgroup_size(8, 1, 1)
fn elman_backward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hd = HIDDEN;
    let q4 = hd / 4u;
    let b = wid.x;
    let owns = lane < q4;
    let u = first_unit(lane);
    // wt[j]: rows u..u+3 of w_hh at column j
    var wt: array<vec4<f32>, 32>;
    for (var j4 = 0u; j4 < q4; j4 = j4 + 1u) {
        let r0 = whh4[u * q4 + j4];
        let r1 = whh4[(u + 1u) * q4 + j4];
        let r2 = whh4[(u + 2u) * q4 + j4];
        let r3 = whh4[(u + 3u) * q4 + j4];
        wt[4u * j4] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        wt[4u * j4 + 1u] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        wt[4u * j4 + 2u] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        wt[4u * j4 + 3u] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
    }
    var dh_rec = vec4<f32>(0.0);
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let tt = rn.steps - 1u - step;
        let row = b * rn.steps + time(tt);
        let keep = real(b, time(tt));
        let dh = dh_rec + dout4(row, b, tt, u);
        let at = (row * hd + u) / 4u;
        let y = cells4[at];
        let grad = vec4<f32>(
            act_grad_from_y(ACT, y.x),
            act_grad_from_y(ACT, y.y),
            act_grad_from_y(ACT, y.z),
            act_grad_from_y(ACT, y.w),
        );
        // a padded step: no pre-activation gradient, dh passes to the step before
        let da = select(vec4<f32>(0.0), dh * grad, keep);
        if (owns) { dst4[at] = da; }
        dh_rec = select(dh, row_times_w1(da, &wt), keep);
    }
    if (owns) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            put_dinit(b, u + i, dh_rec[i]);
        }
    }
}

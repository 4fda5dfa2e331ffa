// The LSTM kernels of the one-subgroup-per-row recurrences (overrides,
// bindings and lane helpers: rnn_lanes_common.wgsl): the forward, the
// backward, and the backward that also sums the weight gradients.

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

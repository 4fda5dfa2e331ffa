// The GRU and Elman kernels of the one-subgroup-per-row recurrences
// (overrides, bindings and lane helpers: rnn_lanes_common.wgsl).

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

// Recurrences (LSTM, GRU, Elman) as persistent kernels: a workgroup owns
// whole batch rows and loops over every time step inside one dispatch
// (forward and backward), so a sequence of T steps costs one dispatch, not
// a handful per step. (Equations, uniform and bindings: rnn_common.wgsl.)
// Invocation u of a row owns cell u and computes all of its gates, so
// the cell update needs nothing from other invocations; only h (forward)
// and the gate gradients (backward) pass through workgroup memory. Each
// invocation keeps its columns (forward) or its row (backward) of w_hh
// in private registers, loaded once. A workgroup of 64 holds 64 / H rows.
// Requires H <= 64 (larger layers run step by step: rnn_step.wgsl).
// The bodies here are shared by two sets of entry points, which differ only
// in how a row's h (or gate gradients) reach every invocation of the row:
//   rnn.wgsl:    every invocation reads all H values from workgroup memory;
//   rnn_sg.wgsl: 8-wide subgroups, H a multiple of 8: each lane reads one
//                value in 8 and subgroupBroadcast shares it (on CPU
//                adapters every workgroup load runs once per invocation).
// HIDDEN (= H) is an override constant, not a uniform: with a constant trip
// count the compiler unrolls the H loops and keeps w in registers (indexing
// the private array with a loop variable cost about half of lstm_forward's
// time on lavapipe).

override HIDDEN: u32;
// LSTM forward: 0, src is gx = x . w_ih + b [B, T, 4H] from a matmul; F in
// 1..=8, src is x [B, T, F] itself and the kernel adds x_t . w_ih + b to
// each step's sum (w_ih [F, 4H] bound at `aux`, b [4H] at `dinit`): no gx
// to write and read back (on lavapipe the gx matmul of the ECG LSTM, F = 1,
// cost about a third of its forward).
override INPUTS: u32 = 0u;
const WG: u32 = 64u;
var<workgroup> h_sh: array<f32, 64>;
var<workgroup> dz_sh: array<vec4<f32>, 64>;

// (row of the batch, unit, whether this invocation has a cell) of invocation li.
fn place(wid: u32, li: u32) -> vec3<u32> {
    let per = WG / HIDDEN;
    let r = li / HIDDEN;
    let b = wid * per + r;
    return vec3<u32>(b, li % HIDDEN, select(0u, 1u, r < per && b < rn.batch));
}

fn lstm_forward_run(wg: u32, li: u32, lane: u32) {
    let hd = HIDDEN;
    let g4 = 4u * hd;
    let p = place(wg, li);
    let b = p.x;
    let u = p.y;
    let owns = p.z == 1u;
    let base = li - u; // this row's first slot in h_sh
    // columns u, H+u, 2H+u, 3H+u of w_hh, k by k
    var w: array<vec4<f32>, 64>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = vec4<f32>(whh[k * g4 + u], whh[k * g4 + hd + u], whh[k * g4 + 2u * hd + u], whh[k * g4 + 3u * hd + u]);
    }
    // with INPUTS > 0: columns u, H+u, 2H+u, 3H+u of w_ih, and of b
    var wx: array<vec4<f32>, 8>;
    var bx = vec4<f32>(0.0);
    if (INPUTS > 0u) {
        for (var f = 0u; f < INPUTS; f = f + 1u) {
            wx[f] = vec4<f32>(aux[f * g4 + u], aux[f * g4 + hd + u], aux[f * g4 + 2u * hd + u], aux[f * g4 + 3u * hd + u]);
        }
        bx = vec4<f32>(dinit[u], dinit[hd + u], dinit[2u * hd + u], dinit[3u * hd + u]);
    }
    let bb = min(b, rn.batch - 1u);
    var h = init_at(bb, u);
    var c = init_at(bb, hd + u);
    h_sh[li] = h;
    workgroupBarrier();
    for (var tt = 0u; tt < rn.steps; tt = tt + 1u) {
        let row = bb * rn.steps + time(tt);
        let keep = real(bb, time(tt));
        var z: vec4<f32>;
        if (INPUTS > 0u) {
            z = bx;
            for (var f = 0u; f < INPUTS; f = f + 1u) {
                z = z + src[row * INPUTS + f] * wx[f];
            }
        } else {
            z = vec4<f32>(src[row * g4 + u], src[row * g4 + hd + u], src[row * g4 + 2u * hd + u], src[row * g4 + 3u * hd + u]);
        }
        z = z + h_times_w4(base, lane, &w);
        let gi = sigmoid(z.x);
        let gf = sigmoid(z.y);
        let gg = tanh(clamp(z.z, -15.0, 15.0));
        let go = sigmoid(z.w);
        if (owns) {
            gates[row * g4 + u] = gi;
            gates[row * g4 + hd + u] = gf;
            gates[row * g4 + 2u * hd + u] = gg;
            gates[row * g4 + 3u * hd + u] = go;
            hprev[row * hd + u] = h;
        }
        if (keep) {
            c = gf * c + gi * gg;
            h = go * tanh(clamp(c, -15.0, 15.0));
        }
        if (owns) {
            cells[row * hd + u] = c;
            if (rn.last_only == 0u) { dst[out_at(row, u)] = h; }
        }
        workgroupBarrier();
        h_sh[li] = h;
        workgroupBarrier();
    }
    if (owns && rn.last_only != 0u) { dst[out_at(b, u)] = h; }
}

fn lstm_backward_run(wg: u32, li: u32, lane: u32) {
    let hd = HIDDEN;
    let g4 = 4u * hd;
    let p = place(wg, li);
    let b = p.x;
    let u = p.y;
    let owns = p.z == 1u;
    let base = li - u;
    // row u of w_hh, gate by gate: w_hh[u, k], w_hh[u, H+k], ...
    var w: array<vec4<f32>, 64>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = vec4<f32>(whh[u * g4 + k], whh[u * g4 + hd + k], whh[u * g4 + 2u * hd + k], whh[u * g4 + 3u * hd + k]);
    }
    var dh_rec = 0.0;
    var dc = 0.0;
    let bb = min(b, rn.batch - 1u);
    let c0 = init_at(bb, hd + u);
    // c of the step processed next (read once: it is the step before's c)
    var ct = cells[(bb * rn.steps + time(rn.steps - 1u)) * hd + u];
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let tt = rn.steps - 1u - step;
        let row = bb * rn.steps + time(tt);
        let keep = real(bb, time(tt));
        let dh = dh_rec + dout(row, bb, tt, u);
        let gi = gates[row * g4 + u];
        let gf = gates[row * g4 + hd + u];
        let gg = gates[row * g4 + 2u * hd + u];
        let go = gates[row * g4 + 3u * hd + u];
        // c of the step processed before this one (the initial c before the first)
        var cp = c0;
        if (tt > 0u) { cp = cells[(bb * rn.steps + time(tt - 1u)) * hd + u]; }
        let tc = tanh(clamp(ct, -15.0, 15.0));
        // a padded step: no gate gradient, dc and dh pass to the step before
        var dz = vec4<f32>(0.0);
        if (keep) {
            dc = dc + dh * go * (1.0 - tc * tc);
            dz = vec4<f32>(
                dc * gg * gi * (1.0 - gi),
                dc * cp * gf * (1.0 - gf),
                dc * gi * (1.0 - gg * gg),
                dh * tc * go * (1.0 - go),
            );
            dc = dc * gf;
        }
        if (owns) {
            dst[row * g4 + u] = dz.x;
            dst[row * g4 + hd + u] = dz.y;
            dst[row * g4 + 2u * hd + u] = dz.z;
            dst[row * g4 + 3u * hd + u] = dz.w;
        }
        dz_sh[li] = dz;
        workgroupBarrier();
        // dL/dh_{t-1} through the recurrence: row u of w_hh . dz
        dh_rec = select(dh, dz_dot_w4(base, lane, &w), keep);
        ct = cp;
        workgroupBarrier();
    }
    if (owns) {
        put_dinit(bb, u, dh_rec);
        put_dinit(bb, hd + u, dc);
    }
}

fn gru_forward_run(wg: u32, li: u32, lane: u32) {
    let hd = HIDDEN;
    let g3 = 3u * hd;
    let p = place(wg, li);
    let b = p.x;
    let u = p.y;
    let owns = p.z == 1u;
    let base = li - u;
    var w: array<vec4<f32>, 64>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = vec4<f32>(whh[k * g3 + u], whh[k * g3 + hd + u], whh[k * g3 + 2u * hd + u], 0.0);
    }
    let bh = vec3<f32>(aux[u], aux[hd + u], aux[2u * hd + u]);
    let bb = min(b, rn.batch - 1u);
    var h = init_at(bb, u);
    h_sh[li] = h;
    workgroupBarrier();
    for (var tt = 0u; tt < rn.steps; tt = tt + 1u) {
        let row = bb * rn.steps + time(tt);
        let keep = real(bb, time(tt));
        let gh = bh + h_times_w4(base, lane, &w).xyz;
        let r = sigmoid(src[row * g3 + u] + gh.x);
        let z = sigmoid(src[row * g3 + hd + u] + gh.y);
        let n = tanh(clamp(src[row * g3 + 2u * hd + u] + r * gh.z, -15.0, 15.0));
        if (owns) {
            gates[row * g3 + u] = r;
            gates[row * g3 + hd + u] = z;
            gates[row * g3 + 2u * hd + u] = n;
            cells[row * hd + u] = gh.z;
            hprev[row * hd + u] = h;
        }
        if (keep) { h = (1.0 - z) * n + z * h; }
        if (owns && rn.last_only == 0u) { dst[out_at(row, u)] = h; }
        workgroupBarrier();
        h_sh[li] = h;
        workgroupBarrier();
    }
    if (owns && rn.last_only != 0u) { dst[out_at(b, u)] = h; }
}

fn gru_backward_run(wg: u32, li: u32, lane: u32) {
    let hd = HIDDEN;
    let g3 = 3u * hd;
    let p = place(wg, li);
    let b = p.x;
    let u = p.y;
    let owns = p.z == 1u;
    let base = li - u;
    var w: array<vec4<f32>, 64>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = vec4<f32>(whh[u * g3 + k], whh[u * g3 + hd + k], whh[u * g3 + 2u * hd + k], 0.0);
    }
    var dh_rec = 0.0;
    let bb = min(b, rn.batch - 1u);
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let tt = rn.steps - 1u - step;
        let row = bb * rn.steps + time(tt);
        let keep = real(bb, time(tt));
        let dh = dh_rec + dout(row, bb, tt, u);
        let r = gates[row * g3 + u];
        let z = gates[row * g3 + hd + u];
        let n = gates[row * g3 + 2u * hd + u];
        let ghn = cells[row * hd + u];
        let hp = hprev[row * hd + u];
        // a padded step: no gate gradient, dh passes to the step before
        let m = select(0.0, 1.0, keep);
        let dan = m * dh * (1.0 - z) * (1.0 - n * n);
        let dar = dan * ghn * r * (1.0 - r);
        let daz = m * dh * (hp - n) * z * (1.0 - z);
        let dgh = vec3<f32>(dar, daz, dan * r);
        if (owns) {
            dst[row * g3 + u] = dar;
            dst[row * g3 + hd + u] = daz;
            dst[row * g3 + 2u * hd + u] = dan;
            aux[row * g3 + u] = dgh.x;
            aux[row * g3 + hd + u] = dgh.y;
            aux[row * g3 + 2u * hd + u] = dgh.z;
        }
        dz_sh[li] = vec4<f32>(dgh, 0.0);
        workgroupBarrier();
        dh_rec = select(dh, dh * z, keep) + dz_dot_w4(base, lane, &w);
        workgroupBarrier();
    }
    if (owns) { put_dinit(bb, u, dh_rec); }
}

fn elman_forward_run(wg: u32, li: u32, lane: u32) {
    let hd = HIDDEN;
    let p = place(wg, li);
    let b = p.x;
    let u = p.y;
    let owns = p.z == 1u;
    let base = li - u;
    var w: array<f32, 64>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = whh[k * hd + u];
    }
    let bb = min(b, rn.batch - 1u);
    var h = init_at(bb, u);
    h_sh[li] = h;
    workgroupBarrier();
    for (var tt = 0u; tt < rn.steps; tt = tt + 1u) {
        let row = bb * rn.steps + time(tt);
        let keep = real(bb, time(tt));
        let a = src[row * hd + u] + h_dot_w1(base, lane, &w);
        if (owns) { hprev[row * hd + u] = h; }
        if (keep) { h = act_apply(ACT, a); }
        if (owns) {
            cells[row * hd + u] = h;
            if (rn.last_only == 0u) { dst[out_at(row, u)] = h; }
        }
        workgroupBarrier();
        h_sh[li] = h;
        workgroupBarrier();
    }
    if (owns && rn.last_only != 0u) { dst[out_at(b, u)] = h; }
}

fn elman_backward_run(wg: u32, li: u32, lane: u32) {
    let hd = HIDDEN;
    let p = place(wg, li);
    let b = p.x;
    let u = p.y;
    let owns = p.z == 1u;
    let base = li - u;
    var w: array<f32, 64>;
    for (var k = 0u; k < hd; k = k + 1u) {
        w[k] = whh[u * hd + k];
    }
    var dh_rec = 0.0;
    let bb = min(b, rn.batch - 1u);
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let tt = rn.steps - 1u - step;
        let row = bb * rn.steps + time(tt);
        let keep = real(bb, time(tt));
        let dh = dh_rec + dout(row, bb, tt, u);
        // a padded step: no pre-activation gradient, dh passes to the step before
        let da = select(0.0, dh * act_grad_from_y(ACT, cells[row * hd + u]), keep);
        if (owns) { dst[row * hd + u] = da; }
        h_sh[li] = da;
        workgroupBarrier();
        dh_rec = select(dh, h_dot_w1(base, lane, &w), keep);
        workgroupBarrier();
    }
    if (owns) { put_dinit(bb, u, dh_rec); }
}

// Recurrences step by step: the fallback for hidden sizes above 64, whose
// state no longer fits one workgroup of the persistent kernels (rnn.wgsl).
// One dispatch per time step (rn.step: the step processed, in processing
// order, see time()), one invocation per (row b, unit u) over the whole
// batch. Equations, uniform and the other bindings: rnn_common.wgsl.
//
// Forward: the dispatch of step tt reads h_{t-1} of every unit from
// `hprev` at its own step, where the dispatch before wrote it (the first
// reads the initial state and writes it there for the w_hh gradient), and
// writes h_t to `hprev` at the next step.
// Backward (tt from T-1 down to 0): dL/dh_t through the recurrence is
// row u of w_hh times the gate gradients of the step processed after it,
// written by the dispatch before; `carry` [B, 2H] keeps each unit's total
// dL/dh (passed through padded steps) and, for the LSTM, dL/dc. A last
// dispatch with step = T writes dL/d(initial state) when it is asked for.

// backward: dL/dh [B, H] of the step processed after this one, then (LSTM) dL/dc [B, H]
@group(0) @binding(11) var<storage, read_write> carry: array<f32>;

// (row, unit) of global invocation i; false past the batch.
fn unit_of(i: u32) -> vec3<u32> {
    let hd = rn.hidden;
    return vec3<u32>(i / hd, i % hd, select(0u, 1u, i < rn.batch * hd));
}

// h_{t-1}[k] of sequence b at the step processed tt-th (row `row`).
fn h_before(b: u32, row: u32, tt: u32, k: u32) -> f32 {
    if (tt == 0u) { return init_at(b, k); }
    return hprev[row * rn.hidden + k];
}

// Stores h_t of unit u: as h_{t-1} of the next step processed, and as output.
fn put_h(b: u32, row: u32, tt: u32, u: u32, h: f32) {
    if (tt + 1u < rn.steps) {
        hprev[(b * rn.steps + time(tt + 1u)) * rn.hidden + u] = h;
    }
    if (rn.last_only == 0u) {
        dst[out_at(row, u)] = h;
    } else if (tt + 1u == rn.steps) {
        dst[out_at(b, u)] = h;
    }
}

// Row u of w_hh (width G*H) times row `row` of the gate gradients `g`
// (dst, or the GRU's aux): dL/dh_{t-1}[u] through the recurrence.
fn back_dz(row: u32, u: u32, width: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < width; j = j + 1u) {
        s = s + dst[row * width + j] * whh[u * width + j];
    }
    return s;
}

@compute @workgroup_size(64, 1, 1)
fn lstm_step_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = unit_of(gid.x);
    if (p.z == 0u) { return; }
    let b = p.x;
    let u = p.y;
    let hd = rn.hidden;
    let g4 = 4u * hd;
    let tt = rn.step;
    let row = b * rn.steps + time(tt);
    var z = vec4<f32>(src[row * g4 + u], src[row * g4 + hd + u], src[row * g4 + 2u * hd + u], src[row * g4 + 3u * hd + u]);
    for (var k = 0u; k < hd; k = k + 1u) {
        let w = vec4<f32>(whh[k * g4 + u], whh[k * g4 + hd + u], whh[k * g4 + 2u * hd + u], whh[k * g4 + 3u * hd + u]);
        z = z + h_before(b, row, tt, k) * w;
    }
    let gi = sigmoid(z.x);
    let gf = sigmoid(z.y);
    let gg = tanh(clamp(z.z, -15.0, 15.0));
    let go = sigmoid(z.w);
    gates[row * g4 + u] = gi;
    gates[row * g4 + hd + u] = gf;
    gates[row * g4 + 2u * hd + u] = gg;
    gates[row * g4 + 3u * hd + u] = go;
    let hp = h_before(b, row, tt, u);
    let prow = b * rn.steps + time(max(tt, 1u) - 1u);
    let cp = select(cells[prow * hd + u], init_at(b, hd + u), tt == 0u);
    var c = cp;
    var h = hp;
    if (real(b, time(tt))) {
        c = gf * cp + gi * gg;
        h = go * tanh(clamp(c, -15.0, 15.0));
    }
    cells[row * hd + u] = c;
    if (tt == 0u) { hprev[row * hd + u] = hp; }
    put_h(b, row, tt, u, h);
}

@compute @workgroup_size(64, 1, 1)
fn lstm_step_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = unit_of(gid.x);
    if (p.z == 0u) { return; }
    let b = p.x;
    let u = p.y;
    let hd = rn.hidden;
    let g4 = 4u * hd;
    let tt = rn.step;
    let cu = b * 2u * hd + u; // this unit's dL/dh in carry; dL/dc follows H later
    if (tt == rn.steps) {
        // dL/dh_{-1} and dL/dc_{-1}
        let row0 = b * rn.steps + time(0u);
        put_dinit(b, u, select(carry[cu], back_dz(row0, u, g4), real(b, time(0u))));
        put_dinit(b, hd + u, carry[cu + hd]);
        return;
    }
    let row = b * rn.steps + time(tt);
    let last = tt + 1u == rn.steps;
    var dh_rec = 0.0;
    var dc = 0.0;
    if (!last) {
        let nrow = b * rn.steps + time(tt + 1u);
        dh_rec = select(carry[cu], back_dz(nrow, u, g4), real(b, time(tt + 1u)));
        dc = carry[cu + hd];
    }
    let dh = dh_rec + dout(row, b, tt, u);
    let gi = gates[row * g4 + u];
    let gf = gates[row * g4 + hd + u];
    let gg = gates[row * g4 + 2u * hd + u];
    let go = gates[row * g4 + 3u * hd + u];
    let tc = tanh(clamp(cells[row * hd + u], -15.0, 15.0));
    let prow = b * rn.steps + time(max(tt, 1u) - 1u);
    let cp = select(cells[prow * hd + u], init_at(b, hd + u), tt == 0u);
    var dz = vec4<f32>(0.0);
    if (real(b, time(tt))) {
        dc = dc + dh * go * (1.0 - tc * tc);
        dz = vec4<f32>(
            dc * gg * gi * (1.0 - gi),
            dc * cp * gf * (1.0 - gf),
            dc * gi * (1.0 - gg * gg),
            dh * tc * go * (1.0 - go),
        );
        dc = dc * gf;
    }
    dst[row * g4 + u] = dz.x;
    dst[row * g4 + hd + u] = dz.y;
    dst[row * g4 + 2u * hd + u] = dz.z;
    dst[row * g4 + 3u * hd + u] = dz.w;
    carry[cu] = dh;
    carry[cu + hd] = dc;
}

@compute @workgroup_size(64, 1, 1)
fn gru_step_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = unit_of(gid.x);
    if (p.z == 0u) { return; }
    let b = p.x;
    let u = p.y;
    let hd = rn.hidden;
    let g3 = 3u * hd;
    let tt = rn.step;
    let row = b * rn.steps + time(tt);
    var gh = vec3<f32>(aux[u], aux[hd + u], aux[2u * hd + u]);
    for (var k = 0u; k < hd; k = k + 1u) {
        let w = vec3<f32>(whh[k * g3 + u], whh[k * g3 + hd + u], whh[k * g3 + 2u * hd + u]);
        gh = gh + h_before(b, row, tt, k) * w;
    }
    let r = sigmoid(src[row * g3 + u] + gh.x);
    let z = sigmoid(src[row * g3 + hd + u] + gh.y);
    let n = tanh(clamp(src[row * g3 + 2u * hd + u] + r * gh.z, -15.0, 15.0));
    gates[row * g3 + u] = r;
    gates[row * g3 + hd + u] = z;
    gates[row * g3 + 2u * hd + u] = n;
    cells[row * hd + u] = gh.z;
    let hp = h_before(b, row, tt, u);
    if (tt == 0u) { hprev[row * hd + u] = hp; }
    put_h(b, row, tt, u, select(hp, (1.0 - z) * n + z * hp, real(b, time(tt))));
}

// GRU: dL/dh_{t-1}[u] from the step processed after: the direct path
// through z and row u of w_hh times that step's gh gradient (`aux`).
fn gru_back(row: u32, b: u32, u: u32) -> f32 {
    let hd = rn.hidden;
    let g3 = 3u * hd;
    var s = carry[b * 2u * hd + u] * gates[row * g3 + hd + u];
    for (var j = 0u; j < g3; j = j + 1u) {
        s = s + aux[row * g3 + j] * whh[u * g3 + j];
    }
    return s;
}

@compute @workgroup_size(64, 1, 1)
fn gru_step_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = unit_of(gid.x);
    if (p.z == 0u) { return; }
    let b = p.x;
    let u = p.y;
    let hd = rn.hidden;
    let g3 = 3u * hd;
    let tt = rn.step;
    let cu = b * 2u * hd + u;
    if (tt == rn.steps) {
        let row0 = b * rn.steps + time(0u);
        put_dinit(b, u, select(carry[cu], gru_back(row0, b, u), real(b, time(0u))));
        return;
    }
    let row = b * rn.steps + time(tt);
    var dh_rec = 0.0;
    if (tt + 1u < rn.steps) {
        let nrow = b * rn.steps + time(tt + 1u);
        dh_rec = select(carry[cu], gru_back(nrow, b, u), real(b, time(tt + 1u)));
    }
    let dh = dh_rec + dout(row, b, tt, u);
    let r = gates[row * g3 + u];
    let z = gates[row * g3 + hd + u];
    let n = gates[row * g3 + 2u * hd + u];
    let ghn = cells[row * hd + u];
    let hp = hprev[row * hd + u];
    let m = select(0.0, 1.0, real(b, time(tt)));
    let dan = m * dh * (1.0 - z) * (1.0 - n * n);
    let dar = dan * ghn * r * (1.0 - r);
    let daz = m * dh * (hp - n) * z * (1.0 - z);
    dst[row * g3 + u] = dar;
    dst[row * g3 + hd + u] = daz;
    dst[row * g3 + 2u * hd + u] = dan;
    aux[row * g3 + u] = dar;
    aux[row * g3 + hd + u] = daz;
    aux[row * g3 + 2u * hd + u] = dan * r;
    carry[cu] = dh;
}

@compute @workgroup_size(64, 1, 1)
fn elman_step_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = unit_of(gid.x);
    if (p.z == 0u) { return; }
    let b = p.x;
    let u = p.y;
    let hd = rn.hidden;
    let tt = rn.step;
    let row = b * rn.steps + time(tt);
    var a = src[row * hd + u];
    for (var k = 0u; k < hd; k = k + 1u) {
        a = a + h_before(b, row, tt, k) * whh[k * hd + u];
    }
    let hp = h_before(b, row, tt, u);
    let h = select(hp, act_apply(ACT, a), real(b, time(tt)));
    cells[row * hd + u] = h;
    if (tt == 0u) { hprev[row * hd + u] = hp; }
    put_h(b, row, tt, u, h);
}

@compute @workgroup_size(64, 1, 1)
fn elman_step_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = unit_of(gid.x);
    if (p.z == 0u) { return; }
    let b = p.x;
    let u = p.y;
    let hd = rn.hidden;
    let tt = rn.step;
    let cu = b * 2u * hd + u;
    if (tt == rn.steps) {
        let row0 = b * rn.steps + time(0u);
        put_dinit(b, u, select(carry[cu], back_dz(row0, u, hd), real(b, time(0u))));
        return;
    }
    let row = b * rn.steps + time(tt);
    var dh_rec = 0.0;
    if (tt + 1u < rn.steps) {
        let nrow = b * rn.steps + time(tt + 1u);
        dh_rec = select(carry[cu], back_dz(nrow, u, hd), real(b, time(tt + 1u)));
    }
    let dh = dh_rec + dout(row, b, tt, u);
    let da = select(0.0, dh * act_grad_from_y(ACT, cells[row * hd + u]), real(b, time(tt)));
    dst[row * hd + u] = da;
    carry[cu] = dh;
}

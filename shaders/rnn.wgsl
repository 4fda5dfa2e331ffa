// LSTM recurrence as persistent kernels: one workgroup owns one batch row
// and loops over every time step inside one dispatch (forward and
// backward), so a sequence of T steps costs one dispatch, not a handful per
// step. The input projection for all steps is one matmul before it:
//   gx [B, T, 4H] = x [B*T, F] . w_ih [F, 4H] + b [4H]
// Gate order i, f, g, o (as PyTorch); with z = gx[b, t] + h_{t-1} . w_hh [H, 4H]:
//   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  h_{-1} = c_{-1} = 0
// The forward saves the gates, c_t and h_{t-1} for the backward and the
// weight gradients (dw_hh = hprev^T . dz, dw_ih = x^T . dz: matmuls after it).
// Invocation j < 4H computes gate unit j; invocation u < H owns cell u.
// Requires 4H <= 256.

struct Rnn { batch: u32, steps: u32, hidden: u32, last_only: u32 }

@group(0) @binding(0) var<uniform> rn: Rnn;
// forward: gx [B, T, 4H]; backward: dout ([B, H] when last_only, else [B, T, H])
@group(0) @binding(1) var<storage, read_write> src: array<f32>;
// w_hh [H, 4H]
@group(0) @binding(2) var<storage, read_write> whh: array<f32>;
// gates [B, T, 4H] (activated)
@group(0) @binding(3) var<storage, read_write> gates: array<f32>;
// cells [B, T, H]
@group(0) @binding(4) var<storage, read_write> cells: array<f32>;
// hprev [B, T, H]: h_{t-1}
@group(0) @binding(5) var<storage, read_write> hprev: array<f32>;
// forward: out ([B, H] when last_only, else [B, T, H]); backward: dz [B, T, 4H]
@group(0) @binding(6) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;
var<workgroup> h_sh: array<f32, 64>;
var<workgroup> a_sh: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn lstm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) j: u32) {
    let b = wid.x;
    let hd = rn.hidden;
    let g4 = 4u * hd;
    if (j < hd) { h_sh[j] = 0.0; }
    var c = 0.0;
    workgroupBarrier();
    for (var t = 0u; t < rn.steps; t = t + 1u) {
        let row = b * rn.steps + t;
        if (j < g4) {
            var z = src[row * g4 + j];
            for (var k = 0u; k < hd; k = k + 1u) {
                z = z + h_sh[k] * whh[k * g4 + j];
            }
            // g (the third quarter) is tanh, the others sigmoid
            let a = select(1.0 / (1.0 + exp(-z)), tanh(clamp(z, -15.0, 15.0)), j >= 2u * hd && j < 3u * hd);
            a_sh[j] = a;
            gates[row * g4 + j] = a;
        }
        if (j < hd) { hprev[row * hd + j] = h_sh[j]; }
        workgroupBarrier();
        if (j < hd) {
            c = a_sh[hd + j] * c + a_sh[j] * a_sh[2u * hd + j];
            let h = a_sh[3u * hd + j] * tanh(clamp(c, -15.0, 15.0));
            cells[row * hd + j] = c;
            h_sh[j] = h;
            if (rn.last_only == 0u) { dst[row * hd + j] = h; }
        }
        workgroupBarrier();
    }
    if (rn.last_only != 0u && j < hd) { dst[b * hd + j] = h_sh[j]; }
}

@compute @workgroup_size(256, 1, 1)
fn lstm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) j: u32) {
    let b = wid.x;
    let hd = rn.hidden;
    let g4 = 4u * hd;
    var dh_rec = 0.0;
    var dc = 0.0;
    for (var step = 0u; step < rn.steps; step = step + 1u) {
        let t = rn.steps - 1u - step;
        let row = b * rn.steps + t;
        if (j < hd) {
            var dh = dh_rec;
            if (rn.last_only == 0u) {
                dh = dh + src[row * hd + j];
            } else if (t + 1u == rn.steps) {
                dh = dh + src[b * hd + j];
            }
            let gi = gates[row * g4 + j];
            let gf = gates[row * g4 + hd + j];
            let gg = gates[row * g4 + 2u * hd + j];
            let go = gates[row * g4 + 3u * hd + j];
            let ct = cells[row * hd + j];
            let cp = select(0.0, cells[(row - select(0u, 1u, t > 0u)) * hd + j], t > 0u);
            let tc = tanh(clamp(ct, -15.0, 15.0));
            dc = dc + dh * go * (1.0 - tc * tc);
            let dzi = dc * gg * gi * (1.0 - gi);
            let dzf = dc * cp * gf * (1.0 - gf);
            let dzg = dc * gi * (1.0 - gg * gg);
            let dzo = dh * tc * go * (1.0 - go);
            dc = dc * gf;
            a_sh[j] = dzi;
            a_sh[hd + j] = dzf;
            a_sh[2u * hd + j] = dzg;
            a_sh[3u * hd + j] = dzo;
            dst[row * g4 + j] = dzi;
            dst[row * g4 + hd + j] = dzf;
            dst[row * g4 + 2u * hd + j] = dzg;
            dst[row * g4 + 3u * hd + j] = dzo;
        }
        workgroupBarrier();
        if (j < hd) {
            // dL/dh_{t-1} through the recurrence: dz . w_hh^T (row j of w_hh)
            var s = 0.0;
            for (var k = 0u; k < g4; k = k + 1u) {
                s = s + a_sh[k] * whh[j * g4 + k];
            }
            dh_rec = s;
        }
        workgroupBarrier();
    }
}

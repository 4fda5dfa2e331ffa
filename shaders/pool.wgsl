// Pooling and nearest upsampling over NCHW planes.
//   x [B, C, H, W] -> y [B, C, OH, OW]; window (KH, KW), stride (SH, SW),
//   padding (PH, PW) at the top and left. Padding never wins a max and is not
//   counted in an average (the divisor is the number of input positions the
//   window covers; a window over padding only gives 0).
// Forward kernels run one invocation per output, backward kernels one per
// input element and gather from the windows that cover it: no atomics, the
// same result on every run.
// maxpool_forward also writes the in-plane index (iy * W + ix, bits of an
// i32; -1 for a window with no input) of each maximum; maxpool_backward
// sends each dy to that position (the first maximum on ties).
// Upsampling repeats each input SH x SW times: OH = H * SH, OW = W * SW.

struct Pool {
    batch: u32, c: u32, h: u32, w: u32,
    oh: u32, ow: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, ph: u32, pw: u32,
}

// The geometry as override constants: window_common.wgsl.

override GRAD_ACT: u32 = 0u;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> pl: Pool;
// forward: x; backward: dy
@group(0) @binding(1) var<storage, read_write> src: array<f32>;
// max pool: argmax positions [B, C, OH, OW] (written forward, read backward)
@group(0) @binding(2) var<storage, read_write> arg: array<f32>;
// aux: the activation output whose derivative GRAD_ACT multiplies into dx
@group(0) @binding(3) var<storage, read_write> aux: array<f32>;
// forward: y; backward: dx
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

// The same buffers read or written as vec4 by the *_v4 max-pool entry
// points (2x2 windows at stride 2 over rows of a multiple of 4): bindings
// 5-7 are bindings 1, 3 and 4 again. On lavapipe a vec4 access is one
// per-lane loop for four values where four scalar accesses are four.
@group(0) @binding(5) var<storage, read_write> src4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> aux4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dst4: array<vec4<f32>>;
// Binding 2 (argmax) again as vec4, for the *_v8 entry points (rows of a multiple of 8).
@group(0) @binding(8) var<storage, read_write> arg4: array<vec4<f32>>;

fn put_grad(idx: u32, g: f32) {
    var v = g;
    if (GRAD_ACT != 0u) { v = v * act_grad_from_y(GRAD_ACT, aux[idx]); }
    if (ACCUMULATE) { dst[idx] = dst[idx] + v; } else { dst[idx] = v; }
}

// The first and last output index (inclusive) whose window covers input i
// along one axis; empty when first > last.
fn covering(i: u32, k: u32, s: u32, p: u32, n_out: u32) -> vec2<i32> {
    let t = i32(i + p) - i32(k) + 1;
    let first = select(0, (t + i32(s) - 1) / i32(s), t > 0);
    let last = min(i32(n_out) - 1, i32(i + p) / i32(s));
    return vec2<i32>(first, last);
}

// Windows that tile the input without overlap or padding (the usual 2x2,
// stride 2): every input lies in at most one window and every window is
// inside the input, so the kernels skip the general bounds and loops.
fn tiling() -> bool {
    return KH == SH && KW == SW && PH == 0u && PW == 0u;
}

// Input positions [start, end) the window of output o covers along one axis.
fn window(o: u32, k: u32, s: u32, p: u32, n_in: u32) -> vec2<i32> {
    let start = i32(o * s) - i32(p);
    return vec2<i32>(max(start, 0), min(start + i32(k), i32(n_in)));
}

@compute @workgroup_size(256, 1, 1)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let ohw = OUT_H * OUT_W;
    if (i >= BATCH * IN_C * ohw) { return; }
    let plane = (i / ohw) * IN_H * IN_W;
    let r = i % ohw;
    if (tiling()) {
        // uniform loop bounds: no per-invocation window arithmetic
        let y0 = (r / OUT_W) * KH;
        let x0 = (r % OUT_W) * KW;
        var best = src[plane + y0 * IN_W + x0];
        var at = y0 * IN_W + x0;
        for (var y = 0u; y < KH; y = y + 1u) {
            for (var x = 0u; x < KW; x = x + 1u) {
                let p = (y0 + y) * IN_W + x0 + x;
                let v = src[plane + p];
                if (v > best) { best = v; at = p; }
            }
        }
        dst[i] = best;
        arg[i] = bitcast<f32>(i32(at));
        return;
    }
    let wy = window(r / OUT_W, KH, SH, PH, IN_H);
    let wx = window(r % OUT_W, KW, SW, PW, IN_W);
    var best = 0.0;
    var at = -1;
    for (var y = wy.x; y < wy.y; y = y + 1) {
        for (var x = wx.x; x < wx.y; x = x + 1) {
            let p = y * i32(IN_W) + x;
            let v = src[plane + u32(p)];
            if (at < 0 || v > best) { best = v; at = p; }
        }
    }
    dst[i] = best;
    arg[i] = bitcast<f32>(at);
}

@compute @workgroup_size(256, 1, 1)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let hw = IN_H * IN_W;
    if (i >= BATCH * IN_C * hw) { return; }
    let oplane = (i / hw) * OUT_H * OUT_W;
    let p = i % hw;
    if (tiling()) {
        // the one window holding p, if any (rows and columns past the last
        // whole window belong to none)
        let oy = (p / IN_W) / KH;
        let ox = (p % IN_W) / KW;
        let inside = oy < OUT_H && ox < OUT_W;
        let o = select(0u, oplane + oy * OUT_W + ox, inside);
        put_grad(i, select(0.0, src[o], inside && bitcast<i32>(arg[o]) == i32(p)));
        return;
    }
    let cy = covering(p / IN_W, KH, SH, PH, OUT_H);
    let cx = covering(p % IN_W, KW, SW, PW, OUT_W);
    var g = 0.0;
    for (var oy = cy.x; oy <= cy.y; oy = oy + 1) {
        for (var ox = cx.x; ox <= cx.y; ox = ox + 1) {
            let o = oplane + u32(oy) * OUT_W + u32(ox);
            if (bitcast<i32>(arg[o]) == i32(p)) { g = g + src[o]; }
        }
    }
    put_grad(i, g);
}

// maxpool_forward for 2x2 windows at stride 2 without padding, W a
// multiple of 4 (kernels::maxpool_forward picks it): invocation i makes
// outputs 2i and 2i + 1 (one row, OW even) from a vec4 of each of the two
// input rows, with the same maxima, positions and ties as maxpool_forward.
@compute @workgroup_size(256, 1, 1)
fn maxpool_forward_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg) * 2u;
    let ohw = OUT_H * OUT_W;
    if (i >= BATCH * IN_C * ohw) { return; }
    let plane = (i / ohw) * IN_H * IN_W;
    let r = i % ohw;
    let p0 = (r / OUT_W) * 2u * IN_W + (r % OUT_W) * 2u;
    let top = src4[(plane + p0) / 4u];
    let bottom = src4[(plane + p0 + IN_W) / 4u];
    let left = max_of_window(top.x, top.y, bottom.x, bottom.y, p0);
    let right = max_of_window(top.z, top.w, bottom.z, bottom.w, p0 + 2u);
    dst[i] = left.x;
    dst[i + 1u] = right.x;
    arg[i] = left.y;
    arg[i + 1u] = right.y;
}

// maxpool_forward_v4 over rows of a multiple of 8 (kernels::maxpool_forward
// picks it): invocation i makes outputs 4i..4i+3 (one row) from 2 vec4 of
// each of the two input rows and writes them and their positions as one
// vec4 each: 6 accesses for 4 outputs where the v4 kernel makes 12.
@compute @workgroup_size(256, 1, 1)
fn maxpool_forward_v8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i4 = linear_index(gid, nwg);
    let ohw = OUT_H * OUT_W;
    if (i4 * 4u >= BATCH * IN_C * ohw) { return; }
    let i = i4 * 4u;
    let plane = (i / ohw) * IN_H * IN_W;
    let r = i % ohw;
    let p0 = (r / OUT_W) * 2u * IN_W + (r % OUT_W) * 2u;
    let top = (plane + p0) / 4u;
    let bottom = (plane + p0 + IN_W) / 4u;
    let t0 = src4[top];
    let t1 = src4[top + 1u];
    let b0 = src4[bottom];
    let b1 = src4[bottom + 1u];
    let w0 = max_of_window(t0.x, t0.y, b0.x, b0.y, p0);
    let w1 = max_of_window(t0.z, t0.w, b0.z, b0.w, p0 + 2u);
    let w2 = max_of_window(t1.x, t1.y, b1.x, b1.y, p0 + 4u);
    let w3 = max_of_window(t1.z, t1.w, b1.z, b1.w, p0 + 6u);
    dst4[i4] = vec4<f32>(w0.x, w1.x, w2.x, w3.x);
    arg4[i4] = vec4<f32>(w0.y, w1.y, w2.y, w3.y);
}

// The maximum of a 2x2 window whose top-left input is at in-plane index p
// and its position (bits of an i32), the first maximum in row order.
fn max_of_window(a: f32, b: f32, c: f32, d: f32, p: u32) -> vec2<f32> {
    var best = a;
    var at = p;
    if (b > best) { best = b; at = p + 1u; }
    if (c > best) { best = c; at = p + IN_W; }
    if (d > best) { best = d; at = p + IN_W + 1u; }
    return vec2<f32>(best, bitcast<f32>(i32(at)));
}

// maxpool_backward for the same windows: invocation i makes dx of the 4
// inputs 4i..4i+3 (one row, covered by two windows, or by none in the last
// row of an odd H) and writes them as one vec4.
@compute @workgroup_size(256, 1, 1)
fn maxpool_backward_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i4 = linear_index(gid, nwg);
    let hw = IN_H * IN_W;
    if (i4 * 4u >= BATCH * IN_C * hw) { return; }
    let i = i4 * 4u;
    let p = i % hw;
    let oy = (p / IN_W) / 2u;
    var g = vec4<f32>(0.0);
    if (oy < OUT_H) {
        let o = (i / hw) * OUT_H * OUT_W + oy * OUT_W + (p % IN_W) / 2u;
        let at0 = u32(bitcast<i32>(arg[o]));
        let at1 = u32(bitcast<i32>(arg[o + 1u]));
        let d0 = src[o];
        let d1 = src[o + 1u];
        g = window_pair_grads(d0, d1, at0, at1, p);
    }
    put_grad4(i4, g);
}

// dx of the 4 inputs p..p+3 of one row under two neighbouring windows:
// each window's dy (d0, d1) goes to its maximum (positions at0, at1).
fn window_pair_grads(d0: f32, d1: f32, at0: u32, at1: u32, p: u32) -> vec4<f32> {
    return vec4<f32>(
        select(0.0, d0, at0 == p),
        select(0.0, d0, at0 == p + 1u),
        select(0.0, d1, at1 == p + 2u),
        select(0.0, d1, at1 == p + 3u),
    );
}

// maxpool_backward_v4 over rows of a multiple of 8: invocation i makes dx
// of the 8 inputs 8i..8i+7 (one row, covered by 4 windows, or by none in
// the last row of an odd H) from one vec4 of dy and one of positions, and
// writes them as 2 vec4.
@compute @workgroup_size(256, 1, 1)
fn maxpool_backward_v8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i8 = linear_index(gid, nwg);
    let hw = IN_H * IN_W;
    if (i8 * 8u >= BATCH * IN_C * hw) { return; }
    let i = i8 * 8u;
    let p = i % hw;
    let oy = (p / IN_W) / 2u;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    if (oy < OUT_H) {
        let o4 = ((i / hw) * OUT_H * OUT_W + oy * OUT_W + (p % IN_W) / 2u) / 4u;
        let at = vec4<u32>(bitcast<vec4<i32>>(arg4[o4]));
        let d = src4[o4];
        lo = window_pair_grads(d.x, d.y, at.x, at.y, p);
        hi = window_pair_grads(d.z, d.w, at.z, at.w, p + 4u);
    }
    put_grad4(i8 * 2u, lo);
    put_grad4(i8 * 2u + 1u, hi);
}

// dx as vec4 j (times act'(aux) with GRAD_ACT; added with ACCUMULATE).
fn put_grad4(j: u32, g: vec4<f32>) {
    var v = g;
    if (GRAD_ACT != 0u) {
        let y = aux4[j];
        v = v * vec4<f32>(
            act_grad_from_y(GRAD_ACT, y.x),
            act_grad_from_y(GRAD_ACT, y.y),
            act_grad_from_y(GRAD_ACT, y.z),
            act_grad_from_y(GRAD_ACT, y.w),
        );
    }
    if (ACCUMULATE) { dst4[j] = dst4[j] + v; } else { dst4[j] = v; }
}

@compute @workgroup_size(256, 1, 1)
fn avgpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let ohw = OUT_H * OUT_W;
    if (i >= BATCH * IN_C * ohw) { return; }
    let plane = (i / ohw) * IN_H * IN_W;
    let r = i % ohw;
    let wy = window(r / OUT_W, KH, SH, PH, IN_H);
    let wx = window(r % OUT_W, KW, SW, PW, IN_W);
    var sum = 0.0;
    for (var y = wy.x; y < wy.y; y = y + 1) {
        for (var x = wx.x; x < wx.y; x = x + 1) {
            sum = sum + src[plane + u32(y * i32(IN_W) + x)];
        }
    }
    let count = max(wy.y - wy.x, 0) * max(wx.y - wx.x, 0);
    dst[i] = select(0.0, sum / f32(count), count > 0);
}

@compute @workgroup_size(256, 1, 1)
fn avgpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let hw = IN_H * IN_W;
    if (i >= BATCH * IN_C * hw) { return; }
    let oplane = (i / hw) * OUT_H * OUT_W;
    let p = i % hw;
    let cy = covering(p / IN_W, KH, SH, PH, OUT_H);
    let cx = covering(p % IN_W, KW, SW, PW, OUT_W);
    var g = 0.0;
    for (var oy = cy.x; oy <= cy.y; oy = oy + 1) {
        let wy = window(u32(oy), KH, SH, PH, IN_H);
        for (var ox = cx.x; ox <= cx.y; ox = ox + 1) {
            let wx = window(u32(ox), KW, SW, PW, IN_W);
            let count = (wy.y - wy.x) * (wx.y - wx.x);
            g = g + src[oplane + u32(oy) * OUT_W + u32(ox)] / f32(count);
        }
    }
    put_grad(i, g);
}

@compute @workgroup_size(256, 1, 1)
fn upsample_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let ohw = OUT_H * OUT_W;
    if (i >= BATCH * IN_C * ohw) { return; }
    let plane = (i / ohw) * IN_H * IN_W;
    let r = i % ohw;
    dst[i] = src[plane + (r / OUT_W / SH) * IN_W + (r % OUT_W) / SW];
}

@compute @workgroup_size(256, 1, 1)
fn upsample_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let hw = IN_H * IN_W;
    if (i >= BATCH * IN_C * hw) { return; }
    let oplane = (i / hw) * OUT_H * OUT_W;
    let p = i % hw;
    let y0 = (p / IN_W) * SH;
    let x0 = (p % IN_W) * SW;
    var g = 0.0;
    for (var y = 0u; y < SH; y = y + 1u) {
        for (var x = 0u; x < SW; x = x + 1u) {
            g = g + src[oplane + (y0 + y) * OUT_W + x0 + x];
        }
    }
    put_grad(i, g);
}

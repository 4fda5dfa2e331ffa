// Subgroup variants of conv2d_forward, conv2d_backward_input and
// conv2d_backward_weight (same uniform, bindings, overrides and results as
// in conv.wgsl), for adapters whose subgroups have at least 8 invocations.
// Why: on CPU adapters every storage load inside a loop runs once per
// invocation, so loads per FMA set the speed. Here a workgroup owns 8
// columns (output channels for the forward, input channels for
// backward_input, taps for backward_weight) and each invocation 4 rows x
// those 8 columns. Per k step an invocation loads its own 4 row
// values and one shared column value (lane j of every subgroup loads column
// j), then subgroupBroadcast hands each column value to every lane: 5 loads
// feed 32 FMAs, where the 4x4 kernels need 8 loads for 16.
//   conv2d_forward_sg:        rows = output pixels (b, oy, ox), columns = o, k = (c, ky, kx)
//   conv2d_backward_input_sg: rows = input pixels (b, iy, ix),  columns = c, k = (o, ky, kx)
//   conv2d_backward_weight_sg: rows = output channels o, columns = taps (c, ky, kx), k = (b, oy, ox)
// (Per k step of the weight gradient: dy of the invocation's 4 channels and
// lane j's input value under tap j. With the geometry as override
// constants the k loops have constant bounds and no divisions.)
// Loops have uniform bounds and every invocation stays active until the
// stores (subgroup operations need the whole subgroup).

// The uniform, overrides, bindings, WG, put and clamp4 are in conv_common.wgsl;
// COLS and fma8 in subgroup_common.wgsl; SG_WG, SG_COLS, first_row and the
// stores in conv_sg_common.wgsl. The four-pixel variants are in conv_sg4.wgsl.

@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_forward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let ohw = OUT_H * OUT_W;
    let rows = BATCH * ohw;
    let r0 = first_row(wid, li);
    let m = clamp4(r0, rows);
    let bi = m / ohw;
    let pix = m % ohw;
    let hw = IN_H * IN_W;
    let iy0 = vec4<i32>((pix / OUT_W) * SH) - i32(PH);
    let ix0 = vec4<i32>((pix % OUT_W) * SW) - i32(PW);
    let xbase = bi * (IN_C * hw);
    let kk = IN_C * KH * KW;
    let o0 = wid.y * SG_COLS;
    // the weight rows this lane loads for its subgroup
    let j = min(lane, COLS - 1u);
    let wrow0 = min(o0 + j, OUT_C - 1u) * kk;
    let wrow1 = min(o0 + COLS + j, OUT_C - 1u) * kk;
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    let hi = vec4<i32>(i32(IN_H));
    let wi = vec4<i32>(i32(IN_W));
    for (var c = 0u; c < IN_C; c = c + 1u) {
        let cbase = xbase + vec4<u32>(c * hw);
        for (var ky = 0u; ky < KH; ky = ky + 1u) {
            let iy = iy0 + vec4<i32>(i32(ky));
            let oky = (iy >= vec4<i32>(0)) & (iy < hi);
            let rowoff = cbase + vec4<u32>(select(vec4<i32>(0), iy, oky)) * IN_W;
            for (var kx = 0u; kx < KW; kx = kx + 1u) {
                let ix = ix0 + vec4<i32>(i32(kx));
                let ok = oky & (ix >= vec4<i32>(0)) & (ix < wi);
                let off = select(vec4<u32>(0u), rowoff + vec4<u32>(select(vec4<i32>(0), ix, ok)), ok);
                let xv = select(vec4<f32>(0.0), vec4<f32>(a[off.x], a[off.y], a[off.z], a[off.w]), ok);
                let tap = (c * KH + ky) * KW + kx;
                fma8(&acc0, xv, b[wrow0 + tap]);
                if (SG_COLS == 16u) { fma8(&acc1, xv, b[wrow1 + tap]); }
            }
        }
    }
    store_cols(KIND_FORWARD, r0, o0, &acc0);
    if (SG_COLS == 16u) { store_cols(KIND_FORWARD, r0, o0 + COLS, &acc1); }
}

@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_backward_input_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hw = IN_H * IN_W;
    let ohw = OUT_H * OUT_W;
    let rows = BATCH * hw;
    let r0 = first_row(wid, li);
    let m = clamp4(r0, rows);
    let bi = m / hw;
    let pix = m % hw;
    let ty0 = vec4<i32>(pix / IN_W) + i32(PH);
    let tx0 = vec4<i32>(pix % IN_W) + i32(PW);
    let dybase = bi * (OUT_C * ohw);
    let kpl = KH * KW;
    let c0 = wid.y * SG_COLS;
    // w[o, c, ky, kx] for this lane's channels is at o * C * kpl + wcol + ky * kw + kx
    let j = min(lane, COLS - 1u);
    let wcol0 = min(c0 + j, IN_C - 1u) * kpl;
    let wcol1 = min(c0 + COLS + j, IN_C - 1u) * kpl;
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    let shi = vec4<i32>(i32(SH));
    let swi = vec4<i32>(i32(SW));
    let ohi = vec4<i32>(i32(OUT_H));
    let owi = vec4<i32>(i32(OUT_W));
    for (var o = 0u; o < OUT_C; o = o + 1u) {
        let obase = dybase + vec4<u32>(o * ohw);
        let wbase = o * IN_C * kpl;
        for (var ky = 0u; ky < KH; ky = ky + 1u) {
            let ty = ty0 - vec4<i32>(i32(ky));
            let tyc = select(vec4<i32>(0), ty, ty >= vec4<i32>(0));
            let oy = tyc / shi;
            let oky = (ty >= vec4<i32>(0)) & (oy * shi == tyc) & (oy < ohi);
            let rowoff = obase + vec4<u32>(select(vec4<i32>(0), oy, oky)) * OUT_W;
            for (var kx = 0u; kx < KW; kx = kx + 1u) {
                let tx = tx0 - vec4<i32>(i32(kx));
                let txc = select(vec4<i32>(0), tx, tx >= vec4<i32>(0));
                let ox = txc / swi;
                let ok = oky & (tx >= vec4<i32>(0)) & (ox * swi == txc) & (ox < owi);
                let off = select(vec4<u32>(0u), rowoff + vec4<u32>(select(vec4<i32>(0), ox, ok)), ok);
                let dv = select(vec4<f32>(0.0), vec4<f32>(a[off.x], a[off.y], a[off.z], a[off.w]), ok);
                let tap = wbase + ky * KW + kx;
                fma8(&acc0, dv, b[tap + wcol0]);
                if (SG_COLS == 16u) { fma8(&acc1, dv, b[tap + wcol1]); }
            }
        }
    }
    store_cols(KIND_INPUT, r0, c0, &acc0);
    if (SG_COLS == 16u) { store_cols(KIND_INPUT, r0, c0 + COLS, &acc1); }
}

@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_backward_weight_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let ohw = OUT_H * OUT_W;
    let hw = IN_H * IN_W;
    let kpl = KH * KW;
    let cols = IN_C * kpl;
    let r0 = first_row(wid, li);
    let o = clamp4(r0, OUT_C);
    let n0 = wid.y * SG_COLS;
    // the taps (c, ky, kx) whose input values this lane loads for its subgroup
    let j = min(lane, COLS - 1u);
    let t0 = tap_at(min(n0 + j, cols - 1u));
    let t1 = tap_at(min(n0 + COLS + j, cols - 1u));
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    var rowsum = vec4<f32>(0.0);
    for (var bb = 0u; bb < BATCH; bb = bb + 1u) {
        let dyb = vec4<u32>(bb * OUT_C * ohw) + o * ohw;
        let xb = bb * IN_C * hw;
        for (var oy = 0u; oy < OUT_H; oy = oy + 1u) {
            for (var ox = 0u; ox < OUT_W; ox = ox + 1u) {
                let p = oy * OUT_W + ox;
                let dv = vec4<f32>(b[dyb.x + p], b[dyb.y + p], b[dyb.z + p], b[dyb.w + p]);
                var x1 = 0.0;
                if (SG_COLS == 16u) { x1 = x_under(xb, t1, oy, ox); }
                weight_pixel(&acc0, &acc1, &rowsum, dv, x_under(xb, t0, oy, ox), x1);
            }
        }
    }
    store_weight_grads(wid, r0, n0, &acc0, &acc1, rowsum);
}

// The input value under tap t at output pixel (oy, ox) of the sample whose
// input starts at xb (0 in the padding).
fn x_under(xb: u32, t: vec3<u32>, oy: u32, ox: u32) -> f32 {
    let iy = i32(oy * SH + t.y) - i32(PH);
    let ix = i32(ox * SW + t.z) - i32(PW);
    let ok = iy >= 0 && iy < i32(IN_H) && ix >= 0 && ix < i32(IN_W);
    return select(0.0, a[xb + t.x + u32(select(0, iy * i32(IN_W) + ix, ok))], ok);
}

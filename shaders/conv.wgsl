// 2-D convolution, NCHW, as implicit GEMMs (no im2col buffer):
//   x [B, C, H, W], w [OC, C, KH, KW], bias [OC], y [B, OC, OH, OW]
//   y[b, o, oy, ox] = act(bias[o] + sum_{c, ky, kx} x[b, c, oy*SH - PH + ky, ox*SW - PW + kx] * w[o, c, ky, kx])
// Positions outside the input are zero (padding).
//   conv2d_forward:         rows = output pixels (b, oy, ox), columns = o,      k = (c, ky, kx)
//   conv2d_backward_input:  rows = input pixels (b, iy, ix),  columns = c,      k = (o, ky, kx)
//   conv2d_backward_weight: rows = o,                         columns = (c, ky, kx), k = (b, oy, ox)
// Each invocation computes a 4x4 block (4 rows x 4 columns): four loads of
// each operand feed 16 FMAs per k step, as in matmul.wgsl. Rows and columns
// past the edge are clamped for loading and not stored. Every output element
// is written by exactly one invocation: no atomics, deterministic results.

// The uniform, overrides, bindings, put and clamp4 are in conv_common.wgsl.

const BLOCK: u32 = 4u;

// The (row block, column block) of invocation `id`, or false past the end.
fn block_of(gid: vec3<u32>, nwg: vec3<u32>, rows: u32, cols: u32) -> vec3<u32> {
    let id = gid.x + gid.y * nwg.x * WG;
    let nb = (cols + BLOCK - 1u) / BLOCK;
    let mb = (rows + BLOCK - 1u) / BLOCK;
    return vec3<u32>((id / nb) * BLOCK, (id % nb) * BLOCK, select(0u, 1u, id < nb * mb));
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let ohw = OUT_H * OUT_W;
    let rows = BATCH * ohw;
    let blk = block_of(gid, nwg, rows, OUT_C);
    if (blk.z == 0u) { return; }
    let m = clamp4(blk.x, rows);
    let bi = m / ohw;
    let pix = m % ohw;
    let hw = IN_H * IN_W;
    let iy0 = vec4<i32>((pix / OUT_W) * SH) - i32(PH);
    let ix0 = vec4<i32>((pix % OUT_W) * SW) - i32(PW);
    let xbase = bi * (IN_C * hw);
    let kk = IN_C * KH * KW;
    let wrow = clamp4(blk.y, OUT_C) * kk;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let hi = vec4<i32>(i32(IN_H));
    let wi = vec4<i32>(i32(IN_W));
    for (var c = 0u; c < IN_C; c = c + 1u) {
        let cbase = xbase + vec4<u32>(c * hw);
        for (var ky = 0u; ky < KH; ky = ky + 1u) {
            let iy = iy0 + vec4<i32>(i32(ky));
            let oky = (iy >= vec4<i32>(0)) & (iy < hi);
            let rowoff = cbase + vec4<u32>(select(vec4<i32>(0), iy, oky)) * IN_W;
            for (var kx = 0u; kx < KW; kx = kx + 1u) {
                let k = (c * KH + ky) * KW + kx;
                let bv = vec4<f32>(b[wrow.x + k], b[wrow.y + k], b[wrow.z + k], b[wrow.w + k]);
                let ix = ix0 + vec4<i32>(i32(kx));
                let ok = oky & (ix >= vec4<i32>(0)) & (ix < wi);
                let off = select(vec4<u32>(0u), rowoff + vec4<u32>(select(vec4<i32>(0), ix, ok)), ok);
                let av = select(vec4<f32>(0.0), vec4<f32>(a[off.x], a[off.y], a[off.z], a[off.w]), ok);
                acc0 = acc0 + av.x * bv;
                acc1 = acc1 + av.y * bv;
                acc2 = acc2 + av.z * bv;
                acc3 = acc3 + av.w * bv;
            }
        }
    }
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < BLOCK; r = r + 1u) {
        let row = blk.x + r;
        if (row >= rows) { break; }
        let ob = (row / ohw) * OUT_C * ohw + row % ohw;
        for (var j = 0u; j < BLOCK; j = j + 1u) {
            let o = blk.y + j;
            if (o >= OUT_C) { break; }
            var v = accs[r][j];
            if (HAS_BIAS) { v = v + bias[o]; }
            put(ob + o * ohw, act_apply(ACT, v));
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let hw = IN_H * IN_W;
    let ohw = OUT_H * OUT_W;
    let rows = BATCH * hw;
    let blk = block_of(gid, nwg, rows, IN_C);
    if (blk.z == 0u) { return; }
    let m = clamp4(blk.x, rows);
    let bi = m / hw;
    let pix = m % hw;
    // ty = iy + PH - ky must be a multiple of SH inside [0, OH * SH)
    let ty0 = vec4<i32>(pix / IN_W) + i32(PH);
    let tx0 = vec4<i32>(pix % IN_W) + i32(PW);
    let dybase = bi * (OUT_C * ohw);
    let kpl = KH * KW;
    let ccol = clamp4(blk.y, IN_C) * kpl;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
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
                let wk = wbase + ky * KW + kx;
                let bv = vec4<f32>(b[wk + ccol.x], b[wk + ccol.y], b[wk + ccol.z], b[wk + ccol.w]);
                let tx = tx0 - vec4<i32>(i32(kx));
                let txc = select(vec4<i32>(0), tx, tx >= vec4<i32>(0));
                let ox = txc / swi;
                let ok = oky & (tx >= vec4<i32>(0)) & (ox * swi == txc) & (ox < owi);
                let off = select(vec4<u32>(0u), rowoff + vec4<u32>(select(vec4<i32>(0), ox, ok)), ok);
                let av = select(vec4<f32>(0.0), vec4<f32>(a[off.x], a[off.y], a[off.z], a[off.w]), ok);
                acc0 = acc0 + av.x * bv;
                acc1 = acc1 + av.y * bv;
                acc2 = acc2 + av.z * bv;
                acc3 = acc3 + av.w * bv;
            }
        }
    }
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < BLOCK; r = r + 1u) {
        let row = blk.x + r;
        if (row >= rows) { break; }
        let xb = (row / hw) * IN_C * hw + row % hw;
        for (var j = 0u; j < BLOCK; j = j + 1u) {
            let c = blk.y + j;
            if (c >= IN_C) { break; }
            let idx = xb + c * hw;
            var v = accs[r][j];
            if (GRAD_ACT != 0u) { v = v * act_grad_from_y(GRAD_ACT, aux[idx]); }
            put(idx, v);
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let hw = IN_H * IN_W;
    let ohw = OUT_H * OUT_W;
    let kpl = KH * KW;
    let cols = IN_C * kpl;
    let blk = block_of(gid, nwg, OUT_C, cols);
    if (blk.z == 0u) { return; }
    let o = clamp4(blk.x, OUT_C);
    let n = clamp4(blk.y, cols);
    let ci = n / kpl;
    let kyi = vec4<i32>((n % kpl) / KW) - i32(PH);
    let kxi = vec4<i32>(n % KW) - i32(PW);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var rowsum = vec4<f32>(0.0);
    let hi = vec4<i32>(i32(IN_H));
    let wi = vec4<i32>(i32(IN_W));
    for (var bb = 0u; bb < BATCH; bb = bb + 1u) {
        let dyb = o * ohw + vec4<u32>(bb * OUT_C * ohw);
        let xb = ci * hw + vec4<u32>(bb * IN_C * hw);
        for (var oy = 0u; oy < OUT_H; oy = oy + 1u) {
            let iy = kyi + vec4<i32>(i32(oy * SH));
            let oky = (iy >= vec4<i32>(0)) & (iy < hi);
            let rowoff = xb + vec4<u32>(select(vec4<i32>(0), iy, oky)) * IN_W;
            let dyrow = dyb + vec4<u32>(oy * OUT_W);
            for (var ox = 0u; ox < OUT_W; ox = ox + 1u) {
                let av = vec4<f32>(b[dyrow.x + ox], b[dyrow.y + ox], b[dyrow.z + ox], b[dyrow.w + ox]);
                let ix = kxi + vec4<i32>(i32(ox * SW));
                let ok = oky & (ix >= vec4<i32>(0)) & (ix < wi);
                let off = select(vec4<u32>(0u), rowoff + vec4<u32>(select(vec4<i32>(0), ix, ok)), ok);
                let bv = select(vec4<f32>(0.0), vec4<f32>(a[off.x], a[off.y], a[off.z], a[off.w]), ok);
                acc0 = acc0 + av.x * bv;
                acc1 = acc1 + av.y * bv;
                acc2 = acc2 + av.z * bv;
                acc3 = acc3 + av.w * bv;
                rowsum = rowsum + av;
            }
        }
    }
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < BLOCK; r = r + 1u) {
        let oc = blk.x + r;
        if (oc >= OUT_C) { break; }
        for (var j = 0u; j < BLOCK; j = j + 1u) {
            let col = blk.y + j;
            if (col >= cols) { break; }
            put(oc * cols + col, accs[r][j]);
        }
        if (BIAS_GRAD && blk.y == 0u) {
            if (ACCUMULATE) { bias[oc] = bias[oc] + rowsum[r]; } else { bias[oc] = rowsum[r]; }
        }
    }
}

// The four-pixel variants of the subgroup convolutions (conv_sg.wgsl has
// the row-per-pixel ones and the reasons for both): with a horizontal
// stride of 1 and W, OW multiples of 4, an invocation's 4 rows are 4
// neighbouring pixels of one row, so input and dy rows are read as aligned
// vec4 and serve every kx (kernels::specialize picks them).
// Preludes: conv_common.wgsl, subgroup_common.wgsl, conv_sg_common.wgsl.

// Bindings 1, 2 and 5 again, read as vec4 (the host binds them for these
// kernels): x (dy for the input gradient); dy for the weight gradients, w
// for the others; y or dx.
@group(0) @binding(6) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> b4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> out4: array<vec4<f32>>;

// conv2d_forward_sg with the same conditions as conv2d_backward_weight_sg4:
// an invocation's 4 rows are 4 neighbouring pixels of one output row, so
// per (c, ky) it loads the input row around them as 3 aligned vec4 and
// takes every kx's 4 values from those, where the scalar kernel loads 4
// values per tap; it stores each channel's 4 pixels as one vec4. Same
// sums in the same order.
@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_forward_sg4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let ohw = OUT_H * OUT_W;
    let r0 = first_row(wid, li);
    // rows past the end redo the last 4 (and store nothing)
    let m0 = min(r0, BATCH * ohw - 4u);
    let pix = m0 % ohw;
    let oy = pix / OUT_W;
    // (a constant 0 for 4-wide rows: the loads of blocks outside the plane fold away)
    let q = select(pix % OUT_W, 0u, OUT_W == 4u);
    let hw = IN_H * IN_W;
    let xbase = (m0 / ohw) * (IN_C * hw);
    let kk = IN_C * KH * KW;
    let o0 = wid.y * SG_COLS;
    let j = min(lane, COLS - 1u);
    let wrow0 = min(o0 + j, OUT_C - 1u) * kk;
    let wrow1 = min(o0 + COLS + j, OUT_C - 1u) * kk;
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    if (KH == 3u && KW == 3u && (OUT_C * kk) % 4u == 0u) {
        // 3x3 with all weights whole vec4: the 9 taps of (o, c) are the 3
        // aligned vec4 around them, shifted in registers (3 loads where
        // single taps take 9). One channel per step: 4 written out ran
        // slower (more code, more spills).
        for (var c = 0u; c < IN_C; c = c + 1u) {
            channel_taps9(&acc0, &acc1, xbase + c * hw, oy, q, taps9_vec4(wrow0 + c * 9u), taps9_vec4(wrow1 + c * 9u));
        }
    } else if (KH == 3u && KW == 3u) {
        for (var c = 0u; c < IN_C; c = c + 1u) {
            channel_taps9(&acc0, &acc1, xbase + c * hw, oy, q, taps9(wrow0 + c * 9u), taps9(wrow1 + c * 9u));
        }
    } else {
        for (var c = 0u; c < IN_C; c = c + 1u) {
            for (var ky = 0u; ky < KH; ky = ky + 1u) {
                let row = input_row(xbase + c * hw, oy * SH + ky, q);
                for (var kx = 0u; kx < KW; kx = kx + 1u) {
                    let xv = window4(row, 4 + i32(kx) - i32(PW));
                    let tap = (c * KH + ky) * KW + kx;
                    fma8(&acc0, xv, b[wrow0 + tap]);
                    if (SG_COLS == 16u) { fma8(&acc1, xv, b[wrow1 + tap]); }
                }
            }
        }
    }
    // lane j loads the bias of columns j and 8 + j for the subgroup
    var bias0 = 0.0;
    var bias1 = 0.0;
    if (HAS_BIAS) {
        bias0 = bias[min(o0 + j, OUT_C - 1u)];
        if (SG_COLS == 16u) { bias1 = bias[min(o0 + COLS + j, OUT_C - 1u)]; }
    }
    store_forward8(r0, o0, &acc0, bias0);
    if (SG_COLS == 16u) { store_forward8(r0, o0 + COLS, &acc1, bias1); }
}

// Stores columns o0..o0+7 of rows r0..r0+3 (acc), the bias of column j
// from lane j.
fn store_forward8(r0: u32, o0: u32, acc: ptr<function, array<vec4<f32>, 8>>, lane_bias: f32) {
    store_forward4(r0, o0, (*acc)[0], subgroupBroadcast(lane_bias, 0u));
    store_forward4(r0, o0 + 1u, (*acc)[1], subgroupBroadcast(lane_bias, 1u));
    store_forward4(r0, o0 + 2u, (*acc)[2], subgroupBroadcast(lane_bias, 2u));
    store_forward4(r0, o0 + 3u, (*acc)[3], subgroupBroadcast(lane_bias, 3u));
    store_forward4(r0, o0 + 4u, (*acc)[4], subgroupBroadcast(lane_bias, 4u));
    store_forward4(r0, o0 + 5u, (*acc)[5], subgroupBroadcast(lane_bias, 5u));
    store_forward4(r0, o0 + 6u, (*acc)[6], subgroupBroadcast(lane_bias, 6u));
    store_forward4(r0, o0 + 7u, (*acc)[7], subgroupBroadcast(lane_bias, 7u));
}

// The 9 taps of one input channel (plane) for 4 output pixels (row oy,
// columns q..q+3) of a 3x3 convolution: tap (ky, kx) of the weights of
// columns j and 8 + j is element 3 * ky + kx of w0 and w1. Written out,
// not looped: inside a loop every accumulator write is masked by the loop
// (a blend on lavapipe), and the 64 accumulators spill more.
fn channel_taps9(
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    plane: u32,
    oy: u32,
    q: u32,
    w0: Row12,
    w1: Row12,
) {
    row_taps3(acc0, acc1, input_row(plane, oy * SH, q), w0, w1, 0, false);
    row_taps3(acc0, acc1, input_row(plane, oy * SH + 1u, q), w0, w1, 3, false);
    row_taps3(acc0, acc1, input_row(plane, oy * SH + 2u, q), w0, w1, 6, false);
}

// The 3 taps (kx = 0, 1, 2) of one row, weights at elements t..t+2 of w0
// and w1: tap kx takes the row's columns from q + kx - PW (an input row,
// forward) or, with `flip`, from q + PW - kx (a dy row, input gradient).
fn row_taps3(
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    row: Row12,
    w0: Row12,
    w1: Row12,
    t: i32,
    flip: bool,
) {
    let pw = i32(PW);
    let x0 = window4(row, select(4 - pw, 4 + pw, flip));
    let x1 = window4(row, select(5 - pw, 3 + pw, flip));
    let x2 = window4(row, select(6 - pw, 2 + pw, flip));
    fma8(acc0, x0, at12(w0, t));
    fma8(acc0, x1, at12(w0, t + 1));
    fma8(acc0, x2, at12(w0, t + 2));
    if (SG_COLS == 16u) {
        fma8(acc1, x0, at12(w1, t));
        fma8(acc1, x1, at12(w1, t + 1));
        fma8(acc1, x2, at12(w1, t + 2));
    }
}

// The 9 weights of b from index t in elements 0..8, from the 3 aligned
// vec4 around them (b holds whole vec4).
fn taps9_vec4(t: u32) -> Row12 {
    return taps_from(taps_vec4(t / 4u), t % 4u);
}

// Vec4 i..i+2 of the vec4 view of b (12 weights).
fn taps_vec4(i: u32) -> Row12 {
    return Row12(b4[i], b4[i + 1u], b4[i + 2u]);
}

// The 9 weights of b from index t, in elements 0..8.
fn taps9(t: u32) -> Row12 {
    return Row12(
        vec4<f32>(b[t], b[t + 1u], b[t + 2u], b[t + 3u]),
        vec4<f32>(b[t + 4u], b[t + 5u], b[t + 6u], b[t + 7u]),
        vec4<f32>(b[t + 8u], 0.0, 0.0, 0.0),
    );
}

// Stores output channel o (bias bv) of the 4 pixels of rows r0..r0+3 as one vec4.
fn store_forward4(r0: u32, o: u32, v: vec4<f32>, bv: f32) {
    let ohw = OUT_H * OUT_W;
    if (r0 >= BATCH * ohw || o >= OUT_C) { return; }
    let y = vec4<f32>(
        act_apply(ACT, v.x + bv),
        act_apply(ACT, v.y + bv),
        act_apply(ACT, v.z + bv),
        act_apply(ACT, v.w + bv),
    );
    let at = ((r0 / ohw) * OUT_C * ohw + o * ohw + r0 % ohw) / 4u;
    if (ACCUMULATE) { out4[at] = out4[at] + y; } else { out4[at] = y; }
}

// conv2d_backward_weight_sg with the k loop taken four output pixels at a
// time, for a horizontal stride of 1 and W, OW multiples of 4 (the host
// picks it; PW and KW - 1 - PW at most 4): an invocation loads its 4
// channels' dy at 4 pixels as 4 vec4, and each lane the input row under
// its tap as the 3 aligned vec4 around them, where the scalar kernel makes
// 5 or 6 loads per pixel (on lavapipe each vec4 is one per-lane loop). The
// products are added in the same order: same results.
@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_backward_weight_sg4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let ohw = OUT_H * OUT_W;
    let hw = IN_H * IN_W;
    let cols = IN_C * KH * KW;
    let r0 = first_row(wid, li);
    let o = clamp4(r0, OUT_C);
    let n0 = wid.y * SG_COLS;
    let j = min(lane, COLS - 1u);
    let t0 = tap_at(min(n0 + j, cols - 1u));
    let t1 = tap_at(min(n0 + COLS + j, cols - 1u));
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    var rowsum = vec4<f32>(0.0);
    // blocks of 4 output pixels in row order, two per step where their
    // count is even: a loop writes the accumulators under its mask once
    // per step (a blend each on lavapipe), so more work per step costs less
    let blocks = ohw / 4u;
    let pairs = blocks % 2u == 0u;
    for (var bb = 0u; bb < BATCH; bb = bb + 1u) {
        let dyb = vec4<u32>(bb * OUT_C * ohw) + o * ohw;
        let xb = bb * IN_C * hw;
        for (var k = 0u; k < blocks; k = k + select(1u, 2u, pairs)) {
            weight_block4(&acc0, &acc1, &rowsum, dyb, xb, t0, t1, k);
            if (pairs) { weight_block4(&acc0, &acc1, &rowsum, dyb, xb, t0, t1, k + 1u); }
        }
    }
    store_weight_grads(wid, r0, n0, &acc0, &acc1, rowsum);
}

// Block k (pixels 4k..4k+3 of the output plane) of the weight gradient:
// dy of the invocation's 4 channels (offsets dyb) there as 4 vec4, and the
// input under each lane's taps t0 and t1 in the sample at xb.
fn weight_block4(
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    rowsum: ptr<function, vec4<f32>>,
    dyb: vec4<u32>,
    xb: u32,
    t0: vec3<u32>,
    t1: vec3<u32>,
    k: u32,
) {
    let p = k * 4u;
    let oy = p / OUT_W;
    // (a constant 0 for 4-wide rows, so that NIR drops the loads of blocks outside the plane)
    let q = select(p % OUT_W, 0u, OUT_W == 4u);
    let d0 = b4[(dyb.x + p) / 4u];
    let d1 = b4[(dyb.y + p) / 4u];
    let d2 = b4[(dyb.z + p) / 4u];
    let d3 = b4[(dyb.w + p) / 4u];
    let x0 = x_under4(xb, t0, oy, q);
    var x1 = vec4<f32>(0.0);
    if (SG_COLS == 16u) { x1 = x_under4(xb, t1, oy, q); }
    weight_pixel(acc0, acc1, rowsum, vec4<f32>(d0.x, d1.x, d2.x, d3.x), x0.x, x1.x);
    weight_pixel(acc0, acc1, rowsum, vec4<f32>(d0.y, d1.y, d2.y, d3.y), x0.y, x1.y);
    weight_pixel(acc0, acc1, rowsum, vec4<f32>(d0.z, d1.z, d2.z, d3.z), x0.z, x1.z);
    weight_pixel(acc0, acc1, rowsum, vec4<f32>(d0.w, d1.w, d2.w, d3.w), x0.w, x1.w);
}

// conv2d_backward_weight_sg4 with the roles turned, for KW = 3
// (kernels::specialize picks it): an invocation owns one tap row (c, ky)
// and its 3 taps across, the columns are output channels. Per 4 output
// pixels an invocation loads its input row around them (1 to 3 aligned
// vec4), which gives all 3 taps, and lane j dy of channel o0 + j (and
// o0 + 8 + j) there as one vec4, which subgroupBroadcast hands to every
// lane: 2 or 3 loads feed 3 x 16 x 4 multiply-adds where the sg4 kernel
// needs 6 for 4 x 16 x 4. Pixels are added in the same order as there.
@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_backward_weight_kx3(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let ohw = OUT_H * OUT_W;
    let hw = IN_H * IN_W;
    let tap_rows = IN_C * KH;
    let r = wid.x * SG_WG + li;
    let tr = min(r, tap_rows - 1u);
    let c = tr / KH;
    let ky = tr % KH;
    let o0 = wid.y * SG_COLS;
    let j = min(lane, COLS - 1u);
    let oa = min(o0 + j, OUT_C - 1u);
    let ob = min(o0 + COLS + j, OUT_C - 1u);
    var acc0: array<vec3<f32>, 8>;
    var acc1: array<vec3<f32>, 8>;
    // this lane's sums of dy of channels oa and ob (the bias gradient)
    var dsum = vec2<f32>(0.0);
    let blocks = ohw / 4u;
    let pairs = blocks % 2u == 0u;
    for (var bb = 0u; bb < BATCH; bb = bb + 1u) {
        let dy = vec2<u32>(bb * OUT_C * ohw) + vec2<u32>(oa, ob) * ohw;
        let plane = (bb * IN_C + c) * hw;
        for (var k = 0u; k < blocks; k = k + select(1u, 2u, pairs)) {
            tap_row_block(&acc0, &acc1, &dsum, plane, ky, dy, k);
            if (pairs) { tap_row_block(&acc0, &acc1, &dsum, plane, ky, dy, k + 1u); }
        }
    }
    // dw[o, c, ky, kx] for the 3 kx of this tap row
    let n = tr * 3u;
    for (var jj = 0u; jj < COLS; jj = jj + 1u) {
        if (r < tap_rows) {
            store_taps3(o0 + jj, n, acc3_column(&acc0, jj));
            if (SG_COLS == 16u) { store_taps3(o0 + COLS + jj, n, acc3_column(&acc1, jj)); }
        }
    }
    if (BIAS_GRAD && wid.x == 0u && li < COLS) {
        store_bias(o0 + lane, dsum.x);
        if (SG_COLS == 16u) { store_bias(o0 + COLS + lane, dsum.y); }
    }
}

// Block k (pixels 4k..4k+3) of conv2d_backward_weight_kx3: the 3 taps'
// input values there from the input row (tap row ky of the plane at
// `plane`), times dy of each lane's channels (offsets dy).
fn tap_row_block(
    acc0: ptr<function, array<vec3<f32>, 8>>,
    acc1: ptr<function, array<vec3<f32>, 8>>,
    dsum: ptr<function, vec2<f32>>,
    plane: u32,
    ky: u32,
    dy: vec2<u32>,
    k: u32,
) {
    let p = k * 4u;
    let oy = p / OUT_W;
    // (a constant 0 for 4-wide rows, so that NIR drops the loads of blocks outside the plane)
    let q = select(p % OUT_W, 0u, OUT_W == 4u);
    let row = input_row(plane, oy * SH + ky, q);
    let x0 = window4(row, 4 - i32(PW));
    let x1 = window4(row, 5 - i32(PW));
    let x2 = window4(row, 6 - i32(PW));
    // the 3 taps' inputs at each of the 4 pixels
    let t = array<vec3<f32>, 4>(
        vec3<f32>(x0.x, x1.x, x2.x),
        vec3<f32>(x0.y, x1.y, x2.y),
        vec3<f32>(x0.z, x1.z, x2.z),
        vec3<f32>(x0.w, x1.w, x2.w),
    );
    let da = b4[(dy.x + p) / 4u];
    fma8_px4(acc0, t, da);
    var db = vec4<f32>(0.0);
    if (SG_COLS == 16u) {
        db = b4[(dy.y + p) / 4u];
        fma8_px4(acc1, t, db);
    }
    *dsum = *dsum + vec2<f32>(da.x, db.x) + vec2<f32>(da.y, db.y) + vec2<f32>(da.z, db.z) + vec2<f32>(da.w, db.w);
}

// 4 pixels' taps t times each lane's dy there (d), added to the 8 columns
// in one write each: inside a loop lavapipe blends every write of an
// accumulator with the loop mask, so 4 products per write cost a quarter
// of the blends. Pixels are added in order, as 4 separate writes would.
fn fma8_px4(acc: ptr<function, array<vec3<f32>, 8>>, t: array<vec3<f32>, 4>, d: vec4<f32>) {
    (*acc)[0] = px4(t, subgroupBroadcast(d, 0u), (*acc)[0]);
    (*acc)[1] = px4(t, subgroupBroadcast(d, 1u), (*acc)[1]);
    (*acc)[2] = px4(t, subgroupBroadcast(d, 2u), (*acc)[2]);
    (*acc)[3] = px4(t, subgroupBroadcast(d, 3u), (*acc)[3]);
    (*acc)[4] = px4(t, subgroupBroadcast(d, 4u), (*acc)[4]);
    (*acc)[5] = px4(t, subgroupBroadcast(d, 5u), (*acc)[5]);
    (*acc)[6] = px4(t, subgroupBroadcast(d, 6u), (*acc)[6]);
    (*acc)[7] = px4(t, subgroupBroadcast(d, 7u), (*acc)[7]);
}

// a + the 4 pixels' products with one lane's dy there (d), in pixel order.
fn px4(t: array<vec3<f32>, 4>, d: vec4<f32>, a: vec3<f32>) -> vec3<f32> {
    return a + t[0] * d.x + t[1] * d.y + t[2] * d.z + t[3] * d.w;
}

// Column j of a vec3 accumulator block as a vec4 (w = 0).
fn acc3_column(acc: ptr<function, array<vec3<f32>, 8>>, j: u32) -> vec4<f32> {
    var v: vec3<f32>;
    switch j {
        case 0u: { v = (*acc)[0]; }
        case 1u: { v = (*acc)[1]; }
        case 2u: { v = (*acc)[2]; }
        case 3u: { v = (*acc)[3]; }
        case 4u: { v = (*acc)[4]; }
        case 5u: { v = (*acc)[5]; }
        case 6u: { v = (*acc)[6]; }
        default: { v = (*acc)[7]; }
    }
    return vec4<f32>(v, 0.0);
}

// dw of output channel o at taps n..n+2 (one tap row's 3 taps across).
fn store_taps3(o: u32, n: u32, v: vec4<f32>) {
    if (o >= OUT_C) { return; }
    let at = o * IN_C * KH * KW + n;
    put(at, v.x);
    put(at + 1u, v.y);
    put(at + 2u, v.z);
}

// The bias gradient of output channel o.
fn store_bias(o: u32, v: f32) {
    if (o >= OUT_C) { return; }
    if (ACCUMULATE) { bias[o] = bias[o] + v; } else { bias[o] = v; }
}

// conv2d_backward_input_sg for 3x3 kernels at stride 1, input channels a
// multiple of 4 and rows of a multiple of 4 (kernels::specialize picks
// it), the input gradient the way conv2d_forward_sg4 makes the forward:
// an invocation's 4 rows are 4 neighbouring pixels of one dx row, per
// (o, ky) it loads the dy row around them as 3 aligned vec4 (1 for 4-wide
// rows) and takes every kx's 4 values from those; lane j loads the 9 taps
// of its input channel c as the 3 aligned vec4 around them (they start at
// element c % 4) where the scalar kernel makes 4 + 2 loads per tap. Same
// sums in the same order.
@compute @workgroup_size(SG_WG, 1, 1)
fn conv2d_backward_input_sg4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let hw = IN_H * IN_W;
    let ohw = OUT_H * OUT_W;
    let r0 = first_row(wid, li);
    // rows past the end redo the last 4 (and store nothing)
    let m0 = min(r0, BATCH * hw - 4u);
    let pix = m0 % hw;
    let iy = i32(pix / IN_W);
    let q = select(pix % IN_W, 0u, IN_W == 4u);
    let dybase = (m0 / hw) * (OUT_C * ohw);
    let c0 = wid.y * SG_COLS;
    let j = min(lane, COLS - 1u);
    let ca = min(c0 + j, IN_C - 1u);
    let cb = min(c0 + COLS + j, IN_C - 1u);
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    for (var o = 0u; o < OUT_C; o = o + 1u) {
        // w[o, c, ky, kx] is element c * 9 + 3 ky + kx of o's block of IN_C * 9 (a multiple of 4)
        let wo = o * IN_C * 9u;
        let w0 = taps9_vec4(wo + ca * 9u);
        var w1 = w0;
        if (SG_COLS == 16u) { w1 = taps9_vec4(wo + cb * 9u); }
        let plane = dybase + o * ohw;
        // dx(iy, ix) += dy(iy + PH - ky, ix + PW - kx) * w(ky, kx)
        let y = iy + i32(PH);
        row_taps3(&acc0, &acc1, row12(plane, y, OUT_H, OUT_W, q), w0, w1, 0, true);
        row_taps3(&acc0, &acc1, row12(plane, y - 1, OUT_H, OUT_W, q), w0, w1, 3, true);
        row_taps3(&acc0, &acc1, row12(plane, y - 2, OUT_H, OUT_W, q), w0, w1, 6, true);
    }
    for (var jj = 0u; jj < COLS; jj = jj + 1u) {
        store_input4(r0, c0 + jj, acc_column(&acc0, jj));
        if (SG_COLS == 16u) { store_input4(r0, c0 + COLS + jj, acc_column(&acc1, jj)); }
    }
}

// Elements f..f+8 of w (f < 4, per lane) moved to 0..8.
fn taps_from(w: Row12, f: u32) -> Row12 {
    return Row12(shifted4(w.l, w.m, f), shifted4(w.m, w.r, f), shifted4(w.r, vec4<f32>(0.0), f));
}

// Elements f..f+3 of the 8 values of a then b.
fn shifted4(a: vec4<f32>, b: vec4<f32>, f: u32) -> vec4<f32> {
    let lo = select(a, vec4<f32>(a.yzw, b.x), f == 1u);
    let hi = select(vec4<f32>(a.zw, b.xy), vec4<f32>(a.w, b.xyz), f == 3u);
    return select(lo, hi, f >= 2u);
}

// Stores input channel c of the 4 pixels of rows r0..r0+3 of dx as one
// vec4 (times the activation derivative from aux with GRAD_ACT).
fn store_input4(r0: u32, c: u32, v: vec4<f32>) {
    let hw = IN_H * IN_W;
    if (r0 >= BATCH * hw || c >= IN_C) { return; }
    let at = ((r0 / hw) * IN_C * hw + c * hw + r0 % hw) / 4u;
    var g = v;
    if (GRAD_ACT != 0u) {
        // aux as scalars: a ninth binding would pass WebGPU's default limit of 8
        let i = at * 4u;
        g = g * vec4<f32>(
            act_grad_from_y(GRAD_ACT, aux[i]),
            act_grad_from_y(GRAD_ACT, aux[i + 1u]),
            act_grad_from_y(GRAD_ACT, aux[i + 2u]),
            act_grad_from_y(GRAD_ACT, aux[i + 3u]),
        );
    }
    if (ACCUMULATE) { out4[at] = out4[at] + g; } else { out4[at] = g; }
}

// The input values under tap t at output pixels (oy, q..q+3) of the sample
// whose input starts at xb (stride 1 across; 0 in the padding).
fn x_under4(xb: u32, t: vec3<u32>, oy: u32, q: u32) -> vec4<f32> {
    return window4(input_row(xb + t.x, oy * SH + t.y, q), 4 + i32(t.z) - i32(PW));
}

// Columns q - 4 .. q + 7 of input row iy_padded - PH (zero-padded) of the
// plane at `plane`, as its 3 aligned vec4 (W a multiple of 4, q of 4).
struct Row12 { l: vec4<f32>, m: vec4<f32>, r: vec4<f32> }

fn input_row(plane: u32, iy_padded: u32, q: u32) -> Row12 {
    return row12(plane, i32(iy_padded) - i32(PH), IN_H, IN_W, q);
}

// Columns q - 4 .. q + 7 of row y of a height x width plane of `a` (width
// and q multiples of 4), zero outside the plane.
fn row12(plane: u32, y: i32, height: u32, width: u32, q: u32) -> Row12 {
    let row_ok = y >= 0 && y < i32(height);
    let row = plane + u32(select(0, y, row_ok)) * width;
    if (width == 8u) {
        // the whole row is 2 vec4: load those, and place them by q
        let a = block4(row, 0, row_ok, width);
        let b = block4(row, 4, row_ok, width);
        return Row12(of_row8(a, b, i32(q) - 4), of_row8(a, b, i32(q)), of_row8(a, b, i32(q) + 4));
    }
    let c = i32(q);
    return Row12(block4(row, c - 4, row_ok, width), block4(row, c, row_ok, width), block4(row, c + 4, row_ok, width));
}

// Columns c0..c0+3 (c0 a multiple of 4) of an 8-wide row whose columns
// 0-3 are a and 4-7 are b; zeros outside.
fn of_row8(a: vec4<f32>, b: vec4<f32>, c0: i32) -> vec4<f32> {
    return select(select(vec4<f32>(0.0), b, c0 == 4), a, c0 == 0);
}

// The 4 values of a row of `a` from column c0 (a multiple of 4), or zeros
// when the row or those columns lie outside the plane.
fn block4(row: u32, c0: i32, row_ok: bool, width: u32) -> vec4<f32> {
    let ok = row_ok && c0 >= 0 && c0 < i32(width);
    return select(vec4<f32>(0.0), a4[(row + u32(select(0, c0, ok))) / 4u], ok);
}

// Elements s..s+3 of a Row12 (s = 4 + kx - PW: columns q + kx - PW + 0..3).
fn window4(row: Row12, s: i32) -> vec4<f32> {
    return vec4<f32>(at12(row, s), at12(row, s + 1), at12(row, s + 2), at12(row, s + 3));
}

// Element s (0..11) of a Row12.
fn at12(row: Row12, s: i32) -> f32 {
    let v = select(select(row.l, row.m, s >= 4), row.r, s >= 8);
    let c = s & 3;
    return select(select(v.x, v.y, c == 1), select(v.z, v.w, c == 3), c >= 2);
}

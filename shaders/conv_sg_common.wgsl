// Shared by conv_sg.wgsl and conv_sg4.wgsl (prepended to both by
// src/kernels/mod.rs, after conv_common.wgsl and subgroup_common.wgsl):
// the workgroup overrides, the first row of an invocation, and the stores
// and weight-gradient helpers both families' kernels use.

// Invocations per workgroup (8 to 64, a multiple of 8), sized by the host
// to the rows: a weight gradient of 32 output channels needs 8 invocations,
// and idle subgroups in a workgroup still cost a coroutine each on lavapipe.
override SG_WG: u32 = 64u;

// Columns per workgroup, 8 or 16 (the host takes 16 when there are at
// least 16): lane j loads column j and, with 16, column 8 + j, so 6 loads
// feed 64 FMAs instead of 5 feeding 32.
override SG_COLS: u32 = 8u;

// Hands the 8 accumulated columns of `acc` (columns n0..n0+7) to the
// kernel's store: KIND_FORWARD, KIND_INPUT or KIND_WEIGHT (constants at
// every call, so the switch folds away).
const KIND_FORWARD: u32 = 0u;
const KIND_INPUT: u32 = 1u;
const KIND_WEIGHT: u32 = 2u;
fn store_cols(kind: u32, r0: u32, n0: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
    for (var j = 0u; j < COLS; j = j + 1u) {
        let v = acc_column(acc, j);
        switch kind {
            case 0u: { store_forward(r0, n0 + j, v); }
            case 1u: { store_input(r0, n0 + j, v); }
            default: { store_weight(r0, n0 + j, v); }
        }
    }
}

// First of this invocation's 4 rows (workgroups fold into z past 65535).
fn first_row(wid: vec3<u32>, li: u32) -> u32 {
    return ((wid.x + wid.z * 65535u) * SG_WG + li) * 4u;
}

// Stores output channel o of rows r0..r0+3.
fn store_forward(r0: u32, o: u32, v: vec4<f32>) {
    let ohw = OUT_H * OUT_W;
    let rows = BATCH * ohw;
    if (o >= OUT_C) { return; }
    // one bias load for the four rows (each storage load runs once per lane on CPU adapters)
    var bv = 0.0;
    if (HAS_BIAS) { bv = bias[o]; }
    for (var r = 0u; r < 4u; r = r + 1u) {
        let row = r0 + r;
        if (row >= rows) { return; }
        put((row / ohw) * OUT_C * ohw + o * ohw + row % ohw, act_apply(ACT, v[r] + bv));
    }
}

// Stores input channel c of input pixels r0..r0+3.
fn store_input(r0: u32, c: u32, v: vec4<f32>) {
    let hw = IN_H * IN_W;
    let rows = BATCH * hw;
    if (c >= IN_C) { return; }
    for (var r = 0u; r < 4u; r = r + 1u) {
        let row = r0 + r;
        if (row >= rows) { return; }
        let idx = (row / hw) * IN_C * hw + c * hw + row % hw;
        var x = v[r];
        if (GRAD_ACT != 0u) { x = x * act_grad_from_y(GRAD_ACT, aux[idx]); }
        put(idx, x);
    }
}

// The weight gradient's stores: taps n0.. of output channels r0..r0+3
// (acc1: the second 8 columns) and, from the first column group (every
// group sums the same dy), the bias gradient.
fn store_weight_grads(
    wid: vec3<u32>,
    r0: u32,
    n0: u32,
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    rowsum: vec4<f32>,
) {
    store_cols(KIND_WEIGHT, r0, n0, acc0);
    if (SG_COLS == 16u) { store_cols(KIND_WEIGHT, r0, n0 + COLS, acc1); }
    if (BIAS_GRAD && wid.y == 0u) {
        for (var r = 0u; r < 4u; r = r + 1u) {
            let oc = r0 + r;
            if (oc < OUT_C) {
                if (ACCUMULATE) { bias[oc] = bias[oc] + rowsum[r]; } else { bias[oc] = rowsum[r]; }
            }
        }
    }
}

// One output pixel of the weight gradient (both weight-gradient kernels):
// dy of the 4 channels times the input under each lane's tap (x0; x1 for
// the second 8 columns), and dy into the channels' bias sums.
fn weight_pixel(
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    rowsum: ptr<function, vec4<f32>>,
    dv: vec4<f32>,
    x0: f32,
    x1: f32,
) {
    fma8(acc0, dv, x0);
    if (SG_COLS == 16u) { fma8(acc1, dv, x1); }
    *rowsum = *rowsum + dv;
}

// Stores tap column n of output channels r0..r0+3 of dw [OC, C * KH * KW].
fn store_weight(r0: u32, n: u32, v: vec4<f32>) {
    let cols = IN_C * KH * KW;
    if (n >= cols) { return; }
    for (var r = 0u; r < 4u; r = r + 1u) {
        let oc = r0 + r;
        if (oc >= OUT_C) { return; }
        put(oc * cols + n, v[r]);
    }
}

// Tap n = (c, ky, kx) of the weight gradient's columns: (c * H * W, ky, kx).
fn tap_at(n: u32) -> vec3<u32> {
    let kpl = KH * KW;
    return vec3<u32>((n / kpl) * IN_H * IN_W, (n % kpl) / KW, n % KW);
}

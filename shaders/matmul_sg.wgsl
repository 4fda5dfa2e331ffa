// Subgroup variants of matmul_nn, matmul_nt and matmul_tn (same uniform,
// bindings, overrides and results as matmul.wgsl), for adapters whose
// subgroups have at least 8 invocations. A workgroup of SG_WG owns 8
// columns of C and 4 * SG_WG rows; each invocation 4 rows x those 8
// columns. Per k step an invocation loads its 4 values of op(A) and lane j
// of each subgroup one value of op(B) (column j), which subgroupBroadcast
// hands to every lane: 5 loads feed 32 FMAs, where the 4x4 blocks need 8
// loads for 16.
// Chosen for C with at least 16 rows (kernels::specialize): with fewer, a
// subgroup's 32 rows are mostly idle and the 4x4 blocks load less.
// Prelude: matmul_common.wgsl (uniform, bindings, epilogue) and
// subgroup_common.wgsl (COLS, fma8).

// Invocations per workgroup (8 to 64, a multiple of 8): the host sizes it
// to C's rows, so that a C of 32 rows runs one subgroup per workgroup
// instead of one working and seven returning at once (each costs a
// coroutine on lavapipe: the batch-32 MLP's matmuls ran about twice as fast).
override SG_WG: u32 = 64u;

// Columns of C per workgroup, 8 or 16 (the host takes 16 when C has at
// least 16 columns): lane j of each subgroup loads column j and, with 16,
// column 8 + j, so 6 loads feed 64 FMAs (on lavapipe the batch-32 MLP's
// matmuls and the LSTM's weight gradient run on per-lane loads).
override SG_COLS: u32 = 8u;

// Element (m, k) of op(A) is a[m * sam + k * sak]; (k, n) of op(B) is
// b[k * sbk + n * sbn]. Subgroups whose rows are all past the edge return
// together (subgroup operations need every lane of a subgroup); the others
// stay active until the stores. With BIAS_GRAD, lane j of the subgroup with
// invocation 0 of the first row group also writes the bias gradient of
// its columns.
fn block_sg(wid: vec3<u32>, li: u32, lane: u32, sam: u32, sak: u32, sbk: u32, sbn: u32) {
    let m0 = (wid.y * SG_WG + li) * 4u;
    // the same for every lane of the subgroup, so it returns as one
    if (subgroupMin(m0) >= dims.m) { return; }
    let n0 = wid.x * SG_COLS;
    let ma = clamped(m0, dims.m) * sam;
    let last = max(dims.n, 1u) - 1u;
    let j = min(lane, COLS - 1u);
    let nj0 = min(n0 + j, last) * sbn;
    let nj1 = min(n0 + COLS + j, last) * sbn;
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    var colsum = vec2<f32>(0.0);
    for (var k = 0u; k < dims.k; k = k + 1u) {
        let ka = k * sak;
        let av = vec4<f32>(a[ma.x + ka], a[ma.y + ka], a[ma.z + ka], a[ma.w + ka]);
        let b0 = b[nj0 + k * sbk];
        fma8(&acc0, av, b0);
        colsum.x = colsum.x + b0;
        if (SG_COLS == 16u) {
            let b1 = b[nj1 + k * sbk];
            fma8(&acc1, av, b1);
            colsum.y = colsum.y + b1;
        }
    }
    store_cols(m0, n0, &acc0);
    if (SG_COLS == 16u) { store_cols(m0, n0 + COLS, &acc1); }
    // every subgroup holds the column sums; the one with invocation 0 writes them
    if (BIAS_GRAD && wid.y == 0u && subgroupMin(li) == 0u && lane < COLS) {
        put_bias(n0 + lane, colsum.x);
        if (SG_COLS == 16u) { put_bias(n0 + COLS + lane, colsum.y); }
    }
}

// The epilogue of rows m0..m0+3 x columns n0..n0+7.
fn store_cols(m0: u32, n0: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
    for (var j = 0u; j < COLS; j = j + 1u) {
        let v = acc_column(acc, j);
        epilogue(m0, n0 + j, v.x);
        epilogue(m0 + 1u, n0 + j, v.y);
        epilogue(m0 + 2u, n0 + j, v.z);
        epilogue(m0 + 3u, n0 + j, v.w);
    }
}

fn put_bias(n: u32, v: f32) {
    if (n >= dims.n) { return; }
    if (ACCUMULATE) { bias[n] = bias[n] + v; } else { bias[n] = v; }
}

@compute @workgroup_size(SG_WG, 1, 1)
fn matmul_nn_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    block_sg(wid, li, lane, dims.k, 1u, dims.n, 1u);
}

@compute @workgroup_size(SG_WG, 1, 1)
fn matmul_nt_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    block_sg(wid, li, lane, dims.k, 1u, 1u, dims.k);
}

@compute @workgroup_size(SG_WG, 1, 1)
fn matmul_tn_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    block_sg(wid, li, lane, 1u, dims.m, dims.n, 1u);
}

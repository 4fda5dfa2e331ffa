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

// The operands read as vec4 as well: bindings 6 and 7 are the buffers of
// bindings 1 and 2 again. On lavapipe a vec4 load is one per-lane loop for
// four values where four scalar loads are four loops (the loads were more
// than half of the LSTM's weight gradient h^T . dz). The host sets:
//   A_VEC4 (matmul_tn_sg, M a multiple of 4): A is [K, M], so an
//     invocation's 4 rows at one k are one aligned vec4;
//   B_VEC4 (matmul_nn_sg and matmul_tn_sg, N a multiple of 4): B is [K, N],
//     so lane l loads columns 4l..4l+3 of the workgroup's at one k as one
//     vec4 (lanes 0-1 for 8 columns, 0-3 for 16) and subgroupBroadcast
//     hands out each component, in the same order as the scalar path.
//   K4 (matmul_nn_sg and matmul_nt_sg, K a multiple of 4): A is [M, K],
//     so the loop takes 4 k at a time and loads each of the 4 rows' values
//     as one vec4 along k;
//   B_K4 (matmul_nt_sg with K4): B is [N, K], so each lane loads its
//     column's 4 values the same way.
override A_VEC4: bool = false;
override B_VEC4: bool = false;
override K4: bool = false;
override B_K4: bool = false;
@group(0) @binding(6) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> b4: array<vec4<f32>>;

// Element (m, k) of op(A) is a[m * sam + k * sak]; (k, n) of op(B) is
// b[k * sbk + n * sbn]. Subgroups whose rows are all past the edge return
// together (subgroup operations need every lane of a subgroup); the others
// stay active until the stores. With BIAS_GRAD, the subgroup with
// invocation 0 of the first row group also writes the bias gradient of its
// columns (lane j column j, or with B_VEC4 lane l columns 4l..4l+3).
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
    // B_VEC4: this lane's first column, clamped to the last whole vec4 of a row
    let n4 = n0 + 4u * min(lane, SG_COLS / 4u - 1u);
    let nv = min(n4, max(dims.n, 4u) - 4u);
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    var colsum = vec2<f32>(0.0);
    var colsum4 = vec4<f32>(0.0);
    if (K4) {
        for (var k = 0u; k < dims.k; k = k + 4u) {
            // row r's values at k..k+3 (sak = 1, rows K apart: aligned)
            let r0 = a4[(ma.x + k) / 4u];
            let r1 = a4[(ma.y + k) / 4u];
            let r2 = a4[(ma.z + k) / 4u];
            let r3 = a4[(ma.w + k) / 4u];
            if (B_K4) {
                // this lane's columns at k..k+3 (sbk = 1)
                let c0 = b4[(nj0 + k) / 4u];
                var c1 = vec4<f32>(0.0);
                if (SG_COLS == 16u) { c1 = b4[(nj1 + k) / 4u]; }
                mac_cols(&acc0, &acc1, &colsum, vec4<f32>(r0.x, r1.x, r2.x, r3.x), c0.x, c1.x);
                mac_cols(&acc0, &acc1, &colsum, vec4<f32>(r0.y, r1.y, r2.y, r3.y), c0.y, c1.y);
                mac_cols(&acc0, &acc1, &colsum, vec4<f32>(r0.z, r1.z, r2.z, r3.z), c0.z, c1.z);
                mac_cols(&acc0, &acc1, &colsum, vec4<f32>(r0.w, r1.w, r2.w, r3.w), c0.w, c1.w);
            } else {
                let at = vec4<u32>(k, k + 1u, k + 2u, k + 3u) * sbk;
                mac_k(&acc0, &acc1, &colsum, &colsum4, vec4<f32>(r0.x, r1.x, r2.x, r3.x), at.x, nj0, nj1, nv);
                mac_k(&acc0, &acc1, &colsum, &colsum4, vec4<f32>(r0.y, r1.y, r2.y, r3.y), at.y, nj0, nj1, nv);
                mac_k(&acc0, &acc1, &colsum, &colsum4, vec4<f32>(r0.z, r1.z, r2.z, r3.z), at.z, nj0, nj1, nv);
                mac_k(&acc0, &acc1, &colsum, &colsum4, vec4<f32>(r0.w, r1.w, r2.w, r3.w), at.w, nj0, nj1, nv);
            }
        }
    } else {
        for (var k = 0u; k < dims.k; k = k + 1u) {
            let ka = k * sak;
            var av: vec4<f32>;
            if (A_VEC4) {
                av = a4[(ma.x + ka) / 4u];
            } else {
                av = vec4<f32>(a[ma.x + ka], a[ma.y + ka], a[ma.z + ka], a[ma.w + ka]);
            }
            mac_k(&acc0, &acc1, &colsum, &colsum4, av, k * sbk, nj0, nj1, nv);
        }
    }
    store_cols(m0, n0, &acc0);
    if (SG_COLS == 16u) { store_cols(m0, n0 + COLS, &acc1); }
    // every subgroup holds the column sums; the one with invocation 0 writes them
    if (BIAS_GRAD && wid.y == 0u && subgroupMin(li) == 0u) {
        if (B_VEC4) {
            if (lane < SG_COLS / 4u) {
                for (var i = 0u; i < 4u; i = i + 1u) { put_bias(n4 + i, colsum4[i]); }
            }
        } else if (lane < COLS) {
            put_bias(n0 + lane, colsum.x);
            if (SG_COLS == 16u) { put_bias(n0 + COLS + lane, colsum.y); }
        }
    }
}

// One k: the 4 row values `av` times op(B)'s row k (starting at word
// `bk`): with B_VEC4 this lane's 4 columns from nv as one vec4, else column
// j (and 8 + j) as scalars. The column sums follow the same values.
fn mac_k(
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    colsum: ptr<function, vec2<f32>>,
    colsum4: ptr<function, vec4<f32>>,
    av: vec4<f32>,
    bk: u32,
    nj0: u32,
    nj1: u32,
    nv: u32,
) {
    if (B_VEC4) {
        let bv = b4[(bk + nv) / 4u];
        fma8_vec4_lo(acc0, av, bv);
        if (SG_COLS == 16u) { fma8_vec4_hi(acc1, av, bv); }
        *colsum4 = *colsum4 + bv;
    } else {
        var b1 = 0.0;
        if (SG_COLS == 16u) { b1 = b[nj1 + bk]; }
        mac_cols(acc0, acc1, colsum, av, b[nj0 + bk], b1);
    }
}

// The 4 row values `av` times column j's value b0 (lane j's) and, with 16
// columns, column 8 + j's b1.
fn mac_cols(
    acc0: ptr<function, array<vec4<f32>, 8>>,
    acc1: ptr<function, array<vec4<f32>, 8>>,
    colsum: ptr<function, vec2<f32>>,
    av: vec4<f32>,
    b0: f32,
    b1: f32,
) {
    fma8(acc0, av, b0);
    (*colsum).x = (*colsum).x + b0;
    if (SG_COLS == 16u) {
        fma8(acc1, av, b1);
        (*colsum).y = (*colsum).y + b1;
    }
}

// matmul_tn for a C of at most 4 rows and N a multiple of 4 (the input
// weights' gradient x^T . dz of a recurrent layer over 1 to 4 features,
// K = batch x steps): each invocation owns 4 columns and every row, and
// per k loads the M values of A and its 4 columns of B as one vec4 (on
// lavapipe 1 + M per-lane loops, where the 4x4 blocks of matmul.wgsl make
// 8 for a mostly clamped block). TN_ROWS = M. Workgroups of 8, so that
// lavapipe's threads share even a small matmul such as the LSTM's x^T . dz
// (docs/PERF.md).
override TN_ROWS: u32 = 4u;

@compute @workgroup_size(8, 1, 1)
fn matmul_tn_rows4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n4 = gid.x * 4u;
    if (n4 >= dims.n) { return; }
    var acc: array<vec4<f32>, 4>;
    var colsum = vec4<f32>(0.0);
    for (var k = 0u; k < dims.k; k = k + 1u) {
        let bv = b4[(k * dims.n + n4) / 4u];
        for (var r = 0u; r < TN_ROWS; r = r + 1u) {
            acc[r] = acc[r] + a[k * TN_ROWS + r] * bv;
        }
        colsum = colsum + bv;
    }
    for (var r = 0u; r < TN_ROWS; r = r + 1u) {
        epilogue(r, n4, acc[r].x);
        epilogue(r, n4 + 1u, acc[r].y);
        epilogue(r, n4 + 2u, acc[r].z);
        epilogue(r, n4 + 3u, acc[r].w);
    }
    if (BIAS_GRAD) {
        for (var i = 0u; i < 4u; i = i + 1u) { put_bias(n4 + i, colsum[i]); }
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

// Workgroup-tiled variants of matmul_nn, matmul_nt and matmul_tn for GPUs
// (same uniform, bindings, overrides and results as matmul.wgsl), chosen
// by kernels::specialize for adapters that are not CPUs. A workgroup of
// 16x16 invocations owns a 128x128 tile of C. Per stage of TK = 16 k it
// copies op(A) [128, 16] and op(B) [16, 128] into workgroup memory (8
// values per invocation each, consecutive invocations reading consecutive
// addresses of whichever dimension is contiguous in memory), then each
// invocation multiplies its 8 rows by its 8 columns: 4 vec4 reads of
// workgroup memory feed 64 FMAs. Its rows are 4ty..4ty+3 and 64+4ty..
// 64+4ty+3, its columns 4tx..4tx+3 and 64+4tx..64+4tx+3, so the 16
// invocations of a row read 16 consecutive vec4 (no bank conflicts) and
// the stores of C are vec4-wide runs. Values past the edge of A or B are
// copied in as 0 and rows or columns past the edge of C are not stored,
// so any shape gives the same sums as matmul.wgsl, in k order.
// Prelude: matmul_common.wgsl and matmul_operands.wgsl.

// C rows and columns per workgroup, and k per stage.
const TILE: u32 = 128u;
const TK: u32 = 16u;
// invocations per workgroup (16 x 16)
const TILED_WG: u32 = 256u;

// a_tile[kk * 32 + r / 4][r % 4] = op(A)[m0 + r, k0 + kk];
// b_tile[kk * 32 + c / 4][c % 4] = op(B)[k0 + kk, n0 + c]. 16 KiB together.
var<workgroup> a_tile: array<vec4<f32>, 512>;
var<workgroup> b_tile: array<vec4<f32>, 512>;

// Copies stage k0 of op(A) (`of_b` false: element (m, k) at a[m * s_row +
// k * s_k], rows from m0) into a_tile, or of op(B) (`of_b` true: element
// (k, n) at b[k * s_k + n * s_row], columns from m0) into b_tile.
// `k_fast`: k is the contiguous dimension (s_k = 1), so consecutive
// invocations take consecutive k. `of_b` and `k_fast` are constants at
// every call.
fn stage(of_b: bool, m0: u32, k0: u32, li: u32, s_row: u32, s_k: u32, k_fast: bool) {
    let rows = select(dims.m, dims.n, of_b);
    for (var e = 0u; e < TILE * TK / TILED_WG; e = e + 1u) {
        let i = li + TILED_WG * e;
        var r = i % TILE;
        var kk = i / TILE;
        if (k_fast) {
            r = i / TK;
            kk = i % TK;
        }
        let m = m0 + r;
        let k = k0 + kk;
        let at = kk * (TILE / 4u) + r / 4u;
        var v = 0.0;
        if (of_b) {
            if (m < rows && k < dims.k) { v = b[m * s_row + k * s_k]; }
            b_tile[at][r % 4u] = v;
        } else {
            if (m < rows && k < dims.k) { v = a[m * s_row + k * s_k]; }
            a_tile[at][r % 4u] = v;
        }
    }
}

// acc[2i + h] += a_i * b_h: row i (0-7) of the invocation's 8 times its
// column vec4 h (0, 1).
fn rank1(acc: ptr<function, array<vec4<f32>, 16>>, a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
    for (var i = 0u; i < 4u; i = i + 1u) {
        (*acc)[2u * i] = fma(vec4<f32>(a0[i]), b0, (*acc)[2u * i]);
        (*acc)[2u * i + 1u] = fma(vec4<f32>(a0[i]), b1, (*acc)[2u * i + 1u]);
        (*acc)[8u + 2u * i] = fma(vec4<f32>(a1[i]), b0, (*acc)[8u + 2u * i]);
        (*acc)[8u + 2u * i + 1u] = fma(vec4<f32>(a1[i]), b1, (*acc)[8u + 2u * i + 1u]);
    }
}

// The tile at workgroup `wid`; strides as in matmul.wgsl, `a_k_fast` and
// `b_k_fast` as `k_fast` in stage. With BIAS_GRAD, the first row of invocations
// of the first row of tiles also sums op(B)'s columns over k (each column
// once) and writes them to bias.
fn block_tiled(wid: vec3<u32>, lid: vec3<u32>, sam: u32, sak: u32, sbk: u32, sbn: u32, a_k_fast: bool, b_k_fast: bool) {
    let m0 = wid.y * TILE;
    let n0 = wid.x * TILE;
    let tx = lid.x;
    let ty = lid.y;
    let li = ty * 16u + tx;
    var acc: array<vec4<f32>, 16>;
    var colsum0 = vec4<f32>(0.0);
    var colsum1 = vec4<f32>(0.0);
    // every invocation reaches every barrier: the loop bound is uniform
    for (var k0 = 0u; k0 < dims.k; k0 = k0 + TK) {
        stage(false, m0, k0, li, sam, sak, a_k_fast);
        stage(true, n0, k0, li, sbn, sbk, b_k_fast);
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            let at = kk * (TILE / 4u);
            let b0 = b_tile[at + tx];
            let b1 = b_tile[at + 16u + tx];
            rank1(&acc, a_tile[at + ty], a_tile[at + 16u + ty], b0, b1);
            if (BIAS_GRAD && ty == 0u) {
                colsum0 = colsum0 + b0;
                colsum1 = colsum1 + b1;
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i = i + 1u) {
        // rows 4ty + i (i < 4) and 64 + 4ty + i - 4
        let m = m0 + 4u * ty + i + select(0u, 60u, i >= 4u);
        for (var c = 0u; c < 4u; c = c + 1u) {
            epilogue(m, n0 + 4u * tx + c, acc[2u * i][c]);
            epilogue(m, n0 + 64u + 4u * tx + c, acc[2u * i + 1u][c]);
        }
    }
    if (BIAS_GRAD && wid.y == 0u && ty == 0u) {
        for (var c = 0u; c < 8u; c = c + 1u) {
            let n = n0 + 4u * tx + c % 4u + select(0u, 64u, c >= 4u);
            let s = select(colsum0[c % 4u], colsum1[c % 4u], c >= 4u);
            if (n < dims.n) {
                if (ACCUMULATE) { bias[n] = bias[n] + s; } else { bias[n] = s; }
            }
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn matmul_nn_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // A [M, K], B [K, N]
    block_tiled(wid, lid, dims.k, 1u, dims.n, 1u, true, false);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_nt_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // A [M, K], B [N, K]
    block_tiled(wid, lid, dims.k, 1u, 1u, dims.k, true, true);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_tn_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // A [K, M], B [K, N]
    block_tiled(wid, lid, 1u, dims.m, dims.n, 1u, false, false);
}

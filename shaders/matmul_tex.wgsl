// Texture variants of matmul_nn, matmul_nt and matmul_tn (same uniform,
// overrides, epilogue and results as matmul.wgsl), for CPU adapters with
// subgroups of at least 8 (kernels::specialize). On lavapipe a storage
// load inside a loop becomes per-lane scalar code, while a texel fetch is
// one vector gather: packing the operands into textures first
// (matmul_pack.wgsl, two extra dispatches) makes large matmuls several
// times faster (figures: docs/PERF.md). The packed textures are read as
// read-only storage textures: lavapipe's sampled-texture fetch works out a
// mip level per lane in a function call per fetch, its storage-image load
// does not.
//
// op(A) is packed as [M, ceil(K/4)] texels and op(B)^T as [N, ceil(K/4)],
// each texel four consecutive k, so the three forms share one loop. A
// workgroup of 64 owns 256 rows and 16 columns of C; each invocation 4 rows
// x those 16 columns. Per four k an invocation fetches 4 texels of A, and
// lane j of each subgroup the texels of columns j and 8 + j, which
// subgroupBroadcast hands to every lane: 6 fetches feed 256 FMAs.
// Prelude: matmul_common.wgsl (uniform, overrides, epilogue).

@group(0) @binding(1) var packed_a: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var packed_b: texture_storage_2d<rgba32float, read>;

const TEX_WG: u32 = 64u;

// acc + rows r0..r3 times the texel c, one k at a time in k's order: the
// portable matmuls' order, so every variant gives the same bits.
fn madd4(acc: vec4<f32>, r0: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, r3: vec4<f32>, c: vec4<f32>) -> vec4<f32> {
    var s = acc + vec4<f32>(r0.x, r1.x, r2.x, r3.x) * c.x;
    s = s + vec4<f32>(r0.y, r1.y, r2.y, r3.y) * c.y;
    s = s + vec4<f32>(r0.z, r1.z, r2.z, r3.z) * c.z;
    return s + vec4<f32>(r0.w, r1.w, r2.w, r3.w) * c.w;
}

// acc[j] += rows r0..r3 times column j's texel (from lane j).
fn dot8(acc: ptr<function, array<vec4<f32>, 8>>, r0: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, r3: vec4<f32>, col: vec4<f32>) {
    (*acc)[0] = madd4((*acc)[0], r0, r1, r2, r3, subgroupBroadcast(col, 0u));
    (*acc)[1] = madd4((*acc)[1], r0, r1, r2, r3, subgroupBroadcast(col, 1u));
    (*acc)[2] = madd4((*acc)[2], r0, r1, r2, r3, subgroupBroadcast(col, 2u));
    (*acc)[3] = madd4((*acc)[3], r0, r1, r2, r3, subgroupBroadcast(col, 3u));
    (*acc)[4] = madd4((*acc)[4], r0, r1, r2, r3, subgroupBroadcast(col, 4u));
    (*acc)[5] = madd4((*acc)[5], r0, r1, r2, r3, subgroupBroadcast(col, 5u));
    (*acc)[6] = madd4((*acc)[6], r0, r1, r2, r3, subgroupBroadcast(col, 6u));
    (*acc)[7] = madd4((*acc)[7], r0, r1, r2, r3, subgroupBroadcast(col, 7u));
}

// Rows m0..m0+3 of column n through the epilogue.
fn put4(m0: u32, n: u32, v: vec4<f32>) {
    epilogue(m0, n, v.x);
    epilogue(m0 + 1u, n, v.y);
    epilogue(m0 + 2u, n, v.z);
    epilogue(m0 + 3u, n, v.w);
}

fn put8(m0: u32, n0: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
    // constant indices keep the accumulators in registers
    put4(m0, n0, (*acc)[0]);
    put4(m0, n0 + 1u, (*acc)[1]);
    put4(m0, n0 + 2u, (*acc)[2]);
    put4(m0, n0 + 3u, (*acc)[3]);
    put4(m0, n0 + 4u, (*acc)[4]);
    put4(m0, n0 + 5u, (*acc)[5]);
    put4(m0, n0 + 6u, (*acc)[6]);
    put4(m0, n0 + 7u, (*acc)[7]);
}

// Subgroups whose rows are all past the edge return together (subgroup
// operations need every lane); rows and columns past the edge are clamped
// for the fetches and dropped by the epilogue. With BIAS_GRAD, the
// subgroup with invocation 0 of the first row group writes the column sums
// of op(B) (zero padding adds nothing).
fn block_tex(wid: vec3<u32>, li: u32, lane: u32) {
    let m0 = (wid.y * TEX_WG + li) * 4u;
    if (subgroupMin(m0) >= dims.m) { return; }
    let n0 = wid.x * 16u;
    let rows = vec4<i32>(clamped(m0, dims.m));
    let last_n = max(dims.n, 1u) - 1u;
    let j = min(lane, 7u);
    let col0 = i32(min(n0 + j, last_n));
    let col1 = i32(min(n0 + 8u + j, last_n));
    let width = i32((dims.k + 3u) / 4u);
    var acc0: array<vec4<f32>, 8>;
    var acc1: array<vec4<f32>, 8>;
    var sums = vec2<f32>(0.0);
    for (var q = 0; q < width; q = q + 1) {
        let r0 = textureLoad(packed_a, vec2<i32>(q, rows.x));
        let r1 = textureLoad(packed_a, vec2<i32>(q, rows.y));
        let r2 = textureLoad(packed_a, vec2<i32>(q, rows.z));
        let r3 = textureLoad(packed_a, vec2<i32>(q, rows.w));
        let b0 = textureLoad(packed_b, vec2<i32>(q, col0));
        let b1 = textureLoad(packed_b, vec2<i32>(q, col1));
        dot8(&acc0, r0, r1, r2, r3, b0);
        dot8(&acc1, r0, r1, r2, r3, b1);
        if (BIAS_GRAD) {
            // one k at a time, as the portable kernels sum the column
            sums = sums + vec2<f32>(b0.x, b1.x);
            sums = sums + vec2<f32>(b0.y, b1.y);
            sums = sums + vec2<f32>(b0.z, b1.z);
            sums = sums + vec2<f32>(b0.w, b1.w);
        }
    }
    put8(m0, n0, &acc0);
    put8(m0, n0 + 8u, &acc1);
    if (BIAS_GRAD && wid.y == 0u && subgroupMin(li) == 0u && lane < 8u) {
        for (var h = 0u; h < 2u; h = h + 1u) {
            let n = n0 + h * 8u + lane;
            if (n < dims.n) {
                if (ACCUMULATE) { bias[n] = bias[n] + sums[h]; } else { bias[n] = sums[h]; }
            }
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn matmul_nn_tex(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    block_tex(wid, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn matmul_nt_tex(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    block_tex(wid, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn matmul_tn_tex(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    block_tex(wid, li, lane);
}

// The 4x4-block matmuls (uniform, overrides, bindings and epilogue: matmul_common.wgsl).

// Each invocation computes a 4x4 block of C; a workgroup of 8x8 invocations
// covers 32x32. Four loads of op(A) and four of op(B) feed 16 FMAs per k
// step: on software adapters, where storage loads in loops are the cost,
// this is ~4x faster than one output per invocation. Indices past the edge
// are clamped (the loads stay in bounds and their results are not stored).
const BLOCK: u32 = 4u;

// Element (m, k) of op(A) is a[m * sam + k * sak]; (k, n) of op(B) is b[k * sbk + n * sbn].
// Computes the block at (m0, n0); with BIAS_GRAD, the row block m0 == 0 also
// writes the column sums of op(B) (the bias gradient) for its four columns.
fn block(m0: u32, n0: u32, sam: u32, sak: u32, sbk: u32, sbn: u32) {
    // blocks wholly past the edge (a workgroup wider than C: M or N below
    // 32) skip the k loop; on CPU adapters a subgroup of idle lanes then
    // costs nothing, which makes x^T . dz with few features ~8x cheaper
    if (m0 >= dims.m || n0 >= dims.n) { return; }
    let ma = clamped(m0, dims.m) * sam;
    let nb = clamped(n0, dims.n) * sbn;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var colsum = vec4<f32>(0.0);
    for (var k = 0u; k < dims.k; k = k + 1u) {
        let ka = k * sak;
        let kb = k * sbk;
        let av = vec4<f32>(a[ma.x + ka], a[ma.y + ka], a[ma.z + ka], a[ma.w + ka]);
        let bv = vec4<f32>(b[nb.x + kb], b[nb.y + kb], b[nb.z + kb], b[nb.w + kb]);
        acc0 = acc0 + av.x * bv;
        acc1 = acc1 + av.y * bv;
        acc2 = acc2 + av.z * bv;
        acc3 = acc3 + av.w * bv;
        colsum = colsum + bv;
    }
    for (var j = 0u; j < BLOCK; j = j + 1u) {
        epilogue(m0, n0 + j, acc0[j]);
        epilogue(m0 + 1u, n0 + j, acc1[j]);
        epilogue(m0 + 2u, n0 + j, acc2[j]);
        epilogue(m0 + 3u, n0 + j, acc3[j]);
        let n = n0 + j;
        if (BIAS_GRAD && m0 == 0u && n < dims.n) {
            if (ACCUMULATE) { bias[n] = bias[n] + colsum[j]; } else { bias[n] = colsum[j]; }
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    block(gid.y * BLOCK, gid.x * BLOCK, dims.k, 1u, dims.n, 1u);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    block(gid.y * BLOCK, gid.x * BLOCK, dims.k, 1u, 1u, dims.k);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_tn(@builtin(global_invocation_id) gid: vec3<u32>) {
    block(gid.y * BLOCK, gid.x * BLOCK, 1u, dims.m, dims.n, 1u);
}

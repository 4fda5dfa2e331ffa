// C = op(A) · op(B) with a fused epilogue, for forward and backward passes.
//   matmul_nn: A [M,K], B [K,N]            (forward: y = x · W)
//   matmul_nt: A [M,K], B [N,K], uses B^T  (backward: dx = dz · W^T)
//   matmul_tn: A [K,M], B [K,N], uses A^T  (backward: dW = x^T · dz)
// Epilogue, in this order: + bias[n] (HAS_BIAS), act (ACT),
// * act'(aux[m,n]) (GRAD_ACT: fuses the previous layer's activation backward),
// then store or accumulate (ACCUMULATE).
// BIAS_GRAD (matmul_tn only): the column sums of op(B), i.e. the bias
// gradient, are written to `bias` as well.

struct Dims { m: u32, n: u32, k: u32, pad: u32 }

override ACT: u32 = 0u;
override GRAD_ACT: u32 = 0u;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override BIAS_GRAD: bool = false;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
// bias [N]: read in forward (HAS_BIAS), written in matmul_tn (BIAS_GRAD)
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
// aux [M,N]: the activation output whose derivative GRAD_ACT multiplies in
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

// Each invocation computes a 4x4 block of C; a workgroup of 8x8 invocations
// covers 32x32. Four loads of op(A) and four of op(B) feed 16 FMAs per k
// step: on software adapters, where storage loads in loops are the cost,
// this is ~4x faster than one output per invocation. Indices past the edge
// are clamped (the loads stay in bounds and their results are not stored).
const BLOCK: u32 = 4u;

fn store(idx: u32, v: f32) {
    if (ACCUMULATE) { c[idx] = c[idx] + v; } else { c[idx] = v; }
}

fn epilogue(m: u32, n: u32, acc: f32) {
    if (m >= dims.m || n >= dims.n) { return; }
    var v = acc;
    if (HAS_BIAS) { v = v + bias[n]; }
    v = act_apply(ACT, v);
    let idx = m * dims.n + n;
    if (GRAD_ACT != 0u) { v = v * act_grad_from_y(GRAD_ACT, aux[idx]); }
    store(idx, v);
}

fn clamped(base: u32, limit: u32) -> vec4<u32> {
    let last = max(limit, 1u) - 1u;
    return vec4<u32>(min(base, last), min(base + 1u, last), min(base + 2u, last), min(base + 3u, last));
}

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

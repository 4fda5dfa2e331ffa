// C = op(A) · op(B) with a fused epilogue, for forward and backward passes.
//   matmul_nn: A [M,K], B [K,N]            (forward: y = x · W)
//   matmul_nt: A [M,K], B [N,K], uses B^T  (backward: dx = dz · W^T)
//   matmul_tn: A [K,M], B [K,N], uses A^T  (backward: dW = x^T · dz)
// Epilogue, in this order: + bias[n] (HAS_BIAS), act (ACT),
// * act'(aux[m,n]) (GRAD_ACT: fuses the previous layer's activation backward),
// then store or accumulate (ACCUMULATE).
// BIAS_GRAD (matmul_tn only): one extra output row m == M holds the column
// sums of op(B), i.e. the bias gradient, written to `bias`.

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

const TILE: u32 = 8u;

fn store(idx: u32, v: f32) {
    if (ACCUMULATE) { c[idx] = c[idx] + v; } else { c[idx] = v; }
}

fn epilogue(m: u32, n: u32, acc: f32) {
    var v = acc;
    if (HAS_BIAS) { v = v + bias[n]; }
    v = act_apply(ACT, v);
    let idx = m * dims.n + n;
    if (GRAD_ACT != 0u) { v = v * act_grad_from_y(GRAD_ACT, aux[idx]); }
    store(idx, v);
}

// Element (m, k) of op(A) is a[m * sam + k * sak]; (k, n) of op(B) is b[k * sbk + n * sbn].
fn dot_at(m: u32, n: u32, sam: u32, sak: u32, sbk: u32, sbn: u32) -> f32 {
    var acc = 0.0;
    let a0 = m * sam;
    let b0 = n * sbn;
    for (var k = 0u; k < dims.k; k = k + 1u) {
        acc = acc + a[a0 + k * sak] * b[b0 + k * sbk];
    }
    return acc;
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    let m = gid.y;
    if (m >= dims.m || n >= dims.n) { return; }
    epilogue(m, n, dot_at(m, n, dims.k, 1u, dims.n, 1u));
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    let m = gid.y;
    if (m >= dims.m || n >= dims.n) { return; }
    epilogue(m, n, dot_at(m, n, dims.k, 1u, 1u, dims.k));
}

@compute @workgroup_size(8, 8, 1)
fn matmul_tn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    let m = gid.y;
    if (n >= dims.n) { return; }
    if (m < dims.m) {
        epilogue(m, n, dot_at(m, n, 1u, dims.m, dims.n, 1u));
    } else if (BIAS_GRAD && m == dims.m) {
        var s = 0.0;
        for (var k = 0u; k < dims.k; k = k + 1u) { s = s + b[k * dims.n + n]; }
        if (ACCUMULATE) { bias[n] = bias[n] + s; } else { bias[n] = s; }
    }
}

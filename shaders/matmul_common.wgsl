// Prelude of the matmul families (matmul.wgsl, matmul_sg.wgsl, matmul_tex.wgsl):
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
// bindings 1 and 2 hold op(A) and op(B): storage buffers in
// matmul_operands.wgsl, packed textures in matmul_tex.wgsl
// bias [N]: read in forward (HAS_BIAS), written in matmul_tn (BIAS_GRAD)
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
// aux [M,N]: the activation output whose derivative GRAD_ACT multiplies in
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;


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


// Packing for the texture matmuls (matmul_tex.wgsl): op(A) [M,K] and
// op(B)^T [N,K] are copied into rgba32float textures of ceil(K/4) x rows
// texels, texel (q, r) holding elements (r, 4q) .. (r, 4q+3), zero past K.
// Element (r, k) of the source is src[r * K + k] (pack_rows) or
// src[k * R + r] (pack_cols); R is M for op(A) and N for op(B)^T
// (OPERAND_B). The uniform is the matmul's own (prelude: matmul_common.wgsl).

override OPERAND_B: bool = false;

@group(0) @binding(1) var<storage, read_write> src: array<f32>;
@group(0) @binding(2) var packed: texture_storage_2d<rgba32float, write>;

fn pack(q: u32, r: u32, row_major: bool) {
    let rows = select(dims.m, dims.n, OPERAND_B);
    let width = (dims.k + 3u) / 4u;
    if (q >= width || r >= rows) { return; }
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i = i + 1u) {
        let k = q * 4u + i;
        if (k < dims.k) {
            v[i] = src[select(k * rows + r, r * dims.k + k, row_major)];
        }
    }
    textureStore(packed, vec2<u32>(q, r), v);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_pack_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    pack(gid.x, gid.y, true);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_pack_cols(@builtin(global_invocation_id) gid: vec3<u32>) {
    pack(gid.x, gid.y, false);
}

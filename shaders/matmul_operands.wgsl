// Operands of the storage-buffer matmuls (matmul.wgsl, matmul_sg.wgsl):
// op(A) and op(B) as laid out in the arenas.
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;

// Shared by conv.wgsl and conv_sg.wgsl (prepended to both by
// src/kernels/mod.rs): the geometry uniform, the epilogue overrides, the
// bindings and two helpers (the geometry overrides: window_common.wgsl).

struct Conv {
    batch: u32, c: u32, h: u32, w: u32,
    oc: u32, oh: u32, ow: u32, kh: u32,
    kw: u32, sh: u32, sw: u32, ph: u32,
    pw: u32, pad0: u32, pad1: u32, pad2: u32,
}

override ACT: u32 = 0u;
override GRAD_ACT: u32 = 0u;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override BIAS_GRAD: bool = false;

@group(0) @binding(0) var<uniform> cv: Conv;
// forward: x; backward_input: dy; backward_weight: x
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
// forward and backward_input: w; backward_weight: dy
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
// bias [OC]: read by the forward (HAS_BIAS), written by backward_weight (BIAS_GRAD)
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
// aux: the activation output whose derivative GRAD_ACT multiplies into dx
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
// forward: y; backward_input: dx; backward_weight: dw
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// Invocations per workgroup of every convolution kernel.
const WG: u32 = 64u;

fn put(idx: u32, v: f32) {
    if (ACCUMULATE) { out[idx] = out[idx] + v; } else { out[idx] = v; }
}

// Four consecutive indices from `base`, clamped to the last valid one.
fn clamp4(base: u32, limit: u32) -> vec4<u32> {
    let last = max(limit, 1u) - 1u;
    return min(vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
}

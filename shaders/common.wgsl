// Shared prelude: prepended to every kernel family by src/kernels/mod.rs.
// Activation codes (same numbers as `Act` in src/graph/mod.rs).
const ACT_NONE: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;
const ACT_TANH: u32 = 4u;
const LEAKY_SLOPE: f32 = 0.01;
// Invocations per workgroup of every 1-D kernel.
const WG_1D: u32 = 256u;

// y = act(x)
fn act_apply(code: u32, x: f32) -> f32 {
    switch code {
        case 1u: { return max(x, 0.0); }
        case 2u: { return select(LEAKY_SLOPE * x, x, x > 0.0); }
        case 3u: { return 1.0 / (1.0 + exp(-x)); }
        // clamp keeps exp-based tanh implementations away from inf/inf
        case 4u: { return tanh(clamp(x, -15.0, 15.0)); }
        default: { return x; }
    }
}

// d act(x) / dx written in terms of the output y = act(x)
fn act_grad_from_y(code: u32, y: f32) -> f32 {
    switch code {
        case 1u: { return select(0.0, 1.0, y > 0.0); }
        case 2u: { return select(LEAKY_SLOPE, 1.0, y > 0.0); }
        case 3u: { return y * (1.0 - y); }
        case 4u: { return 1.0 - y * y; }
        default: { return 1.0; }
    }
}

// Linear invocation index of a 1-D kernel whose grid may be folded into 2-D
// when it needs more than 65535 workgroups along x.
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG_1D;
}

// NaN/Inf test on the bit pattern (`v != v` is not reliable on every driver).
fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) < 0x7f800000u;
}

// Counter-based random numbers: a uniform in [0, 1) that depends only on
// (seed, step, stream, index), so forward and backward of one step draw the
// same values without storing them, and runs are reproducible.
fn mix32(x: u32) -> u32 {
    var h = x;
    h = h ^ (h >> 16u);
    h = h * 0x7feb352du;
    h = h ^ (h >> 15u);
    h = h * 0x846ca68bu;
    h = h ^ (h >> 16u);
    return h;
}

fn counter_uniform(seed: u32, step: u32, stream: u32, index: u32) -> f32 {
    let h = mix32(mix32(mix32(mix32(seed) ^ step) ^ stream) ^ index);
    return f32(h >> 8u) / 16777216.0;
}

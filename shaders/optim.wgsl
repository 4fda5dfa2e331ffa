// Optimizer steps over the whole flat parameter arena. params, grads and the
// state slots share one layout, so element i of each belongs to the same
// weight. Padding between tensors has zero gradient and stays zero. The
// arenas are read as vec4 (their length is a multiple of 64 values).
//
// Two forms: sgd_step / adam_step read the gradient guard's result (written
// by grad_guard, guard.wgsl) and run over many workgroups; the *_fused forms
// (small arenas) are one workgroup that computes the guard itself first, so a
// step's guard and update cost one dispatch.

struct Hyper {
    n: u32,          // number of f32 in the arena; every buffer holds ceil(n / 4) vec4
    decoupled: u32,  // 1: AdamW (decay applied to the weights), 0: L2 in the gradient
    lr: f32,
    weight_decay: f32,
    momentum: f32,   // sgd
    beta1: f32,
    beta2: f32,
    eps: f32,
    bc1: f32,        // 1 - beta1^t
    bc2: f32,        // 1 - beta2^t
    max_norm: f32,   // fused forms with CLIP: clip the gradients to this norm
    stop: u32,       // fused forms: 1 = after a bad step, skip every later one too
}

override CLIP: bool = false;

@group(0) @binding(0) var<uniform> h: Hyper;
@group(0) @binding(1) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> grads: array<vec4<f32>>;
// m: first moment (adam) or velocity (sgd)
@group(0) @binding(3) var<storage, read_write> m: array<vec4<f32>>;
// v: second moment (adam); unused by sgd
@group(0) @binding(4) var<storage, read_write> v: array<vec4<f32>>;
// guard [4]: factor for the gradients, norm, skip flag (read, or written by the fused forms)
@group(0) @binding(5) var<storage, read_write> guard: array<f32>;
// stats [4] and step [4]: the fused forms count bad steps as grad_guard does
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> step: array<u32>;

// Each invocation of the many-workgroup forms updates one vec4: 4
// consecutive values (fewer, fuller workgroups: per-workgroup cost dominates
// small arenas on software adapters).
// The fused forms run one workgroup of WG invocations. On lavapipe each
// 8-wide subgroup of a workgroup is a coroutine that every barrier
// switches through: 64 invocations ran the MLP's fused Adam step in 45-50 us
// where 256 took 105-180 (and vec4 accesses, one per-lane loop for four
// values instead of four loops, another third less).
const WG: u32 = 64u;

var<workgroup> part: array<f32, WG>;

// vec4 elements in the arena
fn len4() -> u32 { return (h.n + 3u) / 4u; }

// 4 values from vec4 element i: velocity = momentum * velocity + (g + wd * p); p -= lr * velocity
fn sgd_one(i: u32, factor: f32) {
    let p = params[i];
    let g = grads[i] * factor + h.weight_decay * p;
    let vel = h.momentum * m[i] + g;
    m[i] = vel;
    params[i] = p - h.lr * vel;
}

// 4 values from vec4 element i: Adam (L2 decay in the gradient) or AdamW
// (decoupled decay), bias-corrected.
fn adam_one(i: u32, factor: f32) {
    let p = params[i];
    var g = grads[i] * factor;
    if (h.decoupled == 0u) { g = g + h.weight_decay * p; }
    let mi = h.beta1 * m[i] + (1.0 - h.beta1) * g;
    let vi = h.beta2 * v[i] + (1.0 - h.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    var upd = (mi / h.bc1) / (sqrt(vi / h.bc2) + h.eps);
    if (h.decoupled == 1u) { upd = upd + h.weight_decay * p; }
    params[i] = p - h.lr * upd;
}

@compute @workgroup_size(256, 1, 1)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (guard[2] != 0.0) { return; }
    let i = linear_index(gid, nwg);
    if (i < len4()) { sgd_one(i, guard[0]); }
}

@compute @workgroup_size(256, 1, 1)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (guard[2] != 0.0) { return; }
    let i = linear_index(gid, nwg);
    if (i < len4()) { adam_one(i, guard[0]); }
}

// The guard of grad_guard (SINGLE form) computed by this workgroup: returns
// the gradient factor, or a negative value when the step must be skipped.
// The sum adds each vec4's squares first, so it matches grad_guard's within rounding.
fn fused_guard(t: u32) -> f32 {
    var s = 0.0;
    for (var i = t; i < len4(); i = i + WG) { let g = grads[i]; s = s + dot(g, g); }
    part[t] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w = w >> 1u) {
        if (t < w) { part[t] = part[t] + part[t + w]; }
        workgroupBarrier();
    }
    let total = part[0];
    let norm = sqrt(total);
    let bad = !is_finite(total);
    // every invocation reads the counters before invocation 0 updates them
    let earlier_bad = stats[2] > 0.0;
    storageBarrier();
    let skip = bad || (h.stop == 1u && earlier_bad);
    var factor = 1.0;
    if (CLIP && norm > h.max_norm) { factor = h.max_norm / norm; }
    if (t == 0u) {
        if (bad) {
            if (!earlier_bad) { stats[3] = f32(step[0]); }
            stats[2] = stats[2] + 1.0;
        }
        guard[0] = factor;
        guard[1] = norm;
        guard[2] = select(0.0, 1.0, skip);
    }
    return select(factor, -1.0, skip);
}

@compute @workgroup_size(WG, 1, 1)
fn sgd_step_fused(@builtin(local_invocation_index) t: u32) {
    let factor = fused_guard(t);
    if (factor < 0.0) { return; }
    for (var i = t; i < len4(); i = i + WG) { sgd_one(i, factor); }
}

@compute @workgroup_size(WG, 1, 1)
fn adam_step_fused(@builtin(local_invocation_index) t: u32) {
    let factor = fused_guard(t);
    if (factor < 0.0) { return; }
    for (var i = t; i < len4(); i = i + WG) { adam_one(i, factor); }
}

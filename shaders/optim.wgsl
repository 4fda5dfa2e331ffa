// Optimizer steps over the whole flat parameter arena in one dispatch.
// params, grads and the state slots share one layout, so element i of each
// belongs to the same weight. Padding between tensors has zero gradient and
// stays zero.

struct Hyper {
    n: u32,          // number of f32 in the arena
    decoupled: u32,  // 1: AdamW (decay applied to the weights), 0: L2 in the gradient
    lr: f32,
    weight_decay: f32,
    momentum: f32,   // sgd
    beta1: f32,
    beta2: f32,
    eps: f32,
    bc1: f32,        // 1 - beta1^t
    bc2: f32,        // 1 - beta2^t
    pad0: f32,
    pad1: f32,
}

@group(0) @binding(0) var<uniform> h: Hyper;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
// m: first moment (adam) or velocity (sgd)
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
// v: second moment (adam); unused by sgd
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
// guard [4]: from grad_guard: factor for the gradients, norm, skip flag
@group(0) @binding(5) var<storage, read_write> guard: array<f32>;

fn grad_at(i: u32) -> f32 {
    return grads[i] * guard[0];
}

// A step whose loss or gradients were not finite leaves the weights as they are.
fn skipped() -> bool {
    return guard[2] != 0.0;
}

// Each invocation updates ITEMS consecutive values: fewer, fuller workgroups
// (per-workgroup cost dominates small arenas on software adapters).
const ITEMS: u32 = 4u;

fn sgd_one(i: u32) {
    let p = params[i];
    let g = grad_at(i) + h.weight_decay * p;
    let vel = h.momentum * m[i] + g;
    m[i] = vel;
    params[i] = p - h.lr * vel;
}

// velocity = momentum * velocity + (g + wd * p); p -= lr * velocity
@compute @workgroup_size(256, 1, 1)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (skipped()) { return; }
    let base = linear_index(gid, nwg) * ITEMS;
    for (var j = 0u; j < ITEMS; j = j + 1u) {
        if (base + j < h.n) { sgd_one(base + j); }
    }
}

fn adam_one(i: u32) {
    let p = params[i];
    var g = grad_at(i);
    if (h.decoupled == 0u) { g = g + h.weight_decay * p; }
    let mi = h.beta1 * m[i] + (1.0 - h.beta1) * g;
    let vi = h.beta2 * v[i] + (1.0 - h.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    var step = (mi / h.bc1) / (sqrt(vi / h.bc2) + h.eps);
    if (h.decoupled == 1u) { step = step + h.weight_decay * p; }
    params[i] = p - h.lr * step;
}

// Adam (L2 decay in the gradient) or AdamW (decoupled decay), bias-corrected.
@compute @workgroup_size(256, 1, 1)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (skipped()) { return; }
    let base = linear_index(gid, nwg) * ITEMS;
    for (var j = 0u; j < ITEMS; j = j + 1u) {
        if (base + j < h.n) { adam_one(base + j); }
    }
}

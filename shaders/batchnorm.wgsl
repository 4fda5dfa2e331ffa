// Batch normalization over channel c of x [B, C, S] (S = H * W for images,
// 1 for [B, C] features):
//   y = act(gamma[c] * (x - mean[c]) * inv_std[c] + beta[c]),
//   inv_std = 1 / sqrt(var + eps).
// Training (batchnorm_forward_train, one workgroup per channel): mean and
// (biased) variance over the valid rows of the batch (batch[0] of them;
// padding rows of a last partial batch never enter the statistics), saved
// as saved[2c] = mean, saved[2c + 1] = inv_std for the backward; with
// UPDATE_RUNNING the running statistics move towards them:
//   running = (1 - momentum) * running + momentum * batch value
// (the running variance uses the unbiased variance).
// Eval (batchnorm_forward_eval, one invocation per element) uses the running
// statistics. The backward (one workgroup per channel), over the N valid
// values of the channel, with xhat = (x - mean) * inv_std:
//   dbeta = sum(dy), dgamma = sum(dy * xhat),
//   dx = gamma * inv_std / N * (N * dy - dbeta - xhat * dgamma)  (0 on padding rows).

struct Norm { batch: u32, c: u32, s: u32, pad: u32, eps: f32, momentum: f32, pad1: u32, pad2: u32 }

override ACT: u32 = 0u;
override UPDATE_RUNNING: bool = false;
override ACCUMULATE: bool = false;
override ACCUMULATE_PARAMS: bool = false;

@group(0) @binding(0) var<uniform> nm: Norm;
// batch [1 + B]: the count of valid rows, then row ids
@group(0) @binding(1) var<storage, read_write> batch: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> gamma: array<f32>;
// forward: beta; backward: dy
@group(0) @binding(4) var<storage, read_write> p4: array<f32>;
// forward: running mean; backward: saved
@group(0) @binding(5) var<storage, read_write> p5: array<f32>;
// forward: running variance; backward: dgamma
@group(0) @binding(6) var<storage, read_write> p6: array<f32>;
// forward: saved [2C]; backward: dbeta
@group(0) @binding(7) var<storage, read_write> p7: array<f32>;
// forward: y; backward: dx
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> part: array<vec2<f32>, 256>;

// Sum of v over the workgroup (every invocation gets the total).
fn workgroup_sum(lid: u32, v: vec2<f32>) -> vec2<f32> {
    part[lid] = v;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half = half / 2u) {
        if (lid < half) { part[lid] = part[lid] + part[lid + half]; }
        workgroupBarrier();
    }
    let total = part[0];
    workgroupBarrier();
    return total;
}

fn valid_rows() -> u32 {
    return clamp(batch[0], 1u, nm.batch);
}

// Index of the e-th value of channel c (e < rows * S).
fn at(c: u32, e: u32) -> u32 {
    return ((e / nm.s) * nm.c + c) * nm.s + e % nm.s;
}

@compute @workgroup_size(256, 1, 1)
fn batchnorm_forward_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wid.x;
    let lid = lid3.x;
    let n = valid_rows() * nm.s;
    var s = vec2<f32>(0.0);
    for (var e = lid; e < n; e = e + WG) { s.x = s.x + x[at(c, e)]; }
    let mean = workgroup_sum(lid, s).x / f32(n);
    s = vec2<f32>(0.0);
    for (var e = lid; e < n; e = e + WG) {
        let d = x[at(c, e)] - mean;
        s.x = s.x + d * d;
    }
    let var_b = workgroup_sum(lid, s).x / f32(n);
    let inv_std = inverseSqrt(var_b + nm.eps);
    let g = gamma[c] * inv_std;
    let sh = p4[c] - mean * g;
    for (var e = lid; e < nm.batch * nm.s; e = e + WG) {
        let i = at(c, e);
        out[i] = act_apply(ACT, x[i] * g + sh);
    }
    if (lid == 0u) {
        p7[2u * c] = mean;
        p7[2u * c + 1u] = inv_std;
        if (UPDATE_RUNNING) {
            let unbiased = select(var_b, var_b * f32(n) / f32(n - 1u), n > 1u);
            p5[c] = (1.0 - nm.momentum) * p5[c] + nm.momentum * mean;
            p6[c] = (1.0 - nm.momentum) * p6[c] + nm.momentum * unbiased;
        }
    }
}

@compute @workgroup_size(256, 1, 1)
fn batchnorm_forward_eval(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= nm.batch * nm.c * nm.s) { return; }
    let c = (i / nm.s) % nm.c;
    let g = gamma[c] * inverseSqrt(p6[c] + nm.eps);
    out[i] = act_apply(ACT, (x[i] - p5[c]) * g + p4[c]);
}

// Eval backward (the running statistics do not depend on the batch):
// dx = dy * gamma[c] * inv_std[c] from the running variance (bindings as
// the eval forward, p4 = dy); explanations of trained models use it.
@compute @workgroup_size(256, 1, 1)
fn batchnorm_backward_eval(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= nm.batch * nm.c * nm.s) { return; }
    let c = (i / nm.s) % nm.c;
    let d = p4[i] * gamma[c] * inverseSqrt(p6[c] + nm.eps);
    if (ACCUMULATE) { out[i] = out[i] + d; } else { out[i] = d; }
}

@compute @workgroup_size(256, 1, 1)
fn batchnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wid.x;
    let lid = lid3.x;
    let n = valid_rows() * nm.s;
    let mean = p5[2u * c];
    let inv_std = p5[2u * c + 1u];
    var s = vec2<f32>(0.0);
    for (var e = lid; e < n; e = e + WG) {
        let i = at(c, e);
        let dy = p4[i];
        s = s + vec2<f32>(dy, dy * (x[i] - mean) * inv_std);
    }
    let sums = workgroup_sum(lid, s);
    if (lid == 0u) {
        if (ACCUMULATE_PARAMS) {
            p6[c] = p6[c] + sums.y;
            p7[c] = p7[c] + sums.x;
        } else {
            p6[c] = sums.y;
            p7[c] = sums.x;
        }
    }
    let k = gamma[c] * inv_std / f32(n);
    for (var e = lid; e < nm.batch * nm.s; e = e + WG) {
        let i = at(c, e);
        var v = 0.0;
        if (e < n) {
            let xhat = (x[i] - mean) * inv_std;
            v = k * (f32(n) * p4[i] - sums.x - xhat * sums.y);
        }
        if (ACCUMULATE) { out[i] = out[i] + v; } else { out[i] = v; }
    }
}

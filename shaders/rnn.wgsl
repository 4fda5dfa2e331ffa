// Entry points of the persistent recurrences (bodies: rnn_persistent.wgsl)
// for any adapter, and the sums over a row's H values they use: every
// invocation reads all H values from workgroup memory.

// sum over k < H of h_sh[base + k] * w[k]: a row's h_{t-1} times w_hh.
fn h_times_w4(base: u32, lane: u32, w: ptr<function, array<vec4<f32>, 64>>) -> vec4<f32> {
    var z = vec4<f32>(0.0);
    for (var k = 0u; k < HIDDEN; k = k + 1u) {
        z = z + h_sh[base + k] * (*w)[k];
    }
    return z;
}

// sum over k < H of dot(dz_sh[base + k], w[k]): a row's gate gradients times w_hh^T.
fn dz_dot_w4(base: u32, lane: u32, w: ptr<function, array<vec4<f32>, 64>>) -> f32 {
    var s = 0.0;
    for (var k = 0u; k < HIDDEN; k = k + 1u) {
        s = s + dot(dz_sh[base + k], (*w)[k]);
    }
    return s;
}

// sum over k < H of h_sh[base + k] * w[k] with one weight per k (Elman).
fn h_dot_w1(base: u32, lane: u32, w: ptr<function, array<f32, 64>>) -> f32 {
    var s = 0.0;
    for (var k = 0u; k < HIDDEN; k = k + 1u) {
        s = s + h_sh[base + k] * (*w)[k];
    }
    return s;
}

@compute @workgroup_size(64, 1, 1)
fn lstm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    lstm_forward_run(wid.x, li, 0u);
}

@compute @workgroup_size(64, 1, 1)
fn lstm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    lstm_backward_run(wid.x, li, 0u);
}

@compute @workgroup_size(64, 1, 1)
fn gru_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    gru_forward_run(wid.x, li, 0u);
}

@compute @workgroup_size(64, 1, 1)
fn gru_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    gru_backward_run(wid.x, li, 0u);
}

@compute @workgroup_size(64, 1, 1)
fn elman_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    elman_forward_run(wid.x, li, 0u);
}

@compute @workgroup_size(64, 1, 1)
fn elman_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    elman_backward_run(wid.x, li, 0u);
}

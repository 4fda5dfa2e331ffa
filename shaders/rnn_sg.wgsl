// Entry points of the persistent recurrences (bodies: rnn_persistent.wgsl)
// for adapters with 8-wide subgroups, when H is a multiple of 8 (a subgroup
// then lies inside one row), and their sums over a row's H values: lane j
// reads value q + j of every 8 from workgroup memory and subgroupBroadcast
// hands it to the other lanes, so an invocation makes H / 8 workgroup loads
// per step where rnn.wgsl makes H. Same sums, same order, as rnn.wgsl.

// sum over k < H of h_sh[base + k] * w[k]: a row's h_{t-1} times w_hh.
fn h_times_w4(base: u32, lane: u32, w: ptr<function, array<vec4<f32>, 64>>) -> vec4<f32> {
    var s = vec4<f32>(0.0);
    for (var q = 0u; q < HIDDEN; q = q + 8u) {
        let v = h_sh[base + q + lane];
        s = s + subgroupBroadcast(v, 0u) * (*w)[q];
        s = s + subgroupBroadcast(v, 1u) * (*w)[q + 1u];
        s = s + subgroupBroadcast(v, 2u) * (*w)[q + 2u];
        s = s + subgroupBroadcast(v, 3u) * (*w)[q + 3u];
        s = s + subgroupBroadcast(v, 4u) * (*w)[q + 4u];
        s = s + subgroupBroadcast(v, 5u) * (*w)[q + 5u];
        s = s + subgroupBroadcast(v, 6u) * (*w)[q + 6u];
        s = s + subgroupBroadcast(v, 7u) * (*w)[q + 7u];
    }
    return s;
}

// sum over k < H of dot(dz_sh[base + k], w[k]): a row's gate gradients times w_hh^T.
fn dz_dot_w4(base: u32, lane: u32, w: ptr<function, array<vec4<f32>, 64>>) -> f32 {
    var s = 0.0;
    for (var q = 0u; q < HIDDEN; q = q + 8u) {
        let v = dz_sh[base + q + lane];
        s = s + dot(subgroupBroadcast(v, 0u), (*w)[q]);
        s = s + dot(subgroupBroadcast(v, 1u), (*w)[q + 1u]);
        s = s + dot(subgroupBroadcast(v, 2u), (*w)[q + 2u]);
        s = s + dot(subgroupBroadcast(v, 3u), (*w)[q + 3u]);
        s = s + dot(subgroupBroadcast(v, 4u), (*w)[q + 4u]);
        s = s + dot(subgroupBroadcast(v, 5u), (*w)[q + 5u]);
        s = s + dot(subgroupBroadcast(v, 6u), (*w)[q + 6u]);
        s = s + dot(subgroupBroadcast(v, 7u), (*w)[q + 7u]);
    }
    return s;
}

// sum over k < H of h_sh[base + k] * w[k] with one weight per k (Elman).
fn h_dot_w1(base: u32, lane: u32, w: ptr<function, array<f32, 64>>) -> f32 {
    var s = 0.0;
    for (var q = 0u; q < HIDDEN; q = q + 8u) {
        let v = h_sh[base + q + lane];
        s = s + subgroupBroadcast(v, 0u) * (*w)[q];
        s = s + subgroupBroadcast(v, 1u) * (*w)[q + 1u];
        s = s + subgroupBroadcast(v, 2u) * (*w)[q + 2u];
        s = s + subgroupBroadcast(v, 3u) * (*w)[q + 3u];
        s = s + subgroupBroadcast(v, 4u) * (*w)[q + 4u];
        s = s + subgroupBroadcast(v, 5u) * (*w)[q + 5u];
        s = s + subgroupBroadcast(v, 6u) * (*w)[q + 6u];
        s = s + subgroupBroadcast(v, 7u) * (*w)[q + 7u];
    }
    return s;
}

@compute @workgroup_size(64, 1, 1)
fn lstm_forward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    lstm_forward_run(wid.x, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn lstm_backward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    lstm_backward_run(wid.x, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn gru_forward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    gru_forward_run(wid.x, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn gru_backward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    gru_backward_run(wid.x, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn elman_forward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    elman_forward_run(wid.x, li, lane);
}

@compute @workgroup_size(64, 1, 1)
fn elman_backward_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    elman_backward_run(wid.x, li, lane);
}

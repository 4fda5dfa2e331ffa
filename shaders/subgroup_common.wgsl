// Prelude of the subgroup variants (conv_sg.wgsl, matmul_sg.wgsl), for
// adapters whose subgroups have at least 8 invocations: an invocation
// accumulates 4 rows x COLS columns, and lane j of each subgroup loads
// column j's value, which subgroupBroadcast hands to every lane.

const COLS: u32 = 8u;

// Column j's value from lane j of the subgroup, times the row values.
fn fma8(acc: ptr<function, array<vec4<f32>, 8>>, rows: vec4<f32>, col: f32) {
    (*acc)[0] = (*acc)[0] + rows * subgroupBroadcast(col, 0u);
    (*acc)[1] = (*acc)[1] + rows * subgroupBroadcast(col, 1u);
    (*acc)[2] = (*acc)[2] + rows * subgroupBroadcast(col, 2u);
    (*acc)[3] = (*acc)[3] + rows * subgroupBroadcast(col, 3u);
    (*acc)[4] = (*acc)[4] + rows * subgroupBroadcast(col, 4u);
    (*acc)[5] = (*acc)[5] + rows * subgroupBroadcast(col, 5u);
    (*acc)[6] = (*acc)[6] + rows * subgroupBroadcast(col, 6u);
    (*acc)[7] = (*acc)[7] + rows * subgroupBroadcast(col, 7u);
}

// fma8 with the 8 column values held as vec4 by lanes 0 and 1 (columns
// 0-3 and 4-7): column j is component j % 4 of lane j / 4.
fn fma8_vec4_lo(acc: ptr<function, array<vec4<f32>, 8>>, rows: vec4<f32>, cols: vec4<f32>) {
    (*acc)[0] = (*acc)[0] + rows * subgroupBroadcast(cols.x, 0u);
    (*acc)[1] = (*acc)[1] + rows * subgroupBroadcast(cols.y, 0u);
    (*acc)[2] = (*acc)[2] + rows * subgroupBroadcast(cols.z, 0u);
    (*acc)[3] = (*acc)[3] + rows * subgroupBroadcast(cols.w, 0u);
    (*acc)[4] = (*acc)[4] + rows * subgroupBroadcast(cols.x, 1u);
    (*acc)[5] = (*acc)[5] + rows * subgroupBroadcast(cols.y, 1u);
    (*acc)[6] = (*acc)[6] + rows * subgroupBroadcast(cols.z, 1u);
    (*acc)[7] = (*acc)[7] + rows * subgroupBroadcast(cols.w, 1u);
}

// The same for the next 8 columns, held by lanes 2 and 3.
fn fma8_vec4_hi(acc: ptr<function, array<vec4<f32>, 8>>, rows: vec4<f32>, cols: vec4<f32>) {
    (*acc)[0] = (*acc)[0] + rows * subgroupBroadcast(cols.x, 2u);
    (*acc)[1] = (*acc)[1] + rows * subgroupBroadcast(cols.y, 2u);
    (*acc)[2] = (*acc)[2] + rows * subgroupBroadcast(cols.z, 2u);
    (*acc)[3] = (*acc)[3] + rows * subgroupBroadcast(cols.w, 2u);
    (*acc)[4] = (*acc)[4] + rows * subgroupBroadcast(cols.x, 3u);
    (*acc)[5] = (*acc)[5] + rows * subgroupBroadcast(cols.y, 3u);
    (*acc)[6] = (*acc)[6] + rows * subgroupBroadcast(cols.z, 3u);
    (*acc)[7] = (*acc)[7] + rows * subgroupBroadcast(cols.w, 3u);
}

// Column j (< COLS) of an accumulator block; the switch keeps the indices
// constant, so the accumulators stay in registers.
fn acc_column(acc: ptr<function, array<vec4<f32>, 8>>, j: u32) -> vec4<f32> {
    switch j {
        case 0u: { return (*acc)[0]; }
        case 1u: { return (*acc)[1]; }
        case 2u: { return (*acc)[2]; }
        case 3u: { return (*acc)[3]; }
        case 4u: { return (*acc)[4]; }
        case 5u: { return (*acc)[5]; }
        case 6u: { return (*acc)[6]; }
        default: { return (*acc)[7]; }
    }
}

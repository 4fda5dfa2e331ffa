//! Kernel variants: the same kernel with another grid and the same
//! bindings, uniform and results, chosen per adapter (tested against the
//! same references as the portable kernels). The texture matmuls also pack
//! their operands first: `PipelineCache::build` adds those two dispatches
//! and the scratch textures (see `texture_matmul.rs`).

use super::calls::Call;
use super::calls_conv::{subgroup_cols, subgroup_grid, subgroup_wg};
use super::KernelId;
use crate::gpu::Gpu;

/// Kernel variants an adapter can run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variants {
    /// Subgroup operations with at least 8 invocations per subgroup
    /// (shaders/conv_sg.wgsl: the convolution forward, input and weight gradients;
    /// shaders/matmul_sg.wgsl: the three matmuls).
    pub subgroup8: bool,
    /// Texture matmuls (shaders/matmul_tex.wgsl) and when to use them;
    /// `None` where they do not pay (adapters other than CPU ones) or
    /// cannot run (no 8-wide subgroups).
    pub texture_matmul: Option<TextureMatmul>,
    /// Subgroups of exactly 8 invocations (lavapipe on AVX2), for
    /// shaders/rnn_sg.wgsl, whose subgroups must each lie inside one batch
    /// row of H units (H a multiple of 8): larger subgroups would span rows.
    pub subgroup_exactly8: bool,
    /// Recurrences (LSTM, GRU, Elman) with one 8-wide subgroup per batch row
    /// (shaders/rnn_lanes.wgsl, rnn_lanes_gru_elman.wgsl) where H is a multiple of 4 up to 32: CPU
    /// adapters with subgroups of exactly 8, where a storage access is a
    /// loop over the lanes and the vec4 accesses of that kernel pay.
    pub rnn_lanes: bool,
    /// Workgroup-tiled matmuls (shaders/matmul_tiled.wgsl) and when to use
    /// them: GPUs, where workgroup memory is fast; `None` on CPU adapters,
    /// where each workgroup-memory access in a loop is a loop over the lanes.
    pub tiled_matmul: Option<TiledMatmul>,
}

impl Variants {
    /// The variants `gpu` runs, each where it applies. Subgroup kernels need
    /// SUBGROUP with subgroups of at least 8 invocations; texture matmuls
    /// need those and a CPU adapter (lavapipe), where a texel fetch is a
    /// vector gather and a storage load in a loop is not; the
    /// one-subgroup-per-row recurrences need subgroups of exactly 8, 19
    /// storage buffers and a CPU adapter; workgroup-tiled matmuls need an
    /// adapter other than a CPU one. The `MEDGPU_*` switches of
    /// [`crate::settings`] override each choice (for comparisons).
    pub fn detect(gpu: &Gpu) -> Variants {
        use crate::settings::{portable_kernels, switch};
        let off = portable_kernels();
        let subgroup8 =
            !off && gpu.features.contains(wgpu::Features::SUBGROUP) && gpu.info.subgroup_min_size >= 8;
        let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
        let texture = switch("MEDGPU_TEXTURE_MATMUL").unwrap_or(cpu);
        let texture_matmul = (subgroup8 && texture).then_some(TextureMatmul {
            min_macs: TextureMatmul::MIN_MACS,
            min_blocks: TextureMatmul::MIN_BLOCKS,
            max_edge: gpu.limits.max_texture_dimension_2d,
        });
        let subgroup_exactly8 = subgroup8 && gpu.info.subgroup_max_size == 8;
        // rnn_lanes.wgsl binds 19 storage buffers (WebGPU's default limit is 8)
        let rnn_lanes = subgroup_exactly8
            && gpu.limits.max_storage_buffers_per_shader_stage >= super::RNN_LANES_STORAGE_BUFFERS
            && switch("MEDGPU_RNN_LANES").unwrap_or(cpu);
        let tiled = !off && switch("MEDGPU_TILED_MATMUL").unwrap_or(!cpu);
        let tiled_matmul = tiled.then_some(TiledMatmul::GPU);
        Variants { subgroup8, texture_matmul, subgroup_exactly8, rnn_lanes, tiled_matmul }
    }
}

/// When a matmul takes the workgroup-tiled variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TiledMatmul {
    /// Fewest multiply-adds (M·N·K).
    pub min_macs: u64,
    /// Fewest rows and columns of C: a 128x128 tile of a thinner C is
    /// mostly idle.
    pub min_edge: u32,
}

impl TiledMatmul {
    /// The default on GPUs: 128^3 multiply-adds and C of at least 64x64
    /// (not measured on a GPU yet; smaller matmuls keep the variants they
    /// had, where a dispatch's fixed cost dominates anyway).
    pub const GPU: TiledMatmul = TiledMatmul { min_macs: 1 << 21, min_edge: 64 };
}

/// When a matmul takes the texture variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextureMatmul {
    /// Fewest multiply-adds (M·N·K): below it the two packing dispatches
    /// cost more than the faster loop saves.
    pub min_macs: u64,
    /// Fewest 4x16 blocks of C (invocations with work).
    pub min_blocks: u64,
    /// Largest texture edge the adapter allows (the packed operands are
    /// ceil(K/4) texels wide and M or N high).
    pub max_edge: u32,
}

impl TextureMatmul {
    /// M·N·K from which the texture matmul is chosen on lavapipe: below
    /// it the subgroup matmul was faster (`medgpu bench --suite matmul`,
    /// docs/PERF.md).
    pub const MIN_MACS: u64 = 1 << 23;
    /// Blocks from which it is chosen: fewer leave the adapter's threads
    /// idle (the LSTM's weight gradient, 64 blocks, gained nothing).
    pub const MIN_BLOCKS: u64 = 256;
}

/// The fastest variant of `call` the adapter runs (the call itself when
/// there is none).
pub fn specialize<B: Clone>(call: Call<B>, v: Variants) -> Call<B> {
    if let Some(t) = v.tiled_matmul {
        let tiled = match call.kernel {
            KernelId::MatmulNn => Some(KernelId::MatmulNnTiled),
            KernelId::MatmulNt => Some(KernelId::MatmulNtTiled),
            KernelId::MatmulTn => Some(KernelId::MatmulTnTiled),
            _ => None,
        };
        if let Some(kernel) = tiled {
            // uniform: m, n, k
            if let [m, n, k, ..] = *call.uniform.as_slice() {
                let macs = m as u64 * n as u64 * k as u64;
                if macs >= t.min_macs && m.min(n) >= t.min_edge {
                    return matmul_tiled(call, kernel);
                }
            }
        }
    }
    if !v.subgroup8 {
        return call;
    }
    use KernelId::*;
    match call.kernel {
        MatmulNn => matmul_variant(call, v, MatmulNnSg, MatmulNnTex),
        MatmulNt => matmul_variant(call, v, MatmulNtSg, MatmulNtTex),
        MatmulTn => matmul_variant(call, v, MatmulTnSg, MatmulTnTex),
        Conv2dForward => conv_sg(call, Conv2dForwardSg),
        Conv2dBackwardInput => conv_sg(call, Conv2dBackwardInputSg),
        Conv2dBackwardWeight => conv_sg(call, Conv2dBackwardWeightSg),
        LstmForward if v.rnn_lanes && lanes_fit(&call) => rnn_lanes(call, LstmForwardLanes),
        LstmBackward if v.rnn_lanes && lanes_fit(&call) => rnn_lanes(call, LstmBackwardLanes),
        GruForward if v.rnn_lanes && lanes_fit(&call) => rnn_lanes(call, GruForwardLanes),
        GruBackward if v.rnn_lanes && lanes_fit(&call) => rnn_lanes(call, GruBackwardLanes),
        ElmanForward if v.rnn_lanes && lanes_fit(&call) => rnn_lanes(call, ElmanForwardLanes),
        ElmanBackward if v.rnn_lanes && lanes_fit(&call) => rnn_lanes(call, ElmanBackwardLanes),
        LstmForward if v.subgroup_exactly8 => rnn_sg(call, LstmForwardSg),
        LstmBackward if v.subgroup_exactly8 => rnn_sg(call, LstmBackwardSg),
        GruForward if v.subgroup_exactly8 => rnn_sg(call, GruForwardSg),
        GruBackward if v.subgroup_exactly8 => rnn_sg(call, GruBackwardSg),
        ElmanForward if v.subgroup_exactly8 => rnn_sg(call, ElmanForwardSg),
        ElmanBackward if v.subgroup_exactly8 => rnn_sg(call, ElmanBackwardSg),
        _ => call,
    }
}

/// Largest hidden size of the rnn_lanes kernels (8 lanes of 4 units).
pub const RNN_LANES_MAX_HIDDEN: usize = 32;

/// Whether a recurrent call fits the rnn_lanes kernels: H a multiple of 4 up to
/// [`RNN_LANES_MAX_HIDDEN`] (uniform: batch, steps, hidden, ...).
fn lanes_fit<B>(call: &Call<B>) -> bool {
    call.uniform.get(2).is_some_and(|&h| lanes_hidden(h as usize))
}

/// Whether the rnn_lanes kernels take `hidden` units: a multiple of 4 up to
/// [`RNN_LANES_MAX_HIDDEN`].
pub(crate) fn lanes_hidden(hidden: usize) -> bool {
    hidden > 0 && hidden.is_multiple_of(4) && hidden <= RNN_LANES_MAX_HIDDEN
}

/// the rnn_lanes kernels: one workgroup (an 8-wide subgroup) per batch row (the
/// LSTM forward: per [`super::lstm_lanes_rows_per_group`] rows), and
/// bindings 11 to 17 viewing src, gates, cells, hprev, dst, aux and w_hh
/// again as vec4 (gates stands in for src when the forward reads the input
/// x itself, whose rows need not hold whole vec4).
pub(super) fn rnn_lanes<B: Clone>(mut call: Call<B>, kernel: KernelId) -> Call<B> {
    let from_input = call.overrides.iter().any(|(n, v)| *n == "INPUTS" && *v > 0.0);
    // bindings: src, whh, gates, cells, hprev, dst, aux, ...; then vec4 views
    // of src (gates from the input: unused), gates, cells, hprev, dst, aux, whh
    let src = if from_input { 2 } else { 0 };
    let views: Vec<B> = [src, 2, 3, 4, 5, 6, 1].iter().map(|&i| call.bindings[i].clone()).collect();
    call.bindings.extend(views);
    if kernel == KernelId::LstmBackwardLanes {
        // x and the partials of lstm_backward_grads_lanes, whose code it
        // shares (and skips): any buffer of whole vec4, the gates
        let gates = call.bindings[2].clone();
        call.bindings.extend([gates.clone(), gates]);
    }
    call.groups = [call.uniform[0], 1, 1];
    if kernel == KernelId::LstmForwardLanes {
        // uniform: batch, ...
        let rows = super::lstm_lanes_rows_per_group(call.uniform[0] as usize);
        call.overrides.push(("ROWS", rows as f64));
        call.groups = [call.uniform[0].div_ceil(rows as u32), 1, 1];
    }
    call.kernel = kernel;
    call
}

/// rnn_sg.wgsl: the same grid and bindings, for hidden sizes that are a
/// multiple of 8 (each 8-wide subgroup then lies inside one batch row).
fn rnn_sg<B>(mut call: Call<B>, kernel: KernelId) -> Call<B> {
    // uniform: batch, steps, hidden, ...
    if call.uniform.get(2).is_some_and(|h| h % 8 == 0) {
        call.kernel = kernel;
    }
    call
}

/// matmul_tex.wgsl (256 rows x 16 columns of C per workgroup) for large
/// matmuls where the adapter takes it; else matmul_sg.wgsl (up to 256 rows
/// x 8 columns), kept for C with fewer than 16 rows, where most of a
/// subgroup's 32 rows would idle.
fn matmul_variant<B: Clone>(mut call: Call<B>, v: Variants, sg: KernelId, tex: KernelId) -> Call<B> {
    // uniform: m, n, k
    let [m, n, k] = match *call.uniform.as_slice() {
        [m, n, k, ..] => [m, n, k],
        _ => return call,
    };
    if let Some(t) = v.texture_matmul {
        let macs = m as u64 * n as u64 * k as u64;
        // a skinny C (the LSTM's h^T . dz is 32 x 128 over K = 4096) has
        // too few 4x16 blocks to keep the threads busy through its long loop
        let blocks = m.div_ceil(4) as u64 * n.div_ceil(16) as u64;
        let busy = blocks >= t.min_blocks;
        if macs >= t.min_macs && busy && m.max(n).max(k.div_ceil(4)) <= t.max_edge {
            call.groups = [n.div_ceil(16), m.div_ceil(256), 1];
            call.kernel = tex;
            return call;
        }
    }
    if sg == KernelId::MatmulTnSg && m <= 4 && n % 4 == 0 {
        // C of 1 to 4 rows: 4 columns per invocation, B read as vec4
        let invocations = n / 4;
        call.overrides.push(("TN_ROWS", m as f64));
        if let [a, b, ..] = call.bindings.as_slice() {
            let views = [a.clone(), b.clone()];
            call.bindings.extend(views);
        }
        // workgroups of 8 (matmul_sg.wgsl)
        call.groups = [invocations.div_ceil(8), 1, 1];
        call.kernel = KernelId::MatmulTnRows4;
        return call;
    }
    if m >= 16 {
        let wg = subgroup_wg(m as usize) as u32;
        let cols = subgroup_cols(n as usize) as u32;
        call.overrides.push(("SG_WG", wg as f64));
        call.overrides.push(("SG_COLS", cols as f64));
        // vec4 loads where 4 values the kernel needs at one k are aligned
        // neighbours: op(A)^T = A [K, M] (rows) and B [K, N] (columns)
        let a_vec4 = sg == KernelId::MatmulTnSg && m % 4 == 0;
        let b_vec4 = sg != KernelId::MatmulNtSg && n % 4 == 0;
        // A [M, K] (nn, nt) and B [N, K] (nt): 4 k at a time, vec4 along k
        let k4 = sg != KernelId::MatmulTnSg && k % 4 == 0;
        let b_k4 = k4 && sg == KernelId::MatmulNtSg;
        call.overrides.push(("A_VEC4", a_vec4 as u32 as f64));
        call.overrides.push(("B_VEC4", b_vec4 as u32 as f64));
        call.overrides.push(("K4", k4 as u32 as f64));
        call.overrides.push(("B_K4", b_k4 as u32 as f64));
        // bindings 6 and 7: op(A) and op(B) again, read as vec4. Both are
        // bound whether read or not, and must hold a whole vec4: A does
        // (M >= 16), a B read as vec4 does (N >= 4 or K >= 4), any other B
        // may not, so A stands in for it.
        if let [a, b, ..] = call.bindings.as_slice() {
            let (a, b) = (a.clone(), if b_vec4 || b_k4 { b.clone() } else { a.clone() });
            call.bindings.extend([a, b]);
        }
        call.groups = [n.div_ceil(cols), m.div_ceil(4 * wg), 1];
        call.kernel = sg;
    }
    call
}

/// matmul_tiled.wgsl: the same bindings, one 16x16 workgroup per 128x128
/// tile of C.
fn matmul_tiled<B>(mut call: Call<B>, kernel: KernelId) -> Call<B> {
    let (m, n) = (call.uniform[0], call.uniform[1]);
    call.groups = [n.div_ceil(128), m.div_ceil(128), 1];
    call.kernel = kernel;
    call
}

/// conv_sg.wgsl: rows are output pixels (forward), input pixels (input
/// gradient) or output channels (weight gradient); columns output
/// channels, input channels or taps.
fn conv_sg<B: Clone>(mut call: Call<B>, kernel: KernelId) -> Call<B> {
    if call.uniform.len() < 13 {
        return call;
    }
    let w = |i: usize| call.uniform[i] as usize;
    let (batch, c, h, ww, oc, oh, ow, kh, kw) = (w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7), w(8));
    let (sh, sw, pw) = (w(9), w(10), w(12));
    let rows_of_4 = ww.is_multiple_of(4) && ow.is_multiple_of(4);
    let sg4 = sw == 1 && rows_of_4 && pw <= 4 && kw <= pw + 5;
    // the weight gradient by tap rows (c, ky) and their 3 taps across,
    // with output channels as columns
    let kx3 = sg4 && kernel == KernelId::Conv2dBackwardWeightSg && kw == 3;
    let (rows, cols) = match kernel {
        KernelId::Conv2dForwardSg => (batch * oh * ow, oc),
        KernelId::Conv2dBackwardInputSg => (batch * h * ww, c),
        // (one tap row per invocation, counted as the 4 rows subgroup_grid gives one)
        _ if kx3 => (c * kh * 4, oc),
        _ => (oc, c * kh * kw),
    };
    let (mut groups, wg, mut sg_cols) = subgroup_grid(rows, cols);
    if kx3 && c * kh < 8 {
        // fewer tap rows than a subgroup (a first layer): 8 columns per
        // workgroup, so that there are two workgroups or more
        sg_cols = 8;
        groups[1] = oc.div_ceil(8) as u32;
    }
    call.kernel = kernel;
    call.groups = groups;
    call.overrides.push(("SG_WG", wg as f64));
    call.overrides.push(("SG_COLS", sg_cols as f64));
    // the forward and weight gradient four output pixels at a time: stride
    // 1 across, whole vec4 rows in and out, and every tap's columns within
    // a vec4 either side of the pixels; the input gradient four input
    // pixels at a time for 3x3 kernels at stride 1 over input channels a
    // multiple of 4, its weights as vec4 (with scalar weight loads it gained
    // nothing over the scalar kernel: docs/PERF.md)
    if sg4 {
        // bindings 6-8: a, b and out again as vec4 views; each kernel
        // reads only views of whole vec4 rows (a: x, or dy for the input
        // gradient; b: dy for the weight gradient, w for the others; out:
        // y or dx)
        if let [a, b, _, _, out] = call.bindings.as_slice() {
            let views = [a.clone(), b.clone(), out.clone()];
            let input_sg4 = sh == 1 && kh == 3 && kw == 3 && c.is_multiple_of(4);
            match kernel {
                KernelId::Conv2dForwardSg => call.kernel = KernelId::Conv2dForwardSg4,
                KernelId::Conv2dBackwardWeightSg if kx3 => call.kernel = KernelId::Conv2dBackwardWeightKx3,
                KernelId::Conv2dBackwardWeightSg => call.kernel = KernelId::Conv2dBackwardWeightSg4,
                KernelId::Conv2dBackwardInputSg if input_sg4 => {
                    call.kernel = KernelId::Conv2dBackwardInputSg4
                }
                _ => return call,
            }
            call.bindings.extend(views);
        }
    }
    call
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{matmul_nn, matmul_nt, matmul_tn, Epilogue, MatmulOperands};

    fn ops() -> MatmulOperands<usize> {
        MatmulOperands { a: 0, b: 1, bias: None, aux: None, c: 2 }
    }

    #[test]
    fn tiled_matmuls_are_chosen_for_large_matmuls_where_enabled() {
        let gpu = Variants { subgroup8: true, tiled_matmul: Some(TiledMatmul::GPU), ..Variants::default() };
        let e = Epilogue::PLAIN;
        // 4096^3 and 200x130x90: one 128x128 tile per workgroup, rounded up
        let big = specialize(matmul_nn(4096, 4096, 4096, ops(), e, 3), gpu);
        assert_eq!((big.kernel, big.groups), (KernelId::MatmulNnTiled, [32, 32, 1]));
        let odd = specialize(matmul_tn(200, 130, 90, ops(), e, 3), gpu);
        assert_eq!((odd.kernel, odd.groups), (KernelId::MatmulTnTiled, [2, 2, 1]));
        assert_eq!(specialize(matmul_nt(256, 256, 256, ops(), e, 3), gpu).kernel, KernelId::MatmulNtTiled);
        // small (the MLP's 32x64x30) or thin (the LSTM's 32x128x4096):
        // the subgroup variant, as before
        assert_eq!(specialize(matmul_nn(32, 64, 30, ops(), e, 3), gpu).kernel, KernelId::MatmulNnSg);
        assert_eq!(specialize(matmul_tn(32, 128, 4096, ops(), e, 3), gpu).kernel, KernelId::MatmulTnSg);
        // without subgroups the portable kernel below the threshold
        let portable_gpu = Variants { subgroup8: false, ..gpu };
        assert_eq!(specialize(matmul_nn(32, 64, 30, ops(), e, 3), portable_gpu).kernel, KernelId::MatmulNn);
        assert_eq!(
            specialize(matmul_nn(512, 512, 512, ops(), e, 3), portable_gpu).kernel,
            KernelId::MatmulNnTiled
        );
        // not enabled (CPU adapters): never
        let cpu = Variants { tiled_matmul: None, ..gpu };
        assert_ne!(specialize(matmul_nn(4096, 4096, 4096, ops(), e, 3), cpu).kernel, KernelId::MatmulNnTiled);
    }
}

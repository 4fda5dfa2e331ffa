//! Host fns of the image kernels (shaders/conv.wgsl, pool.wgsl,
//! batchnorm.wgsl): shapes in, a [`Call`] out, bindings in the shader's order.

use super::calls::{grid_1d, Act, Call};
use super::KernelId;

/// Geometry of a window op over NCHW tensors: x [batch, c, h, w] ->
/// y [batch, oc, oh, ow], window kh x kw, stride sh x sw, padding ph, pw at
/// the top and left (the bottom and right follow from oh, ow). For pooling
/// and upsampling oc = c.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowGeom {
    /// Rows per batch.
    pub batch: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub oc: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Window height (conv kernel, pool window).
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride (upsampling: the vertical factor).
    pub sh: usize,
    /// Horizontal stride (upsampling: the horizontal factor).
    pub sw: usize,
    /// Padding at the top.
    pub ph: usize,
    /// Padding at the left.
    pub pw: usize,
}

impl WindowGeom {
    fn words(&self) -> Vec<u32> {
        let g = self;
        [g.batch, g.c, g.h, g.w, g.oc, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, 0, 0, 0]
            .iter()
            .map(|v| *v as u32)
            .collect()
    }

    fn pool_words(&self) -> Vec<u32> {
        let g = self;
        [g.batch, g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw]
            .iter()
            .map(|v| *v as u32)
            .collect()
    }

    /// The geometry as the override constants of window_common.wgsl: the
    /// conv uniform's 13 values under their override names.
    fn overrides(&self) -> Vec<(&'static str, f64)> {
        const NAMES: [&str; 13] =
            ["BATCH", "IN_C", "IN_H", "IN_W", "OUT_C", "OUT_H", "OUT_W", "KH", "KW", "SH", "SW", "PH", "PW"];
        NAMES.into_iter().zip(self.words()).map(|(n, v)| (n, v as f64)).collect()
    }

    /// Elements of the input.
    pub fn in_len(&self) -> usize {
        self.batch * self.c * self.h * self.w
    }

    /// Elements of the output.
    pub fn out_len(&self) -> usize {
        self.batch * self.oc * self.oh * self.ow
    }
}

/// Invocations per workgroup of the convolution kernels (`WG` in conv.wgsl).
const CONV_WG: usize = 64;

/// Invocations per workgroup of a subgroup kernel (`SG_WG` in conv_sg.wgsl
/// and matmul_sg.wgsl) with 4 rows per invocation: enough for `rows`, a
/// multiple of 8, at most 64 (idle subgroups still cost a coroutine each
/// on lavapipe).
pub(super) fn subgroup_wg(rows: usize) -> usize {
    (rows.div_ceil(4).div_ceil(8) * 8).clamp(8, 64)
}

/// Grid, workgroup size and columns per workgroup of a subgroup conv
/// kernel: 4 rows per invocation and [`subgroup_wg`] invocations per
/// workgroup along x (folded into z past 65535 groups), [`subgroup_cols`]
/// columns per workgroup along y.
pub(super) fn subgroup_grid(rows: usize, cols: usize) -> ([u32; 3], usize, usize) {
    let wg = subgroup_wg(rows);
    let sg_cols = subgroup_cols(cols);
    let groups = rows.div_ceil(4 * wg).max(1);
    let (x, z) = if groups <= 65535 { (groups, 1) } else { (65535, groups.div_ceil(65535)) };
    ([x as u32, cols.div_ceil(sg_cols).max(1) as u32, z as u32], wg, sg_cols)
}

/// Columns per workgroup of a subgroup kernel (`SG_COLS`): 16 where there
/// are at least 16 (6 loads per 64 multiply-adds), else 8.
pub(super) fn subgroup_cols(cols: usize) -> usize {
    if cols >= 16 {
        16
    } else {
        8
    }
}

/// Grid of a conv kernel with `rows` x `cols` outputs in 4x4 blocks.
fn conv_grid(rows: usize, cols: usize) -> [u32; 3] {
    let blocks = rows.div_ceil(4) * cols.div_ceil(4);
    // grid_1d counts 256-invocation groups; conv groups have 64
    grid_1d(blocks * (256 / CONV_WG))
}

/// The bindings of a convolution kernel (see conv.wgsl for each kernel's use).
#[derive(Clone, Debug)]
pub struct ConvOperands<B> {
    /// x (forward, backward_weight) or dy (backward_input).
    pub a: B,
    /// w (forward, backward_input) or dy (backward_weight).
    pub b: B,
    /// bias (forward) or its gradient (backward_weight).
    pub bias: Option<B>,
    /// activation output for the fused activation derivative (backward_input).
    pub aux: Option<B>,
    /// y, dx or dw.
    pub out: B,
}

fn conv<B: Clone>(
    kernel: KernelId,
    g: &WindowGeom,
    o: ConvOperands<B>,
    act: Act,
    grad_act: Act,
    accumulate: bool,
    dummy: B,
) -> Call<B> {
    let (rows, cols) = match kernel {
        KernelId::Conv2dForward => (g.batch * g.oh * g.ow, g.oc),
        KernelId::Conv2dBackwardInput => (g.batch * g.h * g.w, g.c),
        _ => (g.oc, g.c * g.kh * g.kw),
    };
    let has_bias = kernel == KernelId::Conv2dForward && o.bias.is_some();
    let bias_grad = kernel == KernelId::Conv2dBackwardWeight && o.bias.is_some();
    Call {
        kernel,
        overrides: [
            ("ACT", act.code()),
            ("GRAD_ACT", grad_act.code()),
            ("HAS_BIAS", has_bias as u32 as f64),
            ("ACCUMULATE", accumulate as u32 as f64),
            ("BIAS_GRAD", bias_grad as u32 as f64),
        ]
        .into_iter()
        .chain(g.overrides())
        .collect(),
        uniform: g.words(),
        bindings: vec![o.a, o.b, o.bias.unwrap_or_else(|| dummy.clone()), o.aux.unwrap_or(dummy), o.out],
        groups: conv_grid(rows, cols),
    }
}

/// y = act(conv2d(x, w) + bias).
pub fn conv2d_forward<B: Clone>(g: &WindowGeom, o: ConvOperands<B>, act: Act, dummy: B) -> Call<B> {
    conv(KernelId::Conv2dForward, g, o, act, Act::None, false, dummy)
}

/// dx (+)= conv2d_transpose(dy, w), times act'(aux) with `grad_act`.
pub fn conv2d_backward_input<B: Clone>(
    g: &WindowGeom,
    o: ConvOperands<B>,
    grad_act: Act,
    accumulate: bool,
    dummy: B,
) -> Call<B> {
    conv(KernelId::Conv2dBackwardInput, g, o, Act::None, grad_act, accumulate, dummy)
}

/// dw (+)= sum over batch and pixels of dy * x-patch; with `bias`, also the
/// bias gradient (sum of dy per output channel).
pub fn conv2d_backward_weight<B: Clone>(
    g: &WindowGeom,
    o: ConvOperands<B>,
    accumulate: bool,
    dummy: B,
) -> Call<B> {
    conv(KernelId::Conv2dBackwardWeight, g, o, Act::None, Act::None, accumulate, dummy)
}

fn pool<B>(
    kernel: KernelId,
    g: &WindowGeom,
    grad_act: Act,
    accumulate: bool,
    bindings: [B; 4],
    n: usize,
) -> Call<B> {
    Call {
        kernel,
        overrides: match kernel {
            KernelId::MaxpoolForward | KernelId::AvgpoolForward | KernelId::UpsampleForward => vec![],
            _ => vec![("GRAD_ACT", grad_act.code()), ("ACCUMULATE", accumulate as u32 as f64)],
        }
        .into_iter()
        .chain(g.overrides())
        .collect(),
        uniform: g.pool_words(),
        bindings: bindings.into(),
        groups: grid_1d(n),
    }
}

/// 2x2 windows at stride 2 without padding over rows of a multiple of 4
/// values: the max pool the `_v4` kernels run (the usual one after a
/// convolution), whose vec4 backward is faster on lavapipe (docs/PERF.md).
fn pool_v4(g: &WindowGeom) -> bool {
    (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == (2, 2, 2, 2, 0, 0) && g.w.is_multiple_of(4)
}

/// The `_v8` max-pool kernels: the `_v4` windows over rows of a multiple of 8.
fn pool_v8(g: &WindowGeom) -> bool {
    pool_v4(g) && g.w.is_multiple_of(8)
}

/// A `_v4` or `_v8` pool call: bindings 5-7 are x (or dy), aux and y (or
/// dx) again, read as vec4, and for `_v8` binding 8 the positions (whole
/// vec4 there: OW is a multiple of 4).
fn with_vec4_views<B: Clone>(mut call: Call<B>, kernel: KernelId, invocations: usize) -> Call<B> {
    if let [src, arg, aux, dst] = call.bindings.as_slice() {
        let mut views = vec![src.clone(), aux.clone(), dst.clone()];
        if matches!(kernel, KernelId::MaxpoolForwardV8 | KernelId::MaxpoolBackwardV8) {
            views.push(arg.clone());
        }
        call.bindings.extend(views);
    }
    call.kernel = kernel;
    call.groups = grid_1d(invocations);
    call
}

/// y = max over each window; `argmax` gets the in-plane index of each maximum.
pub fn maxpool_forward<B: Clone>(g: &WindowGeom, x: B, argmax: B, y: B, dummy: B) -> Call<B> {
    let call = pool(KernelId::MaxpoolForward, g, Act::None, false, [x, argmax, dummy, y], g.out_len());
    if pool_v8(g) {
        return with_vec4_views(call, KernelId::MaxpoolForwardV8, g.out_len() / 4);
    }
    if pool_v4(g) {
        return with_vec4_views(call, KernelId::MaxpoolForwardV4, g.out_len() / 2);
    }
    call
}

/// dx (+)= dy sent to each window's maximum, times act'(aux) with `grad_act`.
#[allow(clippy::too_many_arguments)] // the kernel's own binding list
pub fn maxpool_backward<B: Clone>(
    g: &WindowGeom,
    grad_act: Act,
    accumulate: bool,
    dy: B,
    argmax: B,
    aux: Option<B>,
    dx: B,
    dummy: B,
) -> Call<B> {
    let aux = aux.unwrap_or_else(|| dummy.clone());
    let call = pool(KernelId::MaxpoolBackward, g, grad_act, accumulate, [dy, argmax, aux, dx], g.in_len());
    if pool_v8(g) {
        return with_vec4_views(call, KernelId::MaxpoolBackwardV8, g.in_len() / 8);
    }
    if pool_v4(g) {
        return with_vec4_views(call, KernelId::MaxpoolBackwardV4, g.in_len() / 4);
    }
    call
}

/// y = mean over each window's input positions (padding not counted).
pub fn avgpool_forward<B: Clone>(g: &WindowGeom, x: B, y: B, dummy: B) -> Call<B> {
    pool(KernelId::AvgpoolForward, g, Act::None, false, [x, dummy.clone(), dummy, y], g.out_len())
}

/// The backward of a pool without saved positions (average pool,
/// upsampling): bindings dy, unused, aux, dx over the input.
#[allow(clippy::too_many_arguments)] // the kernel's own binding list
fn gather_backward<B: Clone>(
    kernel: KernelId,
    g: &WindowGeom,
    grad_act: Act,
    accumulate: bool,
    dy: B,
    aux: Option<B>,
    dx: B,
    dummy: B,
) -> Call<B> {
    let aux = aux.unwrap_or_else(|| dummy.clone());
    pool(kernel, g, grad_act, accumulate, [dy, dummy, aux, dx], g.in_len())
}

/// dx (+)= each window's dy / its count, times act'(aux) with `grad_act`.
pub fn avgpool_backward<B: Clone>(
    g: &WindowGeom,
    grad_act: Act,
    accumulate: bool,
    dy: B,
    aux: Option<B>,
    dx: B,
    dummy: B,
) -> Call<B> {
    gather_backward(KernelId::AvgpoolBackward, g, grad_act, accumulate, dy, aux, dx, dummy)
}

/// Nearest-neighbour upsampling by (sh, sw): oh = h * sh, ow = w * sw.
pub fn upsample_forward<B: Clone>(g: &WindowGeom, x: B, y: B, dummy: B) -> Call<B> {
    pool(KernelId::UpsampleForward, g, Act::None, false, [x, dummy.clone(), dummy, y], g.out_len())
}

/// dx (+)= sum of dy over each input's sh x sw copies, times act'(aux).
pub fn upsample_backward<B: Clone>(
    g: &WindowGeom,
    grad_act: Act,
    accumulate: bool,
    dy: B,
    aux: Option<B>,
    dx: B,
    dummy: B,
) -> Call<B> {
    gather_backward(KernelId::UpsampleBackward, g, grad_act, accumulate, dy, aux, dx, dummy)
}

/// Shape and settings of a batch-norm call: x [batch, c, s].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormGeom {
    /// Rows per batch.
    pub batch: usize,
    /// Channels (features for [batch, c]).
    pub c: usize,
    /// Values per channel and row (h * w; 1 for [batch, c]).
    pub s: usize,
    /// Added to the variance.
    pub eps: f32,
    /// Weight of the batch statistics in the running statistics.
    pub momentum: f32,
}

impl NormGeom {
    fn words(&self) -> Vec<u32> {
        vec![
            self.batch as u32,
            self.c as u32,
            self.s as u32,
            0,
            self.eps.to_bits(),
            self.momentum.to_bits(),
            0,
            0,
        ]
    }
}

/// The bindings of the batch-norm forward kernels.
pub struct NormForward<B> {
    /// batch [1 + rows] (valid count first).
    pub batch: B,
    /// x [batch, c, s].
    pub x: B,
    /// gamma \[c\].
    pub gamma: B,
    /// beta \[c\].
    pub beta: B,
    /// running mean \[c\].
    pub running_mean: B,
    /// running variance \[c\].
    pub running_var: B,
    /// saved \[2c\]: mean, inv_std per channel (training only).
    pub saved: B,
    /// y [batch, c, s].
    pub y: B,
}

/// Training-mode batch norm: batch statistics, saved for the backward; the
/// running statistics are updated with `update_running`.
pub fn batchnorm_forward_train<B>(
    g: &NormGeom,
    act: Act,
    update_running: bool,
    o: NormForward<B>,
) -> Call<B> {
    Call {
        kernel: KernelId::BatchnormForwardTrain,
        overrides: vec![("ACT", act.code()), ("UPDATE_RUNNING", update_running as u32 as f64)],
        uniform: g.words(),
        bindings: vec![o.batch, o.x, o.gamma, o.beta, o.running_mean, o.running_var, o.saved, o.y],
        groups: [g.c as u32, 1, 1],
    }
}

/// Eval-mode batch norm with the running statistics (`saved` unused).
pub fn batchnorm_forward_eval<B>(g: &NormGeom, act: Act, o: NormForward<B>) -> Call<B> {
    Call {
        kernel: KernelId::BatchnormForwardEval,
        overrides: vec![("ACT", act.code())],
        uniform: g.words(),
        bindings: vec![o.batch, o.x, o.gamma, o.beta, o.running_mean, o.running_var, o.saved, o.y],
        groups: grid_1d(g.batch * g.c * g.s),
    }
}

/// The bindings of the batch-norm backward with running statistics.
pub struct NormBackwardEval<B> {
    /// batch [1 + rows].
    pub batch: B,
    /// x [batch, c, s] (the forward input; not read).
    pub x: B,
    /// gamma \[c\].
    pub gamma: B,
    /// dL/dy [batch, c, s] (pre-activation when the forward had one).
    pub dy: B,
    /// running mean \[c\] (not read).
    pub running_mean: B,
    /// running variance \[c\].
    pub running_var: B,
    /// dL/dx [batch, c, s] (written, or added to).
    pub dx: B,
}

/// dx = dy * gamma / sqrt(running var + eps): the backward of
/// [`batchnorm_forward_eval`], for gradients of trained models.
pub fn batchnorm_backward_eval<B: Clone>(g: &NormGeom, accumulate: bool, o: NormBackwardEval<B>) -> Call<B> {
    Call {
        kernel: KernelId::BatchnormBackwardEval,
        overrides: vec![("ACCUMULATE", accumulate as u32 as f64)],
        uniform: g.words(),
        bindings: vec![
            o.batch,
            o.x,
            o.gamma,
            o.dy,
            o.running_mean,
            o.running_var.clone(),
            o.running_var,
            o.dx,
        ],
        groups: grid_1d(g.batch * g.c * g.s),
    }
}

/// The bindings of the batch-norm backward.
pub struct NormBackward<B> {
    /// batch [1 + rows].
    pub batch: B,
    /// x [batch, c, s] (the forward input).
    pub x: B,
    /// gamma \[c\].
    pub gamma: B,
    /// dL/dy [batch, c, s] (pre-activation when the forward had one).
    pub dy: B,
    /// saved \[2c\] from the training forward.
    pub saved: B,
    /// dL/dgamma \[c\].
    pub dgamma: B,
    /// dL/dbeta \[c\].
    pub dbeta: B,
    /// dL/dx [batch, c, s].
    pub dx: B,
}

/// Batch-norm backward through the batch statistics.
pub fn batchnorm_backward<B>(
    g: &NormGeom,
    accumulate_params: bool,
    accumulate: bool,
    o: NormBackward<B>,
) -> Call<B> {
    Call {
        kernel: KernelId::BatchnormBackward,
        overrides: vec![
            ("ACCUMULATE", accumulate as u32 as f64),
            ("ACCUMULATE_PARAMS", accumulate_params as u32 as f64),
        ],
        uniform: g.words(),
        bindings: vec![o.batch, o.x, o.gamma, o.dy, o.saved, o.dgamma, o.dbeta, o.dx],
        groups: [g.c as u32, 1, 1],
    }
}

//! One host fn per WGSL entry point, same name: shapes in, a [`Call`] out.
//!
//! A `Call<B>` is generic over how a binding is named: graph tensor references
//! while a program is compiled, buffer [`Slice`](super::Slice)s in kernel
//! tests. Bindings are listed in the shader's order, starting at binding 1
//! (binding 0 is always the uniform of sizes).

use super::KernelId;

/// Invocations per workgroup of the 1-D kernels (`WG_1D` in common.wgsl).
pub const WG_1D: u32 = 256;
/// Edge of the C tile one matmul workgroup covers (8x8 invocations, 4x4 each).
pub const MATMUL_TILE: u32 = 32;
/// Largest workgroup count along x before a 1-D grid is folded into 2-D.
const MAX_GROUPS_X: u32 = 65535;

/// Activation codes, as in shaders/common.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Identity.
    None = 0,
    /// max(x, 0).
    Relu = 1,
    /// x for x > 0, 0.01 x otherwise.
    LeakyRelu = 2,
    /// 1 / (1 + e^-x).
    Sigmoid = 3,
    /// tanh(x).
    Tanh = 4,
}

impl Act {
    /// The code the shaders use.
    pub fn code(self) -> f64 {
        self as u32 as f64
    }

    /// Parses `relu`, `leaky_relu`, `sigmoid`, `tanh`, `none`/`linear`.
    pub fn parse(s: &str) -> Option<Act> {
        match s.trim().to_lowercase().as_str() {
            "none" | "linear" | "identity" => Some(Act::None),
            "relu" => Some(Act::Relu),
            "leaky_relu" | "leakyrelu" => Some(Act::LeakyRelu),
            "sigmoid" => Some(Act::Sigmoid),
            "tanh" => Some(Act::Tanh),
            _ => None,
        }
    }
}

/// A kernel invocation before buffers exist: what to specialize, the uniform
/// words, the bindings (from binding 1 on) and the grid.
#[derive(Clone, Debug)]
pub struct Call<B> {
    /// The entry point.
    pub kernel: KernelId,
    /// WGSL override constants.
    pub overrides: Vec<(&'static str, f64)>,
    /// Words of the uniform at binding 0 (u32 or f32 bits).
    pub uniform: Vec<u32>,
    /// Storage bindings 1.. in order.
    pub bindings: Vec<B>,
    /// Workgroups in x, y, z.
    pub groups: [u32; 3],
}

impl<B> Call<B> {
    /// The same call with every binding mapped through `f`.
    pub fn map<C, E>(&self, mut f: impl FnMut(&B) -> Result<C, E>) -> Result<Call<C>, E> {
        Ok(Call {
            kernel: self.kernel,
            overrides: self.overrides.clone(),
            uniform: self.uniform.clone(),
            bindings: self.bindings.iter().map(&mut f).collect::<Result<_, E>>()?,
            groups: self.groups,
        })
    }
}

/// Grid for `n` invocations of a 1-D kernel, folded into 2-D past 65535 groups.
pub fn grid_1d(n: usize) -> [u32; 3] {
    let groups = (n as u64).div_ceil(WG_1D as u64).max(1);
    if groups <= MAX_GROUPS_X as u64 {
        [groups as u32, 1, 1]
    } else {
        [MAX_GROUPS_X, groups.div_ceil(MAX_GROUPS_X as u64) as u32, 1]
    }
}

/// Epilogue options of the matmul kernels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epilogue {
    /// Activation applied to the result (forward).
    pub act: Act,
    /// Multiply by act'(aux) (fused activation backward); `None` for no aux.
    pub grad_act: Act,
    /// Add into the output instead of overwriting it.
    pub accumulate: bool,
}

impl Epilogue {
    /// Plain store.
    pub const PLAIN: Epilogue = Epilogue { act: Act::None, grad_act: Act::None, accumulate: false };
}

/// The operands of a matmul call. `bias` and `aux` take a dummy binding when unused.
pub struct MatmulOperands<B> {
    /// op(A) operand.
    pub a: B,
    /// op(B) operand.
    pub b: B,
    /// bias \[N\] (read, forward) or bias gradient \[N\] (written, matmul_tn).
    pub bias: Option<B>,
    /// activation output whose derivative is multiplied in (GRAD_ACT).
    pub aux: Option<B>,
    /// output C [M, N].
    pub c: B,
}

fn matmul<B: Clone>(
    kernel: KernelId,
    m: usize,
    n: usize,
    k: usize,
    ops: MatmulOperands<B>,
    epi: Epilogue,
    dummy: B,
) -> Call<B> {
    let bias_grad = kernel == KernelId::MatmulTn && ops.bias.is_some();
    let has_bias = kernel != KernelId::MatmulTn && ops.bias.is_some();
    let rows = m;
    Call {
        kernel,
        overrides: vec![
            ("ACT", epi.act.code()),
            ("GRAD_ACT", epi.grad_act.code()),
            ("HAS_BIAS", has_bias as u32 as f64),
            ("ACCUMULATE", epi.accumulate as u32 as f64),
            ("BIAS_GRAD", bias_grad as u32 as f64),
        ],
        uniform: vec![m as u32, n as u32, k as u32, 0],
        bindings: vec![
            ops.a,
            ops.b,
            ops.bias.unwrap_or_else(|| dummy.clone()),
            ops.aux.unwrap_or(dummy),
            ops.c,
        ],
        groups: [(n as u32).div_ceil(MATMUL_TILE).max(1), (rows as u32).div_ceil(MATMUL_TILE).max(1), 1],
    }
}

/// C\[M,N\] = A\[M,K\] · B\[K,N\] (+ bias) with the epilogue.
pub fn matmul_nn<B: Clone>(
    m: usize,
    n: usize,
    k: usize,
    ops: MatmulOperands<B>,
    epi: Epilogue,
    dummy: B,
) -> Call<B> {
    matmul(KernelId::MatmulNn, m, n, k, ops, epi, dummy)
}

/// C\[M,N\] = A\[M,K\] · B\[N,K\]^T with the epilogue.
pub fn matmul_nt<B: Clone>(
    m: usize,
    n: usize,
    k: usize,
    ops: MatmulOperands<B>,
    epi: Epilogue,
    dummy: B,
) -> Call<B> {
    matmul(KernelId::MatmulNt, m, n, k, ops, epi, dummy)
}

/// C\[M,N\] = A\[K,M\]^T · B\[K,N\]; with `bias` set, also the column sums of B into bias.
pub fn matmul_tn<B: Clone>(
    m: usize,
    n: usize,
    k: usize,
    ops: MatmulOperands<B>,
    epi: Epilogue,
    dummy: B,
) -> Call<B> {
    matmul(KernelId::MatmulTn, m, n, k, ops, epi, dummy)
}

fn elementwise<B>(kernel: KernelId, n: usize, act: Act, accumulate: bool, x: B, y: B, out: B) -> Call<B> {
    Call {
        kernel,
        overrides: vec![("ACT", act.code()), ("ACCUMULATE", accumulate as u32 as f64)],
        uniform: vec![n as u32, 0, 0, 0],
        bindings: vec![x, y, out],
        groups: grid_1d(n),
    }
}

/// out\[n\] = act(x\[n\]).
pub fn activation_forward<B: Clone>(n: usize, act: Act, x: B, out: B, dummy: B) -> Call<B> {
    elementwise(KernelId::ActivationForward, n, act, false, x, dummy, out)
}

/// out\[n\] (+)= dy\[n\] * act'(y\[n\]).
pub fn activation_backward<B>(n: usize, act: Act, accumulate: bool, dy: B, y: B, out: B) -> Call<B> {
    elementwise(KernelId::ActivationBackward, n, act, accumulate, dy, y, out)
}

/// out\[n\] (+)= x\[n\].
pub fn add_into<B: Clone>(n: usize, accumulate: bool, x: B, out: B, dummy: B) -> Call<B> {
    elementwise(KernelId::AddInto, n, Act::None, accumulate, x, dummy, out)
}

fn rows_call<B>(kernel: KernelId, rows: usize, cols: usize, accumulate: bool, x: B, y: B, out: B) -> Call<B> {
    Call {
        kernel,
        overrides: vec![("ACCUMULATE", accumulate as u32 as f64)],
        uniform: vec![rows as u32, cols as u32, 0, 0],
        bindings: vec![x, y, out],
        groups: [(rows as u32).div_ceil(64).max(1), 1, 1],
    }
}

/// out[rows, cols] = softmax of each row of x.
pub fn softmax_forward<B: Clone>(rows: usize, cols: usize, x: B, out: B, dummy: B) -> Call<B> {
    rows_call(KernelId::SoftmaxForward, rows, cols, false, x, dummy, out)
}

/// out (+)= y * (dy - rowsum(dy * y)).
pub fn softmax_backward<B>(rows: usize, cols: usize, accumulate: bool, dy: B, y: B, out: B) -> Call<B> {
    rows_call(KernelId::SoftmaxBackward, rows, cols, accumulate, dy, y, out)
}

/// The bindings of a loss kernel.
pub struct LossOperands<B> {
    /// batch [1 + rows] (count, row ids).
    pub batch: B,
    /// targets [N, tcols] of the whole data set.
    pub targets: B,
    /// logits [rows, cols].
    pub logits: B,
    /// dL/dlogits [rows, cols] (written).
    pub grad: B,
    /// stats \[2\] (accumulated).
    pub stats: B,
}

/// Invocations of a loss kernel's one workgroup for a batch of `rows`: a
/// power of two from 8 to 256, one row each where the batch allows (on
/// lavapipe every 8 invocations are a coroutine that each of the tree
/// sum's barriers switches through, working or not).
pub fn loss_workgroup(rows: usize) -> u32 {
    rows.next_power_of_two().clamp(8, 256) as u32
}

fn loss<B>(kernel: KernelId, rows: usize, cols: usize, tcols: usize, o: LossOperands<B>) -> Call<B> {
    Call {
        kernel,
        overrides: vec![("WG", loss_workgroup(rows) as f64)],
        uniform: vec![rows as u32, cols as u32, tcols as u32, 0],
        bindings: vec![o.batch, o.targets, o.logits, o.grad, o.stats],
        groups: [1, 1, 1],
    }
}

/// Mean squared error, value and gradient.
pub fn mse_loss<B>(rows: usize, cols: usize, tcols: usize, o: LossOperands<B>) -> Call<B> {
    loss(KernelId::MseLoss, rows, cols, tcols, o)
}

/// Binary cross-entropy on logits, value and gradient.
pub fn bce_with_logits_loss<B>(rows: usize, cols: usize, tcols: usize, o: LossOperands<B>) -> Call<B> {
    loss(KernelId::BceWithLogitsLoss, rows, cols, tcols, o)
}

/// Softmax cross-entropy with integer labels, value and gradient.
pub fn softmax_cross_entropy_loss<B>(rows: usize, cols: usize, tcols: usize, o: LossOperands<B>) -> Call<B> {
    loss(KernelId::SoftmaxCrossEntropyLoss, rows, cols, tcols, o)
}

/// The explained output (value: the sum of each row's chosen logit;
/// gradient: 1 at that logit), for attributions.
pub fn output_score<B>(rows: usize, cols: usize, tcols: usize, o: LossOperands<B>) -> Call<B> {
    loss(KernelId::OutputScore, rows, cols, tcols, o)
}

/// Optimizer hyper-parameters as the optimizer uniform lays them out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimUniform {
    /// f32 count of the arena.
    pub n: u32,
    /// AdamW when true.
    pub decoupled: bool,
    /// Learning rate of this step.
    pub lr: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Adam beta1.
    pub beta1: f32,
    /// Adam beta2.
    pub beta2: f32,
    /// Adam epsilon.
    pub eps: f32,
    /// 1 - beta1^t.
    pub bc1: f32,
    /// 1 - beta2^t.
    pub bc2: f32,
    /// Fused forms: clip the gradients to this norm (with `clip`).
    pub max_norm: f32,
    /// Fused forms: after a bad step, skip every later one.
    pub stop: bool,
}

impl OptimUniform {
    /// The 12 uniform words.
    pub fn words(&self) -> Vec<u32> {
        vec![
            self.n,
            self.decoupled as u32,
            self.lr.to_bits(),
            self.weight_decay.to_bits(),
            self.momentum.to_bits(),
            self.beta1.to_bits(),
            self.beta2.to_bits(),
            self.eps.to_bits(),
            self.bc1.to_bits(),
            self.bc2.to_bits(),
            self.max_norm.to_bits(),
            self.stop as u32,
        ]
    }
}

/// Values each optimizer invocation updates (one vec4 in optim.wgsl: every
/// optimizer buffer holds `n` rounded up to a multiple of 4 values, as the
/// arena does).
pub const OPTIM_ITEMS: usize = 4;

/// SGD with momentum and weight decay over the whole arena. The gradients are
/// scaled by guard\[0\] and the step is skipped when guard\[2\] is set (see [`grad_guard`]).
pub fn sgd_step<B: Clone>(h: &OptimUniform, params: B, grads: B, velocity: B, guard: B, dummy: B) -> Call<B> {
    Call {
        kernel: KernelId::SgdStep,
        overrides: vec![],
        uniform: h.words(),
        bindings: vec![params, grads, velocity, dummy.clone(), guard, dummy.clone(), dummy],
        groups: grid_1d((h.n as usize).div_ceil(OPTIM_ITEMS)),
    }
}

/// Adam / AdamW over the whole arena; `guard` as for [`sgd_step`].
pub fn adam_step<B: Clone>(h: &OptimUniform, params: B, grads: B, m: B, v: B, guard: B, dummy: B) -> Call<B> {
    Call {
        kernel: KernelId::AdamStep,
        overrides: vec![],
        uniform: h.words(),
        bindings: vec![params, grads, m, v, guard, dummy.clone(), dummy],
        groups: grid_1d((h.n as usize).div_ceil(OPTIM_ITEMS)),
    }
}

/// The buffers of a fused optimizer step (guard and update in one workgroup).
#[derive(Clone, Debug)]
pub struct FusedStepOperands<B> {
    /// Parameter arena.
    pub params: B,
    /// Gradient arena.
    pub grads: B,
    /// First moment (Adam) or velocity (SGD).
    pub m: B,
    /// Second moment (Adam; any buffer for SGD).
    pub v: B,
    /// guard \[4\] (written).
    pub guard: B,
    /// stats \[4\] (bad-step counters).
    pub stats: B,
    /// step \[4\].
    pub step: B,
}

fn fused<B>(kernel: KernelId, h: &OptimUniform, clip: bool, o: FusedStepOperands<B>) -> Call<B> {
    Call {
        kernel,
        overrides: vec![("CLIP", clip as u32 as f64)],
        uniform: h.words(),
        bindings: vec![o.params, o.grads, o.m, o.v, o.guard, o.stats, o.step],
        groups: [1, 1, 1],
    }
}

/// [`grad_guard`] and [`sgd_step`] in one dispatch of one workgroup (arenas
/// up to [`GUARD_SINGLE_MAX`] values), with the same results (the norm within rounding).
pub fn sgd_step_fused<B>(h: &OptimUniform, clip: bool, o: FusedStepOperands<B>) -> Call<B> {
    fused(KernelId::SgdStepFused, h, clip, o)
}

/// [`grad_guard`] and [`adam_step`] in one dispatch of one workgroup.
pub fn adam_step_fused<B>(h: &OptimUniform, clip: bool, o: FusedStepOperands<B>) -> Call<B> {
    fused(KernelId::AdamStepFused, h, clip, o)
}

/// Values each grad_norm_partial workgroup reduces (WG * ITEMS vec4 in guard.wgsl).
pub const NORM_CHUNK: usize = 64 * 16 * 4;

/// Arenas up to this many values are guarded and updated by one workgroup
/// ([`adam_step_fused`], [`sgd_step_fused`]): one dispatch instead of three.
pub const GUARD_SINGLE_MAX: usize = 1 << 16;

/// Number of partial sums [`grad_norm_partial`] writes for `n` values.
pub fn norm_partials(n: usize) -> usize {
    n.div_ceil(NORM_CHUNK).max(1)
}

/// The buffers of the two guard kernels.
#[derive(Clone, Debug)]
pub struct GuardOperands<B> {
    /// grads \[n\].
    pub grads: B,
    /// partials [norm_partials(n)].
    pub partials: B,
    /// stats \[4\] (bad-step counters at 2 and 3).
    pub stats: B,
    /// step \[4\].
    pub step: B,
    /// guard \[4\]: factor, norm, skip flag.
    pub guard: B,
}

fn guard_call<B>(kernel: KernelId, n: usize, clip: Option<f32>, stop: bool, o: GuardOperands<B>) -> Call<B> {
    let parts = norm_partials(n);
    Call {
        kernel,
        overrides: vec![("CLIP", clip.is_some() as u32 as f64)],
        uniform: vec![n as u32, parts as u32, clip.unwrap_or(0.0).to_bits(), stop as u32],
        bindings: vec![o.grads, o.partials, o.stats, o.step, o.guard],
        groups: [if kernel == KernelId::GradNormPartial { parts as u32 } else { 1 }, 1, 1],
    }
}

/// partials\[g\] = sum of grads^2 over chunk g.
pub fn grad_norm_partial<B>(n: usize, o: GuardOperands<B>) -> Call<B> {
    guard_call(KernelId::GradNormPartial, n, None, false, o)
}

/// guard = [min(1, clip / norm) (1 without clip), norm, skip] from
/// [`grad_norm_partial`]'s partials. Skip when the norm is not finite (or,
/// with `stop`, after any earlier bad step), counted in stats\[2\] with the
/// first bad step in stats\[3\].
pub fn grad_guard<B>(n: usize, clip: Option<f32>, stop: bool, o: GuardOperands<B>) -> Call<B> {
    guard_call(KernelId::GradGuard, n, clip, stop, o)
}

/// The uniform of a dropout call.
#[derive(Clone, Copy, Debug)]
pub struct DropoutParams {
    /// Elements.
    pub n: usize,
    /// Run seed (low 32 bits).
    pub seed: u32,
    /// Stream of this layer, so layers draw different masks.
    pub layer: u32,
    /// Drop probability in [0, 1).
    pub p: f32,
}

fn dropout<B>(kernel: KernelId, d: DropoutParams, accumulate: bool, step: B, x: B, out: B) -> Call<B> {
    Call {
        kernel,
        overrides: vec![("ACCUMULATE", accumulate as u32 as f64)],
        uniform: vec![d.n as u32, d.seed, d.layer, d.p.to_bits()],
        bindings: vec![step, x, out],
        groups: grid_1d(d.n),
    }
}

/// out = x * keep / (1 - p), keep drawn from (seed, step\[0\], layer, i).
pub fn dropout_forward<B>(d: DropoutParams, step: B, x: B, out: B) -> Call<B> {
    dropout(KernelId::DropoutForward, d, false, step, x, out)
}

/// out (+)= dy * keep / (1 - p) with the same draws as the forward.
pub fn dropout_backward<B>(d: DropoutParams, accumulate: bool, step: B, dy: B, out: B) -> Call<B> {
    dropout(KernelId::DropoutBackward, d, accumulate, step, dy, out)
}

/// out[rows, cols] = data[batch[1 + r], :].
pub fn gather_rows<B>(rows: usize, cols: usize, batch: B, data: B, out: B) -> Call<B> {
    Call {
        kernel: KernelId::GatherRows,
        overrides: vec![],
        uniform: vec![rows as u32, cols as u32, 0, 0],
        bindings: vec![batch, data, out],
        groups: grid_1d(rows * cols),
    }
}

//! A compiled program: every buffer, pipeline and bind group created once,
//! then replayed (see [`super::run`] for the replays). A training step is one
//! command buffer and one submit: two small copies (the batch's row ids and
//! the step's optimizer uniform and step counter, all uploaded once per
//! epoch) and one compute pass holding the forward, loss, backward, optional
//! gradient guard and optimizer dispatches.

use super::autodiff::{lower, GradRequest, Pass, Ref};
use super::config::{
    GpuDataset, MemoryReport, Mode, NonFinitePolicy, Optimizer, OptimizerConfig, ProgramOptions,
};
use super::plan::{plan_activations, ActivationPlan};
use super::{Class, Graph, ParamStore, TensorId, TensorInfo};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::{self, Call, Dispatch, PipelineCache, Slice};
use std::sync::Arc;

/// Words of one step's row in the schedule buffer: the 12 optimizer uniform
/// words, then the step counter (4 words, word 0 used).
pub(crate) const OPT_WORDS: usize = 12;
pub(crate) const SCHED_WORDS: usize = 16;

/// A compiled graph, ready to replay.
pub struct Program {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) params: Arc<ParamStore>,
    pub(crate) data: Arc<GpuDataset>,
    pub(crate) dispatches: Vec<Dispatch>,
    pub(crate) batch: usize,
    pub(crate) batch_buf: wgpu::Buffer,
    pub(crate) stats_buf: wgpu::Buffer,
    pub(crate) uniform_buf: wgpu::Buffer,
    pub(crate) act_buf: wgpu::Buffer,
    pub(crate) grads_buf: Option<wgpu::Buffer>,
    pub(crate) step_buf: wgpu::Buffer,
    pub(crate) guard_buf: wgpu::Buffer,
    pub(crate) state: Vec<wgpu::Buffer>,
    _buffers: Vec<wgpu::Buffer>,
    /// The optimizer and the byte offset of its uniform slot.
    pub(crate) optimizer: Option<(OptimizerConfig, u64)>,
    pub(crate) step: u64,
    pub(crate) order_buf: Option<(wgpu::Buffer, usize)>,
    pub(crate) sched_buf: Option<(wgpu::Buffer, usize)>,
    /// Readback buffers kept between calls, so replays allocate nothing.
    pub(crate) stats_readback: wgpu::Buffer,
    pub(crate) predict_readback: Option<wgpu::Buffer>,
    /// Inference outputs: name, byte offset in the activation arena, f32 count.
    pub(crate) outputs: Vec<(String, u64, usize)>,
    pub(crate) input_grad: Option<(u64, usize)>,
    /// The kept layer's value and gradient (offset, length) in the activations.
    pub(crate) layer: Option<((u64, usize), (u64, usize))>,
    memory: MemoryReport,
    /// CPU time spent recording the last call's steps (encoder to finished
    /// command buffer, submit and waits excluded), µs per step.
    pub encode_us_per_step: f64,
}

/// Buffers a compiled program binds, by [`Ref`].
struct Buffers<'a> {
    params: &'a ParamStore,
    data: &'a GpuDataset,
    tensors: &'a [TensorInfo],
    plan: &'a ActivationPlan,
    act: &'a wgpu::Buffer,
    grads: Option<&'a wgpu::Buffer>,
    state: &'a [wgpu::Buffer],
    batch: (&'a wgpu::Buffer, u64),
    stats: &'a wgpu::Buffer,
    step: &'a wgpu::Buffer,
    guard_partials: &'a wgpu::Buffer,
    guard: &'a wgpu::Buffer,
    dummy: &'a wgpu::Buffer,
}

impl<'a> Buffers<'a> {
    fn param_offset(&self, t: TensorId) -> Result<u64> {
        let info = &self.tensors[t.0];
        Ok((self.params.entry(&info.name, &info.shape)?.offset * 4) as u64)
    }

    fn grads(&self) -> Result<&'a wgpu::Buffer> {
        self.grads.ok_or_else(|| Error::Model("no gradient arena".into()))
    }

    fn resolve(&self, r: &Ref) -> Result<Slice<'a>> {
        let whole = |buffer: &'a wgpu::Buffer| Slice { buffer, offset: 0, size: buffer.size() };
        let arena = (self.params.len * 4) as u64;
        Ok(match *r {
            Ref::T(t) => {
                let size = (self.tensors[t.0].len() * 4) as u64;
                match self.tensors[t.0].class {
                    Class::Param(_) | Class::State(_) => {
                        Slice { buffer: &self.params.buffer, offset: self.param_offset(t)?, size }
                    }
                    Class::ParamGrad(p) => {
                        Slice { buffer: self.grads()?, offset: self.param_offset(p)?, size }
                    }
                    Class::Activation | Class::Input => {
                        let off = self.plan.offsets[t.0].ok_or_else(|| {
                            Error::Model(format!("tensor '{}' was not planned", self.tensors[t.0].name))
                        })?;
                        Slice { buffer: self.act, offset: (off * 4) as u64, size }
                    }
                }
            }
            Ref::Batch => Slice { buffer: self.batch.0, offset: 0, size: self.batch.1 },
            Ref::Features => whole(&self.data.features),
            Ref::Targets => whole(&self.data.targets),
            Ref::Stats => whole(self.stats),
            Ref::Params => Slice { buffer: &self.params.buffer, offset: 0, size: arena },
            Ref::Grads => Slice { buffer: self.grads()?, offset: 0, size: arena },
            Ref::StateM | Ref::StateV => {
                let i = if *r == Ref::StateM { 0 } else { 1 };
                let s = self.state.get(i).ok_or_else(|| Error::Model("no optimizer state".into()))?;
                Slice { buffer: s, offset: 0, size: arena }
            }
            Ref::Step => whole(self.step),
            Ref::GuardPartials => whole(self.guard_partials),
            Ref::Guard => whole(self.guard),
            Ref::Dummy => whole(self.dummy),
        })
    }
}

/// The gradient guard (norm, clipping, non-finite check) and the optimizer's
/// call for a parameter arena of `n` f32.
fn optimizer_calls(cfg: &OptimizerConfig, n: usize) -> Vec<Call<Ref>> {
    // step 0 placeholder: the step's own words are copied in before each replay
    let h = cfg.uniform(n, cfg.lr, 0);
    if n <= kernels::GUARD_SINGLE_MAX {
        // one workgroup guards and updates: one dispatch
        let o = kernels::FusedStepOperands {
            params: Ref::Params,
            grads: Ref::Grads,
            m: Ref::StateM,
            v: if cfg.kind == Optimizer::Sgd { Ref::StateM } else { Ref::StateV },
            guard: Ref::Guard,
            stats: Ref::Stats,
            step: Ref::Step,
        };
        let clip = cfg.clip_grad_norm.is_some();
        return vec![match cfg.kind {
            Optimizer::Sgd => kernels::sgd_step_fused(&h, clip, o),
            _ => kernels::adam_step_fused(&h, clip, o),
        }];
    }
    let o = kernels::GuardOperands {
        grads: Ref::Grads,
        partials: Ref::GuardPartials,
        stats: Ref::Stats,
        step: Ref::Step,
        guard: Ref::Guard,
    };
    let stop = cfg.on_nonfinite == NonFinitePolicy::Stop;
    let mut calls =
        vec![kernels::grad_norm_partial(n, o.clone()), kernels::grad_guard(n, cfg.clip_grad_norm, stop, o)];
    calls.push(match cfg.kind {
        Optimizer::Sgd => kernels::sgd_step(&h, Ref::Params, Ref::Grads, Ref::StateM, Ref::Guard, Ref::Dummy),
        _ => {
            kernels::adam_step(&h, Ref::Params, Ref::Grads, Ref::StateM, Ref::StateV, Ref::Guard, Ref::Dummy)
        }
    });
    calls
}

/// A program planned on the CPU: every call (optimizer included), the
/// activation plan, the uniform layout and outputs; nothing allocated.
pub(crate) struct ProgramPlan {
    pass: Pass,
    low: super::autodiff::Lowered,
    plan: ActivationPlan,
    named_outputs: Vec<(String, TensorId)>,
    /// All uniform words, one aligned slot per call.
    uniform_bytes: Vec<u8>,
    /// (offset, size) of each call's uniform slot.
    slots: Vec<(u64, u64)>,
    /// Exactly what compiling it allocates.
    pub(crate) memory: MemoryReport,
}

/// Lays the calls' uniforms out in slots aligned for dynamic-free binding.
fn uniform_layout(calls: &[Call<Ref>], limits: &wgpu::Limits) -> (Vec<u8>, Vec<(u64, u64)>) {
    let ualign = limits.min_uniform_buffer_offset_alignment.max(16) as usize;
    let mut bytes: Vec<u8> = Vec::new();
    let mut slots = Vec::new();
    for c in calls {
        let off = bytes.len().div_ceil(ualign) * ualign;
        bytes.resize(off, 0);
        let mut words = c.uniform.clone();
        words.resize(words.len().max(4).div_ceil(4) * 4, 0);
        bytes.extend_from_slice(bytemuck::cast_slice(&words));
        slots.push((off as u64, (words.len() * 4) as u64));
    }
    bytes.resize(bytes.len().max(16), 0);
    (bytes, slots)
}

/// Bytes of the small fixed buffers of every program: stats, step and guard
/// (16 each), the stats readback (16) and the dummy binding (256).
const FIXED_BYTES: u64 = 16 * 4 + 256;

/// Plans `graph` for `mode` without touching the GPU, checking every tensor
/// against the adapter's largest storage binding.
pub(crate) fn plan_program(
    graph: &Graph,
    mode: Mode,
    tcols: usize,
    params_len: usize,
    limits: &wgpu::Limits,
    variants: kernels::Variants,
) -> Result<ProgramPlan> {
    let (pass, want_input_grad) = match mode {
        Mode::LayerGradient(_) => (Pass::ForwardBackward, false),
        Mode::Inference => (Pass::Forward, false),
        Mode::Train(_) => (Pass::ForwardBackward, false),
        Mode::Gradients { input_grad } => (Pass::ForwardBackward, input_grad),
        Mode::InputGradient => (Pass::ForwardBackward, true),
    };
    let update_state = matches!(mode, Mode::Train(_));
    let grads = GradRequest {
        input: want_input_grad,
        params: !matches!(mode, Mode::InputGradient | Mode::LayerGradient(_)),
        layer: match mode {
            Mode::LayerGradient(t) => Some(t),
            _ => None,
        },
    };
    let low = lower(graph, pass, grads, update_state, tcols, variants)?;
    let max_binding = limits.max_storage_buffer_binding_size;
    for t in &low.tensors {
        let bytes = (t.len() * 4) as u64;
        if bytes > max_binding {
            return Err(Error::LimitExceeded {
                limit: "max_storage_buffer_binding_size".into(),
                max: max_binding,
                needed: bytes,
                context: format!(
                    "tensor '{}' of shape {:?}; lower `batch_size` or the layer size",
                    t.name, t.shape
                ),
            });
        }
    }
    let mut named_outputs = Vec::new();
    if pass == Pass::Forward {
        named_outputs.extend(graph.output.map(|t| ("output".to_string(), t)));
        named_outputs.extend(graph.extra_outputs.iter().cloned());
    }
    let mut pinned: Vec<TensorId> = named_outputs.iter().map(|(_, t)| *t).collect();
    pinned.extend(low.input_grad);
    if let Some(g) = low.layer_grad {
        pinned.extend(grads.layer);
        pinned.push(g);
    }
    let plan = plan_activations(&low.tensors, &low.calls, &pinned);
    let mut low = low;
    let slots_state = match mode {
        Mode::Train(cfg) => {
            low.calls.extend(optimizer_calls(&cfg, super::ParamStore::trainable_len(graph).min(params_len)));
            if cfg.kind == Optimizer::Sgd {
                1
            } else {
                2
            }
        }
        _ => 0,
    };
    let (uniform_bytes, slots) = uniform_layout(&low.calls, limits);
    let arena = (params_len * 4) as u64;
    let round16 = |b: u64| b.max(16).div_ceil(16) * 16;
    let memory = MemoryReport {
        params: arena,
        grads: if pass == Pass::ForwardBackward { arena } else { 0 },
        optimizer_state: arena * slots_state,
        activations: round16((plan.len.max(1) * 4) as u64),
        activations_unshared: (plan.unshared_len * 4) as u64,
        other: uniform_bytes.len() as u64
            + round16(((graph.batch + 1) * 4) as u64)
            + round16((kernels::norm_partials(params_len) * 4) as u64)
            + FIXED_BYTES,
        // known once the calls are specialized for the adapter
        scratch: 0,
    };
    Ok(ProgramPlan { pass, low, plan, named_outputs, uniform_bytes, slots, memory })
}

/// The buffers a program owns: activations, gradients, optimizer state, the
/// batch ids, loss statistics, the step counter, the gradient guard, the
/// uniforms of every call, and a small dummy for unused bindings.
struct ProgramBuffers {
    act: wgpu::Buffer,
    grads: Option<wgpu::Buffer>,
    state: Vec<wgpu::Buffer>,
    batch: wgpu::Buffer,
    stats: wgpu::Buffer,
    step: wgpu::Buffer,
    guard_partials: wgpu::Buffer,
    guard: wgpu::Buffer,
    stats_readback: wgpu::Buffer,
    dummy: wgpu::Buffer,
    uniform: wgpu::Buffer,
}

impl ProgramBuffers {
    /// Creates them for a program of `batch` rows, `act_len` activation
    /// values and a parameter arena of `params_len` values.
    fn allocate(
        gpu: &Gpu,
        (batch, act_len, params_len): (usize, usize, usize),
        pass: Pass,
        mode: Mode,
        uniform_bytes: &[u8],
    ) -> Result<ProgramBuffers> {
        let arena_bytes = (params_len * 4) as u64;
        let act = gpu.storage_buffer("activations", (act_len.max(1) * 4) as u64)?;
        let grads = match pass {
            Pass::ForwardBackward => Some(gpu.storage_buffer("gradients", arena_bytes)?),
            Pass::Forward => None,
        };
        let mut state = Vec::new();
        if let Mode::Train(cfg) = mode {
            let slots = if cfg.kind == Optimizer::Sgd { 1 } else { 2 };
            for s in 0..slots {
                state.push(gpu.storage_buffer(&format!("optimizer.state{s}"), arena_bytes)?);
            }
        }
        let batch = gpu.storage_buffer("batch", ((batch + 1) * 4) as u64)?;
        let stats = gpu.storage_buffer("stats", 16)?;
        let step = gpu.storage_buffer("step", 16)?;
        let guard_partials =
            gpu.storage_buffer("guard partials", (kernels::norm_partials(params_len) * 4) as u64)?;
        let guard = gpu.storage_buffer("guard", 16)?;
        let stats_readback = gpu.readback_buffer(16)?;
        let dummy = gpu.storage_buffer("dummy", 256)?;
        gpu.note_created(uniform_bytes.len() as u64);
        let uniform = gpu.scoped("creating uniforms", || {
            use wgpu::util::DeviceExt;
            gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("uniforms"),
                contents: uniform_bytes,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
        })?;
        Ok(ProgramBuffers {
            act,
            grads,
            state,
            batch,
            stats,
            step,
            guard_partials,
            guard,
            stats_readback,
            dummy,
            uniform,
        })
    }
}

impl Program {
    /// What compiling `graph` for `mode` would allocate (parameters counted
    /// once here, though programs of one model share them), without allocating;
    /// `variants`: the adapter's (`Gpu::variants`), which decide some of the
    /// scratch (recurrent weight gradients by rnn_grads.wgsl keep partial sums).
    pub fn estimate_memory(
        graph: &Graph,
        mode: Mode,
        tcols: usize,
        params_len: usize,
        limits: &wgpu::Limits,
        variants: kernels::Variants,
    ) -> Result<MemoryReport> {
        Ok(plan_program(graph, mode, tcols, params_len, limits, variants)?.memory)
    }

    /// The kernel calls compiling `graph` for `mode` would dispatch, each
    /// specialized for `variants`, without a device: for checks of the
    /// calls against their shaders' declarations (tests/shaders.rs).
    pub fn planned_calls(
        graph: &Graph,
        mode: Mode,
        tcols: usize,
        params_len: usize,
        limits: &wgpu::Limits,
        variants: kernels::Variants,
    ) -> Result<Vec<Call<Ref>>> {
        let p = plan_program(graph, mode, tcols, params_len, limits, variants)?;
        Ok(p.low.calls.into_iter().map(|c| kernels::specialize(c, variants)).collect())
    }

    /// Compiles `graph` against a parameter store and a data set.
    pub fn compile(
        gpu: Arc<Gpu>,
        graph: &Graph,
        params: Arc<ParamStore>,
        data: Arc<GpuDataset>,
        opts: ProgramOptions,
        cache: &mut PipelineCache,
    ) -> Result<Program> {
        if let Some(i) = graph.input {
            if graph.row_len(i) != data.cols {
                return Err(Error::Model(format!(
                    "the model's input has {} features but the data set has {}",
                    graph.row_len(i),
                    data.cols
                )));
            }
        }
        let variants = cache.variants(&gpu);
        let ProgramPlan { pass, low, plan, named_outputs, uniform_bytes, slots, memory } =
            plan_program(graph, opts.mode, data.tcols, params.len, &gpu.limits, variants)?;
        let calls = &low.calls;

        let sizes = (graph.batch, plan.len, params.len);
        let a = ProgramBuffers::allocate(&gpu, sizes, pass, opts.mode, &uniform_bytes)?;
        let batch_bytes = ((graph.batch + 1) * 4) as u64;
        // the optimizer is the last call; its uniform is rewritten every step
        let optimizer = match opts.mode {
            Mode::Train(cfg) => slots.last().map(|(off, _)| (cfg, *off)),
            _ => None,
        };

        let bufs = Buffers {
            params: &params,
            data: &data,
            tensors: &low.tensors,
            plan: &plan,
            act: &a.act,
            grads: a.grads.as_ref(),
            state: &a.state,
            batch: (&a.batch, batch_bytes),
            stats: &a.stats,
            step: &a.step,
            guard_partials: &a.guard_partials,
            guard: &a.guard,
            dummy: &a.dummy,
        };
        let mut dispatches = Vec::with_capacity(calls.len());
        for (c, (uoff, usize_)) in calls.iter().zip(&slots) {
            let resolved: Call<Slice> = kernels::specialize(c.map(|r| bufs.resolve(r))?, variants);
            let u = Slice { buffer: &a.uniform, offset: *uoff, size: *usize_ };
            dispatches.push(cache.build(&gpu, &resolved, u)?);
        }
        gpu.check()?;
        let memory = MemoryReport { scratch: cache.scratch_bytes(), ..memory };

        let locate = |t: TensorId| -> Option<(u64, usize)> {
            let off = plan.offsets.get(t.0).copied().flatten()?;
            Some(((off * 4) as u64, low.tensors[t.0].len()))
        };
        let outputs = named_outputs
            .iter()
            .filter_map(|(name, t)| locate(*t).map(|(o, l)| (name.clone(), o, l)))
            .collect();
        let input_grad = low.input_grad.and_then(locate);
        let layer = match (opts.mode, low.layer_grad) {
            (Mode::LayerGradient(t), Some(g)) => locate(t).zip(locate(g)),
            _ => None,
        };
        Ok(Program {
            gpu,
            params,
            data,
            dispatches,
            batch: graph.batch,
            batch_buf: a.batch,
            stats_buf: a.stats,
            uniform_buf: a.uniform,
            act_buf: a.act,
            grads_buf: a.grads,
            step_buf: a.step,
            guard_buf: a.guard,
            state: a.state,
            _buffers: vec![a.dummy, a.guard_partials],
            optimizer,
            step: 0,
            order_buf: None,
            sched_buf: None,
            stats_readback: a.stats_readback,
            predict_readback: None,
            outputs,
            input_grad,
            layer,
            memory,
            encode_us_per_step: 0.0,
        })
    }

    /// Dispatches in one replay (one training step, or one inference batch).
    pub fn dispatches_per_step(&self) -> usize {
        self.dispatches.iter().map(|d| d.kernels().len()).sum()
    }

    /// Names of the kernels replayed, in order.
    pub fn kernel_names(&self) -> Vec<&'static str> {
        self.dispatches.iter().flat_map(Dispatch::kernels).map(|k| k.entry_point()).collect()
    }

    /// Rows per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Memory planned (and allocated) for this program.
    pub fn memory(&self) -> MemoryReport {
        self.memory
    }

    /// Optimizer steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// The parameter store this program reads and updates.
    pub fn params(&self) -> &Arc<ParamStore> {
        &self.params
    }

    /// Names and column counts of the inference outputs.
    pub fn output_names(&self) -> Vec<(String, usize)> {
        self.outputs.iter().map(|(n, _, l)| (n.clone(), l / self.batch)).collect()
    }
}

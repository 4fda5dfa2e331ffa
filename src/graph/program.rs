//! A compiled program: every buffer, pipeline and bind group created once,
//! then replayed. A training step is one command buffer and one submit: two
//! small copies (the batch's row ids and the optimizer's per-step uniform,
//! both uploaded once per epoch) and one compute pass holding the forward,
//! loss, backward and optimizer dispatches.

use super::autodiff::{lower, Pass, Ref};
use super::plan::{plan_activations, ActivationPlan};
use super::{Class, Graph, ParamStore, TensorId};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::{self, Call, Dispatch, OptimUniform, PipelineCache, Slice};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The data set on the GPU, uploaded once: features [rows, cols], targets [rows, tcols].
pub struct GpuDataset {
    /// Features, row-major.
    pub features: wgpu::Buffer,
    /// Targets, row-major (class ids as f32 for classification).
    pub targets: wgpu::Buffer,
    /// Rows.
    pub rows: usize,
    /// Feature columns.
    pub cols: usize,
    /// Target columns.
    pub tcols: usize,
}

impl GpuDataset {
    /// Uploads a data set.
    pub fn upload(
        gpu: &Gpu,
        features: &[f32],
        targets: &[f32],
        cols: usize,
        tcols: usize,
    ) -> Result<GpuDataset> {
        let rows = features.len().checked_div(cols).unwrap_or(0);
        if rows == 0 || features.len() != rows * cols || targets.len() != rows * tcols {
            return Err(Error::Dataset(format!(
                "features ({} values) and targets ({} values) do not form {cols}+{tcols} columns of the same rows",
                features.len(),
                targets.len()
            )));
        }
        Ok(GpuDataset {
            features: gpu.storage_from("data.features", features)?,
            targets: gpu.storage_from("data.targets", targets)?,
            rows,
            cols,
            tcols,
        })
    }
}

/// Which optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// SGD with momentum and L2 weight decay.
    Sgd,
    /// Adam with L2 weight decay in the gradient.
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
}

/// Optimizer hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerConfig {
    /// Which optimizer.
    pub kind: Optimizer,
    /// Learning rate.
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
}

impl OptimizerConfig {
    /// Adam with the usual defaults and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig {
            kind: Optimizer::Adam,
            lr,
            weight_decay: 0.0,
            momentum: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }

    /// SGD with momentum.
    pub fn sgd(lr: f32, momentum: f32) -> Self {
        OptimizerConfig {
            kind: Optimizer::Sgd,
            momentum,
            ..Self::adam(lr)
        }
    }
}

/// What a program computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Forward, loss, backward and the optimizer step.
    Train(OptimizerConfig),
    /// Forward, loss and backward; gradients are kept for reading (tests,
    /// explanations). With `input_grad`, dL/dinput too.
    Gradients {
        /// Also keep the gradient w.r.t. the input batch.
        input_grad: bool,
    },
    /// Forward only; the graph's output is read back.
    Inference,
}

/// Compile options.
#[derive(Clone, Copy, Debug)]
pub struct ProgramOptions {
    /// What to compute.
    pub mode: Mode,
}

/// Bytes each part of a program takes on the GPU.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct MemoryReport {
    /// Parameter arena (shared between programs of one model).
    pub params: u64,
    /// Gradient arena.
    pub grads: u64,
    /// Optimizer state.
    pub optimizer_state: u64,
    /// Activation arena after liveness reuse.
    pub activations: u64,
    /// What the activations would take without reuse.
    pub activations_unshared: u64,
    /// Batch ids, uniforms, stats and the per-epoch upload buffers.
    pub other: u64,
}

/// A compiled graph, ready to replay.
pub struct Program {
    gpu: Arc<Gpu>,
    params: Arc<ParamStore>,
    data: Arc<GpuDataset>,
    dispatches: Vec<Dispatch>,
    batch: usize,
    batch_buf: wgpu::Buffer,
    stats_buf: wgpu::Buffer,
    uniform_buf: wgpu::Buffer,
    act_buf: wgpu::Buffer,
    grads_buf: Option<wgpu::Buffer>,
    _state: Vec<wgpu::Buffer>,
    _dummy: wgpu::Buffer,
    optimizer: Option<(OptimizerConfig, u64)>,
    step: u64,
    order_buf: Option<(wgpu::Buffer, usize)>,
    sched_buf: Option<(wgpu::Buffer, usize)>,
    output: Option<(u64, usize)>,
    input_grad: Option<(u64, usize)>,
    memory: MemoryReport,
    /// CPU time spent recording the last call's steps (encoder to finished
    /// command buffer, submit and waits excluded), µs per step.
    pub encode_us_per_step: f64,
}

const OPT_WORDS: usize = 12;

impl Program {
    /// Compiles `graph` against a parameter store and a data set.
    pub fn compile(
        gpu: Arc<Gpu>,
        graph: &Graph,
        params: Arc<ParamStore>,
        data: Arc<GpuDataset>,
        opts: ProgramOptions,
        cache: &mut PipelineCache,
    ) -> Result<Program> {
        let (pass, want_input_grad) = match opts.mode {
            Mode::Inference => (Pass::Forward, false),
            Mode::Train(_) => (Pass::ForwardBackward, false),
            Mode::Gradients { input_grad } => (Pass::ForwardBackward, input_grad),
        };
        if let Some(i) = graph.input {
            if graph.shape(i)[1] != data.cols {
                return Err(Error::Model(format!(
                    "the model's input has {} features but the data set has {}",
                    graph.shape(i)[1],
                    data.cols
                )));
            }
        }
        let low = lower(graph, pass, want_input_grad, data.tcols)?;
        let mut pinned = Vec::new();
        if pass == Pass::Forward {
            pinned.extend(graph.output);
        }
        pinned.extend(low.input_grad);
        let plan = plan_activations(&low.tensors, &low.calls, &pinned);
        let mut calls = low.calls;

        // Arenas.
        let act_buf = gpu.storage_buffer("activations", (plan.len.max(1) * 4) as u64)?;
        let grads_buf = match pass {
            Pass::ForwardBackward => {
                Some(gpu.storage_buffer("gradients", (params.len * 4) as u64)?)
            }
            Pass::Forward => None,
        };
        let mut state = Vec::new();
        let mut optimizer = None;
        if let Mode::Train(cfg) = opts.mode {
            let slots = if cfg.kind == Optimizer::Sgd { 1 } else { 2 };
            for s in 0..slots {
                state.push(
                    gpu.storage_buffer(&format!("optimizer.state{s}"), (params.len * 4) as u64)?,
                );
            }
            let h = OptimUniform {
                n: params.len as u32,
                decoupled: cfg.kind == Optimizer::AdamW,
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                momentum: cfg.momentum,
                beta1: cfg.beta1,
                beta2: cfg.beta2,
                eps: cfg.eps,
                bc1: 1.0,
                bc2: 1.0,
            };
            calls.push(match cfg.kind {
                Optimizer::Sgd => {
                    kernels::sgd_step(&h, Ref::Params, Ref::Grads, Ref::StateM, Ref::Dummy)
                }
                _ => kernels::adam_step(&h, Ref::Params, Ref::Grads, Ref::StateM, Ref::StateV),
            });
        }
        let batch_buf = gpu.storage_buffer("batch", ((graph.batch + 1) * 4) as u64)?;
        let stats_buf = gpu.storage_buffer("stats", 16)?;
        let dummy = gpu.storage_buffer("dummy", 256)?;

        // Uniforms: one aligned slot per call.
        let ualign = gpu.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let mut uniform_bytes: Vec<u8> = Vec::new();
        let mut slots = Vec::new();
        for c in &calls {
            let off = uniform_bytes.len().div_ceil(ualign) * ualign;
            uniform_bytes.resize(off, 0);
            let mut words = c.uniform.clone();
            words.resize(words.len().max(4).div_ceil(4) * 4, 0);
            uniform_bytes.extend_from_slice(bytemuck::cast_slice(&words));
            slots.push((off as u64, (words.len() * 4) as u64));
        }
        uniform_bytes.resize(uniform_bytes.len().max(16), 0);
        let uniform_buf = gpu.scoped("creating uniforms", || {
            use wgpu::util::DeviceExt;
            gpu.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("uniforms"),
                    contents: &uniform_bytes,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                })
        })?;
        if optimizer.is_none() {
            if let Mode::Train(cfg) = opts.mode {
                optimizer = slots.last().map(|(off, _)| (cfg, *off));
            }
        }

        // Resolve bindings and build the dispatches.
        let tensors = &low.tensors;
        let param_offset = |t: TensorId| -> Result<usize> {
            Ok(params
                .entry(&tensors[t.0].name, &tensors[t.0].shape)?
                .offset)
        };
        let whole = |b: &wgpu::Buffer| (0u64, b.size());
        let mut dispatches = Vec::with_capacity(calls.len());
        for (c, (uoff, usize_)) in calls.iter().zip(&slots) {
            let resolved: Call<Slice> = c.map(|r| -> Result<Slice> {
                let (buffer, offset, size) = match *r {
                    Ref::T(t) => {
                        let bytes = (tensors[t.0].len() * 4) as u64;
                        match tensors[t.0].class {
                            Class::Param(_) => {
                                (&params.buffer, (param_offset(t)? * 4) as u64, bytes)
                            }
                            Class::ParamGrad(p) => {
                                let g = grads_buf
                                    .as_ref()
                                    .ok_or_else(|| Error::Model("no gradient arena".into()))?;
                                (g, (param_offset(p)? * 4) as u64, bytes)
                            }
                            Class::Activation | Class::Input => {
                                let off = plan.offsets[t.0].ok_or_else(|| {
                                    Error::Model(format!(
                                        "tensor '{}' was not planned",
                                        tensors[t.0].name
                                    ))
                                })?;
                                (&act_buf, (off * 4) as u64, bytes)
                            }
                        }
                    }
                    Ref::Batch => (&batch_buf, 0, ((graph.batch + 1) * 4) as u64),
                    Ref::Features => (
                        &data.features,
                        whole(&data.features).0,
                        whole(&data.features).1,
                    ),
                    Ref::Targets => (&data.targets, 0, data.targets.size()),
                    Ref::Stats => (&stats_buf, 0, 16),
                    Ref::Params => (&params.buffer, 0, (params.len * 4) as u64),
                    Ref::Grads => {
                        let g = grads_buf
                            .as_ref()
                            .ok_or_else(|| Error::Model("no gradient arena".into()))?;
                        (g, 0, (params.len * 4) as u64)
                    }
                    Ref::StateM | Ref::StateV => {
                        let i = if *r == Ref::StateM { 0 } else { 1 };
                        let s = state
                            .get(i)
                            .ok_or_else(|| Error::Model("no optimizer state".into()))?;
                        (s, 0, (params.len * 4) as u64)
                    }
                    Ref::Dummy => (&dummy, 0, 256),
                };
                Ok(Slice {
                    buffer,
                    offset,
                    size,
                })
            })?;
            let u = Slice {
                buffer: &uniform_buf,
                offset: *uoff,
                size: *usize_,
            };
            dispatches.push(cache.build(&gpu, &resolved, u)?);
        }
        gpu.check()?;

        let locate = |t: Option<TensorId>| -> Option<(u64, usize)> {
            let t = t?;
            let off = plan.offsets.get(t.0).copied().flatten()?;
            Some(((off * 4) as u64, tensors[t.0].len()))
        };
        let output = if pass == Pass::Forward {
            locate(graph.output)
        } else {
            None
        };
        let input_grad = locate(low.input_grad);
        let memory = memory_report(
            &params,
            &plan,
            grads_buf.is_some(),
            state.len(),
            uniform_bytes.len(),
            graph.batch,
        );
        Ok(Program {
            gpu,
            params,
            data,
            dispatches,
            batch: graph.batch,
            batch_buf,
            stats_buf,
            uniform_buf,
            act_buf,
            grads_buf,
            _state: state,
            _dummy: dummy,
            optimizer,
            step: 0,
            order_buf: None,
            sched_buf: None,
            output,
            input_grad,
            memory,
            encode_us_per_step: 0.0,
        })
    }

    /// Dispatches in one replay (one training step, or one inference batch).
    pub fn dispatches_per_step(&self) -> usize {
        self.dispatches.len()
    }

    /// Names of the kernels replayed, in order.
    pub fn kernel_names(&self) -> Vec<&'static str> {
        self.dispatches
            .iter()
            .map(|d| d.kernel.entry_point())
            .collect()
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

    /// Uploads `batches` as [count, ids..] chunks of B + 1 words into the order buffer.
    fn upload_order(&mut self, batches: &[Vec<u32>]) -> Result<()> {
        let stride = self.batch + 1;
        let mut host = Vec::with_capacity(batches.len() * stride);
        for (i, b) in batches.iter().enumerate() {
            if b.is_empty() || b.len() > self.batch {
                return Err(Error::Dataset(format!(
                    "batch {i} has {} rows; a batch holds 1 to {}",
                    b.len(),
                    self.batch
                )));
            }
            if let Some(bad) = b.iter().find(|r| **r as usize >= self.data.rows) {
                return Err(Error::Dataset(format!(
                    "row id {bad} is past the data set's {} rows",
                    self.data.rows
                )));
            }
            host.push(b.len() as u32);
            host.extend_from_slice(b);
            // padding rows repeat the first row; the loss masks them out
            host.resize((i + 1) * stride, b[0]);
        }
        let need = host.len();
        let grow = self.order_buf.as_ref().is_none_or(|(_, cap)| *cap < need);
        if grow {
            let buf = self.gpu.storage_buffer("batch order", (need * 4) as u64)?;
            self.order_buf = Some((buf, need));
        }
        if let Some((buf, _)) = &self.order_buf {
            self.gpu
                .queue
                .write_buffer(buf, 0, bytemuck::cast_slice(&host));
        }
        Ok(())
    }

    fn copy_batch(&self, enc: &mut wgpu::CommandEncoder, i: usize) {
        if let Some((order, _)) = &self.order_buf {
            let bytes = ((self.batch + 1) * 4) as u64;
            enc.copy_buffer_to_buffer(order, i as u64 * bytes, &self.batch_buf, 0, bytes);
        }
    }

    fn record_pass(&self, enc: &mut wgpu::CommandEncoder) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("step"),
            timestamp_writes: None,
        });
        for d in &self.dispatches {
            d.record(&mut pass);
        }
    }

    /// Runs one training step per batch (each a list of data-set row ids, at
    /// most B; a shorter last batch is masked, not dropped) at learning rate `lr`.
    /// Does not wait for the GPU beyond keeping a few steps in flight.
    pub fn train_steps(&mut self, batches: &[Vec<u32>], lr: f32) -> Result<()> {
        let Some((cfg, opt_off)) = self.optimizer else {
            return Err(Error::Model(
                "this program was not compiled for training".into(),
            ));
        };
        if batches.is_empty() {
            return Ok(());
        }
        self.upload_order(batches)?;
        // per-step optimizer uniforms (bias corrections depend on the step)
        let mut sched: Vec<u32> = Vec::with_capacity(batches.len() * OPT_WORDS);
        for s in 0..batches.len() {
            let t = (self.step + s as u64 + 1) as i32;
            let h = OptimUniform {
                n: self.params.len as u32,
                decoupled: cfg.kind == Optimizer::AdamW,
                lr,
                weight_decay: cfg.weight_decay,
                momentum: cfg.momentum,
                beta1: cfg.beta1,
                beta2: cfg.beta2,
                eps: cfg.eps,
                bc1: (1.0 - (cfg.beta1 as f64).powi(t)) as f32,
                bc2: (1.0 - (cfg.beta2 as f64).powi(t)) as f32,
            };
            sched.extend(h.words());
        }
        let need = sched.len();
        if self.sched_buf.as_ref().is_none_or(|(_, cap)| *cap < need) {
            let buf = self
                .gpu
                .storage_buffer("optimizer schedule", (need * 4) as u64)?;
            self.sched_buf = Some((buf, need));
        }
        let Some((sched_buf, _)) = &self.sched_buf else {
            return Ok(());
        };
        self.gpu
            .queue
            .write_buffer(sched_buf, 0, bytemuck::cast_slice(&sched));

        let mut encoding = std::time::Duration::ZERO;
        let mut in_flight = std::collections::VecDeque::new();
        for s in 0..batches.len() {
            let start = Instant::now();
            let mut enc = self
                .gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("train step"),
                });
            self.copy_batch(&mut enc, s);
            let ob = (OPT_WORDS * 4) as u64;
            enc.copy_buffer_to_buffer(sched_buf, s as u64 * ob, &self.uniform_buf, opt_off, ob);
            self.record_pass(&mut enc);
            let cmd = enc.finish();
            encoding += start.elapsed();
            in_flight.push_back(self.gpu.queue.submit([cmd]));
            if in_flight.len() > 3 {
                let idx = in_flight.pop_front();
                self.gpu.wait_for(idx, "running a training step")?;
            }
        }
        self.encode_us_per_step = encoding.as_secs_f64() * 1e6 / batches.len() as f64;
        self.step += batches.len() as u64;
        self.gpu.check()
    }

    /// Wall-clock µs per replay of each dispatch alone (the dispatch recorded
    /// `reps` times in one pass, one submit and wait), for profiling. Replays
    /// change the state (the optimizer steps), so use a throw-away program.
    pub fn profile_dispatches(&mut self, reps: usize) -> Result<Vec<(&'static str, f64)>> {
        let mut out = Vec::new();
        for d in &self.dispatches {
            let t = Instant::now();
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for _ in 0..reps {
                    d.record(&mut pass);
                }
            }
            self.gpu.queue.submit([enc.finish()]);
            self.gpu.wait("profiling")?;
            out.push((
                d.kernel.entry_point(),
                t.elapsed().as_secs_f64() * 1e6 / reps as f64,
            ));
        }
        Ok(out)
    }

    /// Runs forward and backward on one batch without updating weights
    /// (Gradients mode); read the results with [`Program::read_param_grads`].
    pub fn compute_gradients(&mut self, rows: &[u32]) -> Result<()> {
        if self.grads_buf.is_none() {
            return Err(Error::Model(
                "this program was not compiled with a backward pass".into(),
            ));
        }
        self.upload_order(&[rows.to_vec()])?;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.copy_batch(&mut enc, 0);
        self.record_pass(&mut enc);
        self.gpu.queue.submit([enc.finish()]);
        self.gpu.wait("computing gradients")
    }

    /// Every parameter's gradient, by name.
    pub fn read_param_grads(&self) -> Result<BTreeMap<String, Vec<f32>>> {
        let g = self
            .grads_buf
            .as_ref()
            .ok_or_else(|| Error::Model("no gradient arena".into()))?;
        let all = self.gpu.read_f32(g, 0, self.params.len)?;
        Ok(self
            .params
            .entries
            .iter()
            .map(|e| (e.name.clone(), all[e.offset..e.offset + e.len].to_vec()))
            .collect())
    }

    /// dL/dinput [batch, features] of the last batch (Gradients mode with input_grad).
    pub fn read_input_grad(&self) -> Result<Vec<f32>> {
        let (off, len) = self
            .input_grad
            .ok_or_else(|| Error::Model("input gradient was not requested".into()))?;
        self.gpu.read_f32(&self.act_buf, off / 4, len)
    }

    /// Sum of row losses and number of rows since the last reset (one readback).
    pub fn read_loss(&self) -> Result<(f64, f64)> {
        let v = self.gpu.read_f32(&self.stats_buf, 0, 2)?;
        Ok((v[0] as f64, v[1] as f64))
    }

    /// Zeroes the loss accumulator.
    pub fn reset_loss(&self) {
        self.gpu.queue.write_buffer(&self.stats_buf, 0, &[0u8; 16]);
    }

    /// Runs inference on `rows` (data-set row ids) in batches and returns the
    /// output rows concatenated: rows.len() x output columns. One submit, one readback.
    pub fn predict_rows(&mut self, rows: &[u32]) -> Result<Vec<f32>> {
        let (out_off, out_len) = self
            .output
            .ok_or_else(|| Error::Model("this program has no output to read".into()))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let cols = out_len / self.batch;
        let batches: Vec<Vec<u32>> = rows.chunks(self.batch).map(|c| c.to_vec()).collect();
        self.upload_order(&batches)?;
        let total = (rows.len() * cols * 4) as u64;
        let staging = self.gpu.scoped("allocating a readback buffer", || {
            self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("predictions"),
                size: total.div_ceil(4) * 4,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        let mut at = 0u64;
        for (i, b) in batches.iter().enumerate() {
            self.copy_batch(&mut enc, i);
            self.record_pass(&mut enc);
            let bytes = (b.len() * cols * 4) as u64;
            enc.copy_buffer_to_buffer(&self.act_buf, out_off, &staging, at, bytes);
            at += bytes;
        }
        self.gpu.queue.submit([enc.finish()]);
        let bytes = self
            .gpu
            .map_and_read(&staging, total, "reading predictions")?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

fn memory_report(
    params: &ParamStore,
    plan: &ActivationPlan,
    grads: bool,
    state_slots: usize,
    uniform: usize,
    batch: usize,
) -> MemoryReport {
    let p = (params.len * 4) as u64;
    MemoryReport {
        params: p,
        grads: if grads { p } else { 0 },
        optimizer_state: p * state_slots as u64,
        activations: (plan.len * 4) as u64,
        activations_unshared: (plan.unshared_len * 4) as u64,
        other: (uniform + (batch + 1) * 4 + 16 + 256) as u64,
    }
}

//! Replaying a compiled [`Program`]: training steps, gradient passes,
//! inference, and access to the loss, gradients and optimizer state.

use super::config::Optimizer;
use super::program::{Program, OPT_WORDS, SCHED_WORDS};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the GPU accumulated over the steps since the last reset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Sum of the valid rows' losses (steps with a non-finite loss left out).
    pub loss_sum: f64,
    /// Rows those losses came from.
    pub rows: f64,
    /// Steps whose loss or gradients held a NaN or Inf (their update was skipped).
    pub nonfinite_steps: u64,
    /// The run's step number (from 1) of the first of them.
    pub first_nonfinite_step: Option<u64>,
}

/// Inference results: one entry per graph output, rows x cols values each.
pub struct Predictions {
    /// (name, columns, values) per output; `output` first.
    pub outputs: Vec<(String, usize, Vec<f32>)>,
}

impl Predictions {
    /// The values of the output called `name`.
    pub fn get(&self, name: &str) -> Option<(usize, &[f32])> {
        self.outputs.iter().find(|(n, _, _)| n == name).map(|(_, c, v)| (*c, v.as_slice()))
    }
}

/// Training steps recorded into one command buffer and submitted together.
/// A submit has a fixed cost, paid once for eight steps (docs/PERF.md);
/// the steps and their order are the same either way.
/// At most 3 submits are in flight, so a wait covers one submit's steps.
pub const STEPS_PER_SUBMIT: usize = 8;

impl Program {
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
        if self.order_buf.as_ref().is_none_or(|(_, cap)| *cap < need) {
            let buf = self.gpu.storage_buffer("batch order", (need * 4) as u64)?;
            self.order_buf = Some((buf, need));
        }
        if let Some((buf, _)) = &self.order_buf {
            self.gpu.queue.write_buffer(buf, 0, bytemuck::cast_slice(&host));
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
        let mut pass = enc
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("step"), timestamp_writes: None });
        for d in &self.dispatches {
            d.record(&mut pass);
        }
    }

    /// Runs one training step per batch (each a list of data-set row ids, at
    /// most B; a shorter last batch is masked, not dropped), step `i` at
    /// learning rate `lrs[i]` (or `lrs[0]` when one rate is given). Submits
    /// [`STEPS_PER_SUBMIT`] steps at a time, keeps a few submits in flight
    /// and never reads anything back.
    pub fn train_steps(&mut self, batches: &[Vec<u32>], lrs: &[f32]) -> Result<()> {
        let Some((cfg, opt_off)) = self.optimizer else {
            return Err(Error::Model("this program was not compiled for training".into()));
        };
        if batches.is_empty() {
            return Ok(());
        }
        if lrs.is_empty() || (lrs.len() != 1 && lrs.len() != batches.len()) {
            return Err(Error::Options(format!("{} learning rates for {} steps", lrs.len(), batches.len())));
        }
        self.upload_order(batches)?;
        // per-step optimizer uniforms (bias corrections depend on the step) and step counters
        let mut sched: Vec<u32> = Vec::with_capacity(batches.len() * SCHED_WORDS);
        for s in 0..batches.len() {
            let t = self.step + s as u64 + 1;
            let h = cfg.uniform(self.params.trainable_len, if lrs.len() == 1 { lrs[0] } else { lrs[s] }, t);
            sched.extend(h.words());
            sched.extend([t as u32, 0, 0, 0]);
        }
        let need = sched.len();
        if self.sched_buf.as_ref().is_none_or(|(_, cap)| *cap < need) {
            let buf = self.gpu.storage_buffer("optimizer schedule", (need * 4) as u64)?;
            self.sched_buf = Some((buf, need));
        }
        let Some((sched_buf, _)) = &self.sched_buf else {
            return Ok(());
        };
        self.gpu.queue.write_buffer(sched_buf, 0, bytemuck::cast_slice(&sched));

        let mut encoding = Duration::ZERO;
        let mut in_flight = std::collections::VecDeque::new();
        let row = (SCHED_WORDS * 4) as u64;
        for first in (0..batches.len()).step_by(STEPS_PER_SUBMIT) {
            let start = Instant::now();
            let mut enc = self
                .gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train steps") });
            for s in first..(first + STEPS_PER_SUBMIT).min(batches.len()) {
                self.copy_batch(&mut enc, s);
                let at = s as u64 * row;
                enc.copy_buffer_to_buffer(sched_buf, at, &self.uniform_buf, opt_off, (OPT_WORDS * 4) as u64);
                enc.copy_buffer_to_buffer(sched_buf, at + (OPT_WORDS * 4) as u64, &self.step_buf, 0, 16);
                self.record_pass(&mut enc);
            }
            let cmd = enc.finish();
            encoding += start.elapsed();
            self.gpu.keep_awake();
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

    /// Runs forward and backward on one batch without updating weights
    /// (Gradients mode); read the results with [`Program::read_param_grads`].
    pub fn compute_gradients(&mut self, rows: &[u32]) -> Result<()> {
        if self.grads_buf.is_none() {
            return Err(Error::Model("this program was not compiled with a backward pass".into()));
        }
        self.upload_order(&[rows.to_vec()])?;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.copy_batch(&mut enc, 0);
        self.record_pass(&mut enc);
        self.gpu.queue.submit([enc.finish()]);
        self.gpu.wait("computing gradients")
    }

    fn split_arena(&self, all: &[f32]) -> BTreeMap<String, Vec<f32>> {
        self.params
            .entries
            .iter()
            .map(|e| (e.name.clone(), all[e.offset..e.offset + e.len].to_vec()))
            .collect()
    }

    /// Every parameter's gradient of the last step, by name.
    pub fn read_param_grads(&self) -> Result<BTreeMap<String, Vec<f32>>> {
        let g = self.grads_buf.as_ref().ok_or_else(|| Error::Model("no gradient arena".into()))?;
        Ok(self.split_arena(&self.params.read_arena(&self.gpu, g)?))
    }

    /// The global gradient norm of the last training step.
    pub fn read_grad_norm(&self) -> Result<f32> {
        Ok(self.gpu.read_f32(&self.guard_buf, 0, 2)?[1])
    }

    /// The kept layer's value and dL/d(it), each [batch, ...], of the last
    /// batch (`Mode::LayerGradient`).
    pub fn read_layer(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let ((vo, vl), (go, gl)) =
            self.layer.ok_or_else(|| Error::Model("no layer gradient was requested".into()))?;
        Ok((self.gpu.read_f32(&self.act_buf, vo / 4, vl)?, self.gpu.read_f32(&self.act_buf, go / 4, gl)?))
    }

    /// dL/dinput [batch, features] of the last batch (Gradients mode with input_grad).
    pub fn read_input_grad(&self) -> Result<Vec<f32>> {
        let (off, len) =
            self.input_grad.ok_or_else(|| Error::Model("input gradient was not requested".into()))?;
        self.gpu.read_f32(&self.act_buf, off / 4, len)
    }

    /// Optimizer state by slot name (`m`, `v` for Adam; `velocity` for SGD) and parameter name.
    pub fn read_optimizer_state(&self) -> Result<BTreeMap<String, Vec<f32>>> {
        let Some((cfg, _)) = self.optimizer else {
            return Ok(BTreeMap::new());
        };
        let names: &[&str] = if cfg.kind == Optimizer::Sgd { &["velocity"] } else { &["m", "v"] };
        let mut out = BTreeMap::new();
        for (slot, buf) in names.iter().zip(&self.state) {
            for (p, v) in self.split_arena(&self.params.read_arena(&self.gpu, buf)?) {
                out.insert(format!("{slot}.{p}"), v);
            }
        }
        Ok(out)
    }

    /// Restores optimizer state saved by [`Program::read_optimizer_state`] and the step count.
    pub fn restore_optimizer_state(&mut self, state: &BTreeMap<String, Vec<f32>>, steps: u64) -> Result<()> {
        let Some((cfg, _)) = self.optimizer else {
            return Err(Error::Model("this program has no optimizer".into()));
        };
        let names: &[&str] = if cfg.kind == Optimizer::Sgd { &["velocity"] } else { &["m", "v"] };
        for (slot, buf) in names.iter().zip(&self.state) {
            for e in &self.params.entries {
                let key = format!("{slot}.{}", e.name);
                let v = state
                    .get(&key)
                    .ok_or_else(|| Error::Model(format!("optimizer state '{key}' is missing")))?;
                if v.len() != e.len {
                    return Err(Error::Model(format!(
                        "optimizer state '{key}' has {} values, the model needs {}",
                        v.len(),
                        e.len
                    )));
                }
                self.gpu.queue.write_buffer(buf, (e.offset * 4) as u64, bytemuck::cast_slice(v));
            }
        }
        self.step = steps;
        Ok(())
    }

    /// Sum of row losses and number of rows since the last reset (one readback).
    pub fn read_loss(&self) -> Result<(f64, f64)> {
        let s = self.read_stats()?;
        Ok((s.loss_sum, s.rows))
    }

    /// The loss accumulator and the guard's counters since the last reset (one readback).
    pub fn read_stats(&self) -> Result<StepStats> {
        let bytes = self.gpu.read_bytes_via(&self.stats_buf, 0, 16, Some(&self.stats_readback))?;
        let v: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(StepStats {
            loss_sum: v[0] as f64,
            rows: v[1] as f64,
            nonfinite_steps: v[2] as u64,
            first_nonfinite_step: (v[2] > 0.0).then_some(v[3] as u64),
        })
    }

    /// Zeroes the loss accumulator and the guard's counters.
    pub fn reset_loss(&self) {
        self.gpu.queue.write_buffer(&self.stats_buf, 0, &[0u8; 16]);
    }

    /// Runs inference on `rows` (data-set row ids) in batches: one submit, one
    /// readback, every output of the graph.
    pub fn predict(&mut self, rows: &[u32]) -> Result<Predictions> {
        if self.outputs.is_empty() {
            return Err(Error::Model("this program has no output to read".into()));
        }
        if rows.is_empty() {
            let outputs =
                self.outputs.iter().map(|(n, _, l)| (n.clone(), l / self.batch, Vec::new())).collect();
            return Ok(Predictions { outputs });
        }
        let batches: Vec<Vec<u32>> = rows.chunks(self.batch).map(|c| c.to_vec()).collect();
        self.upload_order(&batches)?;
        let row_bytes: u64 = self.outputs.iter().map(|(_, _, l)| (l / self.batch * 4) as u64).sum();
        let total = rows.len() as u64 * row_bytes;
        if self.predict_readback.as_ref().is_none_or(|b| b.size() < total) {
            self.predict_readback = Some(self.gpu.readback_buffer(total)?);
        }
        let Some(staging) = self.predict_readback.as_ref() else {
            return Err(Error::Gpu("no readback buffer".into()));
        };
        // staging layout: output 0 for all rows, then output 1, ...
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        let mut done_rows = 0u64;
        for (i, b) in batches.iter().enumerate() {
            self.copy_batch(&mut enc, i);
            self.record_pass(&mut enc);
            let mut base = 0u64;
            for (_, off, len) in &self.outputs {
                let cols = (len / self.batch) as u64;
                let at = base + done_rows * cols * 4;
                enc.copy_buffer_to_buffer(&self.act_buf, *off, staging, at, b.len() as u64 * cols * 4);
                base += rows.len() as u64 * cols * 4;
            }
            done_rows += b.len() as u64;
        }
        self.gpu.keep_awake();
        self.gpu.queue.submit([enc.finish()]);
        let bytes = self.gpu.map_and_read(staging, total, "reading predictions")?;
        let all: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        let mut outputs = Vec::new();
        let mut at = 0;
        for (name, _, len) in &self.outputs {
            let cols = len / self.batch;
            outputs.push((name.clone(), cols, all[at..at + rows.len() * cols].to_vec()));
            at += rows.len() * cols;
        }
        Ok(Predictions { outputs })
    }

    /// The main output of [`Program::predict`]: rows x output columns.
    pub fn predict_rows(&mut self, rows: &[u32]) -> Result<Vec<f32>> {
        let mut p = self.predict(rows)?;
        Ok(p.outputs.swap_remove(0).2)
    }

    /// µs per replay of each dispatch alone (the dispatch recorded `reps`
    /// times in one pass; GPU timestamps where the adapter has them, wall
    /// clock around submit and wait otherwise), for profiling. Replays
    /// change the state (the optimizer steps), so use a throw-away program.
    pub fn profile_dispatches(&mut self, reps: usize) -> Result<Vec<(&'static str, f64)>> {
        let mut out = Vec::new();
        for d in &self.dispatches {
            let per = super::timing::time_dispatch(&self.gpu, d, reps, 1)?;
            out.push((d.kernel.entry_point(), per.first().copied().unwrap_or(0.0) * 1e6));
        }
        Ok(out)
    }

    /// Workgroups (x, y, z) of each dispatch of the step, in step order:
    /// beside [`Program::profile_dispatches`], shows which kernels leave
    /// cores idle.
    pub fn dispatch_groups(&self) -> Vec<[u32; 3]> {
        self.dispatches.iter().map(|d| d.groups).collect()
    }

    /// µs per replay of the whole step's dispatches in order, `reps` times
    /// in one pass (timed as [`Program::profile_dispatches`]): the kernels'
    /// share of a step, without copies, submits and waits.
    pub fn profile_step(&mut self, reps: usize) -> Result<f64> {
        let all: Vec<usize> = (0..self.dispatches.len()).collect();
        self.profile_sequence(&all, reps)
    }

    /// µs per replay of the dispatches at `indices` (positions in the
    /// step's list, any order, repeats allowed), `reps` times in one pass:
    /// with a dispatch alone, shows what switching between kernels costs.
    pub fn profile_sequence(&mut self, indices: &[usize], reps: usize) -> Result<f64> {
        let ds: Vec<_> = indices.iter().filter_map(|i| self.dispatches.get(*i)).collect();
        let per = super::timing::time_dispatches(&self.gpu, &ds, reps, 1)?;
        Ok(per.first().copied().unwrap_or(0.0) * 1e6)
    }
}

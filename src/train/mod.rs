//! The training loop: the data set is uploaded once; each epoch is one
//! shuffled pass of training steps (no readback inside), one loss readback,
//! one validation pass and one checkpoint. Early stopping keeps the best
//! weights; `resume` continues from the last checkpoint and gives the same
//! weights as an uninterrupted run.

pub mod cv;
pub mod prepare;
pub mod rebuild;
pub mod report;
pub mod run_dir;
pub mod tune;

// the types of train()'s signature, defined by the saved model
pub use crate::model::{format_metrics, DataSource, LrSchedule, Metrics, TrainConfig};

use crate::data::{SplitMix64, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{GpuDataset, Mode, NonFinitePolicy, ParamStore, Program, ProgramOptions};
use crate::kernels::PipelineCache;
use crate::model::checkpoint::{load_tensors, save_tensors, to_json, write_atomic, NamedTensor};
use crate::model::config::default_gpu_budget;
use crate::model::decision::{check_options, fit_decision};
use crate::model::{metrics_for, Inference, ModelFile, INFER_BATCH};
use crate::report::IMPORTANCE_ROWS;
use prepare::{prepare, Prepared};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// One epoch's figures (a row of metrics.csv).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch (accumulated on the GPU).
    pub train_loss: f64,
    /// Validation loss (log-loss, MSE or reconstruction MSE).
    pub val_loss: f64,
    /// Name of the validation metric.
    pub val_metric_name: String,
    /// Validation metric (accuracy, MSE or reconstruction MSE).
    pub val_metric: f64,
    /// Learning rate at the epoch's first step.
    pub lr: f32,
    /// Steps skipped because their loss or gradients were not finite (on-nonfinite skip-step).
    #[serde(default)]
    pub skipped_steps: u64,
    /// Bytes of GPU buffers created so far (constant from the first epoch on:
    /// nothing is allocated per step or epoch).
    #[serde(default)]
    pub gpu_bytes: u64,
    /// Resident host memory of the process at the end of the epoch (Linux; 0 elsewhere).
    #[serde(default)]
    pub host_rss_bytes: u64,
    /// Seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// What a finished run produced.
pub struct TrainOutcome {
    /// model.json's contents, final metrics included.
    pub file: ModelFile,
    /// Per-epoch figures.
    pub epochs: Vec<EpochLog>,
    /// Final validation metrics.
    pub val: Metrics,
    /// Final test metrics.
    pub test: Metrics,
    /// Final weights by name.
    pub weights: BTreeMap<String, Vec<f32>>,
    /// Dispatches in one training step.
    pub dispatches_per_step: usize,
    /// Training samples per second (steps and loss readback; validation excluded).
    pub samples_per_sec: f64,
    /// Rows in (train, validation, test).
    pub split_sizes: (usize, usize, usize),
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// The prepared data (for reports).
    pub prepared: Prepared,
    /// Model outputs on the test rows.
    pub test_inference: Inference,
    /// Model outputs on the validation rows.
    pub val_inference: Inference,
    /// Why the operating point asked for could not be met on the
    /// validation split (the model is then saved without one).
    pub operating_point_error: Option<String>,
}

impl TrainOutcome {
    /// An error when the operating point asked for could not be met; it
    /// names `saved_in`, where the run was saved without one.
    pub fn check_operating_point(&self, saved_in: Option<&Path>) -> Result<()> {
        let Some(why) = &self.operating_point_error else { return Ok(()) };
        let saved = match saved_in {
            Some(dir) => format!("; the run in {} was saved with threshold 0.5", dir.display()),
            None => String::new(),
        };
        Err(Error::Dataset(format!("{why}{saved}")))
    }
}

/// Callbacks of a run.
pub struct Hooks<'a> {
    /// Called after every epoch.
    pub progress: &'a mut dyn FnMut(&EpochLog),
    /// Stop (as if interrupted) right after this epoch's checkpoint; for tests of `resume`.
    pub stop_after_epoch: Option<usize>,
}

/// The checkpoint's commit record: written last, so it only ever names complete files.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CheckpointState {
    epoch: usize,
    steps: u64,
    best_loss: f64,
    best_epoch: usize,
    stale_epochs: usize,
    log: Vec<EpochLog>,
}

fn tensors_of(
    params: &ParamStore,
    values: &BTreeMap<String, Vec<f32>>,
    prefix: &str,
) -> BTreeMap<String, NamedTensor> {
    let mut out = BTreeMap::new();
    for e in &params.entries {
        if let Some(v) = values.get(&format!("{prefix}{}", e.name)) {
            out.insert(
                format!("{prefix}{}", e.name),
                NamedTensor { shape: e.shape.clone(), values: v.clone() },
            );
        }
    }
    out
}

fn meta() -> HashMap<String, String> {
    HashMap::from([("writer".to_string(), format!("medgpu {}", env!("CARGO_PKG_VERSION")))])
}

fn rows_u32(rows: &[usize]) -> Vec<u32> {
    rows.iter().map(|r| *r as u32).collect()
}

/// Evaluates the current weights on `rows`.
fn evaluate_rows(
    evaluator: &mut Program,
    p: &Prepared,
    file: &ModelFile,
    rows: &[usize],
) -> Result<(Metrics, Inference)> {
    let pred = evaluator.predict(&rows_u32(rows))?;
    let (cols, outputs) =
        pred.get("output").map(|(c, v)| (c, v.to_vec())).unwrap_or((p.head.outputs, Vec::new()));
    let code = pred.get("code").map(|(c, v)| (c, v.to_vec()));
    let f = p.ds.cols();
    // the inputs only matter to reconstruction metrics (features are kept for those runs only)
    let inputs: Vec<f32> = if p.features.is_empty() {
        Vec::new()
    } else {
        rows.iter().flat_map(|r| p.features[r * f..(r + 1) * f].iter().copied()).collect()
    };
    let targets = p.ds.targets_of(rows);
    let m = metrics_for(file, &outputs, cols, &targets, &inputs);
    Ok((m, Inference { outputs, cols, code, inputs }))
}

/// Trains per `cfg` on `source`, checkpointing into `dir`. With `resume`,
/// continues from `dir`'s last checkpoint. Returns `None` when stopped by
/// `hooks.stop_after_epoch`.
pub fn train(
    gpu: Arc<Gpu>,
    source: &DataSource,
    cfg: &TrainConfig,
    dir: &Path,
    resume: bool,
    hooks: Hooks,
) -> Result<Option<TrainOutcome>> {
    check_config(cfg)?;
    let p = prepare(source, cfg)?;
    train_prepared(gpu, p, source, cfg, dir, resume, hooks)
}

fn check_config(cfg: &TrainConfig) -> Result<()> {
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::Options("the batch size and the number of epochs must be at least 1".into()));
    }
    if cfg.early_stopping == Some(0) {
        return Err(Error::Options("`early_stopping` needs a patience of at least 1 epoch".into()));
    }
    Ok(())
}

/// [`train`] on data already prepared (see [`prepare::prepare_table`] for
/// tables built in memory); `source` is what `model.json` records of it.
pub fn train_prepared(
    gpu: Arc<Gpu>,
    p: Prepared,
    source: &DataSource,
    cfg: &TrainConfig,
    dir: &Path,
    resume: bool,
    hooks: Hooks,
) -> Result<Option<TrainOutcome>> {
    check_config(cfg)?;
    check_options(&cfg.evaluation, &p.ds.encoding)?;
    // sequences of different lengths: the steps come from the data, and the
    // saved source pads or cuts new data to them
    let (mut cfg, mut source) = (cfg.clone(), source.clone());
    // no validation rows, no validation loss to stop on
    if p.split.val.is_empty() {
        cfg.early_stopping = None;
    }
    if let Some(sq) = &p.sequences {
        cfg.model.sequence_steps = sq.steps;
        cfg.model.step_mask = true;
        source.sequences = Some(sq.clone());
    }
    log::debug!(
        "data prepared: host RSS {} MiB, peak {} MiB",
        host_rss_bytes() >> 20,
        host_peak_rss_bytes() >> 20
    );
    let mut file = model_file(&p, &cfg, &source);
    let (p, mut run) = compile_run(gpu, p, &cfg)?;
    let ckpt = dir.join("checkpoint");
    std::fs::create_dir_all(&ckpt).map_err(|e| Error::io(&ckpt, e))?;
    let mut best = if resume {
        restore_checkpoint(&mut run, &ckpt, &cfg)?
    } else {
        write_atomic(&dir.join("model.json"), &to_json(&file)?)?;
        None
    };
    let (mut train_secs, mut samples, mut stopped_early) = (0.0, 0usize, false);
    let mut order: Vec<u32> = rows_u32(&p.split.train);
    for epoch in run.state.epoch..cfg.epochs {
        if cfg.early_stopping.is_some_and(|pat| run.state.stale_epochs >= pat) {
            stopped_early = true;
            break;
        }
        let t0 = Instant::now();
        let (train_loss, lr, skipped) = run.train_epoch(&mut order, epoch, &cfg, &ckpt)?;
        train_secs += t0.elapsed().as_secs_f64();
        samples += order.len();
        let (val, _) = evaluate_rows(&mut run.evaluator, &p, &file, &p.split.val)?;
        let (metric_name, metric) = val.headline();
        let log = EpochLog {
            epoch: epoch + 1,
            train_loss,
            val_loss: val.selection_loss(),
            val_metric_name: metric_name.into(),
            val_metric: metric,
            lr,
            skipped_steps: skipped,
            gpu_bytes: 0,
            host_rss_bytes: 0,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if skipped > 0 {
            log::warn!("epoch {}: skipped {skipped} steps with a NaN or Inf loss or gradient", epoch + 1);
        }
        let log = run.checkpoint(&ckpt, epoch, log, &cfg, &mut best)?;
        (hooks.progress)(&log);
        if hooks.stop_after_epoch == Some(epoch + 1) {
            return Ok(None);
        }
    }
    if let Some(b) = &best {
        for (name, v) in b {
            run.params.write(&run.gpu, name, v)?;
        }
    }
    let (_, val_inference) = evaluate_rows(&mut run.evaluator, &p, &file, &p.split.val)?;
    let (_, test_inference) = evaluate_rows(&mut run.evaluator, &p, &file, &p.split.test)?;
    let mut operating_point_error = None;
    if file.task == Task::Classify {
        let labels: Vec<u32> = p.ds.targets_of(&p.split.val).iter().map(|t| *t as u32).collect();
        let (decision, err) =
            fit_decision(&cfg.evaluation, &labels, &val_inference.outputs, val_inference.cols);
        file.decision = decision;
        operating_point_error = err.map(|e| match e {
            Error::Dataset(m) | Error::Options(m) => m,
            e => e.to_string(),
        });
    }
    // the final figures are the saved model's: with its temperature and operating point
    let metrics_of = |rows: &[usize], inf: &Inference| {
        metrics_for(&file, &inf.outputs, inf.cols, &p.ds.targets_of(rows), &inf.inputs)
    };
    let (val, test) = (metrics_of(&p.split.val, &val_inference), metrics_of(&p.split.test, &test_inference));
    file.final_metrics = Some(serde_json::json!({ "val": val, "test": test }));
    let weights = run.params.read_all(&run.gpu)?;
    let split_sizes = (p.split.train.len(), p.split.val.len(), p.split.test.len());
    Ok(Some(TrainOutcome {
        file,
        epochs: run.state.log,
        val,
        test,
        weights,
        dispatches_per_step: run.trainer.dispatches_per_step(),
        samples_per_sec: samples as f64 / f64::max(train_secs, 1e-9),
        split_sizes,
        best_epoch: if best.is_some() { run.state.best_epoch } else { run.state.epoch },
        stopped_early,
        prepared: p,
        test_inference,
        val_inference,
        operating_point_error,
    }))
}

/// What `model.json` says before training ends (the final metrics come last).
fn model_file(p: &Prepared, cfg: &TrainConfig, source: &DataSource) -> ModelFile {
    ModelFile {
        medgpu_version: env!("CARGO_PKG_VERSION").into(),
        model: cfg.model.clone(),
        task: p.ds.encoding.task,
        feature_names: p.ds.encoding.feature_names(),
        encoding: p.ds.encoding.clone(),
        preprocessor: p.preprocessor.clone(),
        target_scale: p.target_scale,
        source: source.clone(),
        training: cfg.clone(),
        final_metrics: None,
        decision: Default::default(),
    }
}

/// A run's compiled programs over the data on the GPU, and its progress.
struct Run {
    gpu: Arc<Gpu>,
    params: Arc<ParamStore>,
    trainer: Program,
    evaluator: Program,
    state: CheckpointState,
}

/// Builds both graphs, checks the memory budget, uploads the data and
/// compiles the training and evaluation programs over one parameter arena.
fn compile_run(gpu: Arc<Gpu>, p: Prepared, cfg: &TrainConfig) -> Result<(Prepared, Run)> {
    let (n_val, n_test) = (p.split.val.len(), p.split.test.len());
    let train_graph = cfg.model.build(p.ds.cols(), p.head, cfg.batch_size, true, cfg.seed)?;
    let eval_batch = INFER_BATCH.min(n_val.max(n_test)).max(1);
    let eval_graph = cfg.model.build(p.ds.cols(), p.head, eval_batch, false, cfg.seed)?;
    check_budget(&gpu, cfg, &p, &train_graph, &eval_graph)?;
    // the GPU holds the data from here on; only an autoencoder's metrics read
    // the inputs back, so other tasks hand the host copy over as it uploads
    let mut p = p;
    let f = p.ds.cols();
    p.test_sample = (p.split.test.iter().take(IMPORTANCE_ROWS))
        .flat_map(|r| p.features[r * f..(r + 1) * f].iter().copied())
        .collect();
    // target values per row: every column of a regression (a multi-step forecast), else one
    let tcols = p.train_targets.len() / p.ds.rows().max(1);
    let data = if p.ds.encoding.task == crate::data::Task::Reconstruct {
        GpuDataset::upload(&gpu, &p.features, &p.train_targets, p.ds.cols(), tcols)?
    } else {
        let features = std::mem::take(&mut p.features);
        GpuDataset::upload_consuming(&gpu, features, &p.train_targets, p.ds.cols(), tcols)?
    };
    let data = Arc::new(data);
    log::debug!(
        "data on the GPU: host RSS {} MiB, peak {} MiB",
        host_rss_bytes() >> 20,
        host_peak_rss_bytes() >> 20
    );
    let params = Arc::new(ParamStore::init(&gpu, &train_graph, cfg.seed)?);
    let mut cache = PipelineCache::persistent(&gpu);
    let mode = ProgramOptions { mode: Mode::Train(cfg.optimizer) };
    let trainer =
        Program::compile(gpu.clone(), &train_graph, params.clone(), data.clone(), mode, &mut cache)?;
    let mode = ProgramOptions { mode: Mode::Inference };
    let evaluator = Program::compile(gpu.clone(), &eval_graph, params.clone(), data, mode, &mut cache)?;
    cache.save();
    let state = CheckpointState {
        epoch: 0,
        steps: 0,
        best_loss: f64::INFINITY,
        best_epoch: 0,
        stale_epochs: 0,
        log: Vec::new(),
    };
    Ok((p, Run { gpu, params, trainer, evaluator, state }))
}

/// Loads the last checkpoint's weights, optimizer state and progress into
/// `run`; returns the best weights kept so far (early stopping).
fn restore_checkpoint(
    run: &mut Run,
    ckpt: &Path,
    cfg: &TrainConfig,
) -> Result<Option<BTreeMap<String, Vec<f32>>>> {
    let sp = ckpt.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| Error::io(&sp, e))?;
    run.state = serde_json::from_str(&text)
        .map_err(|e| Error::Checkpoint { path: sp.clone(), message: e.to_string() })?;
    let wp = ckpt.join(format!("epoch-{}.weights.safetensors", run.state.epoch));
    for (name, t) in load_tensors(&wp)? {
        run.params.write(&run.gpu, &name, &t.values)?;
    }
    let op = ckpt.join(format!("epoch-{}.optimizer.safetensors", run.state.epoch));
    let opt: BTreeMap<String, Vec<f32>> =
        load_tensors(&op)?.into_iter().map(|(k, t)| (k, t.values)).collect();
    run.trainer.restore_optimizer_state(&opt, run.state.steps)?;
    let bp = ckpt.join("best.safetensors");
    if cfg.early_stopping.is_some() && bp.exists() {
        return Ok(Some(load_tensors(&bp)?.into_iter().map(|(k, t)| (k, t.values)).collect()));
    }
    Ok(None)
}

impl Run {
    /// One shuffled pass over the training rows `order`: returns the mean
    /// training loss, the epoch's first learning rate and the steps skipped
    /// for a non-finite loss or gradient.
    fn train_epoch(
        &mut self,
        order: &mut [u32],
        epoch: usize,
        cfg: &TrainConfig,
        ckpt: &Path,
    ) -> Result<(f64, f32, u64)> {
        let steps_per_epoch = order.len().div_ceil(cfg.batch_size);
        // the epoch's order depends only on (seed, epoch): resumable
        let mut rng = SplitMix64::new(cfg.seed ^ ((epoch + 1) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.sort_unstable();
        rng.shuffle(order);
        let batches: Vec<Vec<u32>> = order.chunks(cfg.batch_size).map(|c| c.to_vec()).collect();
        let lrs: Vec<f32> = (0..batches.len())
            .map(|s| cfg.lr_schedule.lr(cfg.optimizer.lr, epoch, s, steps_per_epoch, cfg.epochs))
            .collect();
        self.trainer.reset_loss();
        self.trainer.train_steps(&batches, &lrs)?;
        let stats = self.trainer.read_stats()?;
        if let (NonFinitePolicy::Stop, Some(step)) = (cfg.optimizer.on_nonfinite, stats.first_nonfinite_step)
        {
            // the GPU skipped that step and every later one: the weights are
            // those of the last good step; the last checkpoint stays as it is
            let kept = if self.state.epoch > 0 {
                format!("the last good checkpoint is epoch {} in {}", self.state.epoch, ckpt.display())
            } else {
                "no checkpoint was written (it happened in the first epoch)".to_string()
            };
            return Err(Error::NonFinite { epoch: epoch + 1, step, kept });
        }
        Ok((stats.loss_sum / stats.rows.max(1.0), lrs[0], stats.nonfinite_steps))
    }

    /// Writes the epoch's checkpoint: weights, optimizer state, best
    /// weights, then the commit record. Returns the log with memory figures.
    fn checkpoint(
        &mut self,
        ckpt: &Path,
        epoch: usize,
        log: EpochLog,
        cfg: &TrainConfig,
        best: &mut Option<BTreeMap<String, Vec<f32>>>,
    ) -> Result<EpochLog> {
        let (gpu, params, state) = (&self.gpu, &self.params, &mut self.state);
        let weights = params.read_all(gpu)?;
        if log.val_loss < state.best_loss {
            state.best_loss = log.val_loss;
            state.best_epoch = epoch + 1;
            state.stale_epochs = 0;
            if cfg.early_stopping.is_some() {
                save_tensors(&ckpt.join("best.safetensors"), &tensors_of(params, &weights, ""), meta())?;
                *best = Some(weights.clone());
            }
        } else {
            state.stale_epochs += 1;
        }
        save_tensors(
            &ckpt.join(format!("epoch-{}.weights.safetensors", epoch + 1)),
            &tensors_of(params, &weights, ""),
            meta(),
        )?;
        let opt_state = self.trainer.read_optimizer_state()?;
        let mut opt_tensors = BTreeMap::new();
        for slot in ["m.", "v.", "velocity."] {
            opt_tensors.extend(tensors_of(params, &opt_state, slot));
        }
        save_tensors(&ckpt.join(format!("epoch-{}.optimizer.safetensors", epoch + 1)), &opt_tensors, meta())?;
        state.epoch = epoch + 1;
        state.steps = self.trainer.steps_taken();
        let log = EpochLog { gpu_bytes: gpu.bytes_created(), host_rss_bytes: host_rss_bytes(), ..log };
        state.log.push(log.clone());
        write_atomic(&ckpt.join("state.json"), &to_json(&*state)?)?;
        remove_old_epochs(ckpt, epoch + 1);
        Ok(log)
    }
}

/// Checks the whole run's GPU memory against the budget before anything is allocated.
fn check_budget(
    gpu: &Gpu,
    cfg: &TrainConfig,
    p: &Prepared,
    train: &crate::graph::Graph,
    eval: &crate::graph::Graph,
) -> Result<()> {
    let budget = cfg.max_gpu_mem.unwrap_or_else(|| default_gpu_budget(&gpu.limits));
    let params_len = ParamStore::arena_len(train);
    let t = Program::estimate_memory(
        train,
        Mode::Train(cfg.optimizer),
        1,
        params_len,
        &gpu.limits,
        crate::kernels::Variants::detect(gpu),
    )?;
    let e = Program::estimate_memory(
        eval,
        Mode::Inference,
        1,
        params_len,
        &gpu.limits,
        crate::kernels::Variants::detect(gpu),
    )?;
    let data = ((p.features.len() + p.train_targets.len()) * 4) as u64;
    // the parameter arena is shared by both programs
    let total = data + t.total() + e.total() - e.params;
    if total > budget {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        return Err(Error::OutOfMemory(format!(
            "the run needs {:.1} MiB of GPU memory (data {:.1}, parameters {:.1}, gradients {:.1}, optimizer state \
             {:.1}, activations {:.1} for training and {:.1} for evaluation, other {:.1}) but the budget is {:.1} MiB; \
             lower `batch_size`, use a smaller model or fewer rows, or raise `max_gpu_mem`",
            mib(total),
            mib(data),
            mib(t.params),
            mib(t.grads),
            mib(t.optimizer_state),
            mib(t.activations),
            mib(e.activations),
            mib(t.other + e.other),
            mib(budget)
        )));
    }
    Ok(())
}

/// Removes checkpoint files of epochs other than `keep` (after the commit
/// record names `keep`, so a crash in between only leaves extra files).
fn remove_old_epochs(ckpt: &Path, keep: usize) {
    let keep = format!("epoch-{keep}.");
    if let Ok(dir) = std::fs::read_dir(ckpt) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("epoch-") && !name.starts_with(&keep) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Resident memory of this process (VmRSS), 0 where /proc is missing.
pub fn host_rss_bytes() -> u64 {
    proc_status_kb("VmRSS:") * 1024
}

/// Peak resident memory of this process (VmHWM), 0 where /proc is missing.
pub fn host_peak_rss_bytes() -> u64 {
    proc_status_kb("VmHWM:") * 1024
}

fn proc_status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

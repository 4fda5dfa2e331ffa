//! The training loop for tabular classifiers: split, normalize, upload once,
//! then per epoch one shuffled pass of training steps (no readback inside),
//! one loss readback and one validation pass.

pub mod report;
pub mod run_dir;

use crate::data::{class_labels, stratified_split, SplitMix64, Table, ZScore};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{
    Act, GpuDataset, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions, TargetSource,
};
use crate::kernels::PipelineCache;
use crate::metrics::{binary_metrics, multiclass_metrics, BinaryMetrics, MulticlassMetrics};
use crate::models::MlpSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Options of a training run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Act,
    /// Passes over the training split.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Optimizer and its hyper-parameters.
    pub optimizer: OptimizerConfig,
    /// Seed of the split, the initialization and the shuffles.
    pub seed: u64,
    /// Validation fraction.
    pub val_frac: f64,
    /// Test fraction.
    pub test_frac: f64,
}

impl Default for TrainOptions {
    /// The default job: MLP 64-32 ReLU, Adam 1e-3, batch 32, 20 epochs, 70/15/15
    /// (the validation loss of the built-in breast cancer data bottoms out
    /// around epochs 13-20 with this model).
    fn default() -> Self {
        TrainOptions {
            hidden: vec![64, 32],
            activation: Act::Relu,
            epochs: 20,
            batch_size: 32,
            optimizer: OptimizerConfig::adam(1e-3),
            seed: 42,
            val_frac: 0.15,
            test_frac: 0.15,
        }
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, Serialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch (accumulated on the GPU).
    pub train_loss: f64,
    /// Validation log-loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// Classification metrics of one split.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Two classes.
    Binary(BinaryMetrics),
    /// More than two classes.
    Multiclass(MulticlassMetrics),
}

impl Metrics {
    /// Accuracy, whatever the kind.
    pub fn accuracy(&self) -> f64 {
        match self {
            Metrics::Binary(m) => m.accuracy,
            Metrics::Multiclass(m) => m.accuracy,
        }
    }

    /// Log-loss, whatever the kind.
    pub fn log_loss(&self) -> f64 {
        match self {
            Metrics::Binary(m) => m.log_loss,
            Metrics::Multiclass(m) => m.log_loss,
        }
    }
}

/// What a finished run produced.
pub struct TrainOutcome {
    /// The model trained.
    pub spec: MlpSpec,
    /// Class values in label order (label i stands for `classes[i]`).
    pub classes: Vec<u32>,
    /// Normalization fitted on the training split.
    pub zscore: ZScore,
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
    /// Training samples per second (steps and loss readback, validation excluded).
    pub samples_per_sec: f64,
    /// Rows in each split (train, val, test).
    pub split_sizes: (usize, usize, usize),
}

/// Turns the output logits of `rows` rows into class probabilities
/// (sigmoid for one output, softmax otherwise), row-major.
pub fn probabilities(logits: &[f32], outputs: usize) -> Vec<f64> {
    if outputs == 1 {
        return logits.iter().map(|z| 1.0 / (1.0 + (-(*z as f64)).exp())).collect();
    }
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(outputs) {
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let s: f64 = row.iter().map(|v| (*v as f64 - mx).exp()).sum();
        out.extend(row.iter().map(|v| (*v as f64 - mx).exp() / s));
    }
    out
}

fn evaluate(program: &mut Program, rows: &[usize], labels: &[u32], k: usize) -> Result<Metrics> {
    let ids: Vec<u32> = rows.iter().map(|r| *r as u32).collect();
    let logits = program.predict_rows(&ids)?;
    let y: Vec<u32> = rows.iter().map(|r| labels[*r]).collect();
    if k == 2 {
        Ok(Metrics::Binary(binary_metrics(&y, &probabilities(&logits, 1))))
    } else {
        Ok(Metrics::Multiclass(multiclass_metrics(&y, &probabilities(&logits, k), k)))
    }
}

/// Trains an MLP classifier on `table` (targets are class values) and
/// reports each epoch through `progress`.
pub fn train_classifier(
    gpu: Arc<Gpu>,
    table: &Table,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(&EpochLog),
) -> Result<TrainOutcome> {
    if opts.batch_size == 0 || opts.epochs == 0 {
        return Err(Error::Usage("--batch-size and --epochs must be at least 1".into()));
    }
    let classes = class_labels(&table.targets)?;
    let k = classes.len();
    let labels: Vec<u32> = table
        .targets
        .iter()
        .map(|t| classes.iter().position(|c| *c as f32 == *t).unwrap_or(0) as u32)
        .collect();
    let split = stratified_split(&table.targets, opts.val_frac, opts.test_frac, opts.seed)?;
    let zscore = ZScore::fit(table, &split.train);
    let mut features = table.features.clone();
    zscore.apply(&mut features);
    let targets: Vec<f32> = labels.iter().map(|l| *l as f32).collect();
    let data = Arc::new(GpuDataset::upload(&gpu, &features, &targets, table.cols(), 1)?);

    let (outputs, loss) =
        if k == 2 { (1, LossKind::BceWithLogits) } else { (k, LossKind::SoftmaxCrossEntropy) };
    let spec = MlpSpec {
        inputs: table.cols(),
        hidden: opts.hidden.clone(),
        outputs,
        activation: opts.activation,
        loss,
        target: TargetSource::Targets,
    };
    let train_graph = spec.build(opts.batch_size)?;
    let eval_graph = spec.build(256.min(split.val.len().max(split.test.len())).max(1))?;
    let params = Arc::new(ParamStore::init(&gpu, &train_graph, opts.seed)?);
    let mut cache = PipelineCache::new();
    let mut trainer = Program::compile(
        gpu.clone(),
        &train_graph,
        params.clone(),
        data.clone(),
        ProgramOptions { mode: Mode::Train(opts.optimizer) },
        &mut cache,
    )?;
    let mut evaluator = Program::compile(
        gpu.clone(),
        &eval_graph,
        params.clone(),
        data,
        ProgramOptions { mode: Mode::Inference },
        &mut cache,
    )?;
    log::info!(
        "MLP {}: {} dispatches per step, {} pipelines",
        spec.describe(),
        trainer.dispatches_per_step(),
        cache.len()
    );

    let mut epochs = Vec::new();
    let mut train_secs = 0.0;
    let mut samples = 0usize;
    let mut order: Vec<u32> = split.train.iter().map(|r| *r as u32).collect();
    for epoch in 1..=opts.epochs {
        let t0 = Instant::now();
        // the epoch's order depends only on (seed, epoch)
        let mut rng = SplitMix64::new(opts.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.sort_unstable();
        rng.shuffle(&mut order);
        let batches: Vec<Vec<u32>> = order.chunks(opts.batch_size).map(|c| c.to_vec()).collect();
        trainer.reset_loss();
        trainer.train_steps(&batches, &[opts.optimizer.lr])?;
        let (sum, count) = trainer.read_loss()?;
        train_secs += t0.elapsed().as_secs_f64();
        samples += order.len();
        let val = evaluate(&mut evaluator, &split.val, &labels, k)?;
        let log = EpochLog {
            epoch,
            train_loss: sum / count.max(1.0),
            val_loss: val.log_loss(),
            val_accuracy: val.accuracy(),
            seconds: t0.elapsed().as_secs_f64(),
        };
        if !log.train_loss.is_finite() {
            return Err(Error::Gpu(format!(
                "training loss became {} in epoch {epoch}; lower --lr",
                log.train_loss
            )));
        }
        progress(&log);
        epochs.push(log);
    }
    let val = evaluate(&mut evaluator, &split.val, &labels, k)?;
    let test = evaluate(&mut evaluator, &split.test, &labels, k)?;
    let weights = params.read_all(&gpu)?;
    Ok(TrainOutcome {
        spec,
        classes,
        zscore,
        epochs,
        val,
        test,
        weights,
        dispatches_per_step: trainer.dispatches_per_step(),
        samples_per_sec: samples as f64 / train_secs.max(1e-9),
        split_sizes: (split.train.len(), split.val.len(), split.test.len()),
    })
}

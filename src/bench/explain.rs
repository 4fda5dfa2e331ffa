//! The explanation benchmark: integrated gradients (50 Gauss-Legendre
//! points) over every breast cancer row with the default MLP, batched as
//! `medgpu explain` runs it, against one row's path per submit and against
//! a loop that explains one row per library call.

use super::Stat;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::model::explain::{explain_in_batches, Baseline, Method, Rule, Target};
use crate::model::{TrainConfig, TrainedModel, INFER_BATCH};
use crate::train::{prepare::prepare, train_prepared, DataSource, Hooks};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Grad-CAM at the last convolution of the default CNN (trained 10 epochs)
/// over all 1,797 digits, batched, `reps` times.
pub fn grad_cam(gpu: Arc<Gpu>, reps: usize) -> Result<ExplainFigure> {
    let cfg =
        TrainConfig { model: crate::models::ModelSpec::cnn([1, 8, 8]), epochs: 10, ..TrainConfig::default() };
    let model = trained(gpu.clone(), &DataSource::builtin("digits"), &cfg)?;
    let raw = crate::data::builtin_raw("digits")?.0;
    let rows = crate::data::encode_apply(&raw, &model.file.encoding, false)?.features;
    let n = rows.len() / model.file.encoding.num_features();
    let method = Method::GradCam { layer: None };
    let (mut secs, mut submits) = (Vec::new(), 0);
    for _ in 0..reps {
        let t = Instant::now();
        let e = explain_in_batches(gpu.clone(), &model, &rows, Target::Default, &method, INFER_BATCH)?;
        secs.push(t.elapsed().as_secs_f64());
        submits = e.submits;
    }
    let mut f =
        figure(format!("grad-cam, {n} digits, batched ({INFER_BATCH} per submit)"), &secs, n, submits);
    f.batched_speedup = 1.0;
    Ok(f)
}

/// One way of running the explanations.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainFigure {
    /// How the rows were run.
    pub name: String,
    /// Seconds for every row, over repetitions.
    pub seconds: Stat,
    /// Milliseconds per row (median).
    pub ms_per_row: f64,
    /// Submits of the input-gradient program.
    pub submits: usize,
    /// The batched run's speed over this one's (medians).
    pub batched_speedup: f64,
}

/// Integrated gradients over all 569 rows three ways, `reps` times each
/// (the library-call loop over the first `loop_rows` rows, scaled to all).
pub fn integrated_gradients(gpu: Arc<Gpu>, reps: usize, loop_rows: usize) -> Result<Vec<ExplainFigure>> {
    let model = default_mlp(gpu.clone())?;
    let raw = crate::data::builtin_raw("breast_cancer")?.0;
    let rows = crate::data::encode_apply(&raw, &model.file.encoding, false)?.features;
    let cols = model.file.encoding.num_features();
    let n = rows.len() / cols;
    let method =
        Method::IntegratedGradients { steps: 50, rule: Rule::GaussLegendre, baseline: Baseline::Zeros };
    let time = |per_submit: usize, rows: &[f32]| -> Result<(f64, usize)> {
        let t = Instant::now();
        let e = explain_in_batches(gpu.clone(), &model, rows, Target::Default, &method, per_submit)?;
        Ok((t.elapsed().as_secs_f64(), e.submits))
    };
    let mut figures = Vec::new();
    for (name, per_submit) in [
        (format!("batched ({INFER_BATCH} points per submit)"), INFER_BATCH),
        ("one row's 50 points per submit".to_string(), 50),
    ] {
        let mut secs = Vec::new();
        let mut submits = 0;
        for _ in 0..reps {
            let (s, k) = time(per_submit, &rows)?;
            secs.push(s);
            submits = k;
        }
        figures.push(figure(name, &secs, n, submits));
    }
    let loop_rows = loop_rows.clamp(1, n);
    let mut secs = Vec::new();
    let mut submits = 0;
    for _ in 0..reps {
        let (mut total, mut k) = (0.0, 0);
        for r in 0..loop_rows {
            let (s, sub) = time(INFER_BATCH, &rows[r * cols..(r + 1) * cols])?;
            total += s;
            k += sub;
        }
        secs.push(total * n as f64 / loop_rows as f64);
        submits = k * n / loop_rows;
    }
    figures.push(figure(
        format!("a library call per row ({loop_rows} rows timed, scaled)"),
        &secs,
        n,
        submits,
    ));
    let batched = figures[0].seconds.median;
    for f in &mut figures {
        f.batched_speedup = f.seconds.median / batched.max(1e-12);
    }
    Ok(figures)
}

fn figure(name: String, secs: &[f64], rows: usize, submits: usize) -> ExplainFigure {
    let seconds = Stat::of(secs);
    ExplainFigure {
        name,
        ms_per_row: seconds.median * 1e3 / rows as f64,
        seconds,
        submits,
        batched_speedup: 0.0,
    }
}

/// The default MLP trained on the breast cancer data (as `medgpu train`).
/// The default MLP on the built-in breast cancer data, trained.
pub fn default_mlp(gpu: Arc<Gpu>) -> Result<TrainedModel> {
    trained(gpu, &DataSource::builtin("breast_cancer"), &TrainConfig::default())
}

/// `cfg` trained on `source`, its checkpoints in a directory removed after.
fn trained(gpu: Arc<Gpu>, source: &DataSource, cfg: &TrainConfig) -> Result<TrainedModel> {
    let (source, cfg) = (source.clone(), cfg.clone());
    let p = prepare(&source, &cfg)?;
    let dir = std::env::temp_dir().join(format!("medgpu-bench-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
    let out = train_prepared(gpu, p, &source, &cfg, &dir, false, hooks);
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?.ok_or_else(|| crate::Error::Model("training stopped early".into()))?;
    TrainedModel::from_weights(out.file, &out.weights)
}

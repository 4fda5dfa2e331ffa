//! `medgpu explain`: attributions of a saved run's outputs for rows of a file.

use clap::Args;
use medgpu::data::{encode_apply, Dataset, TargetEncoding, Task};
use medgpu::gpu::DeviceOptions;
use medgpu::model::explain::{Baseline, Explanation, Method, Rule, SanityStep, Target};
use medgpu::model::predictions::csv_field;
use medgpu::model::{load_raw_as, windows_for};
use medgpu::{Device, Error, Model, Result};
use std::path::{Path, PathBuf};

/// Options of `medgpu explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A run directory written by `medgpu train`
    #[arg(long)]
    run: PathBuf,
    /// A CSV file with the model's feature columns (or builtin:NAME)
    #[arg(long)]
    data: String,
    /// integrated-gradients, saliency, smoothgrad, grad-cam (convolutional models), or error-share (autoencoders)
    #[arg(long, default_value = "integrated-gradients")]
    method: String,
    /// The class (a label) or target column explained (default: the
    /// positive class of a binary model, each row's predicted class otherwise)
    #[arg(long)]
    target: Option<String>,
    /// Rows to explain, counted from 1 (the first row after the header): 2,17,40-60 (default: all)
    #[arg(long)]
    rows: Option<String>,
    /// Integrated gradients: points on the path from the baseline
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Integrated gradients: gauss-legendre, riemann-middle or riemann-trapezoid
    #[arg(long, default_value = "gauss-legendre")]
    rule: String,
    /// Integrated gradients: zeros (normalized; the training mean under
    /// z-scores), train-mean, or a CSV file with one row of the feature columns
    #[arg(long, default_value = "zeros")]
    baseline: String,
    /// Saliency and SmoothGrad: keep the gradient's sign
    #[arg(long)]
    signed: bool,
    /// SmoothGrad: noisy copies per row
    #[arg(long, default_value_t = 25)]
    samples: usize,
    /// SmoothGrad: noise in units of each feature's training standard deviation
    #[arg(long, default_value_t = 0.15)]
    noise: f32,
    /// SmoothGrad noise and sanity-check weights
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Features printed per row
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Also run the model-randomization sanity check (Adebayo et al., 2018)
    #[arg(long)]
    sanity_check: bool,
    /// Grad-CAM: the convolution layer (default: the last one)
    #[arg(long)]
    layer: Option<String>,
    /// Images: write one PNG per explained row here, the map over the image
    #[arg(long)]
    images: Option<PathBuf>,
    /// Images: also put the first N side by side in DIR/grid.png
    #[arg(long, requires = "images")]
    grid: Option<usize>,
    /// Write the attributions as CSV here (and the global importance beside it, as NAME_importance.csv)
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `medgpu explain`.
pub fn run(dev: &DeviceOptions, a: ExplainArgs, quiet: bool) -> Result<()> {
    let device = Device::with_options(dev)?;
    let model = Model::load(&device, &a.run)?;
    let method = method(&a, baseline(&model, &a.baseline)?)?;
    let ds = read_data(&model, &a.data)?;
    let chosen = chosen_rows(a.rows.as_deref(), ds.rows())?;
    let target = target(&model, a.target.as_deref())?;
    let cols = ds.cols();
    let rows: Vec<f32> =
        chosen.iter().flat_map(|r| ds.features[r * cols..(r + 1) * cols].iter().copied()).collect();
    let (e, sanity) = if a.sanity_check {
        let (e, steps) = model.sanity_check(&rows, &method, target, a.seed)?;
        (e, Some(steps))
    } else {
        (model.explain(&rows, &method, target)?, None)
    };
    if let Some(dir) = &a.images {
        super::explain_images::write(&model, &ds, &chosen, &e, dir, a.grid)?;
    }
    if let Some(path) = &a.out {
        let steps = model.file().model.sequence_steps.filter(|t| *t > 0 && cols % t == 0);
        let csv = attributions_csv(&ds, &chosen, &e, &predicted(&model, &rows, &e)?, steps);
        medgpu::model::checkpoint::write_atomic(path, csv.as_bytes())?;
        medgpu::model::checkpoint::write_atomic(&importance_path(path), importance_csv(&e).as_bytes())?;
    }
    if !quiet {
        print_rows(&model, &ds, &chosen, &e, a.top);
    }
    print_importance(&e, if quiet { 5 } else { 10 });
    if let Some(steps) = sanity {
        print_sanity(&steps);
    }
    if let Some(path) = &a.out {
        println!("wrote {} and {}", path.display(), importance_path(path).display());
    }
    Ok(())
}

fn method(a: &ExplainArgs, baseline: Baseline) -> Result<Method> {
    let rule = match a.rule.as_str() {
        "gauss-legendre" => Rule::GaussLegendre,
        "riemann-middle" => Rule::RiemannMiddle,
        "riemann-trapezoid" => Rule::RiemannTrapezoid,
        o => {
            return Err(Error::Usage(format!(
                "unknown --rule '{o}': use gauss-legendre, riemann-middle or riemann-trapezoid"
            )))
        }
    };
    if a.steps == 0 || a.samples == 0 || !(a.noise >= 0.0 && a.noise.is_finite()) {
        return Err(Error::Usage("--steps and --samples must be at least 1 and --noise at least 0".into()));
    }
    Ok(match a.method.as_str() {
        "integrated-gradients" | "ig" => Method::IntegratedGradients { steps: a.steps, rule, baseline },
        "saliency" => Method::Saliency { signed: a.signed },
        "smoothgrad" => {
            Method::SmoothGrad { samples: a.samples, noise: a.noise, signed: a.signed, seed: a.seed }
        }
        "error-share" => Method::ErrorShare,
        "grad-cam" => Method::GradCam { layer: a.layer.clone() },
        o => {
            return Err(Error::Usage(format!(
            "unknown --method '{o}': use integrated-gradients, saliency, smoothgrad, grad-cam or error-share"
        )))
        }
    })
}

/// `--baseline`: zeros, train-mean, or a CSV file with one row of the
/// model's feature columns (in the file's own units).
fn baseline(model: &Model, spec: &str) -> Result<Baseline> {
    match spec {
        "zeros" => Ok(Baseline::Zeros),
        "train-mean" => Ok(Baseline::TrainMean),
        path => {
            let ds = read_data(model, path)?;
            if ds.rows() != 1 {
                return Err(Error::Usage(format!(
                    "--baseline {path} has {} rows; give one row of the feature columns ({})",
                    ds.rows(),
                    model.feature_names().join(", ")
                )));
            }
            Ok(Baseline::Row(ds.features))
        }
    }
}

/// The file's rows as the model reads them (windows to the end of a signal).
fn read_data(model: &Model, data: &str) -> Result<Dataset> {
    let f = model.file();
    let (raw, _) = load_raw_as(data, f.model.input_shape, &f.source.prepare.csv)?;
    let raw = windows_for(raw, &f.source, true)?;
    encode_apply(&raw, &f.encoding, false)
}

/// `--rows 2,17,40-60` as 0-based indices, checked against the row count.
fn chosen_rows(spec: Option<&str>, n: usize) -> Result<Vec<usize>> {
    let Some(spec) = spec else { return Ok((0..n).collect()) };
    let bad =
        |p: &str| Error::Usage(format!("--rows '{p}': give row numbers from 1 to {n}, such as 2,17,40-60"));
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse::<usize>(), part.parse::<usize>()),
        };
        match (a, b) {
            (Ok(a), Ok(b)) if a >= 1 && a <= b && b <= n => out.extend(a - 1..b),
            _ => return Err(bad(part)),
        }
    }
    if out.is_empty() {
        return Err(bad(spec));
    }
    Ok(out)
}

/// `--target`: a class label, or a target column's name.
fn target(model: &Model, name: Option<&str>) -> Result<Target> {
    let Some(name) = name else { return Ok(Target::Default) };
    let choices: Vec<String> = match &model.file().encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
        Some(TargetEncoding::Value { name, more }) => std::iter::once(name).chain(more).cloned().collect(),
        None => Vec::new(),
    };
    choices.iter().position(|c| c == name).map(Target::Output).ok_or_else(|| {
        Error::Usage(format!("--target '{name}' is not one of the model's outputs: {}", choices.join(", ")))
    })
}

/// What the model predicts for the explained rows, as the CSV shows it.
struct Predicted {
    /// The predicted class, value (in the target's units) or reconstruction error.
    predicted: Vec<String>,
    /// Classification: the probability of the explained class.
    probability: Vec<f64>,
    /// The explained class or target column.
    explained: Vec<String>,
}

fn predicted(model: &Model, rows: &[f32], e: &Explanation) -> Result<Predicted> {
    let explained: Vec<String> = e.explained.iter().map(|c| explained_name(model, *c)).collect();
    let p = model.predict(rows)?;
    let (predicted, probability) = match &p {
        medgpu::Predictions::Classes { labels, probabilities, .. } => {
            let k = labels.len();
            let prob = (0..e.rows())
                .map(|r| {
                    let c = labels.iter().position(|l| *l == explained[r]).unwrap_or(0);
                    probabilities[r * k + c]
                })
                .collect();
            (p.predicted_labels().iter().map(|s| s.to_string()).collect(), prob)
        }
        medgpu::Predictions::Values { names, values } => {
            let n = names.len().max(1);
            (values.chunks(n).map(|v| v[0].to_string()).collect(), Vec::new())
        }
        medgpu::Predictions::Reconstruction { errors, .. } => {
            (errors.iter().map(|v| format!("{v:.6}")).collect(), Vec::new())
        }
    };
    Ok(Predicted { predicted, probability, explained })
}

/// One line per row: line, id, the prediction, the explained output, the
/// completeness gap, the attributions.
fn attributions_csv(
    ds: &Dataset,
    chosen: &[usize],
    e: &Explanation,
    p: &Predicted,
    steps: Option<usize>,
) -> String {
    let has_id = !ds.ids.is_empty();
    let mut out = String::from("line");
    if has_id {
        out.push_str(",id");
    }
    out.push_str(",predicted,probability,explained,output,baseline_output,delta");
    for f in &e.features {
        out.push_str(&format!(",{}", csv_field(f)));
    }
    // sequence models: each step's attributions summed over its channels
    let per_step = steps.map(|t| (t, e.per_step(t)));
    if let Some((t, _)) = &per_step {
        out.push_str(&(0..*t).map(|k| format!(",step_{k}")).collect::<String>());
    }
    out.push('\n');
    for (k, r) in chosen.iter().enumerate() {
        out.push_str(&ds.lines[*r].to_string());
        if has_id {
            out.push_str(&format!(",{}", csv_field(&ds.ids[*r])));
        }
        let opt = |v: &[f64]| v.get(k).map_or(String::new(), |x| format!("{x:.6}"));
        out.push_str(&format!(
            ",{},{},{},{:.6},{},{}",
            csv_field(&p.predicted[k]),
            opt(&p.probability),
            csv_field(&p.explained[k]),
            e.output[k],
            opt(&e.baseline_output),
            opt(&e.delta)
        ));
        for a in e.row(k) {
            out.push_str(&format!(",{a:.6e}"));
        }
        if let Some((t, v)) = &per_step {
            out.push_str(&v[k * t..(k + 1) * t].iter().map(|a| format!(",{a:.6e}")).collect::<String>());
        }
        out.push('\n');
    }
    out
}

fn importance_csv(e: &Explanation) -> String {
    let mut out = String::from("feature,mean_abs_attribution\n");
    for (f, v) in ranking(e) {
        out.push_str(&format!("{},{v:.6e}\n", csv_field(&f)));
    }
    out
}

/// Features by mean absolute attribution, largest first.
fn ranking(e: &Explanation) -> Vec<(String, f64)> {
    let mut r: Vec<(String, f64)> = e.features.iter().cloned().zip(e.importance()).collect();
    r.sort_by(|a, b| b.1.total_cmp(&a.1));
    r
}

fn importance_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().map_or("explanations".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}_importance.csv"))
}

/// The class label or target column an explained output stands for.
fn explained_name(model: &Model, column: usize) -> String {
    match &model.file().encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) if labels.len() == 2 => labels[1].clone(),
        Some(TargetEncoding::Classes { labels, .. }) => labels.get(column).cloned().unwrap_or_default(),
        Some(TargetEncoding::Value { name, more }) => {
            std::iter::once(name).chain(more).nth(column).cloned().unwrap_or_default()
        }
        None => "reconstruction error".into(),
    }
}

/// Each row's top features with their values in the file's own units.
fn print_rows(model: &Model, ds: &Dataset, chosen: &[usize], e: &Explanation, top: usize) {
    let cols = ds.cols();
    let shown = chosen.len().min(10);
    for (k, r) in chosen.iter().take(shown).enumerate() {
        let mut order: Vec<usize> = (0..cols).collect();
        order.sort_by(|a, b| e.row(k)[*b].abs().total_cmp(&e.row(k)[*a].abs()));
        let tops: Vec<String> = order
            .iter()
            .take(top)
            .map(|i| format!("{} = {} ({:+.3})", e.features[*i], ds.features[r * cols + i], e.row(k)[*i]))
            .collect();
        let what = match model.task() {
            Task::Reconstruct => format!("reconstruction error {:.4}", e.output[k]),
            Task::Classify => {
                format!("class {} logit {:.3}", explained_name(model, e.explained[k]), e.output[k])
            }
            Task::Regress => {
                format!("{} {:.3} (standardized)", explained_name(model, e.explained[k]), e.output[k])
            }
        };
        let from =
            e.baseline_output.get(k).map_or(String::new(), |b| format!(" from {b:.3} at the baseline"));
        let gap = e.delta.get(k).map_or(String::new(), |d| format!(", gap {d:.1e}"));
        let what = format!("{what}{from}");
        println!("line {}: {what}{gap}: {}", ds.lines[*r], tops.join(", "));
    }
    if chosen.len() > shown {
        println!("... and {} more rows (--out writes them all)", chosen.len() - shown);
    }
}

fn print_importance(e: &Explanation, n: usize) {
    println!("importance ({}, mean |attribution| over {} rows):", e.method, e.rows());
    for (f, v) in ranking(e).into_iter().take(n) {
        println!("  {f:<28} {v:.4}");
    }
}

fn print_sanity(steps: &[SanityStep]) {
    println!("sanity check (rank correlation with the trained model's attributions, layers re-initialized from the top):");
    for s in steps {
        println!("  down to {:<16} {:.3}", s.layer, s.spearman);
    }
}

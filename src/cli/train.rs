//! `medgpu train`: options, progress output and the final report.

use clap::Args;
use medgpu::data::{MissingPolicy, Normalize, PrepareOptions, Task};
use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::graph::{Act, NonFinitePolicy, Optimizer, OptimizerConfig};
use medgpu::metrics::operating::OperatingRule;
use medgpu::model::{Calibrate, EvaluationOptions, ModelFile};
use medgpu::models::ModelSpec;
use medgpu::train::{self, format_metrics, DataSource, EpochLog, Hooks, LrSchedule, TrainConfig};
use medgpu::{Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `medgpu train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// builtin:breast_cancer, builtin:digits, or a CSV file with a header row
    #[arg(long, default_value = "builtin:breast_cancer")]
    data: String,
    /// A separate test CSV (same columns) instead of a test fraction
    #[arg(long)]
    test_data: Option<String>,
    /// The CSV delimiter: comma, semicolon or tab (default: detected from the header)
    #[arg(long)]
    delimiter: Option<String>,
    /// The decimal mark of numbers in the CSV: . or , (1,5 as spreadsheet exports write it)
    #[arg(long, default_value = ".")]
    decimal: String,
    /// Target column (default for built-ins: their label)
    #[arg(long)]
    target: Option<String>,
    /// Feature columns (default: all but target, id, group and dropped ones)
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// Columns to leave out
    #[arg(long, value_delimiter = ',')]
    drop_columns: Vec<String>,
    /// Text columns to one-hot encode
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// Row id column, copied to predictions (default: a column named id)
    #[arg(long)]
    id_column: Option<String>,
    /// Patient/group column: all rows of a group stay in one split
    #[arg(long)]
    group_column: Option<String>,
    /// classify, regress or reconstruct (default: inferred from the target)
    #[arg(long)]
    task: Option<String>,
    /// Missing values (empty, NA, NaN, ?): error, drop-rows, mean, median
    #[arg(long, default_value = "error")]
    missing: String,
    /// zscore, minmax or none, fitted on the training split
    #[arg(long, default_value = "zscore")]
    normalize: String,
    /// Validation fraction (default 0.15; 0.1 of the record with --window)
    #[arg(long)]
    val_frac: Option<f64>,
    /// Test fraction (default 0.15; the last 0.2 of the record with --window)
    #[arg(long)]
    test_frac: Option<f64>,
    /// Sequence models: cut the signal (one row per sample) into windows of W
    /// samples; the target is the next sample of --target (or a text label)
    #[arg(long)]
    window: Option<usize>,
    /// Recurrent models (lstm, gru, rnn): add a second direction over each window
    #[arg(long)]
    bidirectional: bool,
    /// Sequence models on long-format tables: rows with the same value in
    /// this column form one sequence (a patient's visits), padded to the
    /// longest with a step mask; its target is the last row's
    #[arg(long, value_name = "COLUMN")]
    sequence_id: Option<String>,
    /// With --sequence-id: the column that orders each sequence's rows
    /// (numbers, or text such as ISO dates); default: file order
    #[arg(long, value_name = "COLUMN")]
    order_by: Option<String>,
    /// With --sequence-id: pad or cut every sequence to this many steps
    /// (longer ones keep their last steps); default: the longest sequence
    #[arg(long)]
    max_steps: Option<usize>,
    /// Samples between window starts
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Forecast this many samples after each window (one output per step)
    #[arg(long, default_value_t = 1)]
    horizon: usize,
    /// mlp, autoencoder, cnn, cnn-autoencoder, lstm, gru, rnn, lstm-autoencoder, or a model spec file (.toml or .json)
    #[arg(long, default_value = "mlp")]
    model: String,
    /// C,H,W of image data: the feature columns hold each row's pixels in
    /// channel, row, column order (builtin:digits is 1,8,8)
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
    /// HxW every image of an image folder (--data DIR, one subfolder per
    /// class) is resized to
    #[arg(long, default_value = "32x32")]
    image_size: String,
    /// grey or rgb: the channels images of a folder are read as
    #[arg(long, default_value = "grey")]
    color: String,
    /// Hidden layer sizes (mlp default 64,32; autoencoder 16,8)
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Hidden activation: relu, leaky_relu, sigmoid, tanh
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Dropout after each hidden layer (mlp)
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// adam, adamw or sgd
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Weight decay (L2 for adam and sgd, decoupled for adamw)
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// SGD momentum
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// constant, step or cosine
    #[arg(long, default_value = "constant")]
    lr_schedule: String,
    /// Epochs between decays of the step schedule
    #[arg(long, default_value_t = 10)]
    lr_step_epochs: usize,
    /// Decay factor of the step schedule
    #[arg(long, default_value_t = 0.5)]
    lr_gamma: f32,
    /// Clip gradients to this global L2 norm
    #[arg(long)]
    clip_grad_norm: Option<f32>,
    /// On a NaN or Inf in the loss or gradients: stop (keeping the last good checkpoint) or skip-step
    #[arg(long, default_value = "stop")]
    on_nonfinite: String,
    /// GPU memory budget, e.g. 512M or 2G (default: 4G or the adapter's largest buffer)
    #[arg(long)]
    max_gpu_mem: Option<String>,
    /// Passes over the training split
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Rows per step
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Stop after this many epochs without a better validation loss; keeps the best epoch's weights
    #[arg(long, default_value_t = medgpu::model::config::DEFAULT_PATIENCE)]
    early_stopping: usize,
    /// Train every epoch and keep the last weights
    #[arg(long, conflicts_with = "early_stopping")]
    no_early_stopping: bool,
    /// Seed of the split, initialization, shuffles and dropout
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Train and validate only on rows where COLUMN=VALUE (e.g. benign cases for an autoencoder)
    #[arg(long)]
    train_filter: Option<String>,
    /// temperature or none: scale classifier probabilities by one
    /// temperature fitted on the validation split (default for classifiers)
    #[arg(long)]
    calibrate: Option<String>,
    /// A binary classifier's threshold, chosen on the validation split:
    /// sensitivity=0.95, specificity=0.95, youden or threshold=0.3
    #[arg(long)]
    operating_point: Option<String>,
    /// Resamples of the bootstrap 95% intervals (AUC, F1, Brier, R², MAE)
    #[arg(long, default_value_t = 2000)]
    bootstrap: usize,
    /// Columns whose values define test subgroups (e.g. sex,age_band); they
    /// may be left out of the features with --drop-columns
    #[arg(long, value_delimiter = ',')]
    subgroup_column: Vec<String>,
    /// What the model is for, for the model card in report.html
    #[arg(long)]
    intended_use: Option<String>,
    /// k-fold cross-validation: K runs, each tested on one fold (stratified;
    /// grouped with --group-column); a --test-data file stays out of the
    /// folds and tests a final model trained on all the other rows
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// Repeats of the cross-validation, each with its own folds
    #[arg(long, default_value_t = 1, requires = "cv")]
    cv_repeats: usize,
    /// Run directory (default: a new folder under runs/)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the stopped run in this directory (same data and options)
    #[arg(long, conflicts_with_all = ["out", "cv"])]
    resume: Option<PathBuf>,
    /// Stop after this epoch as if interrupted (for testing --resume)
    #[arg(long, hide = true)]
    stop_after_epoch: Option<usize>,
}

fn parse<T>(what: &str, v: &str, options: &[(&str, T)]) -> Result<T>
where
    T: Copy,
{
    let key = v.trim().to_lowercase().replace('_', "-");
    options.iter().find(|(k, _)| *k == key).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        Error::Usage(format!("unknown {what} '{v}': use {}", names.join(", ")))
    })
}

/// The data source and training configuration the options ask for.
pub fn request(a: &TrainArgs) -> Result<(DataSource, TrainConfig)> {
    let activation = Act::parse(&a.activation).ok_or_else(|| {
        Error::Usage(format!("unknown activation '{}': use relu, leaky_relu, sigmoid or tanh", a.activation))
    })?;
    let optimizer = optimizer(a)?;
    let task = task(a)?;
    let model = model_spec(a, activation)?;
    let lr_schedule = match a.lr_schedule.to_lowercase().as_str() {
        "constant" => LrSchedule::Constant,
        "step" => LrSchedule::Step { every_epochs: a.lr_step_epochs.max(1), gamma: a.lr_gamma },
        "cosine" => LrSchedule::Cosine,
        o => return Err(Error::Usage(format!("unknown --lr-schedule '{o}': use constant, step or cosine"))),
    };
    let source = data_source(a, task)?;
    let missing = [
        ("error", MissingPolicy::Error),
        ("drop-rows", MissingPolicy::DropRows),
        ("mean", MissingPolicy::Mean),
        ("median", MissingPolicy::Median),
    ];
    let normalize = [("zscore", Normalize::Zscore), ("minmax", Normalize::Minmax), ("none", Normalize::None)];
    let cfg = TrainConfig {
        model,
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer,
        lr_schedule,
        early_stopping: (!a.no_early_stopping).then_some(a.early_stopping),
        seed: a.seed,
        val_frac: a.val_frac.unwrap_or(if a.window.is_some() { 0.1 } else { 0.15 }),
        test_frac: a.test_frac.unwrap_or(if a.window.is_some() { 0.2 } else { 0.15 }),
        missing: parse("--missing policy", &a.missing, &missing)?,
        normalize: parse("--normalize", &a.normalize, &normalize)?,
        train_filter: train_filter(a)?,
        max_gpu_mem: match &a.max_gpu_mem {
            Some(m) => Some(medgpu::model::config::parse_size(m).ok_or_else(|| {
                Error::Usage(format!("--max-gpu-mem '{m}' is not a size such as 512M or 2G"))
            })?),
            None => None,
        },
        evaluation: evaluation(a)?,
        fold: None,
    };
    Ok((source, cfg))
}

/// `--calibrate`, `--operating-point`, `--bootstrap`, `--subgroup-column`, `--intended-use`.
fn evaluation(a: &TrainArgs) -> Result<EvaluationOptions> {
    let calibrate = match a.calibrate.as_deref().map(|c| c.trim().to_lowercase()) {
        None => Calibrate::Auto,
        Some(c) if c == "temperature" => Calibrate::Temperature,
        Some(c) if c == "none" => Calibrate::None,
        Some(c) => return Err(Error::Usage(format!("unknown --calibrate '{c}': use temperature or none"))),
    };
    if a.bootstrap == 0 {
        return Err(Error::Usage("--bootstrap must be at least 1 (2000 is usual)".into()));
    }
    Ok(EvaluationOptions {
        calibrate,
        operating_point: a.operating_point.as_deref().map(OperatingRule::parse).transpose()?,
        bootstrap: a.bootstrap,
        subgroups: a.subgroup_column.iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect(),
        intended_use: a.intended_use.clone(),
    })
}

/// The MLP preset's hidden sizes, activation and dropout, when `--model mlp`.
pub fn mlp_parts(a: &TrainArgs) -> Option<(Vec<usize>, Act, f32)> {
    let act = Act::parse(&a.activation)?;
    (a.model == "mlp").then(|| (a.hidden.clone().unwrap_or_else(|| vec![64, 32]), act, a.dropout))
}

/// The run directory the options name (created), or a new one under runs/.
pub fn out_dir(a: &TrainArgs) -> Result<PathBuf> {
    medgpu::train::run_dir::create_run_dir(a.out.as_deref())
}

/// `--optimizer`, `--lr`, `--weight-decay`, `--momentum`, `--clip-grad-norm`, `--on-nonfinite`.
fn optimizer(a: &TrainArgs) -> Result<OptimizerConfig> {
    let opt = [("adam", Optimizer::Adam), ("adamw", Optimizer::AdamW), ("sgd", Optimizer::Sgd)];
    let kind = parse("optimizer", &a.optimizer, &opt)?;
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(Error::Usage(format!("--lr must be a positive number, got {}", a.lr)));
    }
    if a.clip_grad_norm.is_some_and(|c| c.is_nan() || c <= 0.0) {
        return Err(Error::Usage("--clip-grad-norm must be positive".into()));
    }
    let policies = [("stop", NonFinitePolicy::Stop), ("skip-step", NonFinitePolicy::SkipStep)];
    Ok(OptimizerConfig {
        kind,
        lr: a.lr,
        weight_decay: a.weight_decay,
        momentum: a.momentum,
        clip_grad_norm: a.clip_grad_norm,
        on_nonfinite: parse("--on-nonfinite policy", &a.on_nonfinite, &policies)?,
        ..OptimizerConfig::adam(a.lr)
    })
}

/// `--task`, or reconstruction for the autoencoder models.
fn task(a: &TrainArgs) -> Result<Option<Task>> {
    let tasks =
        [("classify", Task::Classify), ("regress", Task::Regress), ("reconstruct", Task::Reconstruct)];
    Ok(match &a.task {
        Some(t) => Some(parse("task", t, &tasks)?),
        None if matches!(a.model.as_str(), "autoencoder" | "cnn-autoencoder" | "lstm-autoencoder") => {
            Some(Task::Reconstruct)
        }
        None => None,
    })
}

/// `--model` (a preset or a spec file) with `--hidden`, `--dropout`,
/// `--input-shape`, `--window`, `--sequence-id`, `--bidirectional`.
fn model_spec(a: &TrainArgs, activation: Act) -> Result<ModelSpec> {
    let input_shape = image_shape(a)?;
    let needs_shape = || {
        input_shape.ok_or_else(|| {
            Error::Usage(format!(
                "--model {} needs --input-shape C,H,W (the pixel columns' channels, height and width)",
                a.model
            ))
        })
    };
    let mut model = match a.model.as_str() {
        "mlp" => ModelSpec::mlp(a.hidden.as_deref().unwrap_or(&[64, 32]), activation, a.dropout),
        "autoencoder" => ModelSpec::autoencoder(a.hidden.as_deref().unwrap_or(&[16, 8]), activation),
        "cnn" => ModelSpec::cnn(needs_shape()?),
        "lstm-autoencoder" if a.sequence_id.is_some() => {
            return Err(Error::Usage(
                "--model lstm-autoencoder reconstructs fixed windows (--window W); it does not take \
                 --sequence-id"
                    .into(),
            ))
        }
        "lstm-autoencoder" => {
            let steps = a.window.ok_or_else(|| {
                Error::Usage("--model lstm-autoencoder needs sequence windows: --window W".into())
            })?;
            ModelSpec::lstm_autoencoder(a.hidden.as_deref().unwrap_or(&[32]), steps)
        }
        kind @ ("lstm" | "gru" | "rnn") => recurrent_spec(a, kind, activation)?,
        "cnn-autoencoder" | "conv-autoencoder" => ModelSpec::conv_autoencoder(needs_shape()?),
        path => ModelSpec::from_file(std::path::Path::new(path))?,
    };
    if input_shape.is_some() {
        model.input_shape = input_shape;
    }
    if a.window.is_some() {
        model.sequence_steps = a.window;
    }
    if a.sequence_id.is_some() {
        model.step_mask = true;
    }
    model.validate()?;
    Ok(model)
}

/// `--model lstm|gru|rnn` over windows (`--window`) or sequences (`--sequence-id`).
fn recurrent_spec(a: &TrainArgs, kind: &str, activation: Act) -> Result<ModelSpec> {
    let cell = match kind {
        "lstm" => medgpu::graph::Cell::Lstm,
        "gru" => medgpu::graph::Cell::Gru,
        _ if activation == Act::Relu || activation == Act::Tanh => medgpu::graph::Cell::Elman(activation),
        _ => return Err(Error::Usage("--model rnn takes --activation tanh or relu".into())),
    };
    let steps = match (a.window, &a.sequence_id) {
        (Some(w), _) => w,
        // the steps come from the data (see ModelSpec::step_mask)
        (None, Some(_)) => 0,
        (None, None) => {
            return Err(Error::Usage(format!(
                "--model {kind} needs sequences: windows of a signal (--window W) or rows \
                 grouped by --sequence-id COLUMN"
            )))
        }
    };
    let mut spec = ModelSpec::recurrent(cell, a.hidden.as_deref().unwrap_or(&[32]), steps);
    if a.sequence_id.is_some() {
        spec.sequence_steps = None;
        spec.step_mask = true;
    }
    Ok(if a.bidirectional { spec.bidirectional() } else { spec })
}

/// `--train-filter COLUMN=VALUE`.
fn train_filter(a: &TrainArgs) -> Result<Option<(String, String)>> {
    let Some(f) = &a.train_filter else { return Ok(None) };
    let (c, v) =
        f.split_once('=').ok_or_else(|| Error::Usage(format!("--train-filter '{f}' is not COLUMN=VALUE")))?;
    Ok(Some((c.trim().to_string(), v.trim().to_string())))
}

/// `--delimiter` and `--decimal`.
fn csv_dialect(a: &TrainArgs) -> Result<medgpu::data::CsvDialect> {
    let delimiter = match a.delimiter.as_deref().map(str::to_lowercase).as_deref() {
        None => None,
        Some("," | "comma") => Some(','),
        Some(";" | "semicolon") => Some(';'),
        Some("tab" | "\\t" | "\t") => Some('\t'),
        Some(o) => {
            return Err(Error::Usage(format!("unknown --delimiter '{o}': use comma, semicolon or tab")))
        }
    };
    let decimal_comma = match a.decimal.as_str() {
        "." => false,
        "," => true,
        o => return Err(Error::Usage(format!("unknown --decimal '{o}': use . or ,"))),
    };
    if decimal_comma && delimiter == Some(',') {
        return Err(Error::Usage(
            "--decimal , needs another --delimiter than the comma (semicolon or tab)".into(),
        ));
    }
    Ok(medgpu::data::CsvDialect { delimiter, decimal_comma })
}

/// The data options: file, columns, windows or sequences.
fn data_source(a: &TrainArgs, task: Option<Task>) -> Result<DataSource> {
    if a.sequence_id.is_none() && (a.order_by.is_some() || a.max_steps.is_some()) {
        return Err(Error::Usage("--order-by and --max-steps go with --sequence-id COLUMN".into()));
    }
    Ok(DataSource {
        data: a.data.clone(),
        test_data: a.test_data.clone(),
        prepare: PrepareOptions {
            more_targets: Vec::new(),
            target: a.target.clone(),
            features: a.features.clone(),
            drop_columns: a.drop_columns.clone(),
            categorical: a.categorical.clone(),
            task,
            id_column: a.id_column.clone(),
            group_column: a.group_column.clone(),
            csv: csv_dialect(a)?,
        },
        window: a.window.map(|window| medgpu::data::WindowOptions {
            window,
            stride: a.stride,
            horizon: a.horizon,
            signals: Vec::new(),
            target: a.target.clone(),
        }),
        sequences: a.sequence_id.as_ref().map(|id| medgpu::data::SequenceOptions {
            id: id.clone(),
            order_by: a.order_by.clone(),
            steps: a.max_steps,
            features: Vec::new(),
            target: None,
        }),
    })
}

/// Runs `medgpu train`.
pub fn run(dev: &DeviceOptions, a: TrainArgs, quiet: bool) -> Result<()> {
    let (source, cfg, resume) = match &a.resume {
        Some(dir) => {
            let f = ModelFile::load(dir)?;
            (f.source, f.training, true)
        }
        None => {
            let (s, c) = request(&a)?;
            (s, c, false)
        }
    };
    // the data is checked before anything is created on disk
    check_epochs(&cfg)?;
    if let Some(k) = a.cv {
        return cross_validate(dev, &a, &source, &cfg, k, quiet);
    }
    let prepared = medgpu::train::prepare::prepare(&source, &cfg)?;
    let dir = match &a.resume {
        Some(dir) => dir.clone(),
        None => medgpu::train::run_dir::create_run_dir(a.out.as_deref())?,
    };
    let dev = DeviceOptions { software_inline: inline_kernels(&cfg, &prepared), ..dev.clone() };
    let gpu = Arc::new(Gpu::open(&dev)?);
    if !quiet {
        println!("adapter: {}{}", gpu.describe(), if gpu.software_inline { ", kernels inline" } else { "" });
        let resuming = if resume { format!(" (resuming {})", dir.display()) } else { String::new() };
        println!("data: {}{}{resuming}", source.data, dialect_note(&source));
    }
    let bar = (std::io::stdout().is_terminal() && !quiet).then(|| progress_bar(cfg.epochs));
    let epochs = cfg.epochs;
    let mut progress = |e: &EpochLog| show_epoch(e, epochs, bar.as_ref(), quiet);
    let hooks = Hooks { progress: &mut progress, stop_after_epoch: a.stop_after_epoch };
    let out = match train::train_prepared(gpu.clone(), prepared, &source, &cfg, &dir, resume, hooks) {
        Ok(o) => o,
        Err(e) => {
            // a run that could not start leaves no empty directory behind
            if !resume && std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()) {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let Some(out) = out else {
        let stopped = a.stop_after_epoch.unwrap_or(0);
        println!("stopped after epoch {stopped}; continue with: medgpu train --resume {}", dir.display());
        return Ok(());
    };
    train::report::write_run(&dir, &gpu, &out)?;
    print_outcome(&out, quiet);
    println!("run directory: {}", dir.display());
    out.check_operating_point(Some(&dir))
}

/// `--cv K`: the folds, their figures over the folds, and with a test file
/// a final model trained on all the other rows.
fn cross_validate(
    dev: &DeviceOptions,
    a: &TrainArgs,
    source: &DataSource,
    cfg: &TrainConfig,
    k: usize,
    quiet: bool,
) -> Result<()> {
    // the folds and the data are checked before anything is created on disk
    let first = TrainConfig {
        fold: Some(medgpu::model::config::Fold { folds: k, index: 0, seed: cfg.seed, holdout_test: false }),
        ..cfg.clone()
    };
    let check = DataSource { test_data: None, ..source.clone() };
    let prepared = medgpu::train::prepare::prepare(&check, &first)?;
    let dev = DeviceOptions { software_inline: inline_kernels(cfg, &prepared), ..dev.clone() };
    drop(prepared);
    let dir = medgpu::train::run_dir::create_run_dir(a.out.as_deref())?;
    let gpu = Arc::new(Gpu::open(&dev)?);
    if !quiet {
        println!("adapter: {}", gpu.describe());
        println!("data: {}; {k}-fold cross-validation, {} repeat(s)", source.data, a.cv_repeats);
    }
    let plan = medgpu::train::cv::CvPlan { folds: k, repeats: a.cv_repeats, holdout_test: false };
    let mut show = |f: &medgpu::train::cv::FoldResult| {
        let (name, value) = f.test.headline();
        if !quiet {
            println!(
                "repeat {} fold {:>2}: {} test rows, kept epoch {:>3}, test {name} {value:.4}",
                f.repeat, f.fold, f.test_rows, f.best_epoch
            );
        }
    };
    let out = medgpu::train::cv::cross_validate(gpu.clone(), source, cfg, &dir, plan, &mut show)?;
    println!("over {} folds (mean, sd, 95% interval of the mean):", out.per_fold.len());
    for (name, f) in &out.summary {
        println!("  {name:<22} {:.4} (sd {:.4}; {:.4}-{:.4})", f.mean, f.sd, f.ci95[0], f.ci95[1]);
    }
    if source.test_data.is_some() {
        let final_dir = dir.join("final");
        std::fs::create_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
        let prepared = medgpu::train::prepare::prepare(source, cfg)?;
        let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
        let done = train::train_prepared(gpu.clone(), prepared, source, cfg, &final_dir, false, hooks)?
            .ok_or_else(|| Error::Model("the final run stopped early".into()))?;
        train::report::write_run(&final_dir, &gpu, &done)?;
        print!("{}", format_metrics("final model on the test file:", &done.test, &done.file.encoding));
    }
    println!("run directory: {} (cv_summary.json, oof_predictions.csv, one folder per fold)", dir.display());
    Ok(())
}

/// ` (semicolon-separated, decimal comma)` for a CSV file, else nothing.
fn dialect_note(source: &DataSource) -> String {
    let path = std::path::Path::new(&source.data);
    if source.data.starts_with("builtin:") || !path.is_file() {
        return String::new();
    }
    if source.data.ends_with(".hea") {
        return " (WFDB record)".into();
    }
    medgpu::data::csv_dialect_of(path, &source.prepare.csv).map(|d| format!(" ({d})")).unwrap_or_default()
}

/// The bar shown on a terminal instead of one line per epoch.
fn progress_bar(epochs: usize) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(epochs as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template("epoch {pos}/{len} [{bar:30}] {msg} (ETA {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b
}

/// One epoch's figures: on the bar, or as a line unless quiet (and in the debug log).
fn show_epoch(e: &EpochLog, epochs: usize, bar: Option<&indicatif::ProgressBar>, quiet: bool) {
    let line = format!(
        "epoch {:>3}/{}  train loss {:.4}  val loss {:.4}  val {} {:.4}  ({:.2} s)",
        e.epoch, epochs, e.train_loss, e.val_loss, e.val_metric_name, e.val_metric, e.seconds
    );
    match bar {
        Some(b) => {
            b.set_position(e.epoch as u64);
            b.set_message(format!("loss {:.4} val {} {:.4}", e.train_loss, e.val_metric_name, e.val_metric));
        }
        None if !quiet => println!("{line}"),
        None => {}
    }
    log::debug!("{line}");
}

/// The model, the split, the validation (unless quiet) and test metrics,
/// and for windows the comparison with the naive forecast.
fn print_outcome(out: &train::TrainOutcome, quiet: bool) {
    let p = &out.prepared;
    if !quiet {
        if p.ds.task_inferred {
            println!("task: {:?} (inferred from the target; --task to choose)", p.ds.encoding.task);
        }
        println!(
            "model: {} {}, {} dispatches per step, {:.0} training samples/s; split {}/{}/{} rows",
            out.file.model.name,
            out.file.model.describe(p.ds.cols(), p.head.outputs),
            out.dispatches_per_step,
            out.samples_per_sec,
            out.split_sizes.0,
            out.split_sizes.1,
            out.split_sizes.2
        );
        if let Some(patience) = out.file.training.early_stopping {
            let stopped = if out.stopped_early { ", stopped early" } else { "" };
            println!(
                "early stopping (patience {patience}): kept the weights of epoch {} of {} (lowest validation loss){stopped}",
                out.best_epoch,
                out.epochs.len()
            );
        }
        print!("{}", format_metrics("validation:", &out.val, &out.file.encoding));
    }
    print!("{}", format_metrics("test:", &out.test, &out.file.encoding));
    if let Some(c) = train::report::clinical(out) {
        print!("{}", medgpu::model::clinical::format_clinical(&c));
    }
    if let Some(w) = &p.windows {
        println!("{}", w.split);
        if let (Some(naive), medgpu::train::Metrics::Regression(m)) = (w.naive_test_mse, &out.test) {
            println!(
                "test MSE {:.6} vs {:.6} for repeating the last value: ratio {:.3}",
                m.mse,
                naive,
                m.mse / naive.max(f64::MIN_POSITIVE)
            );
        }
    }
}

/// `--batch-size` and `--epochs` of at least 1.
fn check_epochs(cfg: &TrainConfig) -> Result<()> {
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::Usage("--batch-size and --epochs must be at least 1".into()));
    }
    Ok(())
}

/// Whether a software adapter runs this model's kernels inline (see
/// `medgpu::graph::schedule`); a model that does not build says no here and
/// reports its error when training starts.
pub fn inline_kernels(cfg: &TrainConfig, p: &medgpu::train::prepare::Prepared) -> bool {
    let mut model = cfg.model.clone();
    if let Some(sq) = &p.sequences {
        model.sequence_steps = sq.steps;
        model.step_mask = true;
    }
    let graph = model.build(p.ds.cols(), p.head, cfg.batch_size, true, cfg.seed);
    graph.is_ok_and(|g| medgpu::graph::schedule::prefers_inline_kernels(&g))
}

/// `--input-shape C,H,W`; for an image folder `--color` and `--image-size`;
/// for the built-in digits with a CNN their own shape 1,8,8.
fn image_shape(a: &TrainArgs) -> Result<Option<[usize; 3]>> {
    match a.input_shape.as_deref() {
        Some(&[c, h, w]) if c > 0 && h > 0 && w > 0 => Ok(Some([c, h, w])),
        Some(v) => {
            Err(Error::Usage(format!("--input-shape must be three positive numbers C,H,W, got {v:?}")))
        }
        None if std::path::Path::new(&a.data).is_dir() => {
            let c = match a.color.to_lowercase().as_str() {
                "grey" | "gray" => 1,
                "rgb" => 3,
                o => return Err(Error::Usage(format!("unknown --color '{o}': use grey or rgb"))),
            };
            let size = a.image_size.to_lowercase();
            let hw = size
                .split_once('x')
                .and_then(|(h, w)| Some((h.trim().parse().ok()?, w.trim().parse().ok()?)));
            match hw {
                Some((h, w)) if h > 0 && w > 0 => Ok(Some([c, h, w])),
                _ => {
                    Err(Error::Usage(format!("--image-size must be HxW, e.g. 32x32, got '{}'", a.image_size)))
                }
            }
        }
        None if a.data == "builtin:digits" && a.model.starts_with("cnn") => Ok(Some([1, 8, 8])),
        None => Ok(None),
    }
}

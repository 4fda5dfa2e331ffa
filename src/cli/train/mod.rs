//! `medgpu train`: its options, progress output and the final report
//! (the options become a configuration in `options.rs`).

use clap::Args;
use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::model::ModelFile;
use medgpu::train::{self, format_metrics, DataSource, EpochLog, Hooks, TrainConfig};
use medgpu::{Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

mod options;
pub use options::{mlp_parts, out_dir, request};

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
        let plan = medgpu::train::cv::CvPlan { folds: k, repeats: a.cv_repeats, holdout_test: false };
        return super::cv::run(dev, a.out.as_deref(), &source, &cfg, plan, quiet);
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

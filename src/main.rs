//! The medgpu command line: `devices`, `train`, `bench`.

use clap::{Args, Parser, Subcommand};
use medgpu::gpu::{list_adapters, DeviceOptions, Gpu};
use medgpu::graph::{Act, Optimizer, OptimizerConfig};
use medgpu::train::{self, TrainOptions};
use medgpu::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "medgpu", version, about = "Train neural networks for medical AI on any GPU wgpu reaches")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Quiet: only errors and the final result
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Debug logs (env_logger; RUST_LOG overrides)
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Args, Clone)]
struct DeviceArgs {
    /// Use the adapter whose name contains this (case-insensitive)
    #[arg(long, env = "MEDGPU_ADAPTER")]
    adapter: Option<String>,
    /// Backend: vulkan, metal, dx12 or gl
    #[arg(long, env = "WGPU_BACKEND")]
    backend: Option<String>,
}

impl DeviceArgs {
    fn options(&self) -> DeviceOptions {
        DeviceOptions { backend: self.backend.clone(), adapter: self.adapter.clone() }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with its limits and features
    #[command(after_help = "Example: medgpu devices --json")]
    Devices {
        #[command(flatten)]
        device: DeviceArgs,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Train a classifier (default: MLP 30-64-32-1 on the built-in breast cancer data)
    #[command(
        after_help = "Examples:\n  medgpu train\n  medgpu train --data builtin:digits --epochs 30\n  medgpu train --data my.csv --target diagnosis --hidden 32,16 --out runs/mine"
    )]
    Train(TrainArgs),
    /// Benchmark training of the default MLP (samples/s, dispatches per step, first step time)
    #[command(after_help = "Example: medgpu bench --json bench.json")]
    Bench {
        #[command(flatten)]
        device: DeviceArgs,
        /// Fewer repetitions
        #[arg(long)]
        quick: bool,
        /// Also write the results as JSON to this file
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// builtin:breast_cancer, builtin:digits, or a CSV file with a header row
    #[arg(long, default_value = "builtin:breast_cancer")]
    data: String,
    /// Target column of a CSV file
    #[arg(long)]
    target: Option<String>,
    /// Hidden layer sizes
    #[arg(long, default_value = "64,32", value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Hidden activation: relu, leaky_relu, sigmoid, tanh
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Optimizer: adam, adamw, sgd
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Weight decay (L2 for adam/sgd, decoupled for adamw)
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// SGD momentum
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Passes over the training split
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Rows per step
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed of the split, initialization and shuffles
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Validation fraction
    #[arg(long, default_value_t = 0.15)]
    val_frac: f64,
    /// Test fraction
    #[arg(long, default_value_t = 0.15)]
    test_frac: f64,
    /// Run directory (default: a new folder under runs/)
    #[arg(long)]
    out: Option<PathBuf>,
}

fn load_table(data: &str, target: Option<&str>) -> Result<medgpu::data::Table> {
    if let Some(name) = data.strip_prefix("builtin:") {
        return medgpu::data::builtin(name);
    }
    let target =
        target.ok_or_else(|| Error::Usage(format!("--target COLUMN is needed to train on {data}")))?;
    medgpu::data::read_csv_table(std::path::Path::new(data), target)
}

fn train_cmd(a: TrainArgs, quiet: bool) -> Result<()> {
    let activation = Act::parse(&a.activation).ok_or_else(|| {
        Error::Usage(format!("unknown activation '{}': use relu, leaky_relu, sigmoid or tanh", a.activation))
    })?;
    let kind = match a.optimizer.to_lowercase().as_str() {
        "adam" => Optimizer::Adam,
        "adamw" => Optimizer::AdamW,
        "sgd" => Optimizer::Sgd,
        o => return Err(Error::Usage(format!("unknown optimizer '{o}': use adam, adamw or sgd"))),
    };
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(Error::Usage(format!("--lr must be a positive number, got {}", a.lr)));
    }
    let optimizer = OptimizerConfig {
        kind,
        lr: a.lr,
        weight_decay: a.weight_decay,
        momentum: a.momentum,
        ..OptimizerConfig::adam(a.lr)
    };
    let opts = TrainOptions {
        hidden: a.hidden.clone(),
        activation,
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer,
        seed: a.seed,
        val_frac: a.val_frac,
        test_frac: a.test_frac,
    };
    let table = load_table(&a.data, a.target.as_deref())?;
    let gpu = Arc::new(Gpu::open(&a.device.options())?);
    if !quiet {
        println!("adapter: {}", gpu.describe());
        println!(
            "data: {} ({} rows, {} features, target '{}')",
            table.source,
            table.rows(),
            table.cols(),
            table.target_name
        );
    }
    let mut progress = |e: &train::EpochLog| {
        if !quiet {
            println!(
                "epoch {:>3}/{}  train loss {:.4}  val loss {:.4}  val accuracy {:.4}  ({:.2} s)",
                e.epoch, opts.epochs, e.train_loss, e.val_loss, e.val_accuracy, e.seconds
            );
        }
    };
    let out = train::train_classifier(gpu.clone(), &table, &opts, &mut progress)?;
    let dir = train::run_dir::create_run_dir(a.out.as_deref())?;
    train::report::write_run(&dir, &gpu, &table, &opts, &out)?;
    if !quiet {
        println!(
            "model: mlp {}, {} dispatches per step, {:.0} training samples/s",
            out.spec.describe(),
            out.dispatches_per_step,
            out.samples_per_sec
        );
    }
    match &out.test {
        train::Metrics::Binary(m) => println!(
            "test: accuracy {:.4}  recall {:.4}  precision {:.4}  F1 {:.4}  specificity {:.4}  ROC-AUC {:.4}",
            m.accuracy, m.recall, m.precision, m.f1, m.specificity, m.roc_auc
        ),
        train::Metrics::Multiclass(m) => println!(
            "test: accuracy {:.4}  macro recall {:.4}  macro precision {:.4}  macro F1 {:.4}",
            m.accuracy, m.macro_recall, m.macro_precision, m.macro_f1
        ),
    }
    println!("run directory: {}", dir.display());
    Ok(())
}

fn devices_cmd(device: DeviceArgs, json: bool) -> Result<()> {
    let list = list_adapters(&device.options())?;
    if json {
        let s = serde_json::to_string_pretty(&list).map_err(|e| Error::Gpu(e.to_string()))?;
        println!("{s}");
        return Ok(());
    }
    if list.is_empty() {
        return Err(Error::NoAdapter {
            detail: String::new(),
            hint: "Install a Vulkan driver (on headless Linux: `apt-get install mesa-vulkan-drivers`)".into(),
        });
    }
    for a in list {
        println!("{} [{}] {} | driver: {} {}", a.name, a.backend, a.device_type, a.driver, a.driver_info);
        for (k, v) in &a.limits {
            println!("    {k:<40} {v}");
        }
        println!("    features: {}", if a.features.is_empty() { "-".into() } else { a.features.join(", ") });
    }
    Ok(())
}

fn bench_cmd(device: DeviceArgs, quick: bool, json: Option<PathBuf>) -> Result<()> {
    let gpu = Arc::new(Gpu::open(&device.options())?);
    let (reps, epochs) = if quick { (3, 5) } else { (7, 20) };
    let r = medgpu::bench::bench_default_mlp(gpu.clone(), reps, epochs)?;
    println!("adapter: {} (driver {} {})", gpu.describe(), gpu.info.driver, gpu.info.driver_info);
    println!(
        "model: MLP {} batch {}, Adam; {} reps of {} epochs; {}",
        r.model, r.batch, reps, epochs, r.timing
    );
    println!("{:<28} {:>12} {:>12} {:>12} {:>10}", "figure", "median", "min", "max", "target");
    println!(
        "{:<28} {:>12.0} {:>12.0} {:>12.0} {:>10}",
        "train samples/s", r.samples_per_sec.median, r.samples_per_sec.min, r.samples_per_sec.max, ">= 25000"
    );
    println!(
        "{:<28} {:>12.1} {:>12.1} {:>12.1} {:>10}",
        "CPU us to record a step",
        r.encode_us_per_step.median,
        r.encode_us_per_step.min,
        r.encode_us_per_step.max,
        "-"
    );
    println!("{:<28} {:>12}", "dispatches per step", r.dispatches_per_step);
    println!("{:<28} {:>12.3} {:>38}", "first step (s)", r.first_step_secs, "<= 2");
    println!("per dispatch, replayed alone (us):");
    for (name, us) in &r.per_dispatch_us {
        println!("    {name:<32} {us:>8.1}");
    }
    if let Some(path) = json {
        let v = serde_json::json!({
            "medgpu_version": env!("CARGO_PKG_VERSION"),
            "adapter": {"name": gpu.info.name, "backend": format!("{:?}", gpu.info.backend), "driver": gpu.info.driver, "driver_info": gpu.info.driver_info},
            "mlp": r,
        });
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::Gpu(e.to_string()))?;
        medgpu::train::run_dir::write_atomic(&path, &bytes)?;
    }
    Ok(())
}

fn main() {
    // Mesa's device-select layer costs ~300 us of CPU per recorded step on
    // lavapipe and medgpu chooses adapters itself; set before any thread starts.
    if std::env::var_os("VK_LOADER_LAYERS_DISABLE").is_none() {
        std::env::set_var("VK_LOADER_LAYERS_DISABLE", "*device_select*");
    }
    let cli = Cli::parse();
    let level = if cli.verbose {
        "debug"
    } else if cli.quiet {
        "error"
    } else {
        "warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    let result = match cli.command {
        Command::Devices { device, json } => devices_cmd(device, json),
        Command::Train(a) => train_cmd(a, cli.quiet),
        Command::Bench { device, quick, json } => bench_cmd(device, quick, json),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(match e {
            Error::Usage(_) => 2,
            _ => 1,
        });
    }
}

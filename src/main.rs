//! The medgpu command line: `devices`, `train`, `eval`, `predict`, `bench`.

mod cli;

use clap::{Args, CommandFactory, Parser, Subcommand};
use medgpu::gpu::DeviceOptions;
use medgpu::Error;
use std::path::PathBuf;

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
    /// Use the adapter whose name contains this (case-insensitive)
    #[arg(long, env = "MEDGPU_ADAPTER", global = true)]
    adapter: Option<String>,
    /// Backend: vulkan, metal, dx12 or gl
    #[arg(long, env = "WGPU_BACKEND", global = true)]
    backend: Option<String>,
}

#[derive(Args)]
struct RunData {
    /// A run directory written by `medgpu train`
    #[arg(long)]
    run: PathBuf,
    /// A CSV file with the model's feature columns (or builtin:NAME)
    #[arg(long)]
    data: String,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with its limits and features
    #[command(after_help = "Example: medgpu devices --json")]
    Devices {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Train a model (default: MLP 30-64-32-1 on the built-in breast cancer data)
    #[command(
        after_help = "Examples:\n  medgpu train\n  medgpu train --data builtin:digits --epochs 30\n  \
        medgpu train --data patients.csv --target diagnosis --categorical sex --missing median --out runs/mine\n  \
        medgpu train --model autoencoder --hidden 16,8 --train-filter malignant=0\n  \
        medgpu train --resume runs/mine"
    )]
    Train(Box<cli::train::TrainArgs>),
    /// Evaluate a trained run on a labelled CSV file
    #[command(after_help = "Example: medgpu eval --run runs/mine --data holdout.csv --json")]
    Eval {
        #[command(flatten)]
        run: RunData,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Predict with a trained run
    #[command(
        after_help = "Example: medgpu predict --run runs/mine --data new_patients.csv --out predictions.csv"
    )]
    Predict {
        #[command(flatten)]
        run: RunData,
        /// Output CSV (default: standard output)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Explain a trained run's outputs: integrated gradients, saliency, SmoothGrad, error shares
    #[command(
        after_help = "Examples:\n  medgpu explain --run runs/mine --data patients.csv --rows 1-20 --out explanations.csv\n  \
        medgpu explain --run runs/mine --data patients.csv --method saliency --target malignant --sanity-check"
    )]
    Explain(Box<cli::explain::ExplainArgs>),
    /// Rebuild a run's report.html and model_card.json, on its test split or on other labelled data
    #[command(after_help = "Examples:\n  medgpu report --run runs/mine\n  \
        medgpu report --run runs/mine --data other_site.csv --out runs/mine/other_site")]
    Report {
        /// A run directory written by `medgpu train`
        #[arg(long)]
        run: PathBuf,
        /// Labelled data to evaluate on instead of the run's test split (external validation)
        #[arg(long)]
        data: Option<String>,
        /// Folder for report.html and model_card.json (default: the run directory)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Search hyperparameters by cross-validation on the training part, then train and test the best
    #[command(
        after_help = "Example: medgpu tune --data builtin:breast_cancer --space space.toml --trials 20"
    )]
    Tune(Box<cli::tune::TuneArgs>),
    /// Plan a DP-SGD privacy budget: epsilon for a noise multiplier, or the noise an epsilon needs
    #[command(after_help = "Examples:\n  medgpu privacy --sample-rate 0.04 --noise 1.5 --steps 2250\n  \
        medgpu privacy --sample-rate 0.08 --steps 250 --epsilon 1.0 --json")]
    Privacy(cli::privacy::PrivacyArgs),
    /// Serve trained models over HTTP (Open Inference Protocol / KServe v2), batched on the GPU
    #[command(after_help = "Examples:\n  medgpu serve --run runs/mine --port 8000\n  \
        medgpu serve --models models/ --host 0.0.0.0 --token-file token.txt")]
    Serve(Box<cli::serve::ServeArgs>),
    /// Benchmarks: matmul GFLOPS, bandwidth, overheads, training throughput, memory
    #[command(
        after_help = "Examples:\n  medgpu bench --quick\n  medgpu bench --suite matmul,train --json bench.json"
    )]
    Bench {
        /// Fewer repetitions and sizes (matmul up to 512; else 2048 on CPU adapters, 4096 on GPUs)
        #[arg(long)]
        quick: bool,
        /// Suites to run: matmul, elementwise, dispatch, train, memory, startup, explain, serve (default: all)
        #[arg(long, value_delimiter = ',')]
        suite: Option<Vec<String>>,
        /// Also write the results as JSON to this file
        #[arg(long)]
        json: Option<PathBuf>,
        /// The adapter's FP32 peak in GFLOPS (from its data sheet): matmul
        /// figures are also given as a percentage of it
        #[arg(long)]
        peak_gflops: Option<f64>,
        /// Internal (the startup suite): time one model's first step in this process
        #[arg(long, hide = true)]
        first_step_of: Option<String>,
    },
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
    let dev =
        DeviceOptions { backend: cli.backend.clone(), adapter: cli.adapter.clone(), software_inline: false };
    let result = match cli.command {
        Command::Devices { json } => cli::devices::run(&dev, json),
        Command::Train(a) => cli::train::run(&dev, *a, cli.quiet),
        Command::Eval { run, json } => cli::predict::eval(&dev, &run.run, &run.data, json),
        Command::Predict { run, out } => cli::predict::predict(&dev, &run.run, &run.data, out.as_deref()),
        Command::Explain(a) => cli::explain::run(&dev, *a, cli.quiet),
        Command::Serve(a) => cli::serve::run(&dev, *a),
        Command::Privacy(a) => cli::privacy::run(a),
        Command::Tune(a) => cli::tune::run(&dev, *a, cli.quiet),
        Command::Report { run, data, out } => cli::report::run(&dev, &run, data.as_deref(), out.as_deref()),
        Command::Bench { first_step_of: Some(model), .. } => cli::startup::child(&dev, &model),
        Command::Bench { quick, suite, json, peak_gflops, first_step_of: None } => {
            cli::bench::run(&dev, quick, suite.as_deref(), json.as_deref(), peak_gflops)
        }
    };
    if let Err(e) = result {
        // the library names options as its fields: show them as this command line's flags
        let flags = cli::flags::long_flags(&Cli::command());
        eprintln!("error: {}", cli::flags::in_flags(&e.to_string(), &flags));
        std::process::exit(match e {
            Error::Usage(_) | Error::Options(_) => 2,
            _ => 1,
        });
    }
}

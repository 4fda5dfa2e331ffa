//! `medgpu train`'s options turned into a data source and a training
//! configuration.

use super::TrainArgs;
use medgpu::data::{MissingPolicy, Normalize, PrepareOptions, Task};
use medgpu::graph::{Act, NonFinitePolicy, Optimizer, OptimizerConfig};
use medgpu::metrics::operating::OperatingRule;
use medgpu::model::{Calibrate, EvaluationOptions};
use medgpu::models::ModelSpec;
use medgpu::train::{DataSource, LrSchedule, TrainConfig};
use medgpu::{Error, Result};
use std::path::PathBuf;

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

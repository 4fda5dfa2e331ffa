//! What a finished run leaves in its directory: `summary.json`,
//! `metrics.csv` and `model.json`, each written atomically.

use super::run_dir::write_atomic;
use super::{TrainOptions, TrainOutcome};
use crate::data::Table;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use serde_json::json;
use std::path::Path;

/// Writes the run's files into `dir`.
pub fn write_run(
    dir: &Path,
    gpu: &Gpu,
    table: &Table,
    opts: &TrainOptions,
    out: &TrainOutcome,
) -> Result<()> {
    let adapter = json!({
        "name": gpu.info.name,
        "backend": format!("{:?}", gpu.info.backend),
        "device_type": format!("{:?}", gpu.info.device_type),
        "driver": gpu.info.driver,
        "driver_info": gpu.info.driver_info,
    });
    let summary = json!({
        "medgpu_version": env!("CARGO_PKG_VERSION"),
        "data": table.source,
        "model": format!("mlp {}", out.spec.describe()),
        "seed": opts.seed,
        "epochs": opts.epochs,
        "split": {"train": out.split_sizes.0, "val": out.split_sizes.1, "test": out.split_sizes.2},
        "val": out.val,
        "test": out.test,
        "adapter": adapter,
        "dispatches_per_step": out.dispatches_per_step,
        "train_samples_per_sec": out.samples_per_sec,
    });
    let model = json!({
        "medgpu_version": env!("CARGO_PKG_VERSION"),
        "model": {"type": "mlp", "spec": out.spec},
        "task": "classify",
        "feature_names": table.feature_names,
        "target": table.target_name,
        "classes": out.classes,
        "normalization": {"kind": "zscore", "stats": out.zscore},
        "training": {
            "epochs": opts.epochs,
            "batch_size": opts.batch_size,
            "optimizer": opts.optimizer,
            "seed": opts.seed,
            "val_frac": opts.val_frac,
            "test_frac": opts.test_frac,
        },
    });
    let mut csv = String::from("epoch,train_loss,val_loss,val_accuracy,lr,seconds\n");
    for e in &out.epochs {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{},{:.4}\n",
            e.epoch, e.train_loss, e.val_loss, e.val_accuracy, opts.optimizer.lr, e.seconds
        ));
    }
    let pretty = |v: &serde_json::Value| {
        serde_json::to_vec_pretty(v).map_err(|e| Error::Gpu(format!("serializing: {e}")))
    };
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())?;
    write_atomic(&dir.join("model.json"), &pretty(&model)?)?;
    write_atomic(&dir.join("summary.json"), &pretty(&summary)?)?;
    Ok(())
}

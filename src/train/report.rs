//! What a finished run leaves in its directory: `weights.safetensors`,
//! `model.json`, `metrics.csv`, `summary.json` and `test_predictions.csv`,
//! each written atomically.

use super::TrainOutcome;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::model::checkpoint::{to_json, write_atomic};
use crate::model::clinical::{clinical_figures, ClinicalFigures, Outcomes};
use crate::model::predictions_csv;
use crate::model::TrainedModel;
use serde_json::json;
use std::path::Path;

/// Writes the run's final files into `dir`.
pub fn write_run(dir: &Path, gpu: &Gpu, out: &TrainOutcome) -> Result<()> {
    TrainedModel::from_weights(out.file.clone(), &out.weights)?.write_weights(dir)?;

    let mut csv =
        String::from("epoch,train_loss,val_loss,val_metric,val_metric_value,lr,skipped_steps,seconds\n");
    for e in &out.epochs {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{},{:.6},{},{},{:.4}\n",
            e.epoch,
            e.train_loss,
            e.val_loss,
            e.val_metric_name,
            e.val_metric,
            e.lr,
            e.skipped_steps,
            e.seconds
        ));
    }
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())?;
    let p = &out.prepared;
    let preds = predictions_csv(&out.file, &p.ds, &p.split.test, &out.test_inference);
    write_atomic(&dir.join("test_predictions.csv"), preds.as_bytes())?;
    write_atomic(&dir.join("model.json"), &to_json(&out.file)?)?;
    let summary = json!({
        "medgpu_version": env!("CARGO_PKG_VERSION"),
        "data": out.file.source.data,
        "task": out.file.task,
        "model": format!("{} {}", out.file.model.name, out.file.model.describe(p.ds.cols(), p.head.outputs)),
        "seed": out.file.training.seed,
        "epochs_run": out.epochs.len(),
        "best_epoch": out.best_epoch,
        "stopped_early": out.stopped_early,
        "split": {"train": out.split_sizes.0, "val": out.split_sizes.1, "test": out.split_sizes.2},
        "val": out.val,
        "test": out.test,
        "adapter": {
            "name": gpu.info.name,
            "backend": format!("{:?}", gpu.info.backend),
            "device_type": format!("{:?}", gpu.info.device_type),
            "driver": gpu.info.driver,
            "driver_info": gpu.info.driver_info,
        },
        "dispatches_per_step": out.dispatches_per_step,
        "train_samples_per_sec": out.samples_per_sec,
        "windows": p.windows,
        "clinical": clinical(out),
    });
    write_atomic(&dir.join("summary.json"), &to_json(&summary)?)
}

/// The test figures with intervals, calibration, operating points and
/// subgroups (see [`crate::model::clinical`]); `None` for autoencoders or
/// an empty test split.
pub fn clinical(out: &TrainOutcome) -> Option<ClinicalFigures> {
    let p = &out.prepared;
    let (val, test) = (&out.val_inference, &out.test_inference);
    let (tv, tt) = (p.ds.targets_of(&p.split.val), p.ds.targets_of(&p.split.test));
    let subgroups: Vec<(String, Vec<String>)> = p
        .subgroups
        .iter()
        .map(|(name, values)| (name.clone(), p.split.test.iter().map(|r| values[*r].clone()).collect()))
        .collect();
    let val = Outcomes { targets: &tv, outputs: &val.outputs, cols: val.cols };
    let test = Outcomes { targets: &tt, outputs: &test.outputs, cols: test.cols };
    clinical_figures(&out.file, Some(val), test, &subgroups)
}

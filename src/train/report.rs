//! What a finished run leaves in its directory: `weights.safetensors`,
//! `model.json`, `metrics.csv`, `summary.json`, `test_predictions.csv`,
//! `report.html` and `model_card.json`, each written atomically.

use super::prepare::Prepared;
use super::TrainOutcome;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::checkpoint::{to_json, write_atomic};
use crate::model::clinical::{clinical_figures, ClinicalFigures, Outcomes};
use crate::model::predictions_csv;
use crate::model::TrainedModel;
use crate::report::card::source_sha256;
use crate::report::{self, global_importance, DataSummary, Evaluation, ReportInput};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// Writes the run's final files into `dir`.
pub fn write_run(dir: &Path, gpu: &Arc<Gpu>, out: &TrainOutcome) -> Result<()> {
    let model = TrainedModel::from_weights(out.file.clone(), &out.weights)?;
    model.write_weights(dir)?;

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
    write_atomic(&dir.join("summary.json"), &to_json(&summary)?)?;
    let (tv, tt) = (p.ds.targets_of(&p.split.val), p.ds.targets_of(&p.split.test));
    // the learning curve as metrics.csv holds it, so that `medgpu report` draws the same
    let curve = read_learning_curve(dir)?;
    let input = report_input(out, curve, &tv, &tt, global_importance(gpu.clone(), &model, &p.test_sample));
    report::write(dir, &report::build(&input))
}

/// What the report of a finished run is built from; `tv` and `tt` are the
/// validation and test rows' targets.
fn report_input<'a>(
    out: &'a TrainOutcome,
    learning_curve: Vec<(usize, f64, f64)>,
    tv: &'a [f32],
    tt: &'a [f32],
    importance: Option<(String, Vec<(String, f64)>)>,
) -> ReportInput<'a> {
    let p = &out.prepared;
    let (val, test) = (&out.val_inference, &out.test_inference);
    let source = &out.file.source;
    let (description, external) = match &source.test_data {
        Some(t) => (format!("the test file {t} ({} rows)", p.split.test.len()), true),
        None => (format!("the test split of {} ({} rows)", source.data, p.split.test.len()), false),
    };
    ReportInput {
        file: &out.file,
        model_description: format!(
            "{} {}",
            out.file.model.name,
            out.file.model.describe(p.ds.cols(), p.head.outputs)
        ),
        learning_curve,
        training_data: training_data(p, &out.file),
        evaluation: Evaluation {
            description,
            external,
            val: Some(Outcomes { targets: tv, outputs: &val.outputs, cols: val.cols }),
            test: Outcomes { targets: tt, outputs: &test.outputs, cols: test.cols },
            inputs: &test.inputs,
            subgroups: test_subgroups(p),
            metrics: Some(out.test.clone()),
        },
        importance,
    }
}

/// The training data's source, hash, rows, split and class balance.
pub fn training_data(p: &Prepared, file: &crate::model::ModelFile) -> DataSummary {
    let labels = p.ds.encoding.class_labels();
    let splits = [&p.split.train, &p.split.val, &p.split.test];
    let mut class_balance: Vec<(String, [usize; 3])> = labels.iter().map(|l| (l.clone(), [0; 3])).collect();
    if p.ds.encoding.task == crate::data::Task::Classify {
        for (s, rows) in splits.iter().enumerate() {
            for t in p.ds.targets_of(rows) {
                if let Some(c) = class_balance.get_mut(t as usize) {
                    c.1[s] += 1;
                }
            }
        }
    } else {
        class_balance.clear();
    }
    DataSummary {
        source: file.source.data.clone(),
        sha256: source_sha256(&file.source.data),
        rows: p.ds.rows(),
        split: [p.split.train.len(), p.split.val.len(), p.split.test.len()],
        class_balance,
    }
}

/// Each subgroup column's value for every test row.
pub fn test_subgroups(p: &Prepared) -> Vec<(String, Vec<String>)> {
    p.subgroups
        .iter()
        .map(|(name, values)| (name.clone(), p.split.test.iter().map(|r| values[*r].clone()).collect()))
        .collect()
}

/// The test figures with intervals, calibration, operating points and
/// subgroups (see [`crate::model::clinical`]); `None` for autoencoders or
/// an empty test split.
pub fn clinical(out: &TrainOutcome) -> Option<ClinicalFigures> {
    let p = &out.prepared;
    let (val, test) = (&out.val_inference, &out.test_inference);
    let (tv, tt) = (p.ds.targets_of(&p.split.val), p.ds.targets_of(&p.split.test));
    let subgroups = test_subgroups(p);
    let val = Outcomes { targets: &tv, outputs: &val.outputs, cols: val.cols };
    let test = Outcomes { targets: &tt, outputs: &test.outputs, cols: test.cols };
    clinical_figures(&out.file, Some(val), test, &subgroups)
}

/// `(epoch, train loss, val loss)` from the run's `metrics.csv`; none when
/// the file is missing.
pub fn read_learning_curve(dir: &Path) -> Result<Vec<(usize, f64, f64)>> {
    let path = dir.join("metrics.csv");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let parsed = (
            cells.first().and_then(|c| c.parse().ok()),
            cells.get(1).and_then(|c| c.parse().ok()),
            cells.get(2).and_then(|c| c.parse().ok()),
        );
        match parsed {
            (Some(e), Some(t), Some(v)) => out.push((e, t, v)),
            _ => {
                return Err(Error::Data {
                    file: path.display().to_string(),
                    line: i as u64 + 1,
                    column: 1,
                    message: "expected epoch,train_loss,val_loss,... as medgpu train writes them".into(),
                })
            }
        }
    }
    Ok(out)
}

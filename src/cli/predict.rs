//! `medgpu eval` and `medgpu predict`: a saved run applied to new data.

use medgpu::data::encode_apply;
use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::model::{format_metrics, metrics_for};
use medgpu::model::{load_raw_as, windows_for};
use medgpu::model::{predictions_csv, run_model, TrainedModel};
use medgpu::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Evaluates the run in `run_dir` on `data` (which must have the target column).
pub fn eval(opts: &DeviceOptions, run_dir: &Path, data: &str, json: bool) -> Result<()> {
    let model = TrainedModel::load(run_dir)?;
    let (raw, _) = load_raw_as(data, model.file.model.input_shape, &model.file.source.prepare.csv)?;
    // only windows whose targets are in the file can be scored
    let raw = windows_for(raw, &model.file.source, false)?;
    let f = &model.file;
    let ds = encode_apply(&raw, &f.encoding, f.encoding.target.is_some())?;
    let gpu = Arc::new(Gpu::open(opts)?);
    let inf = run_model(gpu, &model, &ds)?;
    let m = metrics_for(f, &inf.outputs, inf.cols, &ds.targets, &inf.inputs);
    if json {
        let v = serde_json::json!({ "data": data, "rows": ds.rows(), "task": f.task, "metrics": m });
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| Error::Gpu(e.to_string()))?);
    } else {
        print!("{}", format_metrics(&format!("{data}: {} rows", ds.rows()), &m, &f.encoding));
    }
    Ok(())
}

/// Writes predictions of the run in `run_dir` for every readable row of `data`;
/// rows that cannot be read are listed on stderr, never dropped silently.
pub fn predict(opts: &DeviceOptions, run_dir: &Path, data: &str, out: Option<&Path>) -> Result<()> {
    let model = TrainedModel::load(run_dir)?;
    let (raw, _) = load_raw_as(data, model.file.model.input_shape, &model.file.source.prepare.csv)?;
    // forecasts run to the end of the file: the last windows predict the samples after it
    let raw = windows_for(raw, &model.file.source, true)?;
    let (ds, bad) = medgpu::data::encode_apply_lenient(&raw, &model.file.encoding)?;
    if !bad.is_empty() {
        eprintln!("warning: {} of {} rows could not be read and have no prediction:", bad.len(), raw.rows());
        for (_, msg) in bad.iter().take(20) {
            eprintln!("  {msg}");
        }
        if bad.len() > 20 {
            eprintln!("  ... and {} more", bad.len() - 20);
        }
    }
    let gpu = Arc::new(Gpu::open(opts)?);
    let inf = run_model(gpu, &model, &ds)?;
    let rows: Vec<usize> = (0..ds.rows()).collect();
    let csv = predictions_csv(&model.file, &ds, &rows, &inf);
    match out {
        Some(path) => {
            medgpu::model::checkpoint::write_atomic(path, csv.as_bytes())?;
            eprintln!("wrote {} predictions to {}", ds.rows(), path.display());
        }
        None => print!("{csv}"),
    }
    Ok(())
}

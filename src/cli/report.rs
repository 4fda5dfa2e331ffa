//! `medgpu report`: rebuild a run's report on its own test split or on
//! other labelled data.

use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Writes `report.html` and `model_card.json` of the run in `run_dir` into
/// `out` (default: the run directory).
pub fn run(dev: &DeviceOptions, run_dir: &Path, data: Option<&str>, out: Option<&Path>) -> Result<()> {
    let gpu = Arc::new(Gpu::open(dev)?);
    let report = medgpu::train::rebuild::rebuild(gpu, run_dir, data)?;
    let dir = out.unwrap_or(run_dir);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    medgpu::report::write(dir, &report)?;
    println!("wrote {} and {}", dir.join("report.html").display(), dir.join("model_card.json").display());
    Ok(())
}

//! `medgpu bench`: the training benchmark of the default MLP.

use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Runs the benchmark, prints a table, optionally writes JSON.
pub fn run(opts: &DeviceOptions, quick: bool, json: Option<&Path>) -> Result<()> {
    let gpu = Arc::new(Gpu::open(opts)?);
    let (reps, epochs) = if quick { (3, 5) } else { (7, 20) };
    let r = medgpu::bench::bench_default_mlp(gpu.clone(), reps, epochs)?;
    println!("adapter: {} (driver {} {})", gpu.describe(), gpu.info.driver, gpu.info.driver_info);
    println!(
        "model: MLP {} batch {}, Adam; {} reps of {} epochs; {}",
        r.model, r.batch, reps, epochs, r.timing
    );
    println!("{:<28} {:>12} {:>12} {:>12} {:>10}", "figure", "median", "min", "max", "target");
    let s = &r.samples_per_sec;
    println!(
        "{:<28} {:>12.0} {:>12.0} {:>12.0} {:>10}",
        "train samples/s", s.median, s.min, s.max, ">= 25000"
    );
    let e = &r.encode_us_per_step;
    println!(
        "{:<28} {:>12.1} {:>12.1} {:>12.1} {:>10}",
        "CPU us to record a step", e.median, e.min, e.max, "-"
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
            "adapter": {"name": gpu.info.name, "backend": format!("{:?}", gpu.info.backend),
                        "driver": gpu.info.driver, "driver_info": gpu.info.driver_info},
            "mlp": r,
        });
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::Gpu(e.to_string()))?;
        medgpu::train::run_dir::write_atomic(path, &bytes)?;
    }
    Ok(())
}

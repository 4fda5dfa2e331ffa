//! Loads a large generated CSV and reports time and peak memory.
//!
//! `cargo run --release --example load_1m [-- ROWS]` writes ROWS (default
//! 1,000,000) rows of 30 numeric features and a binary target to a temp
//! file, then times `read_raw_csv`, `encode_fit` and
//! `rows_after_missing_policy`, and prints the peak resident memory (VmHWM)
//! against the f32 size of the features (rows x 30 x 4 bytes).
//!
//! With `-- ROWS --train` it instead trains the default MLP for one epoch on
//! the file (load, split, normalize, upload, train, evaluate: the whole run
//! on the GPU adapter found) and reports the same peak.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use medgpu::data::{encode_fit, read_raw_csv, rows_after_missing_policy, MissingPolicy, PrepareOptions};

/// Feature columns of the generated file.
const FEATURES: usize = 30;

/// A kB figure from /proc/self/status (Linux), in MB (10^6 bytes); 0 where there is none.
fn status_mb(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb * 1024.0 / 1e6
}

/// Writes the CSV row by row (nothing of it is held in memory).
fn write_csv(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let names: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    writeln!(out, "{},y", names.join(","))?;
    let mut rng = medgpu::data::SplitMix64::new(42);
    for _ in 0..rows {
        // Values 0.0000..99.9999, written as fixed-point integers (fast).
        let mut sum = 0;
        for _ in 0..FEATURES {
            let x = rng.next_below(1_000_000);
            sum += x;
            write!(out, "{}.{:04},", x / 10_000, x % 10_000)?;
        }
        writeln!(out, "{}", u8::from(sum > 500_000 * FEATURES as u64))?;
    }
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let rows: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 1_000_000,
    };
    let train = std::env::args().any(|a| a == "--train");
    let dir = std::env::temp_dir().join(format!("medgpu_load_1m_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("data.csv");
    let t = Instant::now();
    write_csv(&path, rows)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "generated {} ({:.1} MB, {rows} rows x {FEATURES} features + target) in {:.2} s; RSS {:.1} MB",
        path.display(),
        size as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        status_mb("VmRSS:")
    );

    let result = (|| -> medgpu::Result<()> {
        if train {
            return train_one_epoch(&path, &dir);
        }
        let t = Instant::now();
        let raw = read_raw_csv(&path)?;
        println!(
            "read_raw_csv:              {:6.2} s, {} rows, RSS {:.1} MB",
            t.elapsed().as_secs_f64(),
            raw.rows(),
            status_mb("VmRSS:")
        );
        let t = Instant::now();
        let opts = PrepareOptions { target: Some("y".into()), ..PrepareOptions::default() };
        let ds = encode_fit(&raw, &opts)?;
        println!(
            "encode_fit:                {:6.2} s, {} x {} features, RSS {:.1} MB",
            t.elapsed().as_secs_f64(),
            ds.rows(),
            ds.cols(),
            status_mb("VmRSS:")
        );
        let t = Instant::now();
        let kept = rows_after_missing_policy(&ds, MissingPolicy::Error)?;
        println!(
            "rows_after_missing_policy: {:6.2} s, {} rows kept, RSS {:.1} MB",
            t.elapsed().as_secs_f64(),
            kept.len(),
            status_mb("VmRSS:")
        );
        Ok(())
    })();
    std::fs::remove_dir_all(&dir)?;
    result?;

    let f32_mb = (rows * FEATURES * 4) as f64 / 1e6;
    let peak = status_mb("VmHWM:");
    println!(
        "peak resident memory (VmHWM): {peak:.1} MB = {:.2} x the f32 data ({f32_mb:.1} MB)",
        peak / f32_mb
    );
    Ok(())
}

/// One epoch of the default MLP on the file, through the same path as `medgpu train`.
fn train_one_epoch(path: &Path, dir: &Path) -> medgpu::Result<()> {
    use medgpu::train::{train, DataSource, Hooks, TrainConfig};
    let t = Instant::now();
    let gpu = std::sync::Arc::new(medgpu::gpu::Gpu::open(&Default::default())?);
    println!("device opened: RSS {:.1} MB (the driver's own baseline)", status_mb("VmRSS:"));
    let source = DataSource {
        data: path.display().to_string(),
        test_data: None,
        prepare: PrepareOptions { target: Some("y".into()), ..PrepareOptions::default() },
        window: None,
        sequences: None,
    };
    let cfg = TrainConfig { epochs: 1, batch_size: 256, ..TrainConfig::default() };
    let mut progress = |e: &medgpu::train::EpochLog| {
        println!(
            "epoch {}: train loss {:.4}, val {} {:.4}, {:.1} s, GPU buffers {:.1} MB, RSS {:.1} MB",
            e.epoch,
            e.train_loss,
            e.val_metric_name,
            e.val_metric,
            e.seconds,
            e.gpu_bytes as f64 / 1e6,
            e.host_rss_bytes as f64 / 1e6
        )
    };
    let hooks = Hooks { progress: &mut progress, stop_after_epoch: None };
    train(gpu.clone(), &source, &cfg, &dir.join("run"), false, hooks)?;
    println!("trained one epoch on {} in {:.1} s total", gpu.describe(), t.elapsed().as_secs_f64());
    Ok(())
}

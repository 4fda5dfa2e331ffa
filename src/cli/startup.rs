//! `medgpu bench --suite startup`: seconds from compilation to the first
//! finished training step of each benchmark model, cold and warm, each in a
//! fresh process (`medgpu bench --first-step-of MODEL`): cold with the
//! drivers' shader caches and medgpu's pipeline cache off, warm after one
//! run has filled them. A first step in the benchmark's own process would
//! find the kernels the earlier suites compiled.

use medgpu::bench;
use medgpu::gpu::DeviceOptions;
use medgpu::{Error, Result};
use serde::Serialize;
use std::process::Command;

/// What makes a first step cold: Mesa's shader cache (lavapipe, llvmpipe,
/// RADV, ANV), NVIDIA's shader disk cache and medgpu's pipeline cache off.
pub const COLD_ENV: [(&str, &str); 3] = [
    ("MESA_SHADER_CACHE_DISABLE", "true"),
    ("__GL_SHADER_DISK_CACHE", "0"),
    ("MEDGPU_PIPELINE_CACHE", "off"),
];

/// The line a child prints before its seconds.
const PREFIX: &str = "first_step_secs ";

/// One model's first steps.
#[derive(Clone, Debug, Serialize)]
pub struct Startup {
    /// Benchmark model (`bench::model_setup`).
    pub model: &'static str,
    /// Seconds with every cache off.
    pub cold_secs: f64,
    /// Seconds after a run that filled the caches.
    pub warm_secs: f64,
}

/// The child's side: times `model`'s first step and prints it.
pub fn child(opts: &DeviceOptions, model: &str) -> Result<()> {
    let devs = bench::Devices::open(opts)?;
    let secs = bench::first_step(&devs, model)?;
    println!("{PREFIX}{secs}");
    Ok(())
}

/// The seconds a child printed, or what went wrong.
fn parse_child(model: &str, status: std::process::ExitStatus, stdout: &str, stderr: &str) -> Result<f64> {
    let secs = stdout.lines().find_map(|l| l.strip_prefix(PREFIX)).and_then(|v| v.trim().parse::<f64>().ok());
    match secs {
        Some(s) if status.success() => Ok(s),
        _ => {
            let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
            Err(Error::Gpu(format!(
                "the first step of '{model}' in a fresh process failed ({status}): {why}"
            )))
        }
    }
}

/// Runs `medgpu bench --first-step-of model` in a fresh process.
fn spawn(opts: &DeviceOptions, model: &str, cold: bool) -> Result<f64> {
    let exe = std::env::current_exe().map_err(|e| Error::io("the medgpu executable", e))?;
    let mut cmd = Command::new(&exe);
    if let Some(b) = &opts.backend {
        cmd.args(["--backend", b]);
    }
    if let Some(a) = &opts.adapter {
        cmd.args(["--adapter", a]);
    }
    cmd.args(["bench", "--first-step-of", model]);
    if cold {
        cmd.envs(COLD_ENV);
    }
    let out = cmd.output().map_err(|e| Error::io(&exe, e))?;
    parse_child(
        model,
        out.status,
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
    )
}

/// Cold and warm first steps of `model` (one of
/// [`bench::STARTUP_MODELS`]): one cold run, one that fills the caches, one
/// warm.
pub fn measure(opts: &DeviceOptions, model: &'static str) -> Result<Startup> {
    let cold_secs = spawn(opts, model, true)?;
    spawn(opts, model, false)?;
    let warm_secs = spawn(opts, model, false)?;
    Ok(Startup { model, cold_secs, warm_secs })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_childs_seconds_are_read_and_its_failure_is_named() {
        let ok = std::process::ExitStatus::from_raw(0);
        let failed = std::process::ExitStatus::from_raw(1 << 8);
        assert_eq!(parse_child("mlp", ok, "adapter ...\nfirst_step_secs 0.25\n", "").unwrap(), 0.25);
        let e = parse_child("lstm", failed, "", "warn: x\nerror: no GPU adapter found\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'lstm'") && e.contains("no GPU adapter found"), "{e}");
        assert!(parse_child("cnn", ok, "nothing\n", "").is_err());
    }
}

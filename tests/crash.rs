//! Crash safety: `medgpu train` killed with SIGKILL at random moments, many
//! times, always leaves a run directory that loads (model.json, and a
//! checkpoint whose record names complete files), and `--resume` finishes it.

#![cfg(unix)]

use medgpu::model::checkpoint::{check_against, load_tensors};
use medgpu::model::ModelFile;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Checks everything a later `--resume` reads; returns the checkpointed epoch (0: none yet).
fn check_loadable(dir: &Path) -> usize {
    if !dir.join("model.json").exists() {
        // killed before the run wrote anything: nothing to load, nothing half-written
        // (a kill inside an atomic write leaves its temporary file, which nothing reads)
        let leftovers: Vec<_> =
            std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        let harmless = |n: &std::ffi::OsString| n == "checkpoint" || n.to_string_lossy().ends_with(".tmp");
        assert!(leftovers.iter().all(harmless), "{dir:?}: {leftovers:?}");
        return 0;
    }
    let file = ModelFile::load(dir).unwrap_or_else(|e| panic!("{dir:?}: model.json does not load: {e}"));
    let state_path = dir.join("checkpoint/state.json");
    if !state_path.exists() {
        return 0;
    }
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap())
        .unwrap_or_else(|e| panic!("{state_path:?} is damaged: {e}"));
    let epoch = state["epoch"].as_u64().unwrap() as usize;
    let w = dir.join(format!("checkpoint/epoch-{epoch}.weights.safetensors"));
    let tensors = load_tensors(&w).unwrap_or_else(|e| panic!("{w:?}: {e}"));
    check_against(&w, &tensors, &file.param_shapes().unwrap()).unwrap();
    load_tensors(&dir.join(format!("checkpoint/epoch-{epoch}.optimizer.safetensors"))).unwrap();
    epoch
}

/// Starts the training run the test kills, writing to `dir`.
fn spawn_run(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_medgpu"))
        .args(["train", "--epochs", "300", "--no-early-stopping", "-q", "--out", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Milliseconds from the start of a run to its first checkpoint on this
/// machine (startup and epochs take several times longer on a busy one).
fn ms_to_first_checkpoint() -> u64 {
    let dir = tmp("calibrate");
    let start = std::time::Instant::now();
    let mut child = spawn_run(&dir);
    while !dir.join("checkpoint/state.json").exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let ms = start.elapsed().as_millis() as u64;
    child.kill().unwrap();
    child.wait().unwrap();
    ms
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_broken_run() {
    let mut rng = medgpu::data::SplitMix64::new(2026);
    // kill times from a quarter to 4 times the time to the first checkpoint:
    // some kills land before it, most after
    let first = ms_to_first_checkpoint().max(40);
    let mut with_checkpoint = 0;
    let mut resumable = None;
    for i in 0..12 {
        let dir = tmp(&format!("run{i}"));
        let mut child = spawn_run(&dir);
        std::thread::sleep(Duration::from_millis(first / 4 + rng.next_below(first * 4 - first / 4)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let epoch = check_loadable(&dir);
        if epoch > 0 {
            with_checkpoint += 1;
            resumable.get_or_insert((dir.clone(), epoch));
        }
    }
    assert!(
        with_checkpoint >= 3,
        "only {with_checkpoint} of 12 kills happened after a checkpoint; the test proves little"
    );

    // a killed run continues to the end
    let (dir, epoch) = resumable.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medgpu"))
        .args(["train", "-q", "--resume", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "resume after epoch {epoch}: {}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs_run"], 300);
}

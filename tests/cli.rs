//! The command line: the default job writes its run directory, and bad input
//! is one clear line and a non-zero exit, never a panic.

use std::process::Command;

fn medgpu(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_medgpu")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_clean_error(args: &[&str], code: i32, needle: &str) {
    let (c, _, err) = medgpu(args);
    assert_eq!(c, code, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: stderr {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let error_lines = err.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(error_lines, 1, "{args:?}: one error line expected: {err}");
}

#[test]
fn train_writes_summary_with_test_metrics_and_adapter() {
    let dir = std::env::temp_dir().join(format!("medgpu-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = medgpu(&["train", "--epochs", "3", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("epoch   1/3") && out.contains("val accuracy"), "{out}");
    assert!(out.contains("test: accuracy") && out.contains("recall") && out.contains("F1"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    for key in ["accuracy", "precision", "recall", "f1"] {
        let v = summary["test"][key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "test.{key} = {v}");
    }
    assert!(summary["adapter"]["name"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(summary["adapter"]["backend"].as_str().is_some());
    assert!(dir.join("metrics.csv").exists() && dir.join("model.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_lists_at_least_one_adapter_as_json() {
    let (code, out, err) = medgpu(&["devices", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert!(!list.is_empty());
    assert!(list[0]["limits"].is_array() && list[0]["backend"].is_string());
}

#[test]
fn bad_input_is_one_line_and_a_nonzero_exit() {
    assert_clean_error(&["train", "--backend", "nosuch"], 2, "unknown backend 'nosuch'");
    assert_clean_error(
        &["train", "--adapter", "no-such-adapter-xyz"],
        1,
        "no GPU adapter found whose name contains 'no-such-adapter-xyz'",
    );
    #[cfg(not(target_os = "macos"))]
    assert_clean_error(&["train", "--backend", "metal"], 1, "not available");
    assert_clean_error(&["train", "--data", "builtin:nothing"], 1, "builtin");
    assert_clean_error(&["train", "--data", "/no/such/file.csv", "--target", "y"], 1, "/no/such/file.csv");
    assert_clean_error(&["train", "--activation", "swish"], 2, "unknown activation");
    assert_clean_error(&["train", "--hidden", "0"], 1, "at least one unit");
}

//! Small data: early stopping with the best epoch kept is the default, so
//! more epochs do not make a small regression worse; k-fold
//! cross-validation folds every row once (stratified, or by patient),
//! reports the folds' figures with their interval and writes out-of-fold
//! predictions; bad requests are one line.

mod common;
use common::{assert_clean_error, medgpu, s};

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-small-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// 442 rows of 10 features and a noisy linear target, the shape of a small
/// clinical regression.
fn small_regression(path: &Path) {
    let mut rng = medgpu::data::SplitMix64::new(11);
    let mut normal = || {
        let (u, v) = (rng.next_f64().max(1e-12), rng.next_f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let w: Vec<f64> = (0..10).map(|_| normal()).collect();
    let mut text = (0..10).map(|i| format!("x{i}")).collect::<Vec<_>>().join(",") + ",y\n";
    for _ in 0..442 {
        let x: Vec<f64> = (0..10).map(|_| normal()).collect();
        let y = 150.0 + 20.0 * x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + 55.0 * normal();
        let cells: Vec<String> = x.iter().map(|v| format!("{v:.4}")).collect();
        text.push_str(&format!("{},{y:.1}\n", cells.join(",")));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn more_epochs_do_not_make_a_small_regression_worse() {
    let dir = tmp("epochs");
    let data = dir.join("small.csv");
    small_regression(&data);
    let r2 = |epochs: &str, extra: &[&str]| {
        let run = dir.join(format!("e{epochs}{}", extra.len()));
        let mut args =
            vec!["train", "--data", s(&data), "--target", "y", "--epochs", epochs, "--out", s(&run)];
        args.extend(extra);
        let (code, out, err) = medgpu(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        let summary = json(&run.join("summary.json"));
        (summary["test"]["r2"].as_f64().unwrap(), summary["epochs_run"].as_u64().unwrap(), out)
    };
    let (short, _, out) = r2("20", &[]);
    assert!(out.contains("early stopping (patience 10): kept the weights of epoch"), "{out}");
    let (long, ran, out) = r2("200", &[]);
    assert!(ran < 200 && out.contains("stopped early"), "ran {ran} epochs: {out}");
    assert!((long - short).abs() <= 0.02, "test R2 {long} at 200 epochs vs {short} at 20");
    // without early stopping every epoch runs and the last weights are kept
    let (_, ran, out) = r2("40", &["--no-early-stopping"]);
    assert_eq!(ran, 40);
    assert!(!out.contains("early stopping"), "{out}");
}

#[test]
fn cross_validation_folds_every_row_once_and_summarizes_the_folds() {
    let dir = tmp("cv");
    let run = dir.join("run");
    let (code, out, err) = medgpu(&["train", "--cv", "3", "--epochs", "5", "--out", s(&run)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("repeat 1 fold  3") && out.contains("over 3 folds"), "{out}");
    let summary = json(&run.join("cv_summary.json"));
    let folds = summary["per_fold"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let accs: Vec<f64> = folds.iter().map(|f| f["test"]["accuracy"].as_f64().unwrap()).collect();
    let acc = &summary["summary"]["accuracy"];
    let mean = accs.iter().sum::<f64>() / 3.0;
    assert!((acc["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    let (lo, hi) = (acc["ci95"][0].as_f64().unwrap(), acc["ci95"][1].as_f64().unwrap());
    assert!(lo <= mean && mean <= hi, "{acc}");
    for k in 1..=3 {
        assert!(run.join(format!("repeat-1-fold-{k}/report.html")).exists());
    }
    // out-of-fold: every row exactly once, each fold with its share of malignant rows
    let oof = std::fs::read_to_string(run.join("oof_predictions.csv")).unwrap();
    let rows: Vec<Vec<String>> =
        oof.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    let lines: BTreeSet<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!((rows.len(), lines.len()), (569, 569));
    let labels: Vec<String> =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect();
    let mut malignant = BTreeMap::new();
    for r in &rows {
        let line: usize = r[2].parse().unwrap();
        *malignant.entry(r[1].clone()).or_insert(0) += usize::from(labels[line - 2] == "1");
    }
    // 212 malignant rows in 3 folds: 70 or 71 each
    assert!(malignant.values().all(|n| (70..=71).contains(n)), "{malignant:?}");
}

#[test]
fn grouped_folds_keep_a_patient_together_and_a_test_file_stays_out() {
    let dir = tmp("grouped");
    let mut text = String::from("patient,marker,age,outcome\n");
    let mut rng = medgpu::data::SplitMix64::new(3);
    for p in 0..40 {
        for v in 0..3 {
            let outcome = u8::from(p % 3 == 0);
            let marker = rng.next_f64() + 2.0 * f64::from(outcome);
            text.push_str(&format!("p{p},{marker:.3},{},{outcome}\n", 40 + p + v));
        }
    }
    let (visits, test_csv) = (dir.join("visits.csv"), dir.join("test.csv"));
    std::fs::write(&visits, &text).unwrap();
    let test: String = text.lines().take(31).collect::<Vec<_>>().join("\n").replace("\np", "\nq") + "\n";
    std::fs::write(&test_csv, test).unwrap();
    let run = dir.join("run");
    let args = [
        "train",
        "--data",
        s(&visits),
        "--target",
        "outcome",
        "--group-column",
        "patient",
        "--test-data",
        s(&test_csv),
        "--cv",
        "4",
        "--epochs",
        "5",
        "--out",
        s(&run),
    ];
    let (code, out, err) = medgpu(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("final model on the test file:"), "{out}");
    let oof = std::fs::read_to_string(run.join("oof_predictions.csv")).unwrap();
    // line n of visits.csv is row n - 2, a visit of patient (n - 2) / 3
    let mut fold_of: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for l in oof.lines().skip(1) {
        let c: Vec<&str> = l.split(',').collect();
        let line: usize = c[2].parse().unwrap();
        fold_of.entry((line - 2) / 3).or_default().insert(c[1].to_string());
    }
    assert_eq!(
        fold_of.len(),
        40,
        "every patient of the data file, none of the test file: {:?}",
        fold_of.keys()
    );
    assert!(fold_of.values().all(|f| f.len() == 1), "a patient spans folds: {fold_of:?}");
    assert_eq!(json(&run.join("final/summary.json"))["split"]["test"], 30);
}

#[test]
fn cross_validation_requests_that_cannot_work_are_one_line() {
    let out = tmp("bad").join("never");
    assert_clean_error(&["train", "--cv", "1", "--out", s(&out)], 2, &["--cv 1", "at least 2 folds"]);
    assert_clean_error(
        &["train", "--cv", "300", "--out", s(&out)],
        2,
        &["--cv 300", "rarest class (1) has only 212 rows", "at most 212 folds"],
    );
    assert_clean_error(
        &["train", "--early-stopping", "0", "--out", s(&out)],
        2,
        &["--early-stopping", "at least 1"],
    );
    assert!(!out.exists(), "a refused run left a directory");
}

#[test]
fn tune_scores_configurations_by_cross_validation_and_tests_the_best_once() {
    let dir = tmp("tune");
    let space = dir.join("space.toml");
    std::fs::write(&space, "lr = { min = 1e-3, max = 1e-2, log = true }\nhidden = [[16], [32, 16]]\n")
        .unwrap();
    let run = dir.join("run");
    let args =
        ["tune", "--space", s(&space), "--trials", "2", "--folds", "3", "--epochs", "5", "--out", s(&run)];
    let (code, out, err) = medgpu(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("best first:") && out.contains("on the test split:"), "{out}");
    let csv = std::fs::read_to_string(run.join("tune_results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // the options as given and two draws, best first
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(csv.contains("the options as given"), "{csv}");
    let means: Vec<f64> = rows.iter().map(|r| r.split(',').nth(3).unwrap().parse().unwrap()).collect();
    assert!(means.windows(2).all(|w| w[0] >= w[1]), "not sorted: {means:?}");
    // each trial's folds are of the training part only: 483 of the 569 rows
    let folds = json(&run.join("trial-1/cv_summary.json"));
    let held_out: u64 =
        folds["per_fold"].as_array().unwrap().iter().map(|f| f["test_rows"].as_u64().unwrap()).sum();
    assert_eq!(held_out, 569 - 86);
    // the final model: the best configuration, on the usual split
    let best_trial: usize = rows[0].split(',').nth(1).unwrap().parse().unwrap();
    let final_cfg = json(&run.join("final/model.json"))["training"].clone();
    let trial_cfg =
        json(&run.join(format!("trial-{best_trial}/repeat-1-fold-1/model.json")))["training"].clone();
    assert_eq!(final_cfg["optimizer"], trial_cfg["optimizer"]);
    assert_eq!(final_cfg["model"], trial_cfg["model"]);
    assert_eq!(json(&run.join("final/summary.json"))["split"]["test"], 86);
}

#[test]
fn search_spaces_that_cannot_work_are_one_line() {
    let dir = tmp("badspace");
    let out = dir.join("never");
    for (text, needle) in [
        ("learning_rate = [0.1]", "unknown key 'learning_rate'"),
        ("lr = []", "'lr' is an empty list"),
        ("lr = { min = 0.1, max = 0.01 }", "'lr' range [0.1, 0.01] is empty"),
        ("dropout = [1.5]", "'dropout' = 1.5 is not a valid value"),
    ] {
        let space = dir.join("space.toml");
        std::fs::write(&space, text).unwrap();
        assert_clean_error(&["tune", "--space", s(&space), "--out", s(&out)], 2, &[needle]);
    }
    let space = dir.join("space.toml");
    std::fs::write(&space, "lr = { min = 0.001, max = 0.01 }").unwrap();
    assert_clean_error(
        &["tune", "--space", s(&space), "--search", "grid", "--out", s(&out)],
        2,
        &["grid search takes lists"],
    );
    assert!(!out.exists(), "a refused search left a directory");
}

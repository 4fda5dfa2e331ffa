//! Clinical evaluation through the command line: the temperature and the
//! operating point are chosen on validation, saved and applied by predict;
//! the intervals, subgroups and report come out of a run and `medgpu
//! report` rebuilds the same page; bad requests are one clear line.

mod common;
use common::{assert_clean_error, medgpu, s};

use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-clinical-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// The breast cancer data with a `sex` column (F, M alternating) and a
/// `site` column whose last rows form a subgroup too small to report.
fn with_subgroup_columns(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = vec![format!("{},sex,site", lines.next().unwrap())];
    for (i, l) in lines.enumerate() {
        let sex = if i % 2 == 0 { "F" } else { "M" };
        let site = if i >= 560 { "tiny" } else { ["north", "south"][i % 3 % 2] };
        out.push(format!("{l},{sex},{site}"));
    }
    let path = dir.join("patients.csv");
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    path
}

fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum (coreutils)");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn an_operating_point_and_subgroups_are_chosen_saved_applied_and_reported() {
    let dir = tmp("op");
    let data = with_subgroup_columns(&dir);
    let run = dir.join("run");
    let use_text = "Second reader for fine-needle aspirates in adults";
    let (code, out, err) = medgpu(&[
        "train",
        "--data",
        s(&data),
        "--target",
        "malignant",
        "--drop-columns",
        "sex,site",
        "--subgroup-column",
        "sex,site",
        "--operating-point",
        "sensitivity=0.95",
        "--epochs",
        "10",
        "--bootstrap",
        "300",
        "--intended-use",
        use_text,
        "--out",
        s(&run),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("operating point") && out.contains("subgroups by sex:"), "{out}");

    let summary = json(&run.join("summary.json"));
    let c = &summary["clinical"];
    let op = &c["operating_point"];
    assert_eq!(op["rule"], "sensitivity=0.95");
    let threshold = op["threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0, "{threshold}");
    assert!(op["validation"][0].as_f64().unwrap() >= 0.95, "{op}");
    // the saved model's test figures are those at its operating point
    assert_eq!(summary["test"]["recall"].as_f64(), op["test"]["sensitivity"]["value"].as_f64());
    let confusion: u64 = op["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(confusion, summary["split"]["test"].as_u64().unwrap());
    assert!(c["at_sensitivity_95"]["threshold"].as_f64().is_some(), "{c}");
    assert!(c["calibration"]["temperature"].as_f64().unwrap() > 0.0);
    // model.json holds what predict applies
    let model = json(&run.join("model.json"));
    assert_eq!(model["decision"]["operating_point"]["threshold"].as_f64(), Some(threshold));

    // subgroups: sex splits the test rows; the tiny site is reported, not hidden
    let groups = &c["subgroups"];
    assert_eq!(groups[0]["column"], "sex");
    let n: u64 = groups[0]["groups"].as_array().unwrap().iter().map(|g| g["n"].as_u64().unwrap()).sum();
    assert_eq!(n, summary["split"]["test"].as_u64().unwrap());
    let tiny = groups[1]["groups"].as_array().unwrap().iter().find(|g| g["value"] == "tiny").unwrap();
    assert_eq!(tiny["too_small"], true);
    assert!(groups[0]["largest_gap"]["sensitivity"].as_f64().unwrap() >= 0.0);

    // predict applies the temperature and the threshold
    let preds = dir.join("preds.csv");
    let (code, _, err) = medgpu(&["predict", "--run", s(&run), "--data", s(&data), "--out", s(&preds)]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&preds).unwrap();
    let mut called = 0;
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let p1: f64 = cells[3].parse().unwrap();
        assert_eq!(cells[1] == "1", p1 >= threshold - 1e-6, "{line} at threshold {threshold}");
        called += usize::from(cells[1] == "1");
    }
    assert!(called > 0);

    // the report and the model card
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for needle in [
        "Model card",
        use_text,
        "ROC curve",
        "Precision-recall curve",
        "Reliability diagram",
        "Decision curve",
        "Learning curves",
        "Confusion matrix",
        "By sex",
        "too small",
        "Global feature importance",
        "<svg",
    ] {
        assert!(html.contains(needle), "report.html lacks '{needle}'");
    }
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "report.html is not self-contained: '{banned}'");
    }
    let card = json(&run.join("model_card.json"));
    assert_eq!(card["intended_use"], use_text);
    assert_eq!(card["training_data"]["sha256"], sha256sum(&data).as_str());
    assert_eq!(card["evaluation_data"]["external"], false);
    assert!(card["caveats"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("No external validation")));

    // `medgpu report` rebuilds the same page; on other data it is an external validation
    let (code, _, err) = medgpu(&["report", "--run", s(&run), "--out", s(&dir.join("again"))]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("again/report.html")).unwrap(),
        html,
        "the report is not deterministic"
    );
    let (code, _, err) =
        medgpu(&["report", "--run", s(&run), "--data", s(&data), "--out", s(&dir.join("ext"))]);
    assert_eq!(code, 0, "{err}");
    let ext = json(&dir.join("ext/model_card.json"));
    assert_eq!(ext["evaluation_data"]["external"], true);
    assert_eq!(ext["evaluation_data"]["rows"], 569);
    assert_eq!(ext["training_data"]["sha256"], card["training_data"]["sha256"]);
}

#[test]
fn the_temperature_changes_probabilities_but_never_a_predicted_class() {
    let dir = tmp("temperature");
    let read = |name: &str, calibrate: &str| {
        let run = dir.join(name);
        let (code, out, err) =
            medgpu(&["train", "--epochs", "4", "--calibrate", calibrate, "--quiet", "--out", s(&run)]);
        assert_eq!(code, 0, "{out}\n{err}");
        let text = std::fs::read_to_string(run.join("test_predictions.csv")).unwrap();
        let rows: Vec<(String, f64)> = text
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (c[1].to_string(), c[3].parse().unwrap())
            })
            .collect();
        (rows, json(&run.join("model.json"))["decision"]["temperature"].as_f64().unwrap())
    };
    let (plain, t1) = read("none", "none");
    let (warm, t) = read("temperature", "temperature");
    assert_eq!(t1, 1.0);
    assert!(t > 0.0 && t != 1.0, "fitted temperature {t}");
    assert_eq!(plain.len(), warm.len());
    assert!(plain.iter().zip(&warm).all(|(a, b)| a.0 == b.0), "a predicted class changed");
    assert!(
        plain.iter().zip(&warm).any(|(a, b)| (a.1 - b.1).abs() > 1e-4),
        "the probabilities did not change"
    );
}

#[test]
fn other_tasks_get_their_own_plots_and_figures() {
    let dir = tmp("tasks");
    // regression: R² and MAE with intervals, predicted against actual, residuals
    let run = dir.join("regress");
    let (code, out, err) =
        medgpu(&["train", "--target", "mean_radius", "--task", "regress", "--epochs", "5", "--out", s(&run)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let ci = &json(&run.join("summary.json"))["clinical"]["test_ci95"];
    let (v, lo, hi) = (
        ci["r2"]["value"].as_f64().unwrap(),
        ci["r2"]["ci95"][0].as_f64().unwrap(),
        ci["r2"]["ci95"][1].as_f64().unwrap(),
    );
    assert!(lo <= v && v <= hi, "r2 {v} ({lo}-{hi})");
    assert!(ci["mae"]["value"].as_f64().unwrap() > 0.0);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("Predicted against actual") && html.contains("Residuals"), "regression report");
    // autoencoder: the anomaly score per class
    let run = dir.join("ae");
    let (code, out, err) = medgpu(&["train", "--model", "autoencoder", "--epochs", "3", "--out", s(&run)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("Anomaly score") && html.contains("class 1"), "autoencoder report");
    // multiclass: top-label reliability and a 10 x 10 confusion matrix
    let run = dir.join("digits");
    let (code, out, err) = medgpu(&["train", "--data", "builtin:digits", "--epochs", "2", "--out", s(&run)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("Reliability diagram (top label)"), "multiclass report");
    assert_eq!(html.matches("<tr><th>9</th>").count(), 1, "one confusion row per class");
}

#[test]
fn requests_that_do_not_fit_are_one_clear_line() {
    let dir = tmp("bad");
    let data = with_subgroup_columns(&dir);
    let out = dir.join("never");
    let base = [
        "train",
        "--data",
        s(&data),
        "--target",
        "malignant",
        "--drop-columns",
        "sex,site",
        "--out",
        s(&out),
    ];
    let with =
        |more: &[&'static str]| base.iter().copied().chain(more.iter().copied()).collect::<Vec<&str>>();
    assert_clean_error(
        &with(&["--subgroup-column", "ethnicity"]),
        2,
        &["--subgroup-column 'ethnicity' is not a column", "sex"],
    );
    assert_clean_error(&with(&["--operating-point", "sensitivity=95"]), 2, &["--operating-point", "youden"]);
    assert_clean_error(&with(&["--calibrate", "platt"]), 2, &["--calibrate", "temperature or none"]);
    assert!(!out.exists(), "a refused run left a directory");
    // a column with one value
    let one = dir.join("one.csv");
    let text = std::fs::read_to_string(&data).unwrap().replace(",F,", ",M,");
    std::fs::write(&one, text).unwrap();
    let args = [
        "train",
        "--data",
        s(&one),
        "--target",
        "malignant",
        "--drop-columns",
        "sex,site",
        "--subgroup-column",
        "sex",
        "--out",
        s(&out),
    ];
    assert_clean_error(&args, 2, &["'sex' has a single value ('M')"]);
    // calibration on regression, an operating point on ten classes
    let args = [
        "train",
        "--target",
        "mean_radius",
        "--task",
        "regress",
        "--calibrate",
        "temperature",
        "--out",
        s(&out),
    ];
    assert_clean_error(&args, 2, &["--calibrate", "Regress"]);
    let args = ["train", "--data", "builtin:digits", "--operating-point", "youden", "--out", s(&out)];
    assert_clean_error(&args, 2, &["two classes", "10 classes"]);
    assert!(!out.exists(), "a refused run left a directory");
}

#[test]
fn an_operating_point_the_validation_split_cannot_meet_is_an_error_and_the_run_is_kept() {
    // one constant feature: every row gets the same probability, so only
    // calling every row positive reaches sensitivity 0.95
    let dir = tmp("unmet");
    let mut text = String::from("x,y\n");
    for i in 0..80 {
        text.push_str(&format!("1.0,{}\n", i % 2));
    }
    let data = dir.join("flat.csv");
    std::fs::write(&data, text).unwrap();
    let run = dir.join("run");
    let args = [
        "train",
        "--data",
        s(&data),
        "--target",
        "y",
        "--epochs",
        "2",
        "--operating-point",
        "sensitivity=0.95",
        "--out",
        s(&run),
    ];
    assert_clean_error(
        &args,
        1,
        &[
            "--operating-point sensitivity=0.95 cannot be met on the validation split",
            "saved with threshold 0.5",
        ],
    );
    let model = json(&run.join("model.json"));
    assert!(model["decision"]["operating_point"].is_null(), "{}", model["decision"]);
    assert!(run.join("report.html").exists());
}

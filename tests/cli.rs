//! The command line: the default job writes its run directory, a saved run
//! gives the same metrics and predictions again, and bad input is one clear
//! line and a non-zero exit (never a panic, nothing written).

mod common;
use common::{assert_clean_error, medgpu, s};

use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn train_writes_the_run_directory() {
    let dir = tmp("default").join("run");
    let (code, out, err) = medgpu(&["train", "--epochs", "3", "--out", s(&dir)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("epoch   1/3") && out.contains("val accuracy"), "{out}");
    assert!(out.contains("test:") && out.contains("recall") && out.contains("f1"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    for key in ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "log_loss"] {
        let v = summary["test"][key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v) || key == "log_loss", "test.{key} = {v}");
    }
    // intervals: each around its figure, the proportions' from Wilson
    let ci = &summary["clinical"]["test_ci95"];
    for key in ["accuracy", "sensitivity", "specificity", "ppv", "npv", "roc_auc", "f1", "brier"] {
        let (v, lo, hi) =
            (ci[key]["value"].as_f64(), ci[key]["ci95"][0].as_f64(), ci[key]["ci95"][1].as_f64());
        let (v, lo, hi) = (v.unwrap(), lo.unwrap(), hi.unwrap());
        assert!(lo <= v && v <= hi && lo >= 0.0 && hi <= 1.0, "{key}: {v} ({lo}-{hi})");
    }
    assert_eq!(ci["accuracy"]["value"].as_f64(), summary["test"]["accuracy"].as_f64());
    assert_eq!(ci["sensitivity"]["value"].as_f64(), summary["test"]["recall"].as_f64());
    assert!(summary["clinical"]["calibration"]["temperature"].as_f64().unwrap() > 0.0);
    assert!(out.contains("test, 95% intervals:") && out.contains("calibration            ECE"), "{out}");
    assert!(summary["val"]["accuracy"].as_f64().is_some());
    assert!(summary["adapter"]["name"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(summary["adapter"]["backend"].as_str().is_some());
    assert_eq!(summary["seed"], 42);
    for f in [
        "metrics.csv",
        "model.json",
        "weights.safetensors",
        "test_predictions.csv",
        "report.html",
        "model_card.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "header + 3 epochs: {metrics}");
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["feature_names"].as_array().unwrap().len(), 30);
    assert!(model["preprocessor"]["shift"].is_array() && model["encoding"]["target"]["labels"].is_array());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "run directory must be private, mode {mode:o}");
        for f in ["summary.json", "weights.safetensors", "test_predictions.csv", "checkpoint/state.json"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{f} must be private to the user, mode {mode:o}");
        }
    }
}

/// Splits the built-in breast cancer file into train and test CSVs with an id column.
fn split_files(d: &Path) -> (PathBuf, PathBuf) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv")).unwrap();
    let mut lines = text.lines();
    let header = format!("patient_id,{}", lines.next().unwrap());
    let (mut train, mut test) = (vec![header.clone()], vec![header]);
    for (i, l) in lines.enumerate() {
        let row = format!("P{i:04},{l}");
        if i % 5 == 0 {
            test.push(row)
        } else {
            train.push(row)
        }
    }
    let (a, b) = (d.join("train.csv"), d.join("test.csv"));
    std::fs::write(&a, train.join("\n") + "\n").unwrap();
    std::fs::write(&b, test.join("\n") + "\n").unwrap();
    (a, b)
}

#[test]
fn eval_and_predict_from_a_saved_run_repeat_the_training_results() {
    let d = tmp("roundtrip");
    let (train, test) = split_files(&d);
    let run = d.join("run");
    let (code, out, err) = medgpu(&[
        "train",
        "--data",
        s(&train),
        "--target",
        "malignant",
        "--id-column",
        "patient_id",
        "--test-data",
        s(&test),
        "--epochs",
        "5",
        "--out",
        s(&run),
        "-q",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["split"]["test"], 114);
    let (code, out, err) = medgpu(&["eval", "--run", s(&run), "--data", s(&test), "--json"]);
    assert_eq!(code, 0, "{err}");
    let eval: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(eval["metrics"], summary["test"], "eval on the test file must repeat the test metrics");
    let preds = d.join("preds.csv");
    let (code, _, err) = medgpu(&["predict", "--run", s(&run), "--data", s(&test), "--out", s(&preds)]);
    assert_eq!(code, 0, "{err}");
    let again = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(again, std::fs::read_to_string(run.join("test_predictions.csv")).unwrap());
    assert!(again.starts_with("line,id,predicted,prob_0,prob_1\n"), "{}", &again[..60]);
    assert!(again.lines().nth(1).unwrap().starts_with("2,P0000,"));

    // a row that cannot be read is reported, the others are predicted
    let mut text = std::fs::read_to_string(&test).unwrap();
    text = text.replacen("\nP0005,", "\nP0005,oops", 1);
    let bad = d.join("bad.csv");
    std::fs::write(&bad, text).unwrap();
    let (code, _, err) = medgpu(&["predict", "--run", s(&run), "--data", s(&bad), "--out", s(&preds)]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 of 114 rows could not be read") && err.contains("bad.csv:3:"), "{err}");
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 1 + 113);
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
fn bad_options_are_one_line_and_a_nonzero_exit() {
    assert_clean_error(&["train", "--backend", "nosuch"], 2, &["unknown backend 'nosuch'"]);
    assert_clean_error(
        &["train", "--adapter", "no-such-adapter-xyz"],
        1,
        &["no GPU adapter found whose name contains 'no-such-adapter-xyz'"],
    );
    #[cfg(not(target_os = "macos"))]
    assert_clean_error(&["train", "--backend", "metal"], 1, &["not available"]);
    assert_clean_error(&["train", "--data", "builtin:nothing"], 1, &["builtin"]);
    assert_clean_error(&["train", "--data", "/no/such/file.csv", "--target", "y"], 1, &["/no/such/file.csv"]);
    assert_clean_error(&["train", "--activation", "swish"], 2, &["unknown activation"]);
    assert_clean_error(&["train", "--hidden", "0"], 1, &["units must be at least 1"]);
    assert_clean_error(&["train", "--missing", "guess"], 2, &["unknown --missing policy 'guess'"]);
    assert_clean_error(
        &["eval", "--run", "/no/such/run", "--data", "builtin:breast_cancer"],
        1,
        &["/no/such/run/model.json"],
    );
    assert_clean_error(&["bench", "--peak-gflops", "0"], 2, &["--peak-gflops 0", "positive"]);
    assert_clean_error(&["bench", "--suite", "nosuch"], 2, &["unknown suite 'nosuch'"]);
    assert_clean_error(&["bench", "--first-step-of", "nosuch"], 2, &["no benchmark model 'nosuch'"]);
    // the library names options as its fields; the command line shows its flags
    assert_clean_error(&["train", "--train-filter", "nosuch=1"], 2, &["--train-filter: no column 'nosuch'"]);
    assert_clean_error(&["train", "--features", "zz"], 2, &["--features 'zz' is not a column"]);
    assert_clean_error(&["train", "--batch-size", "0"], 2, &["--batch-size and --epochs must be at least 1"]);
}

/// The process the startup suite starts per model and cache state prints
/// the seconds to its first step.
#[test]
fn bench_times_a_first_step_in_its_own_process() {
    let (code, out, err) = medgpu(&["bench", "--first-step-of", "mlp"]);
    assert_eq!(code, 0, "{err}");
    let secs: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("first_step_secs "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no seconds in: {out}"));
    assert!(secs > 0.0 && secs < 120.0, "{secs}");
}

#[test]
fn bad_files_say_where_and_write_nothing() {
    let d = tmp("badfiles");
    let cases: &[(&str, &str, &[&str])] = &[
        ("ragged.csv", "a,b,y\n1,2,0\n3,1\n", &["ragged.csv:3", "2 cells"]),
        ("text.csv", "a,b,y\n1,2,0\n3,abc,1\n", &["text.csv:3:2", "abc", "--categorical"]),
        (
            "missing.csv",
            "a,b,y\n1,,0\n3,4,1\n5,NA,0\n",
            &["missing.csv:2:2", "2 missing values", "--missing"],
        ),
        ("notarget.csv", "a,b,c\n1,2,0\n3,4,1\n", &["notarget.csv:1", "'y'"]),
        ("empty.csv", "", &["empty.csv"]),
        ("header.csv", "a,b,y\n", &["header.csv"]),
        ("oneclass.csv", "a,b,y\n1,2,0\n3,4,0\n5,6,0\n", &["one", "y"]),
    ];
    for (name, text, needles) in cases {
        let path = d.join(name);
        std::fs::write(&path, text).unwrap();
        let run = d.join(format!("run-{name}"));
        assert_clean_error(&["train", "--data", s(&path), "--target", "y", "--out", s(&run)], 1, needles);
        assert!(!run.exists(), "{name}: a run directory was created for bad data");
    }
}

#[test]
fn labels_never_seen_in_training_are_refused_at_eval() {
    let d = tmp("unseen");
    let mut text = String::from("a,b,y\n");
    for i in 0..60 {
        text.push_str(&format!("{},{},{}\n", i % 7, i % 5, if i % 3 == 0 { "yes" } else { "no" }));
    }
    let train = d.join("train.csv");
    std::fs::write(&train, &text).unwrap();
    let run = d.join("run");
    let (code, _, err) =
        medgpu(&["train", "--data", s(&train), "--target", "y", "--epochs", "1", "--out", s(&run), "-q"]);
    assert_eq!(code, 0, "{err}");
    let other = d.join("other.csv");
    std::fs::write(&other, "a,b,y\n1,2,no\n3,4,maybe\n").unwrap();
    assert_clean_error(&["eval", "--run", s(&run), "--data", s(&other)], 1, &["other.csv:3:3", "maybe"]);
}

#[test]
fn a_model_spec_file_trains_and_a_bad_one_names_the_place() {
    let d = tmp("spec");
    let good = d.join("model.toml");
    std::fs::write(&good, "[[layers]]\ntype = \"dense\"\nunits = 16\nactivation = \"tanh\"\n\n[[layers]]\ntype = \"dropout\"\nrate = 0.1\n").unwrap();
    let run = d.join("run");
    let (code, out, err) = medgpu(&["train", "--model", s(&good), "--epochs", "2", "--out", s(&run)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("custom 30-16-1"), "{out}");
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[[layers]]\ntype = \"dense\"\nunits = 16\n\n[[layers]]\ntype = \"conv9d\"\n")
        .unwrap();
    assert_clean_error(&["train", "--model", s(&bad)], 1, &["bad.toml:6:8", "conv9d"]);
}

#[test]
fn explain_writes_attributions_and_refuses_what_does_not_fit() {
    let d = tmp("explain");
    let run = d.join("run");
    let (code, _, err) = medgpu(&["train", "--epochs", "3", "--out", s(&run), "-q"]);
    assert_eq!(code, 0, "{err}");
    let out = d.join("attr.csv");
    let args = ["explain", "--run", s(&run), "--data", "builtin:breast_cancer"];
    let mut with_out = args.to_vec();
    with_out.extend(["--rows", "1-4,10", "--out", s(&out)]);
    let (code, stdout, err) = medgpu(&with_out);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("line 2: class 1 logit") && stdout.contains("gap"), "{stdout}");
    assert!(stdout.contains("importance (integrated-gradients, mean |attribution| over 5 rows)"), "{stdout}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(
        lines[0].starts_with("line,predicted,probability,explained,output,baseline_output,delta,mean_radius")
    );
    assert!(lines[5].starts_with("11,"), "{}", lines[5]);
    assert_eq!(lines[1].split(',').count(), 7 + 30);
    assert!(d.join("attr_importance.csv").is_file());

    // bad input: one line naming the choices, and nothing written
    let bad = d.join("bad.csv");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--target", "2"], 2, "--target '2' is not one of the model's outputs: 0, 1"),
        (vec!["--method", "lime"], 2, "unknown --method 'lime'"),
        (vec!["--method", "grad-cam"], 2, "--method grad-cam needs a convolutional model"),
        (vec!["--method", "error-share"], 2, "--method error-share explains autoencoders"),
        (vec!["--rows", "0-3"], 2, "--rows '0-3': give row numbers from 1 to 569"),
        (vec!["--rule", "simpson"], 2, "unknown --rule 'simpson'"),
        (vec!["--baseline", "/no/such/baseline.csv"], 1, "/no/such/baseline.csv"),
    ];
    for (extra, code, needle) in cases {
        let mut a = args.to_vec();
        a.extend(extra);
        a.extend(["--out", s(&bad)]);
        assert_clean_error(&a, code, &[needle]);
        assert!(!bad.exists(), "{a:?} wrote {}", bad.display());
    }
    let two_rows = d.join("two.csv");
    let raw =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv")).unwrap();
    std::fs::write(&two_rows, raw.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let mut a = args.to_vec();
    a.extend(["--baseline", s(&two_rows), "--out", s(&bad)]);
    assert_clean_error(&a, 2, &["has 2 rows; give one row of the feature columns"]);
    assert!(!bad.exists());
}

#[test]
fn explain_grad_cam_writes_an_image_per_row_and_a_grid() {
    let d = tmp("gradcam");
    let run = d.join("run");
    let (code, _, err) = medgpu(&[
        "train",
        "--data",
        "builtin:digits",
        "--model",
        "cnn",
        "--epochs",
        "2",
        "--out",
        s(&run),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let images = d.join("images");
    let args = ["explain", "--run", s(&run), "--data", "builtin:digits", "--method", "grad-cam"];
    let (cam, bad_csv) = (d.join("cam.csv"), d.join("bad.csv"));
    let mut a = args.to_vec();
    a.extend(["--rows", "1-5", "--images", s(&images), "--grid", "3", "--out", s(&cam)]);
    let (code, out, err) = medgpu(&a);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote 5 images"), "{out}");
    for line in 2..=6 {
        let png = image::open(images.join(format!("line-{line}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (128, 128));
    }
    let grid = image::open(images.join("grid.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (3 * 128 + 2 * 4, 128));
    let mut bad = args.to_vec();
    bad.extend(["--layer", "conv9", "--out", s(&bad_csv)]);
    assert_clean_error(&bad, 2, &["'conv9' is not a convolution layer of the model; they are: conv1, conv2"]);
    assert!(!bad_csv.exists());
}

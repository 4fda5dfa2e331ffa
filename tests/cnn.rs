//! Convolutional models end to end: the default CNN reaches the stated
//! digits accuracy, a CNN with batch norm and dropout gives the same eval
//! predictions after save and load (running statistics in the checkpoint,
//! no dropout at eval), and the convolutional autoencoder trains.

mod common;
use common::*;
use medgpu::models::ModelSpec;
use medgpu::train::{train, DataSource, Hooks, Metrics, TrainConfig};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-cnn-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn default_digits_cnn_reaches_the_reference_accuracy() {
    // the reference recipe: 30 full epochs, the last weights (early stopping
    // on the validation log-loss keeps epoch 29 here, 3 test digits fewer right)
    let cfg = TrainConfig {
        model: ModelSpec::cnn([1, 8, 8]),
        epochs: 30,
        early_stopping: None,
        ..TrainConfig::default()
    };
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
    let out =
        train(gpu(), &DataSource::builtin("digits"), &cfg, &tmp("digits"), false, hooks).unwrap().unwrap();
    let Metrics::Multiclass(m) = &out.test else { panic!("multiclass task expected") };
    assert!(m.accuracy >= 0.97, "digits CNN test accuracy {}", m.accuracy);
}

const SPEC: &str = r#"
name = "small_cnn"

[[layers]]
type = "conv2d"
filters = 8
kernel = 3
padding = "same"

[[layers]]
type = "batchnorm"
activation = "relu"

[[layers]]
type = "maxpool2d"
kernel = 2

[[layers]]
type = "dropout"
rate = 0.3

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
units = 16
activation = "relu"
"#;

#[test]
fn cnn_with_batch_norm_and_dropout_predicts_the_same_after_save_and_load() {
    let d = tmp("roundtrip");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let (mut tr, mut te) = (vec![header], vec![header]);
    for (i, l) in lines.enumerate() {
        if i % 5 == 0 {
            te.push(l)
        } else {
            tr.push(l)
        }
    }
    let (train_csv, test_csv) = (d.join("train.csv"), d.join("test.csv"));
    std::fs::write(&train_csv, tr.join("\n") + "\n").unwrap();
    std::fs::write(&test_csv, te.join("\n") + "\n").unwrap();
    let spec = d.join("cnn.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let run = d.join("run");
    let args = [
        "train",
        "--data",
        s(&train_csv),
        "--test-data",
        s(&test_csv),
        "--target",
        "digit",
        "--model",
        s(&spec),
        "--input-shape",
        "1,8,8",
        "--epochs",
        "3",
        "--out",
        s(&run),
        "-q",
    ];
    let (code, out, err) = medgpu(&args);
    assert_eq!(code, 0, "{out}\n{err}");

    // the running statistics moved away from their initial values and were saved
    let bytes = std::fs::read(run.join("weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let var = st.tensor("bn1.running_var").unwrap();
    let var: Vec<f32> = var.data().chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(var.len(), 8);
    assert!(var.iter().any(|v| (v - 1.0).abs() > 1e-3), "running variance never updated: {var:?}");

    // eval mode after loading: same predictions (no dropout, running statistics)
    let preds = d.join("preds.csv");
    let (code, _, err) = medgpu(&["predict", "--run", s(&run), "--data", s(&test_csv), "--out", s(&preds)]);
    assert_eq!(code, 0, "{err}");
    let again = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(again, std::fs::read_to_string(run.join("test_predictions.csv")).unwrap());
    let (code, out, err) = medgpu(&["eval", "--run", s(&run), "--data", s(&test_csv), "--json"]);
    assert_eq!(code, 0, "{err}");
    let eval: serde_json::Value = serde_json::from_str(&out).unwrap();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(eval["metrics"], summary["test"]);
}

#[test]
fn convolutional_autoencoder_reconstructs_digits() {
    let run = tmp("cae").join("run");
    let (code, out, err) = medgpu(&[
        "train",
        "--data",
        "builtin:digits",
        "--model",
        "cnn-autoencoder",
        "--epochs",
        "3",
        "--out",
        s(&run),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("conv_autoencoder 1x8x8-conv16-pool-conv8-up-conv16-64"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let mse = summary["test"]["mse"].as_f64().unwrap_or(f64::NAN);
    // z-scored pixels: predicting the mean gives an MSE of about 1
    assert!(mse < 0.6, "reconstruction MSE {mse}: {}", summary["test"]);
}

#[test]
fn image_layers_without_an_input_shape_are_refused_with_the_layer_named() {
    let d = tmp("noshape");
    let spec = d.join("cnn.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let (code, _, err) =
        medgpu(&["train", "--data", "builtin:breast_cancer", "--model", s(&spec), "--out", s(&d.join("r"))]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("layer 1 (conv2d)") && err.contains("--input-shape"), "{err}");
    let (code, _, err) = medgpu(&[
        "train",
        "--data",
        "builtin:breast_cancer",
        "--model",
        s(&spec),
        "--input-shape",
        "1,5,5",
        "--out",
        s(&d.join("r")),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("[1, 5, 5]") && err.contains("30 feature columns"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// ROOT/h/*.png hold a horizontal bar, ROOT/v/*.png a vertical one, each at
/// a random place on a noisy 12x10 grey background.
fn bar_images(root: &Path, per_class: usize) {
    let mut state = 12345u64;
    let mut next = move |n: u32| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) % n as u64) as u32
    };
    for class in ["h", "v"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..per_class {
            let (w, h) = (10u32, 12u32);
            let at = next(8) + 1;
            let img = image::GrayImage::from_fn(w, h, |x, y| {
                let on = if class == "h" { y == at } else { x == at };
                image::Luma([if on { 200 + next(55) as u8 } else { next(60) as u8 }])
            });
            img.save(root.join(class).join(format!("{i:03}.png"))).unwrap();
        }
    }
}

#[test]
fn a_cnn_trains_on_an_image_folder_and_predicts_it() {
    let d = tmp("folder");
    let root = d.join("images");
    bar_images(&root, 30);
    let run = d.join("run");
    let args = [
        "train",
        "--data",
        s(&root),
        "--model",
        "cnn",
        "--image-size",
        "8x8",
        "--epochs",
        "15",
        "--out",
        s(&run),
    ];
    let (code, out, err) = medgpu(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("cnn 1x8x8-conv16-pool-conv32-pool-1"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.85, "bar orientation test accuracy {acc}");
    let preds = d.join("preds.csv");
    let (code, _, err) = medgpu(&["predict", "--run", s(&run), "--data", s(&root), "--out", s(&preds)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 1 + 60);

    // a file that cannot be decoded is named, and no run directory is written
    std::fs::write(root.join("v").join("broken.png"), b"not a png").unwrap();
    let run2 = d.join("run2");
    let (code, _, err) = medgpu(&["train", "--data", s(&root), "--image-size", "8x8", "--out", s(&run2)]);
    assert_ne!(code, 0);
    assert!(err.contains("broken.png") && err.contains("cannot decode"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!run2.exists(), "a failed run must not leave a run directory");
}

//! The front door (Device, Data, Trainer, Model): it trains exactly as the
//! CLI's path does, a saved model predicts as the trained one, in-memory
//! rows and files give the same predictions, and bad input is refused with
//! a message that says what is wrong.

use medgpu::model::checkpoint::load_tensors;
use medgpu::train::{train, DataSource, Hooks, TrainConfig};
use medgpu::{Data, Device, Labels, Metrics, Model, Predictions, Trainer};
use std::path::PathBuf;
use std::sync::OnceLock;

fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(|| Device::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))).clone()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-api-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn trainer_gives_the_weights_of_the_training_loop_and_its_run_directory() {
    let cfg = TrainConfig { epochs: 4, seed: 3, ..TrainConfig::default() };
    let dir = tmp("loop");
    std::fs::create_dir_all(&dir).unwrap();
    let hooks = Hooks { progress: &mut |_| {}, stop_after_epoch: None };
    let direct =
        train(device().gpu().clone(), &DataSource::builtin("breast_cancer"), &cfg, &dir, false, hooks)
            .unwrap()
            .unwrap();

    let run = tmp("trainer-run");
    let mut epochs = 0;
    let model = Trainer::with_config(cfg)
        .run_dir(&run)
        .fit_with(&device(), &Data::builtin("breast_cancer"), &mut |_| epochs += 1)
        .unwrap();
    assert_eq!(epochs, 4);
    assert_eq!(model.history().len(), 4);
    let saved = load_tensors(&run.join("weights.safetensors")).unwrap();
    assert_eq!(saved.keys().collect::<Vec<_>>(), direct.weights.keys().collect::<Vec<_>>());
    for (name, w) in &direct.weights {
        assert_eq!(bits(&saved[name].values), bits(w), "{name}");
    }
    for f in ["model.json", "metrics.csv", "summary.json", "test_predictions.csv"] {
        assert!(run.join(f).is_file(), "{f} missing from the run directory");
    }
    assert!(matches!(model.test_metrics(), Some(Metrics::Binary(_))));
}

/// Rows of two features whose class is whether their sum is large.
fn sums(n: usize) -> (Vec<f32>, Vec<String>) {
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (a, b) = ((i % 20) as f32, (i / 10 % 20) as f32);
        rows.extend([a, b]);
        labels.push(if a + b > 19.0 { "high" } else { "low" }.to_string());
    }
    (rows, labels)
}

#[test]
fn in_memory_training_saves_loads_and_predicts_the_same() {
    let (rows, labels) = sums(200);
    let data = Data::from_rows(&["a", "b"], &rows, Labels::Classes(labels.clone())).unwrap();
    let model = Trainer::mlp(&[16]).epochs(30).learning_rate(1e-2).fit(&device(), &data).unwrap();
    assert_eq!(model.feature_names(), ["a", "b"]);
    let Some(Metrics::Binary(m)) = model.test_metrics() else { panic!("binary metrics expected") };
    assert!(m.accuracy >= 0.9, "test accuracy {}", m.accuracy);

    let dir = tmp("saved");
    model.save(&dir).unwrap();
    let loaded = Model::load(&device(), &dir).unwrap();
    let before = model.predict(&rows).unwrap();
    let after = loaded.predict(&rows).unwrap();
    assert_eq!(before, after, "a saved and loaded model must predict bit for bit the same");
    assert_eq!(after.rows(), 200);
    let Predictions::Classes { labels: classes, probabilities, .. } = &after else {
        panic!("classes expected")
    };
    assert_eq!(classes, &["high", "low"]);
    for p in probabilities.chunks(2) {
        assert!((p[0] + p[1] - 1.0).abs() < 1e-9 && p.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let right = after.predicted_labels().iter().zip(&labels).filter(|(p, l)| **p == l.as_str()).count();
    assert!(right >= 180, "{right} of 200 training rows right");

    // the same rows from the data set (with its target column) give the same predictions
    assert_eq!(loaded.predict_data(&data).unwrap(), after);
    let Metrics::Binary(m) = loaded.evaluate(&data).unwrap() else { panic!("binary metrics expected") };
    assert!((m.accuracy - right as f64 / 200.0).abs() < 1e-12, "{} vs {right}/200", m.accuracy);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn regression_predictions_are_in_the_targets_units() {
    // y = 1000 + 50 x: the model is trained on standardized targets
    let xs: Vec<f32> = (0..150).map(|i| (i % 30) as f32 / 10.0).collect();
    let ys: Vec<f32> = xs.iter().map(|x| 1000.0 + 50.0 * x).collect();
    let data = Data::from_rows(&["x"], &xs, Labels::Values(ys)).unwrap();
    let model = Trainer::mlp(&[8]).epochs(60).learning_rate(1e-2).fit(&device(), &data).unwrap();
    let Predictions::Values { names, values } = model.predict(&[0.5, 2.5]).unwrap() else {
        panic!("values expected")
    };
    assert_eq!(names, ["target"]);
    assert!((values[0] - 1025.0).abs() < 15.0 && (values[1] - 1125.0).abs() < 15.0, "{values:?}");
}

#[test]
fn bad_input_is_refused_with_what_to_do() {
    let e = Data::from_rows(&["a", "b"], &[1.0, 2.0, 3.0], Labels::None).err().unwrap().to_string();
    assert!(e.contains("3 values do not make whole rows of 2 columns"), "{e}");
    let e = Data::from_rows(&["a"], &[1.0, 2.0], Labels::Values(vec![1.0])).err().unwrap().to_string();
    assert!(e.contains("column 'target' has 1 values for 2 rows"), "{e}");
    let e = Data::from_rows(&["a", "a"], &[1.0, 2.0], Labels::None).err().unwrap().to_string();
    assert!(e.contains("unique"), "{e}");

    let (rows, labels) = sums(60);
    let data = Data::from_rows(&["a", "b"], &rows, Labels::Classes(labels)).unwrap();
    let model = Trainer::mlp(&[4]).epochs(1).fit(&device(), &data).unwrap();
    let e = model.predict(&[1.0, 2.0, 3.0]).err().unwrap().to_string();
    assert!(e.contains("3 values do not make whole rows of the model's 2 inputs (a, b)"), "{e}");
    let e = Trainer::mlp(&[4]).epochs(0).fit(&device(), &data).err().unwrap().to_string();
    assert!(e.contains("number of epochs must be at least 1"), "{e}");
    let e = Model::load(&device(), tmp("nothing-here")).err().unwrap().to_string();
    assert!(e.contains("model.json"), "{e}");
    let e = Trainer::mlp(&[4]).fit(&device(), &Data::csv(tmp("missing.csv"))).err().unwrap().to_string();
    assert!(e.contains("missing.csv"), "{e}");
}

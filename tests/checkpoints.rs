//! Hostile or broken checkpoints: each a typed error naming the file, no
//! panic, no allocation larger than the file.

use medgpu::model::checkpoint::{check_against, load_tensors, parse_tensors, save_tensors, NamedTensor};
use medgpu::Error;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file from a raw header and data.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

fn expect_bad(bytes: &[u8], needle: &str) {
    match parse_tensors(bytes, Path::new("w.safetensors")) {
        Err(Error::Checkpoint { path, message }) => {
            assert_eq!(path, Path::new("w.safetensors"));
            assert!(message.to_lowercase().contains(&needle.to_lowercase()), "'{needle}' not in: {message}");
        }
        Err(e) => panic!("expected a checkpoint error, got {e}"),
        Ok(t) => panic!("accepted a broken file: {:?}", t.keys().collect::<Vec<_>>()),
    }
}

#[test]
fn broken_files_are_checkpoint_errors() {
    let good = raw_file(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0; 8]);
    assert_eq!(parse_tensors(&good, Path::new("w")).unwrap()["a"].values, vec![0.0, 0.0]);
    // truncated anywhere
    for cut in [0, 3, 8, 20, good.len() - 1] {
        expect_bad(&good[..cut], "");
    }
    // a header length past the end of the file (no allocation of that size)
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect_bad(&huge, "");
    // out-of-range and overlapping offsets
    expect_bad(&raw_file(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#, &[0; 8]), "");
    expect_bad(
        &raw_file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            &[0; 12],
        ),
        "",
    );
    // shape and size disagree
    expect_bad(&raw_file(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, &[0; 8]), "");
    // a shape whose element count overflows
    expect_bad(
        &raw_file(
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#,
            &[0; 8],
        ),
        "",
    );
    // wrong dtype
    expect_bad(&raw_file(r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, &[0; 8]), "f64");
    // not JSON at all
    expect_bad(&raw_file("{not json", &[]), "");
}

#[test]
fn tensors_that_do_not_fit_the_model_are_named() {
    let d = tmp("fit");
    let path = d.join("w.safetensors");
    let mut t = BTreeMap::new();
    t.insert("dense1.weight".into(), NamedTensor { shape: vec![3, 2], values: vec![0.0; 6] });
    t.insert("dense1.bias".into(), NamedTensor { shape: vec![2], values: vec![0.0; 2] });
    save_tensors(&path, &t, HashMap::new()).unwrap();
    let loaded = load_tensors(&path).unwrap();
    let want =
        |w: Vec<usize>, b: Vec<usize>| vec![("dense1.weight".to_string(), w), ("dense1.bias".to_string(), b)];
    check_against(&path, &loaded, &want(vec![3, 2], vec![2])).unwrap();
    let e = check_against(&path, &loaded, &want(vec![4, 2], vec![2])).unwrap_err().to_string();
    assert!(e.contains("dense1.weight") && e.contains("[3, 2]") && e.contains("[4, 2]"), "{e}");
    let mut missing = want(vec![3, 2], vec![2]);
    missing.push(("output.weight".into(), vec![2, 1]));
    let e = check_against(&path, &loaded, &missing).unwrap_err().to_string();
    assert!(e.contains("output.weight") && e.contains("missing"), "{e}");
    let e = check_against(&path, &loaded, &want(vec![3, 2], vec![2])[..1]).unwrap_err().to_string();
    assert!(e.contains("dense1.bias") && e.contains("not part of the model"), "{e}");
}

#[test]
fn a_run_directory_whose_weights_do_not_match_model_json_is_refused() {
    // train a tiny run, then swap in weights of another shape
    let d = tmp("run");
    let run = d.join("run");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medgpu"))
        .args(["train", "--epochs", "1", "--hidden", "4", "-q", "--out", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut w = load_tensors(&run.join("weights.safetensors")).unwrap();
    w.insert("dense1.weight".into(), NamedTensor { shape: vec![30, 5], values: vec![0.0; 150] });
    save_tensors(&run.join("weights.safetensors"), &w, HashMap::new()).unwrap();
    let e = medgpu::model::TrainedModel::load(&run).expect_err("mismatched weights must be refused");
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("[30, 5]") && e.to_string().contains("[30, 4]"), "{e}");
    // a damaged model.json is a checkpoint error too
    std::fs::write(run.join("model.json"), "{\"medgpu_version\": 1").unwrap();
    let e = medgpu::model::TrainedModel::load(&run).err().unwrap();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
}

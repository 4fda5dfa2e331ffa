//! Property tests: random bytes and random mutations of valid files fed to
//! the CSV reader and encoder, the model-spec parser and the checkpoint
//! reader. None may panic; each returns a value or a typed error.

use medgpu::data::{encode_apply_lenient, encode_fit, parse_raw_csv, PrepareOptions};
use medgpu::model::checkpoint::{parse_tensors, save_tensors, NamedTensor};
use medgpu::models::ModelSpec;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const CSV: &str =
    "id,age,sex,marker,y\n1,34,F,0.5,0\n2,NA,M,1.5,1\n3,51,F,?,0\n4,29,M,2.25,1\n5,62,F,0.75,0\n";
const SPEC: &str = "name = \"net\"\n[[layers]]\ntype = \"dense\"\nunits = 8\nactivation = \"relu\"\n\n[[layers]]\ntype = \"dropout\"\nrate = 0.5\n";

/// A valid safetensors file as bytes (written once per test binary).
fn checkpoint_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("medgpu-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("w.safetensors");
            let mut t = BTreeMap::new();
            t.insert(
                "dense1.weight".to_string(),
                NamedTensor { shape: vec![3, 2], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] },
            );
            t.insert("dense1.bias".to_string(), NamedTensor { shape: vec![2], values: vec![0.5, -0.5] });
            save_tensors(&path, &t, HashMap::new()).unwrap();
            std::fs::read(&path).unwrap()
        })
        .clone()
}

/// A mutation: (position, kind, byte) applied to a copy of `base`.
fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(pos, kind, byte) in edits {
        if v.is_empty() {
            v.push(byte);
            continue;
        }
        let i = pos % v.len();
        match kind % 4 {
            0 => v[i] = byte,
            1 => v.insert(i, byte),
            2 => {
                v.remove(i);
            }
            _ => v.truncate(i),
        }
    }
    v
}

fn csv_pipeline(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let Ok(raw) = parse_raw_csv(&text, "fuzz.csv") else { return };
    let target = raw.headers.last().cloned();
    for categorical in [vec![], vec!["sex".to_string()]] {
        let opts = PrepareOptions { target: target.clone(), categorical, ..Default::default() };
        if let Ok(ds) = encode_fit(&raw, &opts) {
            let _ = encode_apply_lenient(&raw, &ds.encoding);
            let _ = medgpu::data::rows_after_missing_policy(&ds, medgpu::data::MissingPolicy::Median);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn csv_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        csv_pipeline(&bytes);
    }

    #[test]
    fn csv_mutations_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        csv_pipeline(&mutate(CSV.as_bytes(), &edits));
    }

    #[test]
    fn model_spec_random_and_mutated_text_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let _ = ModelSpec::parse(&String::from_utf8_lossy(&bytes), false, "fuzz.toml");
        let _ = ModelSpec::parse(&String::from_utf8_lossy(&bytes), true, "fuzz.json");
        let m = mutate(SPEC.as_bytes(), &edits);
        if let Ok(spec) = ModelSpec::parse(&String::from_utf8_lossy(&m), false, "fuzz.toml") {
            let head = medgpu::models::Head { outputs: 1, loss: medgpu::graph::LossKind::Mse, target: medgpu::graph::TargetSource::Targets };
            let _ = spec.build(3, head, 4, true, 1);
        }
    }

    #[test]
    fn checkpoint_random_and_mutated_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let p = Path::new("fuzz.safetensors");
        let _ = parse_tensors(&bytes, p);
        let _ = parse_tensors(&mutate(&checkpoint_bytes(), &edits), p);
    }
}

#[test]
fn the_valid_seeds_are_valid() {
    csv_pipeline(CSV.as_bytes());
    assert!(ModelSpec::parse(SPEC, false, "seed.toml").is_ok());
    assert_eq!(parse_tensors(&checkpoint_bytes(), Path::new("seed")).unwrap().len(), 2);
}

//! Tensors on disk in the safetensors format (f32, names that say what they
//! are, e.g. `dense1.weight`), written atomically; reading checks every
//! tensor's dtype, shape and size before use. Every file is written
//! atomically (temporary file, fsync, rename), so a crash never leaves a
//! half-written file behind.

use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// A named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Writes tensors (and string metadata) to `path` atomically.
pub fn save_tensors(
    path: &Path,
    tensors: &BTreeMap<String, NamedTensor>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), bytemuck::cast_slice(&t.values).to_vec(), t.shape.clone()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, b, s)| {
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Checkpoint { path: path.into(), message: format!("tensor '{n}': {e}") })
        })
        .collect::<Result<Vec<_>>>()?;
    let data = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Checkpoint { path: path.into(), message: e.to_string() })?;
    write_atomic(path, &data)
}

/// Reads every tensor of a safetensors file (f32 only).
pub fn load_tensors(path: &Path) -> Result<BTreeMap<String, NamedTensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_tensors(&bytes, path)
}

/// Parses safetensors bytes; `path` is for messages.
pub fn parse_tensors(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, NamedTensor>> {
    let bad = |message: String| Error::Checkpoint { path: path.into(), message };
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("{e}; the file is damaged or not a safetensors file")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor '{name}' is {:?}; medgpu stores f32", view.dtype())));
        }
        let n: usize = view.shape().iter().product();
        if view.data().len() != n * 4 {
            return Err(bad(format!(
                "tensor '{name}' has {} bytes for shape {:?}",
                view.data().len(),
                view.shape()
            )));
        }
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        out.insert(name, NamedTensor { shape: view.shape().to_vec(), values });
    }
    Ok(out)
}

/// Checks that `tensors` holds exactly the expected names and shapes.
pub fn check_against(
    path: &Path,
    tensors: &BTreeMap<String, NamedTensor>,
    expected: &[(String, Vec<usize>)],
) -> Result<()> {
    let bad = |message: String| Error::Checkpoint { path: path.into(), message };
    for (name, shape) in expected {
        let t = tensors.get(name).ok_or_else(|| {
            bad(format!("tensor '{name}' is missing; the model needs it with shape {shape:?}"))
        })?;
        if &t.shape != shape {
            return Err(bad(format!("tensor '{name}' has shape {:?}, the model needs {shape:?}", t.shape)));
        }
    }
    if let Some(extra) = tensors.keys().find(|k| !expected.iter().any(|(n, _)| n == *k)) {
        return Err(bad(format!("tensor '{extra}' is not part of the model")));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Pretty JSON bytes.
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Gpu(format!("serializing JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damaged_files() {
        let dir = std::env::temp_dir().join(format!("medgpu-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let mut t = BTreeMap::new();
        t.insert(
            "dense1.weight".to_string(),
            NamedTensor { shape: vec![2, 3], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] },
        );
        t.insert("dense1.bias".to_string(), NamedTensor { shape: vec![3], values: vec![0.5, -0.5, 0.25] });
        save_tensors(&path, &t, HashMap::new()).unwrap();
        assert_eq!(load_tensors(&path).unwrap(), t);
        let expected = vec![("dense1.weight".to_string(), vec![2, 3]), ("dense1.bias".to_string(), vec![3])];
        check_against(&path, &t, &expected).unwrap();
        let wrong = vec![("dense1.weight".to_string(), vec![3, 2]), ("dense1.bias".to_string(), vec![3])];
        assert!(check_against(&path, &t, &wrong).unwrap_err().to_string().contains("[3, 2]"));
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 4, 8, 20, bytes.len() - 1] {
            let e = parse_tensors(&bytes[..cut], &path).unwrap_err();
            assert!(matches!(e, Error::Checkpoint { .. }), "cut {cut}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The models a server serves: a run directory, or a folder with one run
//! directory per model (`NAME/`) or per version (`NAME/VERSION/`).

use crate::error::{Error, Result};
use crate::model::TrainedModel;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One served model version.
pub struct Entry {
    /// The model's name in URLs.
    pub name: String,
    /// Its version (`1` for a run directory without versions).
    pub version: String,
    /// The run directory it came from.
    pub dir: PathBuf,
    /// The loaded model.
    pub model: Arc<TrainedModel>,
}

/// Run directories that did not load, with why.
pub type Failed = Vec<(PathBuf, Error)>;

/// The run directories under `models` (or `run` itself), loaded; a
/// directory that fails to load is returned with its error, and the
/// others are still served.
pub fn discover(models: Option<&Path>, run: Option<&Path>) -> Result<(Vec<Entry>, Failed)> {
    let mut found: Vec<(String, String, PathBuf)> = Vec::new();
    if let Some(r) = run {
        let name = r.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        found.push((name, "1".into(), r.to_path_buf()));
    }
    if let Some(root) = models {
        for dir in subfolders(root)? {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if dir.join("model.json").is_file() {
                found.push((name, "1".into(), dir));
                continue;
            }
            for v in subfolders(&dir)?.into_iter().filter(|v| v.join("model.json").is_file()) {
                let version = v.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                found.push((name.clone(), version, v));
            }
        }
    }
    let (mut entries, mut failed) = (Vec::new(), Vec::new());
    for (name, version, dir) in found {
        match TrainedModel::load(&dir) {
            Ok(m) => entries.push(Entry { name, version, dir, model: Arc::new(m) }),
            Err(e) => failed.push((dir, e)),
        }
    }
    if entries.is_empty() && failed.is_empty() {
        let place = models.or(run).map(|p| p.display().to_string()).unwrap_or_default();
        return Err(Error::Options(format!(
            "no model found in {place}: `models` holds run directories (NAME/ or NAME/VERSION/, each with \
             model.json), `run` is one run directory"
        )));
    }
    Ok((entries, failed))
}

fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: Vec<PathBuf> =
        read.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    out.sort();
    Ok(out)
}

/// The entry for `name` and `version` (none: the highest version, by
/// number where the versions are numbers).
pub fn find<'a>(entries: &'a [Entry], name: &str, version: Option<&str>) -> Option<(usize, &'a Entry)> {
    let of_name = entries.iter().enumerate().filter(|(_, e)| e.name == name);
    match version {
        Some(v) => of_name.into_iter().find(|(_, e)| e.version == v),
        None => of_name.max_by(|a, b| version_order(&a.1.version, &b.1.version)),
    }
}

fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

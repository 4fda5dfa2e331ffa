//! The run directory: where a training run leaves its results. Files are
//! written atomically ([`crate::model::checkpoint::write_atomic`]), so a
//! crash never leaves a half-written file behind.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Creates `dir` (or a fresh `runs/run-<unix time>` when `None`), private to the user.
pub fn create_run_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let path = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let base = PathBuf::from("runs");
            let mut p = base.join(format!("run-{secs}"));
            let mut n = 1;
            while p.exists() {
                p = base.join(format!("run-{secs}-{n}"));
                n += 1;
            }
            p
        }
    };
    std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(&path, e))?;
    }
    Ok(path)
}

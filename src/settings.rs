//! Every `MEDGPU_*` environment switch, read in this one module.
//!
//! The switches are for comparisons and for machines where a default is
//! wrong; a user never needs one to get correct results. Each is read when
//! it is used (not cached), so a test or a benchmark can change it between
//! devices.
//!
//! | variable | values | effect |
//! |---|---|---|
//! | `MEDGPU_ADAPTER` | name substring | which adapter to open (also `--adapter`) |
//! | `MEDGPU_PORTABLE_KERNELS` | `1` | no adapter-specific kernel variant at all |
//! | `MEDGPU_TEXTURE_MATMUL` | `0`/`1` | texture matmuls off/on (default: CPU adapters) |
//! | `MEDGPU_RNN_LANES` | `0`/`1` | one-subgroup-per-row recurrences off/on (default: CPU adapters) |
//! | `MEDGPU_TILED_MATMUL` | `0`/`1` | workgroup-tiled matmuls off/on (default: not CPU adapters) |
//! | `MEDGPU_LOOP_BOUNDING` | `1` | naga's loop counter back in every shader loop |
//! | `MEDGPU_PIPELINE_CACHE` | `off`/`0` | no pipeline cache on disk |
//! | `MEDGPU_CACHE_DIR` | path | where the pipeline cache lives |
//! | `MEDGPU_KEEP_AWAKE` | `0`/`1` | spinner threads for software adapters off/on |
//!
//! ```
//! // an unset switch leaves the adapter's default
//! std::env::remove_var("MEDGPU_TILED_MATMUL");
//! assert_eq!(medgpu::settings::switch("MEDGPU_TILED_MATMUL"), None);
//! ```

use std::path::PathBuf;

/// A non-empty variable's value, trimmed.
fn value(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// An on/off switch: `Some(false)` for `0`, `Some(true)` for `1`, `None`
/// when unset or anything else (the adapter's default then applies).
pub fn switch(name: &str) -> Option<bool> {
    match value(name).as_deref() {
        Some("0") => Some(false),
        Some("1") => Some(true),
        _ => None,
    }
}

/// `MEDGPU_PORTABLE_KERNELS=1`: no adapter-specific variant.
pub fn portable_kernels() -> bool {
    value("MEDGPU_PORTABLE_KERNELS").is_some_and(|v| v == "1")
}

/// `MEDGPU_LOOP_BOUNDING=1`: naga's loop counter in every loop.
pub fn loop_bounding() -> bool {
    value("MEDGPU_LOOP_BOUNDING").is_some_and(|v| v == "1")
}

/// `MEDGPU_PIPELINE_CACHE=off` (or `0`): no pipeline cache on disk.
pub fn pipeline_cache_off() -> bool {
    value("MEDGPU_PIPELINE_CACHE").is_some_and(|v| v == "off" || v == "0")
}

/// The pipeline cache's directory: `MEDGPU_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/medgpu`, else `~/.cache/medgpu`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("MEDGPU_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("medgpu"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("medgpu"))
}

/// `MEDGPU_KEEP_AWAKE`: spinners for software adapters forced off or on.
pub fn keep_awake() -> Option<bool> {
    switch("MEDGPU_KEEP_AWAKE")
}

/// `MEDGPU_ADAPTER`: the adapter asked for by name (as written, when not blank).
pub fn adapter() -> Option<String> {
    std::env::var("MEDGPU_ADAPTER").ok().filter(|v| !v.trim().is_empty())
}

//! wgpu's pipeline cache kept on disk between runs, where the backend has
//! one (Vulkan: `Features::PIPELINE_CACHE`), so a later run skips the
//! driver's shader compilation.
//!
//! The file is `<dir>/<wgpu cache key>.medgpu` with `dir` from
//! `MEDGPU_CACHE_DIR`, else `$XDG_CACHE_HOME/medgpu`, else
//! `$HOME/.cache/medgpu`; `MEDGPU_PIPELINE_CACHE=off` turns it off. Layout:
//! magic `MGPC`, format version (u32 LE), data length (u64 LE), FNV-1a 64
//! hash of the data (u64 LE), the data. A file that fails these checks is
//! ignored (and later replaced); the driver also checks the data's own
//! header. The cache is an optimization: failing to read or write it never
//! fails a run, it is only logged.

use crate::gpu::Gpu;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"MGPC";
const FORMAT: u32 = 1;
const HEADER: usize = 4 + 4 + 8 + 8;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

/// The data of a cache file, if it is whole.
fn parse(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return None;
    }
    let format = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    let len = u64::from_le_bytes(bytes[8..16].try_into().ok()?) as usize;
    let hash = u64::from_le_bytes(bytes[16..24].try_into().ok()?);
    let data = bytes.get(HEADER..)?;
    (format == FORMAT && data.len() == len && fnv1a(data) == hash).then_some(data)
}

fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&fnv1a(data).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A wgpu pipeline cache and the file it came from and goes back to.
pub struct DiskCache {
    path: PathBuf,
    /// The cache pipelines are created with.
    pub cache: wgpu::PipelineCache,
    /// Bytes of cache data read from the file (0: a cold start).
    pub loaded_bytes: usize,
}

impl DiskCache {
    /// Opens the cache file of `gpu`'s adapter, or None where the backend
    /// has no pipeline cache or caching is turned off.
    pub fn open(gpu: &Gpu) -> Option<DiskCache> {
        if crate::settings::pipeline_cache_off() {
            return None;
        }
        if !gpu.features.contains(wgpu::Features::PIPELINE_CACHE) {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(&gpu.info)?;
        let path = crate::settings::cache_dir()?.join(format!("{key}.medgpu"));
        Self::open_at(gpu, &path)
    }

    /// Opens the cache at `path` (a missing or damaged file starts empty).
    pub fn open_at(gpu: &Gpu, path: &Path) -> Option<DiskCache> {
        let bytes = std::fs::read(path).unwrap_or_default();
        let data = parse(&bytes);
        if data.is_none() && !bytes.is_empty() {
            log::warn!("{}: not a whole medgpu pipeline cache; starting an empty one", path.display());
        }
        let desc = wgpu::PipelineCacheDescriptor { label: Some("medgpu pipelines"), data, fallback: true };
        // SAFETY: `data` is what `get_data` returned in an earlier run (the
        // file's own hash checks that it arrived whole), under the adapter's
        // own cache key; with `fallback` the driver ignores data it does not
        // accept.
        let cache =
            gpu.scoped("opening the pipeline cache", || unsafe { gpu.device.create_pipeline_cache(&desc) });
        let cache = cache.map_err(|e| log::warn!("pipeline cache unavailable: {e}")).ok()?;
        Some(DiskCache { path: path.to_path_buf(), cache, loaded_bytes: data.map_or(0, |d| d.len()) })
    }

    /// Writes the cache back (temporary file, then rename) when the driver
    /// has more data than was loaded; returns the bytes written.
    pub fn save(&self) -> usize {
        let Some(data) = self.cache.get_data() else { return 0 };
        if data.len() <= self.loaded_bytes {
            return 0;
        }
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, encode(&data))?;
            std::fs::rename(&tmp, &self.path)
        };
        match write() {
            Ok(()) => data.len(),
            Err(e) => {
                log::warn!("could not save the pipeline cache to {}: {e}", self.path.display());
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_file_round_trips_and_damage_is_detected() {
        let data = b"driver cache bytes".to_vec();
        let file = encode(&data);
        assert_eq!(parse(&file), Some(&data[..]));
        for cut in [0, 3, HEADER - 1, file.len() - 1] {
            assert_eq!(parse(&file[..cut]), None, "truncated at {cut}");
        }
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(parse(&flipped), None, "a flipped data byte");
        let mut other = file;
        other[4] = 9;
        assert_eq!(parse(&other), None, "another format version");
    }
}

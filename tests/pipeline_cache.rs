//! The driver's pipeline cache on disk: written after pipelines are built,
//! read back by the next run, and a damaged file is ignored, never an error.

mod common;
use common::*;
use medgpu::kernels::disk_cache::DiskCache;
use medgpu::kernels::PipelineCache;

#[test]
fn the_pipeline_cache_is_saved_reloaded_and_a_damaged_file_is_ignored() {
    let gpu = gpu();
    if !gpu.features.contains(wgpu::Features::PIPELINE_CACHE) {
        // GL and others: no cache, and nothing breaks
        assert_eq!(PipelineCache::persistent(&gpu).disk_loaded_bytes(), None);
        return;
    }
    let dir = std::env::temp_dir().join(format!("medgpu-pcache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("cache.medgpu");
    let disk = DiskCache::open_at(&gpu, &path).expect("a cache on an adapter with PIPELINE_CACHE");
    assert_eq!(disk.loaded_bytes, 0, "no file yet: a cold start");
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(
            "@group(0) @binding(0) var<storage, read_write> v: array<f32>;
             @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { v[g.x] = 1.0; }"
                .into(),
        ),
    });
    let _pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: Some(&disk.cache),
    });
    let written = disk.save();
    assert!(written > 0 && path.exists(), "the driver's data is written ({written} bytes)");
    let again = DiskCache::open_at(&gpu, &path).unwrap();
    assert_eq!(again.loaded_bytes, written, "the next run loads what was saved");

    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let damaged = DiskCache::open_at(&gpu, &path).unwrap();
    assert_eq!(damaged.loaded_bytes, 0, "a damaged file starts an empty cache");
    std::fs::write(&path, b"garbage").unwrap();
    assert_eq!(DiskCache::open_at(&gpu, &path).unwrap().loaded_bytes, 0);
}

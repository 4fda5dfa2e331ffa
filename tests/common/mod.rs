//! Shared test helpers: one GPU per test binary, a one-kernel runner, seeded
//! random data and tolerant comparisons.
#![allow(dead_code)]

use medgpu::gpu::{DeviceOptions, Gpu};
use medgpu::kernels::{Call, PipelineCache, Slice};
use std::sync::{Arc, Mutex, OnceLock};

/// The adapter every GPU test uses (WGPU_BACKEND / MEDGPU_ADAPTER respected).
/// No adapter is a test failure, never a skip.
pub fn gpu() -> Arc<Gpu> {
    static GPU: OnceLock<Arc<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| {
        let g =
            Gpu::open(&DeviceOptions::default()).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
        eprintln!("testing on {}", g.describe());
        Arc::new(g)
    })
    .clone()
}

/// A pipeline cache shared by the tests of one binary.
pub fn cache() -> &'static Mutex<PipelineCache> {
    static CACHE: OnceLock<Mutex<PipelineCache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(PipelineCache::new()))
}

/// Runs one call whose bindings index `buffers` (raw 32-bit words), and returns
/// every buffer's contents afterwards.
pub fn run_call(call: &Call<usize>, buffers: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let gpu = gpu();
    let bufs: Vec<wgpu::Buffer> = buffers
        .iter()
        .map(|b| {
            let mut w = b.clone();
            if w.is_empty() {
                w.push(0);
            }
            gpu.storage_from("test", &w).unwrap()
        })
        .collect();
    let mut words = call.uniform.clone();
    words.resize(words.len().max(4).div_ceil(4) * 4, 0);
    let ubuf = {
        use wgpu::util::DeviceExt;
        gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test uniform"),
            contents: bytemuck::cast_slice(&words),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    };
    let resolved = call
        .map(|i| -> Result<Slice, ()> { Ok(Slice { buffer: &bufs[*i], offset: 0, size: bufs[*i].size() }) })
        .unwrap();
    let u = Slice { buffer: &ubuf, offset: 0, size: (words.len() * 4) as u64 };
    // a failed test must not poison the cache for the others
    let d = cache().lock().unwrap_or_else(|e| e.into_inner()).build(&gpu, &resolved, u).unwrap();
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        d.record(&mut pass);
    }
    gpu.queue.submit([enc.finish()]);
    gpu.wait("test").unwrap();
    bufs.iter()
        .zip(buffers)
        .map(|(b, orig)| {
            let bytes = gpu.read_bytes(b, 0, (orig.len() * 4) as u64).unwrap();
            bytemuck::pod_collect_to_vec(&bytes)
        })
        .collect()
}

/// f32 values as raw words.
pub fn words(v: &[f64]) -> Vec<u32> {
    v.iter().map(|x| (*x as f32).to_bits()).collect()
}

/// Raw words as f64 values.
pub fn floats(w: &[u32]) -> Vec<f64> {
    w.iter().map(|x| f32::from_bits(*x) as f64).collect()
}

/// Deterministic values in [-1, 1).
pub fn rand_vec(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// Asserts |got - want| <= atol + rtol * |want| everywhere, naming `what` and the index.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}: index {i}: got {g}, want {w}");
    }
}

/// Runs the medgpu binary: (exit code, stdout, stderr).
pub fn medgpu(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medgpu")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs medgpu with `args` and checks it failed cleanly: exit `code`, each
/// of `needles` in stderr, exactly one `error:` line, no panic.
pub fn assert_clean_error(args: &[&str], code: i32, needles: &[&str]) {
    let (c, _, err) = medgpu(args);
    assert_eq!(c, code, "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected '{n}' in: {err}");
    }
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let error_lines = err.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(error_lines, 1, "{args:?}: one error line expected: {err}");
}

/// A smooth two-tone signal of `n` samples in column `mv`, written to `path`.
pub fn signal(path: &std::path::Path, n: usize) {
    let mut text = String::from("mv\n");
    for i in 0..n {
        let t = i as f64 * 0.05;
        text.push_str(&format!("{:.5}\n", t.sin() + 0.5 * (2.7 * t).sin()));
    }
    std::fs::write(path, text).unwrap();
}

/// A path as the &str a command line takes.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

//! Kernel and overhead benchmarks: matmul GFLOPS, elementwise bandwidth, and
//! the cost of a dispatch, a submit and a readback.

use super::Stat;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::graph::timing::time_dispatch;
use crate::kernels::{self, Call, Dispatch, Epilogue, MatmulOperands, PipelineCache, Slice};
use serde::Serialize;
use std::time::Instant;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// What was measured, e.g. `matmul 512x512x512`.
    pub name: String,
    /// Unit of the figure (GFLOPS, GB/s, µs).
    pub unit: &'static str,
    /// Median, min, max over repetitions.
    pub value: Stat,
    /// The kernel that ran (matmuls: the variant this adapter takes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<&'static str>,
    /// The median as a percentage of the adapter's FP32 peak, where the
    /// user gave it (`medgpu bench --peak-gflops`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_of_peak: Option<f64>,
}

impl Figure {
    /// A figure without a kernel or a peak.
    pub fn new(name: impl Into<String>, unit: &'static str, value: Stat) -> Figure {
        Figure { name: name.into(), unit, value, kernel: None, percent_of_peak: None }
    }
}

/// Buffers and one built dispatch of a call whose bindings index `sizes` (f32 counts).
struct Bench {
    _bufs: Vec<wgpu::Buffer>,
    _ubuf: wgpu::Buffer,
    dispatch: Dispatch,
}

fn build(gpu: &Gpu, cache: &mut PipelineCache, call: &Call<usize>, sizes: &[usize]) -> Result<Bench> {
    let bufs: Vec<wgpu::Buffer> =
        sizes.iter().map(|n| gpu.storage_buffer("bench", (n.max(&1) * 4) as u64)).collect::<Result<_>>()?;
    let mut words = call.uniform.clone();
    words.resize(words.len().max(4).div_ceil(4) * 4, 0);
    let ubuf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bench uniform"),
        size: (words.len() * 4) as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.queue.write_buffer(&ubuf, 0, bytemuck::cast_slice(&words));
    let resolved =
        call.map(|i| -> Result<Slice> { Ok(Slice { buffer: &bufs[*i], offset: 0, size: bufs[*i].size() }) })?;
    let u = Slice { buffer: &ubuf, offset: 0, size: (words.len() * 4) as u64 };
    let dispatch = cache.build(gpu, &resolved, u)?;
    Ok(Bench { _bufs: bufs, _ubuf: ubuf, dispatch })
}

/// Matmul GFLOPS for square sizes up to `max` and the training shapes of the default MLP.
pub fn matmul(gpu: &Gpu, cache: &mut PipelineCache, max: usize, reps: usize) -> Result<Vec<Figure>> {
    let mut shapes: Vec<(String, usize, usize, usize, usize)> = Vec::new();
    for n in [64, 128, 256, 512, 1024, 2048, 4096].into_iter().filter(|n| *n <= max) {
        shapes.push((format!("matmul_nn {n}x{n}x{n}"), 0, n, n, n));
    }
    // the default MLP's step: forward layer 1, weight gradient of layer 2, input gradient of layer 2
    shapes.push(("matmul_nn 32x64x30 (mlp forward)".into(), 0, 32, 64, 30));
    shapes.push(("matmul_tn 64x32x32 (mlp weight grad)".into(), 2, 64, 32, 32));
    shapes.push(("matmul_nt 32x64x32 (mlp input grad)".into(), 1, 32, 64, 32));
    // the ECG LSTM's recurrent weight gradient: h^T . dz over 64 rows x 64 steps
    shapes.push(("matmul_tn 32x128x4096 (lstm weight grad)".into(), 2, 32, 128, 4096));
    let mut out = Vec::new();
    for (name, kind, m, n, k) in shapes {
        let ops = MatmulOperands { a: 0, b: 1, bias: None, aux: None, c: 2 };
        let call = match kind {
            0 => kernels::matmul_nn(m, n, k, ops, Epilogue::PLAIN, 3),
            1 => kernels::matmul_nt(m, n, k, ops, Epilogue::PLAIN, 3),
            _ => kernels::matmul_tn(m, n, k, ops, Epilogue::PLAIN, 3),
        };
        // the variant training uses on this adapter
        let call = kernels::specialize(call, cache.variants(gpu));
        let b = build(gpu, cache, &call, &[m * k, k * n, m * n, 64])?;
        let flops = 2.0 * (m * n * k) as f64;
        // enough dispatches per pass for ~20 ms of work at 1 GFLOPS, at least 4
        let per_rep = ((2e7 / flops) as usize).clamp(4, 400);
        let secs = time_dispatch(gpu, &b.dispatch, per_rep, reps)?;
        let gflops: Vec<f64> = secs.iter().map(|s| flops / s / 1e9).collect();
        out.push(Figure {
            kernel: Some(call.kernel.entry_point()),
            ..Figure::new(name, "GFLOPS", Stat::of(&gflops))
        });
    }
    Ok(out)
}

/// Bandwidth of `add_into` (read two, write one f32 per element) over 16 Mi values.
pub fn elementwise(gpu: &Gpu, cache: &mut PipelineCache, reps: usize) -> Result<Vec<Figure>> {
    let n = 1 << 24;
    let call = kernels::add_into(n, true, 0, 1, 2);
    let b = build(gpu, cache, &call, &[n, n, 64])?;
    let secs = time_dispatch(gpu, &b.dispatch, 4, reps)?;
    let gbs: Vec<f64> = secs.iter().map(|s| (3 * 4 * n) as f64 / s / 1e9).collect();
    Ok(vec![Figure::new("add_into 16Mi f32 (2 reads + 1 write)", "GB/s", Stat::of(&gbs))])
}

/// µs per tiny dispatch inside one pass, per empty submit + wait, per 16-byte readback.
pub fn dispatch(gpu: &Gpu, cache: &mut PipelineCache, reps: usize) -> Result<Vec<Figure>> {
    let call = kernels::add_into(64, false, 0, 1, 2);
    let b = build(gpu, cache, &call, &[64, 64, 64])?;
    let us = |v: Vec<f64>| Stat::of(&v.iter().map(|s| s * 1e6).collect::<Vec<_>>());
    let per_dispatch = us(time_dispatch(gpu, &b.dispatch, 500, reps)?);
    let mut submit = Vec::new();
    let mut readback = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..50 {
            gpu.queue.submit([gpu.device.create_command_encoder(&Default::default()).finish()]);
            gpu.wait("benchmarking")?;
        }
        submit.push(t.elapsed().as_secs_f64() / 50.0);
        let buf = &b._bufs[0];
        let staging = gpu.readback_buffer(16)?;
        let t = Instant::now();
        for _ in 0..50 {
            gpu.read_bytes_via(buf, 0, 16, Some(&staging))?;
        }
        readback.push(t.elapsed().as_secs_f64() / 50.0);
    }
    Ok(vec![
        Figure::new("one dispatch within a pass", "us", per_dispatch),
        Figure::new("one submit + wait (empty)", "us", us(submit)),
        Figure::new("one 16-byte readback", "us", us(readback)),
    ])
}

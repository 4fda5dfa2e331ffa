//! Timing of recorded dispatches, for benchmarks and profiling: each
//! dispatch (or list of them) replayed many times in one compute pass.

use crate::error::Result;
use crate::gpu::timer::PassTimer;
use crate::gpu::Gpu;
use crate::kernels::Dispatch;
use std::time::Instant;

/// Seconds per dispatch: `per_rep` dispatches in one pass, one submit and
/// wait, `reps` times. GPU time between the pass's start and end timestamps
/// where the adapter has timestamp queries, wall time around submit and
/// wait otherwise (see [`timing`]).
pub fn time_dispatch(gpu: &Gpu, d: &Dispatch, per_rep: usize, reps: usize) -> Result<Vec<f64>> {
    time_dispatches(gpu, &[d], per_rep, reps)
}

/// Seconds per replay of `ds` in order: like [`time_dispatch`], with the
/// whole list recorded `per_rep` times in one pass.
pub fn time_dispatches(gpu: &Gpu, ds: &[&Dispatch], per_rep: usize, reps: usize) -> Result<Vec<f64>> {
    let timer = PassTimer::new(gpu);
    // one warm-up pass
    let mut out = Vec::new();
    for r in 0..=reps {
        let t = Instant::now();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let desc = wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: timer.as_ref().map(|t| t.writes()),
            };
            let mut pass = enc.begin_compute_pass(&desc);
            for _ in 0..per_rep {
                for d in ds {
                    d.record(&mut pass);
                }
            }
        }
        if let Some(t) = &timer {
            t.resolve(&mut enc);
        }
        gpu.queue.submit([enc.finish()]);
        gpu.wait("benchmarking")?;
        let secs = match &timer {
            Some(t) => t.read_secs(gpu)?,
            None => t.elapsed().as_secs_f64(),
        };
        if r > 0 {
            out.push(secs / per_rep as f64);
        }
    }
    Ok(out)
}

/// How [`time_dispatch`] times on this adapter.
pub fn timing(gpu: &Gpu) -> &'static str {
    if gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        "GPU timestamps at the start and end of each pass"
    } else {
        "wall clock around submit + wait (no timestamp queries)"
    }
}

//! GPU time of a compute pass from timestamp queries (`TIMESTAMP_QUERY`:
//! one timestamp at the start and one at the end of the pass), for
//! benchmarks. Adapters without the feature get `None` and callers fall back
//! to wall-clock time around submit and wait.

use super::Gpu;
use crate::error::Result;

/// A query set of two timestamps and the buffers that bring them back.
pub struct PassTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

impl PassTimer {
    /// A timer, or `None` when the device has no timestamp queries.
    pub fn new(gpu: &Gpu) -> Option<PassTimer> {
        if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let made = gpu.scoped("creating timestamp queries", || {
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamp resolve"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (set, resolve)
        });
        let (set, resolve) = made.ok()?;
        let readback = gpu.readback_buffer(16).ok()?;
        Some(PassTimer { set, resolve, readback, period_ns: gpu.queue.get_timestamp_period() as f64 })
    }

    /// Timestamp writes for a compute pass descriptor: start and end of the pass.
    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Records the copy of the two timestamps (after the timed pass ended).
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        enc.resolve_query_set(&self.set, 0..2, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, 16);
    }

    /// Seconds between the two timestamps, once the submission with
    /// [`PassTimer::resolve`] is done.
    pub fn read_secs(&self, gpu: &Gpu) -> Result<f64> {
        let bytes = gpu.map_and_read(&self.readback, 16, "reading timestamps")?;
        let t: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(t[1].saturating_sub(t[0]) as f64 * self.period_ns * 1e-9)
    }
}

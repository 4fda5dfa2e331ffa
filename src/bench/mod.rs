//! Headless benchmarks (`medgpu bench`, `cargo bench`): kernel throughput,
//! dispatch overheads, training throughput per model, and memory. Every
//! figure is the median, min and max over repetitions measured in one run.
//! Kernel figures and per-dispatch profiles use GPU timestamps where the
//! adapter has TIMESTAMP_QUERY (the time between the start and the end of a
//! pass of repeated dispatches), wall clock around submit-and-wait
//! otherwise; training throughput is always wall clock. The output says which.

pub mod explain;
pub mod kernels;
pub mod serve;
pub mod train;

pub use train::{
    bench_autoencoder, bench_cnn, bench_default_mlp, bench_lstm, bench_recurrent, bench_training, first_step,
    model_setup, recurrent_setup, Devices, TrainBench, STARTUP_MODELS,
};

use serde::Serialize;

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stat {
    /// Summarizes samples (at least one).
    pub fn of(samples: &[f64]) -> Stat {
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n == 0 {
            0.0
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stat { median, min: v.first().copied().unwrap_or(0.0), max: v.last().copied().unwrap_or(0.0) }
    }
}

/// The suites `medgpu bench --suite` knows.
pub const SUITES: [&str; 8] =
    ["matmul", "elementwise", "dispatch", "train", "memory", "startup", "explain", "serve"];

//! What `GET /metrics` reports, in the Prometheus text format: requests by
//! model and status, a latency histogram, replay batch sizes and the queue
//! depth.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Upper bounds of the latency buckets, seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// Upper bounds of the batch-size buckets, rows.
const BATCH_BUCKETS: [usize; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];

/// The server's counters.
#[derive(Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
    batches: [AtomicU64; BATCH_BUCKETS.len() + 1],
    batch_rows: AtomicU64,
    queue: AtomicUsize,
}

impl Stats {
    /// A request to `model` ended with `status` after `seconds`.
    pub fn request(&self, model: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((model.to_string(), status)).or_insert(0) += 1;
        }
        let b = LATENCY_BUCKETS.iter().position(|u| seconds <= *u).unwrap_or(LATENCY_BUCKETS.len());
        self.latency[b].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// A replay of `rows` rows.
    pub fn batch(&self, rows: usize) {
        let b = BATCH_BUCKETS.iter().position(|u| rows <= *u).unwrap_or(BATCH_BUCKETS.len());
        self.batches[b].fetch_add(1, Ordering::Relaxed);
        self.batch_rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Jobs put on the queue.
    pub fn enqueued(&self, n: usize) {
        self.queue.fetch_add(n, Ordering::Relaxed);
    }

    /// Jobs taken off the queue.
    pub fn dequeued(&self, n: usize) {
        self.queue.fetch_sub(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP medgpu_requests_total Inference requests by model and HTTP status.\n# TYPE medgpu_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((model, status), n) in r.iter() {
                let _ = writeln!(
                    s,
                    "medgpu_requests_total{{model=\"{}\",status=\"{status}\"}} {n}",
                    model.replace('"', "'")
                );
            }
        }
        histogram(
            &mut s,
            "medgpu_request_seconds",
            "Inference request latency.",
            &LATENCY_BUCKETS.map(|u| u.to_string()),
            &self.latency,
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        );
        histogram(
            &mut s,
            "medgpu_batch_rows",
            "Rows per replay of an inference program.",
            &BATCH_BUCKETS.map(|u| u.to_string()),
            &self.batches,
            self.batch_rows.load(Ordering::Relaxed) as f64,
        );
        let _ = writeln!(
            s,
            "# HELP medgpu_queue_depth Jobs waiting for the GPU thread.\n# TYPE medgpu_queue_depth gauge\nmedgpu_queue_depth {}",
            self.queue.load(Ordering::Relaxed)
        );
        s
    }
}

fn histogram(s: &mut String, name: &str, help: &str, bounds: &[String], counts: &[AtomicU64], sum: f64) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut total = 0;
    for (b, c) in bounds.iter().zip(counts) {
        total += c.load(Ordering::Relaxed);
        let _ = writeln!(s, "{name}_bucket{{le=\"{b}\"}} {total}");
    }
    total += counts[bounds.len()].load(Ordering::Relaxed);
    let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {total}\n{name}_sum {sum}\n{name}_count {total}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let s = Stats::default();
        s.request("m", 200, 0.0015);
        s.request("m", 200, 0.0015);
        s.request("m", 400, 7.0);
        s.batch(3);
        let text = s.render();
        assert!(text.contains("medgpu_requests_total{model=\"m\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("medgpu_request_seconds_bucket{le=\"0.001\"} 0"), "{text}");
        assert!(text.contains("medgpu_request_seconds_bucket{le=\"0.002\"} 2"), "{text}");
        assert!(text.contains("medgpu_request_seconds_bucket{le=\"5\"} 2"), "{text}");
        assert!(text.contains("medgpu_request_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(
            text.contains("medgpu_batch_rows_bucket{le=\"2\"} 0")
                && text.contains("medgpu_batch_rows_bucket{le=\"4\"} 1"),
            "{text}"
        );
        assert!(text.contains("medgpu_batch_rows_sum 3\nmedgpu_batch_rows_count 1"), "{text}");
    }
}

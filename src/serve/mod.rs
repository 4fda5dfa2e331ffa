//! `medgpu serve`: trained models as an HTTP service speaking the Open
//! Inference Protocol (KServe v2 REST). Requests are decoded and checked on
//! the HTTP runtime (tokio, axum); their rows go through a bounded queue to
//! one GPU thread that merges the rows of requests arriving together into
//! one replay per model ([`worker`]).

mod http;
pub mod protocol;
pub mod registry;
pub mod stats;
pub mod worker;

use crate::error::{Error, Result};
use crate::gpu::{DeviceOptions, Gpu};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// A folder of run directories (`NAME/` or `NAME/VERSION/`).
    pub models: Option<PathBuf>,
    /// One run directory.
    pub run: Option<PathBuf>,
    /// Address to bind (127.0.0.1 unless told otherwise).
    pub host: String,
    /// Port (0: any free one; the bound address is printed).
    pub port: u16,
    /// Most rows per replay of a model.
    pub max_batch: usize,
    /// Longest wait for more requests to join a replay.
    pub max_delay: Duration,
    /// A file holding the bearer token requests must carry.
    pub token_file: Option<PathBuf>,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Most rows in one request.
    pub max_rows: usize,
    /// Jobs the queue holds before answering 503.
    pub queue: usize,
    /// Longest time to receive a request's body.
    pub read_timeout: Duration,
    /// Put request inputs in the access log.
    pub log_payloads: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            models: None,
            run: None,
            host: "127.0.0.1".into(),
            port: 8000,
            max_batch: 64,
            max_delay: Duration::from_millis(2),
            token_file: None,
            max_body: 8 << 20,
            max_rows: 4096,
            queue: 1024,
            read_timeout: Duration::from_secs(30),
            log_payloads: false,
        }
    }
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight and
/// returns.
pub fn serve(dev: &DeviceOptions, opts: ServeOptions) -> Result<()> {
    let token = match &opts.token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?.trim().to_string();
            if t.len() < 16 {
                return Err(Error::Options(format!(
                    "`token_file` {}: the token has {} characters; use at least 16 random ones",
                    p.display(),
                    t.len()
                )));
            }
            Some(t)
        }
        None => None,
    };
    if opts.max_batch == 0 || opts.max_rows == 0 || opts.queue == 0 {
        return Err(Error::Options("`max_batch`, `max_rows` and `queue` must be at least 1".into()));
    }
    let (entries, failed) = registry::discover(opts.models.as_deref(), opts.run.as_deref())?;
    for (dir, e) in &failed {
        eprintln!("error: model {} not served: {e}", dir.display());
    }
    let gpu = Arc::new(Gpu::open(dev)?);
    let ready = Arc::new(AtomicBool::new(false));
    http::run(gpu, entries, opts, token, ready)
}

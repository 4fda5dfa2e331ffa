//! `medgpu serve`: options.

use clap::Args;
use medgpu::gpu::DeviceOptions;
use medgpu::serve::{serve, ServeOptions};
use medgpu::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `medgpu serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A folder of run directories: NAME/ (version 1) or NAME/VERSION/
    #[arg(long, required_unless_present = "run")]
    models: Option<PathBuf>,
    /// One run directory, served under its folder's name
    #[arg(long)]
    run: Option<PathBuf>,
    /// Address to bind; 0.0.0.0 exposes the server to the network
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the bound address is printed)
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Most rows per replay of a model (requests arriving together share one)
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Longest wait, in milliseconds, for more requests to join a replay
    #[arg(long, default_value_t = 2.0)]
    max_delay_ms: f64,
    /// File holding the token requests must send as Authorization: Bearer TOKEN
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Largest request body, e.g. 8M
    #[arg(long, default_value = "8M")]
    max_body: String,
    /// Most rows in one request
    #[arg(long, default_value_t = 4096)]
    max_rows: usize,
    /// Requests waiting for the GPU before new ones get 503
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Seconds a client has to send its request body
    #[arg(long, default_value_t = 30.0)]
    read_timeout_s: f64,
    /// Write request inputs (patient data) into the access log
    #[arg(long)]
    log_payloads: bool,
}

/// Runs `medgpu serve`.
pub fn run(dev: &DeviceOptions, a: ServeArgs) -> Result<()> {
    let max_body = medgpu::model::config::parse_size(&a.max_body)
        .ok_or_else(|| Error::Usage(format!("--max-body '{}' is not a size such as 8M", a.max_body)))?;
    let secs = |v: f64, flag: &str| {
        if v.is_finite() && v >= 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(Error::Usage(format!("{flag} must be a number of seconds, got {v}")))
        }
    };
    let opts = ServeOptions {
        models: a.models,
        run: a.run,
        host: a.host,
        port: a.port,
        max_batch: a.max_batch,
        max_delay: secs(a.max_delay_ms / 1000.0, "--max-delay-ms")?,
        token_file: a.token_file,
        max_body: max_body as usize,
        max_rows: a.max_rows,
        queue: a.queue,
        read_timeout: secs(a.read_timeout_s, "--read-timeout-s")?,
        log_payloads: a.log_payloads,
    };
    serve(dev, opts)
}

//! The one error type of the library. Every failure a user can meet maps to a
//! variant that says where it happened and what to do about it.

use std::path::PathBuf;

/// Result alias used across medgpu.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in medgpu, each with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched the request (or none exists at all).
    #[error("no GPU adapter found{detail}. {hint}")]
    NoAdapter {
        /// What was asked for (backend, name filter), empty if nothing.
        detail: String,
        /// How to get one.
        hint: String,
    },
    /// A limit of the adapter is too small for what was asked.
    #[error("adapter limit exceeded: {limit} is {max} on this adapter, but {needed} is needed ({context})")]
    LimitExceeded {
        /// Name of the wgpu limit, e.g. `max_storage_buffer_binding_size`.
        limit: String,
        /// The adapter's value.
        max: u64,
        /// What was requested.
        needed: u64,
        /// Which tensor or dispatch needed it.
        context: String,
    },
    /// Allocation failed or the plan is over the user's memory budget.
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),
    /// The device was lost (driver reset, device destroyed).
    #[error(
        "GPU device lost ({0}); what was checkpointed stays valid: continue from the last checkpoint \
         (`resume`) once the GPU is back"
    )]
    DeviceLost(String),
    /// A wgpu validation error or another GPU-side failure.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A wait on the GPU took longer than allowed.
    #[error("GPU did not answer within {seconds} s while {what}; the driver may be hung")]
    Timeout {
        /// What we were waiting for.
        what: String,
        /// The timeout in seconds.
        seconds: u64,
    },
    /// Bad input data: says the file, line, column and value where known.
    #[error("{file}:{line}:{column}: {message}")]
    Data {
        /// Path of the file (or `builtin:NAME`).
        file: String,
        /// 1-based line number (0 when not tied to a line).
        line: u64,
        /// 1-based column number (0 when not tied to a column).
        column: u64,
        /// What is wrong and what to do.
        message: String,
    },
    /// A data set problem not tied to one cell (too few rows, one class, ...).
    #[error("bad data set: {0}")]
    Dataset(String),
    /// A graph or model spec problem: names the op or layer and the shapes.
    #[error("bad model: {0}")]
    Model(String),
    /// A NaN or Inf appeared in the loss or the gradients (on-nonfinite stop).
    #[error(
        "the loss or gradients became NaN or Inf at epoch {epoch}, step {step} of the run; \
         the weights were not updated from that step on and {kept}. \
         Lower `lr`, use `clip_grad_norm`, check the data for extreme values, or set `on_nonfinite` skip-step"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step of the run.
        step: u64,
        /// What was kept, e.g. "the last good checkpoint is epoch 2 in runs/x/checkpoint".
        kept: String,
    },
    /// A checkpoint or run directory that cannot be used.
    #[error("{path}: bad checkpoint: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Options that cannot be honoured together, or that name something
    /// that is not there (a column, a model, a backend). Options are named
    /// as the library's fields, in backticks (`target`); the command line
    /// shows them as its flags (`--target`).
    #[error("bad options: {0}")]
    Options(String),
    /// A command-line argument that cannot be honoured (raised by the CLI only).
    #[error("bad argument: {0}")]
    Usage(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

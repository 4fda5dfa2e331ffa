//! Device and adapter choice, limits, error capture, buffers and waits.
//!
//! wgpu's default error handler panics; [`Gpu`] installs one that records the
//! error so the next [`Gpu::check`] returns it as a [`crate::Error`], and wraps
//! allocation and pipeline creation in error scopes.

mod adapters;
pub mod keep_awake;
pub mod timer;

pub use adapters::{list_adapters, user_software_threads, AdapterReport, DeviceOptions};

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long any single wait on the GPU may take before it is reported as a hang.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(120);

/// An open device with its queue, the adapter it came from and an error sink.
pub struct Gpu {
    /// The wgpu device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Name, backend, driver of the adapter.
    pub info: wgpu::AdapterInfo,
    /// The limits the device was opened with (the adapter's own).
    pub limits: wgpu::Limits,
    /// The features enabled on the device.
    pub features: wgpu::Features,
    /// A software adapter running its kernels on the submitting thread
    /// ([`DeviceOptions::software_inline`], or `LP_NUM_THREADS=0`).
    pub software_inline: bool,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    created: std::sync::atomic::AtomicU64,
    awake: Option<keep_awake::KeepAwake>,
}

impl Gpu {
    /// Opens the adapter chosen by `opts` (see [`DeviceOptions`]).
    pub fn open(opts: &DeviceOptions) -> Result<Gpu> {
        let user_threads = adapters::user_software_threads();
        let adapter = adapters::choose_adapter(opts)?;
        let info = adapter.get_info();
        let software_inline = info.device_type == wgpu::DeviceType::Cpu
            && match user_threads {
                Some(n) => n.trim() == "0",
                None => opts.software_inline,
            };
        let limits = adapter.limits();
        let wanted =
            wgpu::Features::SUBGROUP | wgpu::Features::PIPELINE_CACHE | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let desc = wgpu::DeviceDescriptor {
            label: Some("medgpu"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            Error::Gpu(format!("could not open adapter '{}' ({:?}): {e}", info.name, info.backend))
        })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut l) = lost_sink.lock() {
                *l = Some(format!("{reason:?}: {msg}"));
            }
        });
        log::info!(
            "opened {} ({:?}, {:?}, driver {} {})",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info
        );
        let awake = keep_awake_for(&info, software_inline);
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            features,
            software_inline,
            errors,
            lost,
            created: std::sync::atomic::AtomicU64::new(0),
            awake,
        })
    }

    /// Bytes of all GPU buffers medgpu has created on this device so far
    /// (storage, uniform and readback). A training loop that allocates
    /// nothing per step or epoch keeps this constant.
    pub fn bytes_created(&self) -> u64 {
        self.created.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records `bytes` of a buffer created outside this module.
    pub fn note_created(&self, bytes: u64) {
        self.created.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Returns the first error recorded since the last check, if any.
    pub fn check(&self) -> Result<()> {
        if let Some(msg) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(Error::DeviceLost(msg));
        }
        let mut errs = self.errors.lock().map_err(|_| Error::Gpu("error sink poisoned".into()))?;
        if errs.is_empty() {
            return Ok(());
        }
        let msg = errs.join("; ");
        errs.clear();
        Err(classify(&msg))
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns any
    /// error it raised into a [`crate::Error`] that names `what`.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let start = std::time::Instant::now();
        let out = f();
        // (shader compiles on software adapters can take seconds when no disk cache has them)
        log::debug!("{what}: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(Error::OutOfMemory(format!("{what}: {e}")));
        }
        if let Some(e) = v {
            return Err(classify(&format!("{what}: {e}")));
        }
        Ok(out)
    }

    /// Creates a zeroed storage buffer of `bytes` (rounded up to 16) with copy usages.
    pub fn storage_buffer(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
        let size = bytes.max(16).div_ceil(16) * 16;
        if size > self.limits.max_buffer_size {
            return Err(Error::LimitExceeded {
                limit: "max_buffer_size".into(),
                max: self.limits.max_buffer_size,
                needed: size,
                context: label.into(),
            });
        }
        self.note_created(size);
        self.scoped(&format!("allocating {label} ({size} bytes)"), || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        })
    }

    /// Creates a storage buffer holding `data`.
    pub fn storage_from<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<wgpu::Buffer> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.len() as u64 > self.limits.max_buffer_size {
            return Err(Error::LimitExceeded {
                limit: "max_buffer_size".into(),
                max: self.limits.max_buffer_size,
                needed: bytes.len() as u64,
                context: label.into(),
            });
        }
        // written in chunks, waiting after each, so the upload never holds a
        // second full copy of the data in staging memory
        const CHUNK: usize = 16 << 20;
        let size = (bytes.len() as u64).max(16).div_ceil(16) * 16;
        let buffer = self.storage_buffer(label, size)?;
        for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
            let mut part = chunk.to_vec();
            part.resize(part.len().div_ceil(4) * 4, 0);
            self.queue.write_buffer(&buffer, (i * CHUNK) as u64, &part);
            self.queue.submit([]);
            self.wait(&format!("uploading {label}"))?;
        }
        Ok(buffer)
    }

    /// Waits until all submitted work is done, or fails with [`Error::Timeout`].
    pub fn wait(&self, what: &str) -> Result<()> {
        self.wait_for(None, what)
    }

    /// Keeps a CPU adapter's thread-pool cores awake for a while
    /// ([`keep_awake`]): training and prediction call it before each submission.
    pub fn keep_awake(&self) {
        if let Some(k) = &self.awake {
            k.touch();
        }
    }

    /// Whether [`Gpu::keep_awake`] does anything on this device.
    pub fn keeps_awake(&self) -> bool {
        self.awake.is_some()
    }

    /// Waits for one submission (or all when `None`), with [`WAIT_TIMEOUT`].
    pub fn wait_for(&self, index: Option<wgpu::SubmissionIndex>, what: &str) -> Result<()> {
        let r =
            self.device.poll(wgpu::PollType::Wait { submission_index: index, timeout: Some(WAIT_TIMEOUT) });
        match r {
            Ok(_) => self.check(),
            Err(wgpu::PollError::Timeout) => {
                self.check()?;
                Err(Error::Timeout { what: what.into(), seconds: WAIT_TIMEOUT.as_secs() })
            }
            Err(e) => {
                // e.g. a submission that never happened because the device
                // went away: let wgpu run its lost-device callbacks, then report
                let _ = self.device.poll(wgpu::PollType::Poll);
                self.check()?;
                Err(Error::Gpu(format!("{what}: {e}")))
            }
        }
    }

    /// A buffer the host can map for reading, `size` bytes (rounded up to 4).
    pub fn readback_buffer(&self, size: u64) -> Result<wgpu::Buffer> {
        let size = size.max(4).div_ceil(4) * 4;
        self.note_created(size);
        self.scoped("allocating a readback buffer", || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Copies `bytes` bytes at `offset` of `src` back to the host (one submit,
    /// one wait), through `staging` when given and large enough, or a new
    /// readback buffer.
    pub fn read_bytes_via(
        &self,
        src: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
        staging: Option<&wgpu::Buffer>,
    ) -> Result<Vec<u8>> {
        let size = bytes.div_ceil(4) * 4;
        let owned;
        let staging = match staging {
            Some(s) if s.size() >= size => s,
            _ => {
                owned = self.readback_buffer(size)?;
                &owned
            }
        };
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, staging, 0, size);
        self.queue.submit([enc.finish()]);
        let mut v = self.map_and_read(staging, size, "reading a buffer back")?;
        v.truncate(bytes as usize);
        Ok(v)
    }

    /// Copies `bytes` bytes at `offset` of `src` back to the host (one submit, one wait).
    pub fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        self.read_bytes_via(src, offset, bytes, None)
    }

    /// Maps a MAP_READ buffer whose copies were already submitted and returns its first `size` bytes.
    pub fn map_and_read(&self, staging: &wgpu::Buffer, size: u64, what: &str) -> Result<Vec<u8>> {
        let slot: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> =
            Arc::new(Mutex::new(None));
        let s2 = slot.clone();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            if let Ok(mut s) = s2.lock() {
                *s = Some(r);
            }
        });
        // Another thread's poll may be the one that runs our callback, so
        // wait until it has run (in slices, with the usual timeout).
        let deadline = std::time::Instant::now() + WAIT_TIMEOUT;
        let state = loop {
            self.wait(what)?;
            if let Some(r) = slot.lock().ok().and_then(|mut s| s.take()) {
                break Some(r);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        match state {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                // a lost device is the cause worth reporting
                self.check()?;
                return Err(Error::Gpu(format!("{what}: map failed: {e}")));
            }
            None => {
                self.check()?;
                return Err(Error::Timeout { what: what.into(), seconds: WAIT_TIMEOUT.as_secs() });
            }
        }
        let out = {
            let view = staging.get_mapped_range(0..size).map_err(|e| Error::Gpu(format!("{what}: {e}")))?;
            view.to_vec()
        };
        staging.unmap();
        Ok(out)
    }

    /// Reads `len` f32 values at element offset `offset` of `src`.
    pub fn read_f32(&self, src: &wgpu::Buffer, offset: u64, len: usize) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(src, offset * 4, len as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// A short description: `name (backend)`.
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }
}

/// Maps a wgpu error message onto the closest [`Error`] variant.
fn classify(msg: &str) -> Error {
    let lower = msg.to_lowercase();
    if lower.contains("out of memory") {
        Error::OutOfMemory(msg.to_string())
    } else if lower.contains("device") && lower.contains("lost") {
        Error::DeviceLost(msg.to_string())
    } else {
        Error::Gpu(msg.to_string())
    }
}

/// Spinners for a CPU adapter that runs kernels on its thread pool (one
/// per core), or none; `MEDGPU_KEEP_AWAKE=0` or `=1` decides instead.
fn keep_awake_for(info: &wgpu::AdapterInfo, software_inline: bool) -> Option<keep_awake::KeepAwake> {
    let on = crate::settings::keep_awake()
        .unwrap_or(info.device_type == wgpu::DeviceType::Cpu && !software_inline);
    // (llvmpipe's pool has at most LP_MAX_THREADS = 32 threads: more spinners would only burn cores)
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(32);
    on.then(|| keep_awake::KeepAwake::new(cores))
}

//! Finding adapters: listing them for `medgpu devices` and choosing one.

use crate::error::{Error, Result};
use serde::Serialize;

/// Which adapter to open. Empty fields fall back to the environment
/// (`WGPU_BACKEND`, `MEDGPU_ADAPTER`), then to the highest-performance adapter.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    /// Backend name: vulkan, metal, dx12 or gl.
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name.
    pub adapter: Option<String>,
    /// Run a software adapter's kernels (Mesa llvmpipe: lavapipe on Vulkan,
    /// llvmpipe on GL) on the thread that submits them instead of its thread
    /// pool: a dispatch then costs a few µs instead of tens (docs/PERF.md), but
    /// each kernel runs on one core. Pays for models made of many small
    /// kernels. Sets Mesa's `LP_NUM_THREADS=0` while the adapter is opened,
    /// unless the user set `LP_NUM_THREADS` (which then wins); hardware
    /// adapters ignore it. Setting it changes the process environment for
    /// that moment: open such devices before starting threads that read it.
    pub software_inline: bool,
}

/// Mesa's llvmpipe thread count variable (read when an adapter is created).
const LP_THREADS: &str = "LP_NUM_THREADS";

/// The llvmpipe thread count the user set, which every software adapter
/// then uses whatever [`DeviceOptions::software_inline`] says.
pub fn user_software_threads() -> Option<String> {
    std::env::var(LP_THREADS).ok()
}

/// What `medgpu devices` prints about one adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterReport {
    /// Adapter name.
    pub name: String,
    /// Backend (Vulkan, Gl, ...).
    pub backend: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version details.
    pub driver_info: String,
    /// The limits medgpu relies on, by wgpu name.
    pub limits: Vec<(String, u64)>,
    /// Features of interest the adapter has.
    pub features: Vec<String>,
}

const HINT: &str = "Install a Vulkan driver (on headless Linux: `apt-get install mesa-vulkan-drivers` gives the lavapipe software adapter), or pick another backend with `backend` / WGPU_BACKEND (vulkan, metal, dx12, gl); `medgpu devices` lists what is present";

fn parse_backend(name: &str) -> Result<wgpu::Backends> {
    match name.trim().to_lowercase().as_str() {
        "vulkan" | "vk" => Ok(wgpu::Backends::VULKAN),
        "metal" | "mtl" => Ok(wgpu::Backends::METAL),
        "dx12" | "d3d12" => Ok(wgpu::Backends::DX12),
        "gl" | "gles" | "opengl" => Ok(wgpu::Backends::GL),
        other => Err(Error::Options(format!("unknown backend '{other}': use vulkan, metal, dx12 or gl"))),
    }
}

/// The backends asked for (option, then `WGPU_BACKEND`), or the primary ones
/// (Vulkan, Metal, DX12; GL is the fallback when none of those has an adapter).
fn requested_backends(opts: &DeviceOptions) -> Result<(wgpu::Backends, Option<String>)> {
    let name =
        opts.backend.clone().or_else(|| std::env::var("WGPU_BACKEND").ok()).filter(|s| !s.trim().is_empty());
    match name {
        Some(n) => {
            let mut b = wgpu::Backends::empty();
            for part in n.split(',') {
                b |= parse_backend(part)?;
            }
            Ok((b, Some(n)))
        }
        None => Ok((wgpu::Backends::PRIMARY, None)),
    }
}

fn enumerate(backends: wgpu::Backends, software_inline: bool) -> Vec<wgpu::Adapter> {
    // llvmpipe reads its thread count when the instance creates its adapters
    let inline = software_inline && user_software_threads().is_none();
    if inline {
        std::env::set_var(LP_THREADS, "0");
    }
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    desc.flags = wgpu::InstanceFlags::default().with_env();
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    if inline {
        std::env::remove_var(LP_THREADS);
    }
    adapters
}

/// Higher is preferred: real GPUs first (discrete, then integrated), Vulkan/Metal/DX12 before GL.
fn preference(info: &wgpu::AdapterInfo) -> (u32, u32) {
    let ty = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    };
    let be = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 1,
        _ => 0,
    };
    (ty, be)
}

/// Picks the adapter the options ask for, with errors that say what exists.
pub(crate) fn choose_adapter(opts: &DeviceOptions) -> Result<wgpu::Adapter> {
    let (backends, backend_name) = requested_backends(opts)?;
    let filter = opts.adapter.clone().or_else(crate::settings::adapter).filter(|s| !s.trim().is_empty());
    let mut all = enumerate(backends, opts.software_inline);
    if all.is_empty() && backend_name.is_none() {
        // no Vulkan/Metal/DX12 adapter: try OpenGL before giving up
        all = enumerate(wgpu::Backends::GL, opts.software_inline);
    }
    if all.is_empty() {
        let detail = match &backend_name {
            Some(b) => format!(" for backend '{b}' (it is not available on this machine)"),
            None => String::new(),
        };
        return Err(Error::NoAdapter { detail, hint: HINT.into() });
    }
    let names: Vec<String> = all
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("'{}' ({:?})", i.name, i.backend)
        })
        .collect();
    let mut matching: Vec<wgpu::Adapter> = match &filter {
        Some(f) => {
            let f = f.to_lowercase();
            all.into_iter().filter(|a| a.get_info().name.to_lowercase().contains(&f)).collect()
        }
        None => all,
    };
    if matching.is_empty() {
        return Err(Error::NoAdapter {
            detail: format!(" whose name contains '{}'", filter.unwrap_or_default()),
            hint: format!("present: {}", names.join(", ")),
        });
    }
    matching.sort_by_key(|a| std::cmp::Reverse(preference(&a.get_info())));
    Ok(matching.remove(0))
}

/// Lists every adapter of the requested backends (all when none asked).
pub fn list_adapters(opts: &DeviceOptions) -> Result<Vec<AdapterReport>> {
    let (mut backends, name) = requested_backends(opts)?;
    if name.is_none() {
        backends = wgpu::Backends::all();
    }
    let mut out = Vec::new();
    for a in enumerate(backends, false) {
        let info = a.get_info();
        let l = a.limits();
        let f = a.features();
        let limits = vec![
            ("max_buffer_size".to_string(), l.max_buffer_size),
            ("max_storage_buffer_binding_size".to_string(), l.max_storage_buffer_binding_size),
            (
                "max_storage_buffers_per_shader_stage".to_string(),
                l.max_storage_buffers_per_shader_stage as u64,
            ),
            (
                "max_compute_workgroups_per_dimension".to_string(),
                l.max_compute_workgroups_per_dimension as u64,
            ),
            (
                "max_compute_invocations_per_workgroup".to_string(),
                l.max_compute_invocations_per_workgroup as u64,
            ),
            ("max_compute_workgroup_storage_size".to_string(), l.max_compute_workgroup_storage_size as u64),
            ("min_storage_buffer_offset_alignment".to_string(), l.min_storage_buffer_offset_alignment as u64),
        ];
        let wanted = [
            (wgpu::Features::SUBGROUP, "SUBGROUP"),
            (wgpu::Features::SHADER_F16, "SHADER_F16"),
            (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
            (wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES, "TIMESTAMP_QUERY_INSIDE_PASSES"),
            (wgpu::Features::PIPELINE_CACHE, "PIPELINE_CACHE"),
            (wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX, "COOPERATIVE_MATRIX"),
        ];
        let features =
            wanted.iter().filter(|(flag, _)| f.contains(*flag)).map(|(_, n)| n.to_string()).collect();
        out.push(AdapterReport {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            limits,
            features,
        });
    }
    Ok(out)
}

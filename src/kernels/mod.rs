//! Kernels: the table of every WGSL entry point medgpu dispatches and the
//! shader sources (embedded with `include_str!`; `table.rs`), the host
//! calls, the per-adapter variants, and a pipeline cache.
//!
//! Each entry point has a [`KernelId`] variant and a host fn in [`calls`] with
//! the same name, which turns shapes into a [`Call`]: overrides, uniform words,
//! bindings in the shader's order, and the workgroup grid.

pub mod calls;
pub mod calls_conv;
pub mod calls_rnn;
pub mod disk_cache;
mod table;
mod texture_matmul;
pub mod variants;

pub use calls::{
    activation_backward, activation_forward, adam_step, adam_step_fused, add_into, bce_with_logits_loss,
    dropout_backward, dropout_forward, gather_rows, grad_guard, grad_norm_partial, grid_1d, loss_workgroup,
    matmul_nn, matmul_nt, matmul_tn, mse_loss, norm_partials, output_score, sgd_step, sgd_step_fused,
    softmax_backward, softmax_cross_entropy_loss, softmax_forward, Act, Call, DropoutParams, Epilogue,
    FusedStepOperands, GuardOperands, LossOperands, MatmulOperands, OptimUniform, GUARD_SINGLE_MAX,
    MATMUL_TILE, NORM_CHUNK, OPTIM_ITEMS, WG_1D,
};
pub use calls_conv::{
    avgpool_backward, avgpool_forward, batchnorm_backward, batchnorm_backward_eval, batchnorm_forward_eval,
    batchnorm_forward_train, conv2d_backward_input, conv2d_backward_weight, conv2d_forward, maxpool_backward,
    maxpool_forward, upsample_backward, upsample_forward, ConvOperands, NormBackward, NormBackwardEval,
    NormForward, NormGeom, WindowGeom,
};
pub use calls_rnn::{
    elman_backward, elman_backward_steps, elman_forward, elman_forward_steps, gru_backward,
    gru_backward_steps, gru_forward, gru_forward_steps, lstm_backward, lstm_backward_steps,
    lstm_backward_with_grads, lstm_forward, lstm_forward_from_input, lstm_forward_steps, lstm_grads_partials,
    lstm_lanes_rows_per_group, rnn_grads_chunks, rnn_grads_fit, rnn_weight_grads, LstmOperands,
    RecurrenceOperands, RnnGeom, RnnGradOperands, LSTM_LANES_MIN_GROUPS, RNN_GRADS_CHUNK,
    RNN_LANES_STORAGE_BUFFERS, RNN_MAX_FUSED_INPUTS, RNN_MAX_HIDDEN,
};
pub use table::{
    Family, KernelId, COMMON_WGSL, CONV_COMMON_WGSL, CONV_SG_COMMON_WGSL, MATMUL_COMMON_WGSL,
    MATMUL_OPERANDS_WGSL, RNN_COMMON_WGSL, RNN_LANES_COMMON_WGSL, RNN_PERSISTENT_WGSL, SUBGROUP_COMMON_WGSL,
    WINDOW_COMMON_WGSL,
};
pub use variants::{specialize, TextureMatmul, TiledMatmul, Variants};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::collections::HashMap;
use std::sync::Arc;

/// A region of a buffer bound to one shader binding.
#[derive(Clone, Copy, Debug)]
pub struct Slice<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Byte offset (a multiple of the adapter's storage offset alignment).
    pub offset: u64,
    /// Byte size.
    pub size: u64,
}

/// A pipeline, its bind group and grid: everything needed to replay one dispatch.
pub struct Dispatch {
    /// Which kernel (for counting and debugging).
    pub kernel: KernelId,
    /// The specialized pipeline.
    pub pipeline: Arc<wgpu::ComputePipeline>,
    /// Bindings, created once at compile time.
    pub bind_group: wgpu::BindGroup,
    /// Workgroups in x, y, z.
    pub groups: [u32; 3],
    /// Dispatches recorded just before this one, in order (the operand
    /// packing of a texture matmul; empty for every other kernel).
    pub before: Vec<Dispatch>,
}

impl Dispatch {
    /// Records the dispatch (after those it needs first) into a compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in &self.before {
            d.record(pass);
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }

    /// The kernels [`Dispatch::record`] dispatches, in order.
    pub fn kernels(&self) -> Vec<KernelId> {
        let mut out: Vec<KernelId> = self.before.iter().flat_map(Dispatch::kernels).collect();
        out.push(self.kernel);
        out
    }
}

type PipelineKey = (KernelId, Vec<(&'static str, u64)>);

/// The shape of a pipeline's bind group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum LayoutKind {
    /// The uniform, then this many storage buffers (every kernel but the two below).
    Storage(usize),
    /// The uniform, a storage buffer and a write-only rgba32float storage texture.
    Pack,
    /// The uniform, two read-only rgba32float storage textures, then three storage buffers.
    TextureMatmul,
}

impl LayoutKind {
    fn of(kernel: KernelId, storage: usize) -> LayoutKind {
        match kernel.family() {
            Family::MatmulPack => LayoutKind::Pack,
            Family::MatmulTex => LayoutKind::TextureMatmul,
            _ => LayoutKind::Storage(storage),
        }
    }

    fn storage_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
        wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: false },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }
    }

    fn texture_entry(binding: u32, ty: wgpu::BindingType) -> wgpu::BindGroupLayoutEntry {
        wgpu::BindGroupLayoutEntry { binding, visibility: wgpu::ShaderStages::COMPUTE, ty, count: None }
    }

    /// Entries after the uniform at binding 0.
    fn entries(self) -> Vec<wgpu::BindGroupLayoutEntry> {
        match self {
            LayoutKind::Storage(n) => (1..=n as u32).map(Self::storage_entry).collect(),
            LayoutKind::Pack => vec![
                Self::storage_entry(1),
                Self::texture_entry(
                    2,
                    wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: wgpu::TextureFormat::Rgba32Float,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                ),
            ],
            LayoutKind::TextureMatmul => {
                let packed = wgpu::BindingType::StorageTexture {
                    access: wgpu::StorageTextureAccess::ReadOnly,
                    format: wgpu::TextureFormat::Rgba32Float,
                    view_dimension: wgpu::TextureViewDimension::D2,
                };
                let mut e = vec![Self::texture_entry(1, packed), Self::texture_entry(2, packed)];
                e.extend((3..=5).map(Self::storage_entry));
                e
            }
        }
    }
}

/// Shader modules and specialized pipelines, created once and reused.
#[derive(Default)]
pub struct PipelineCache {
    modules: HashMap<Family, wgpu::ShaderModule>,
    pipelines: HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>,
    // explicit layouts by binding shape: a specialization that leaves
    // a binding unused must still accept it (auto layouts would drop it)
    layouts: HashMap<LayoutKind, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    disk: Option<disk_cache::DiskCache>,
    scratch: texture_matmul::Scratch,
    forced: Option<Variants>,
}

/// The runtime checks naga builds into our shaders: all of them but
/// `force_loop_bounding`, the 64-bit iteration counter naga adds to every
/// loop so that a driver cannot assume it ends. Every loop in shaders/
/// counts by a positive constant up to a bound under 2^31, or halves a
/// count down to 0, so each one ends without it (tests/shaders.rs checks
/// the sources for that). The counter has cost GPU drivers their loop
/// unrolling, making kernels many times slower (wgpu issues 6518 on Metal
/// and 7698); on lavapipe it changed neither speed nor compile time
/// (README). Bounds and division checks stay. `MEDGPU_LOOP_BOUNDING=1`
/// puts the counter back, for comparisons.
fn runtime_checks() -> wgpu::ShaderRuntimeChecks {
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding = crate::settings::loop_bounding();
    checks
}

impl PipelineCache {
    /// Makes every program compiled with this cache use `v` instead of
    /// [`Variants::detect`] (for tests of a variant on shapes it would not
    /// be chosen for; `v` must be one the adapter runs).
    pub fn force_variants(&mut self, v: Variants) {
        self.forced = Some(v);
    }

    /// The variants programs compiled with this cache run on `gpu`.
    pub fn variants(&self, gpu: &Gpu) -> Variants {
        self.forced.unwrap_or_else(|| Variants::detect(gpu))
    }

    /// An empty cache, in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache whose pipelines also go through the driver's
    /// pipeline cache kept on disk between runs (see [`disk_cache`]), where
    /// the backend has one. Call [`PipelineCache::save`] once pipelines are built.
    pub fn persistent(gpu: &Gpu) -> Self {
        PipelineCache { disk: disk_cache::DiskCache::open(gpu), ..Self::default() }
    }

    /// Writes the driver's pipeline cache back to disk if it grew; the bytes written.
    pub fn save(&self) -> usize {
        self.disk.as_ref().map_or(0, |d| d.save())
    }

    /// `None` without an on-disk cache, else the bytes loaded from it (0: cold).
    pub fn disk_loaded_bytes(&self) -> Option<usize> {
        self.disk.as_ref().map(|d| d.loaded_bytes)
    }

    fn layout(
        &mut self,
        gpu: &Gpu,
        kind: LayoutKind,
    ) -> Result<&(wgpu::BindGroupLayout, wgpu::PipelineLayout)> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.layouts.entry(kind) {
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }];
            entries.extend(kind.entries());
            let pair = gpu.scoped("creating a bind group layout", || {
                let bgl = gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("kernel bindings"),
                    entries: &entries,
                });
                let pl = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("kernel layout"),
                    bind_group_layouts: &[Some(&bgl)],
                    immediate_size: 0,
                });
                (bgl, pl)
            })?;
            slot.insert(pair);
        }
        self.layouts.get(&kind).ok_or_else(|| Error::Gpu("layout missing from cache".into()))
    }

    /// The pipeline for `kernel` (with `storage` storage bindings after the
    /// uniform) specialized with `overrides`, created on first use.
    pub fn pipeline(
        &mut self,
        gpu: &Gpu,
        kernel: KernelId,
        storage: usize,
        overrides: &[(&'static str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key: PipelineKey = (kernel, overrides.iter().map(|(n, v)| (*n, v.to_bits())).collect());
        if let Some(p) = self.pipelines.get(&key) {
            return Ok(p.clone());
        }
        let most = gpu.limits.max_storage_buffers_per_shader_stage as usize;
        if storage > most {
            // the recurrent kernels bind 10 (WebGPU's default limit is 8; native adapters allow 16 or more)
            return Err(Error::Gpu(format!(
                "kernel {} binds {storage} storage buffers but this adapter allows {most} per shader; \
                 use another adapter (`adapter`) or a model without that layer",
                kernel.entry_point()
            )));
        }
        let family = kernel.family();
        if let std::collections::hash_map::Entry::Vacant(slot) = self.modules.entry(family) {
            let src = family.source();
            let module = gpu.scoped(&format!("compiling shaders/{}", family.file()), || {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(family.file()),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                };
                // SAFETY: the one check given up is the loop counter (see
                // `runtime_checks`); every loop in shaders/ ends, which
                // tests/shaders.rs checks on the sources.
                unsafe { gpu.device.create_shader_module_trusted(desc, runtime_checks()) }
            })?;
            slot.insert(module);
        }
        let kind = LayoutKind::of(kernel, storage);
        self.layout(gpu, kind)?;
        let (_, layout) = &self.layouts[&kind];
        let module =
            self.modules.get(&family).ok_or_else(|| Error::Gpu("shader module missing from cache".into()))?;
        let pipeline = gpu.scoped(&format!("creating pipeline {}", kernel.entry_point()), || {
            gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry_point()),
                layout: Some(layout),
                module,
                entry_point: Some(kernel.entry_point()),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: overrides,
                    zero_initialize_workgroup_memory: false,
                },
                cache: self.disk.as_ref().map(|d| &d.cache),
            })
        })?;
        let pipeline = Arc::new(pipeline);
        self.pipelines.insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// Number of distinct pipelines created so far.
    pub fn len(&self) -> usize {
        self.pipelines.len()
    }

    /// Bytes of the scratch textures the texture matmuls built through this
    /// cache share (0 on adapters without them).
    pub fn scratch_bytes(&self) -> u64 {
        self.scratch.bytes()
    }

    /// True when no pipeline was created yet.
    pub fn is_empty(&self) -> bool {
        self.pipelines.is_empty()
    }

    /// Builds the dispatch of `call`, whose uniform words already sit in `uniform`.
    pub fn build(&mut self, gpu: &Gpu, call: &Call<Slice<'_>>, uniform: Slice<'_>) -> Result<Dispatch> {
        let max_groups = gpu.limits.max_compute_workgroups_per_dimension;
        if call.groups.iter().any(|g| *g > max_groups) {
            return Err(Error::LimitExceeded {
                limit: "max_compute_workgroups_per_dimension".into(),
                max: max_groups as u64,
                needed: *call.groups.iter().max().unwrap_or(&0) as u64,
                context: call.kernel.entry_point().into(),
            });
        }
        if call.kernel.family() == Family::MatmulTex {
            return texture_matmul::build(self, gpu, call, uniform);
        }
        let pipeline = self.pipeline(gpu, call.kernel, call.bindings.len(), &call.overrides)?;
        let mut entries = vec![uniform_entry(&uniform)];
        for (i, s) in call.bindings.iter().enumerate() {
            entries.push(buffer_entry(gpu, i as u32 + 1, s, call.kernel)?);
        }
        let bind_group = self.bind(gpu, LayoutKind::Storage(call.bindings.len()), &entries, call.kernel)?;
        Ok(Dispatch { kernel: call.kernel, pipeline, bind_group, groups: call.groups, before: Vec::new() })
    }

    /// The bind group of `entries` for a pipeline of layout `kind`.
    fn bind(
        &mut self,
        gpu: &Gpu,
        kind: LayoutKind,
        entries: &[wgpu::BindGroupEntry<'_>],
        kernel: KernelId,
    ) -> Result<wgpu::BindGroup> {
        let layout = self.layout(gpu, kind)?.0.clone();
        gpu.scoped(&format!("binding buffers of {}", kernel.entry_point()), || {
            gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry_point()),
                layout: &layout,
                entries,
            })
        })
    }
}

/// Binding 0: the uniform of sizes.
fn uniform_entry<'a>(uniform: &Slice<'a>) -> wgpu::BindGroupEntry<'a> {
    wgpu::BindGroupEntry {
        binding: 0,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: uniform.buffer,
            offset: uniform.offset,
            size: std::num::NonZeroU64::new(uniform.size),
        }),
    }
}

/// A storage binding, refused when it is larger than the adapter binds.
fn buffer_entry<'a>(
    gpu: &Gpu,
    binding: u32,
    s: &Slice<'a>,
    kernel: KernelId,
) -> Result<wgpu::BindGroupEntry<'a>> {
    let max_binding = gpu.limits.max_storage_buffer_binding_size;
    if s.size > max_binding {
        return Err(Error::LimitExceeded {
            limit: "max_storage_buffer_binding_size".into(),
            max: max_binding,
            needed: s.size,
            context: format!("binding {binding} of {}", kernel.entry_point()),
        });
    }
    Ok(wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: s.buffer,
            offset: s.offset,
            size: std::num::NonZeroU64::new(s.size.max(4)),
        }),
    })
}

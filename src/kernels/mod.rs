//! The kernel table: every WGSL entry point medgpu dispatches, the shader
//! sources (embedded with `include_str!`), and a pipeline cache.
//!
//! Each entry point has a [`KernelId`] variant and a host fn in [`calls`] with
//! the same name, which turns shapes into a [`Call`]: overrides, uniform words,
//! bindings in the shader's order, and the workgroup grid.

pub mod calls;
pub mod calls_conv;
pub mod calls_rnn;
pub mod disk_cache;
mod texture_matmul;
pub mod variants;

pub use calls::*;
pub use calls_conv::*;
pub use calls_rnn::*;
pub use variants::{specialize, TextureMatmul, Variants};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::collections::HashMap;
use std::sync::Arc;

/// Shared prelude prepended to every family (activation codes and helpers).
pub const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");

/// Prelude of the convolution families (uniform, overrides, bindings, helpers).
pub const CONV_COMMON_WGSL: &str = include_str!("../../shaders/conv_common.wgsl");

/// Prelude of the window families (conv, conv_sg, pool): the geometry as override constants.
pub const WINDOW_COMMON_WGSL: &str = include_str!("../../shaders/window_common.wgsl");

/// Prelude of the matmul families (uniform, overrides, bindings, epilogue).
pub const MATMUL_COMMON_WGSL: &str = include_str!("../../shaders/matmul_common.wgsl");

/// Storage-buffer operands of matmul.wgsl and matmul_sg.wgsl (bindings 1 and 2).
pub const MATMUL_OPERANDS_WGSL: &str = include_str!("../../shaders/matmul_operands.wgsl");

/// Prelude of the subgroup variants (COLS, fma8).
pub const SUBGROUP_COMMON_WGSL: &str = include_str!("../../shaders/subgroup_common.wgsl");

/// Prelude of the recurrent families (equations, uniform, bindings, helpers).
pub const RNN_COMMON_WGSL: &str = include_str!("../../shaders/rnn_common.wgsl");

/// Bodies of the persistent recurrences (rnn.wgsl and rnn_sg.wgsl hold their entry points).
pub const RNN_PERSISTENT_WGSL: &str = include_str!("../../shaders/rnn_persistent.wgsl");

/// A shader file: one family of kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// shaders/matmul.wgsl
    Matmul,
    /// shaders/elementwise.wgsl
    Elementwise,
    /// shaders/reduce.wgsl
    Reduce,
    /// shaders/loss.wgsl
    Loss,
    /// shaders/optim.wgsl
    Optim,
    /// shaders/data.wgsl
    Data,
    /// shaders/dropout.wgsl
    Dropout,
    /// shaders/guard.wgsl
    Guard,
    /// shaders/conv.wgsl
    Conv,
    /// shaders/pool.wgsl
    Pool,
    /// shaders/batchnorm.wgsl
    BatchNorm,
    /// shaders/conv_sg.wgsl (subgroup variants; adapters with SUBGROUP only)
    ConvSg,
    /// shaders/rnn.wgsl (persistent: hidden sizes up to 64)
    Rnn,
    /// shaders/rnn_sg.wgsl (subgroup entry points of the persistent
    /// recurrences; adapters with SUBGROUP only)
    RnnSg,
    /// shaders/rnn_step.wgsl (one dispatch per step: larger hidden sizes)
    RnnStep,
    /// shaders/matmul_sg.wgsl (subgroup variants; adapters with SUBGROUP only)
    MatmulSg,
    /// shaders/matmul_tex.wgsl (texture variants; CPU adapters with SUBGROUP)
    MatmulTex,
    /// shaders/matmul_pack.wgsl (packs the operands of the texture variants)
    MatmulPack,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 18] = [
        Family::Matmul,
        Family::Elementwise,
        Family::Reduce,
        Family::Loss,
        Family::Optim,
        Family::Data,
        Family::Dropout,
        Family::Guard,
        Family::Conv,
        Family::Pool,
        Family::BatchNorm,
        Family::ConvSg,
        Family::Rnn,
        Family::RnnSg,
        Family::RnnStep,
        Family::MatmulSg,
        Family::MatmulTex,
        Family::MatmulPack,
    ];

    /// File name under shaders/.
    pub fn file(self) -> &'static str {
        match self {
            Family::Matmul => "matmul.wgsl",
            Family::Elementwise => "elementwise.wgsl",
            Family::Reduce => "reduce.wgsl",
            Family::Loss => "loss.wgsl",
            Family::Optim => "optim.wgsl",
            Family::Data => "data.wgsl",
            Family::Dropout => "dropout.wgsl",
            Family::Guard => "guard.wgsl",
            Family::Conv => "conv.wgsl",
            Family::Pool => "pool.wgsl",
            Family::BatchNorm => "batchnorm.wgsl",
            Family::ConvSg => "conv_sg.wgsl",
            Family::Rnn => "rnn.wgsl",
            Family::RnnSg => "rnn_sg.wgsl",
            Family::RnnStep => "rnn_step.wgsl",
            Family::MatmulSg => "matmul_sg.wgsl",
            Family::MatmulTex => "matmul_tex.wgsl",
            Family::MatmulPack => "matmul_pack.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Family::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Family::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Family::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Family::Loss => include_str!("../../shaders/loss.wgsl"),
            Family::Optim => include_str!("../../shaders/optim.wgsl"),
            Family::Data => include_str!("../../shaders/data.wgsl"),
            Family::Dropout => include_str!("../../shaders/dropout.wgsl"),
            Family::Guard => include_str!("../../shaders/guard.wgsl"),
            Family::Conv => include_str!("../../shaders/conv.wgsl"),
            Family::Pool => include_str!("../../shaders/pool.wgsl"),
            Family::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Family::ConvSg => include_str!("../../shaders/conv_sg.wgsl"),
            Family::Rnn => include_str!("../../shaders/rnn.wgsl"),
            Family::RnnSg => include_str!("../../shaders/rnn_sg.wgsl"),
            Family::RnnStep => include_str!("../../shaders/rnn_step.wgsl"),
            Family::MatmulSg => include_str!("../../shaders/matmul_sg.wgsl"),
            Family::MatmulTex => include_str!("../../shaders/matmul_tex.wgsl"),
            Family::MatmulPack => include_str!("../../shaders/matmul_pack.wgsl"),
        }
    }

    /// The full WGSL source: the common prelude, the family's own
    /// preludes (convolution, matmul, recurrence, subgroup), then its file.
    pub fn source(self) -> String {
        let preludes: &[&str] = match self {
            Family::Conv => &[WINDOW_COMMON_WGSL, CONV_COMMON_WGSL],
            Family::ConvSg => &[WINDOW_COMMON_WGSL, CONV_COMMON_WGSL, SUBGROUP_COMMON_WGSL],
            Family::Pool => &[WINDOW_COMMON_WGSL],
            Family::Matmul => &[MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL],
            Family::MatmulSg => &[MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL, SUBGROUP_COMMON_WGSL],
            Family::MatmulTex | Family::MatmulPack => &[MATMUL_COMMON_WGSL],
            Family::Rnn | Family::RnnSg => &[RNN_COMMON_WGSL, RNN_PERSISTENT_WGSL],
            Family::RnnStep => &[RNN_COMMON_WGSL],
            _ => &[],
        };
        format!("{COMMON_WGSL}\n{}\n{}", preludes.join("\n"), self.body())
    }
}

macro_rules! kernel_table {
    ($($variant:ident => $family:ident, $entry:literal;)*) => {
        /// One WGSL compute entry point.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum KernelId {
            $(
                #[doc = concat!("`", $entry, "` in the ", stringify!($family), " family.")]
                $variant,
            )*
        }

        impl KernelId {
            /// Every kernel.
            pub const ALL: &'static [KernelId] = &[$(KernelId::$variant),*];

            /// The shader file it lives in.
            pub fn family(self) -> Family {
                match self { $(KernelId::$variant => Family::$family),* }
            }

            /// The WGSL entry point name.
            pub fn entry_point(self) -> &'static str {
                match self { $(KernelId::$variant => $entry),* }
            }
        }
    };
}

kernel_table! {
    MatmulNn => Matmul, "matmul_nn";
    MatmulNt => Matmul, "matmul_nt";
    MatmulTn => Matmul, "matmul_tn";
    MatmulNnSg => MatmulSg, "matmul_nn_sg";
    MatmulNtSg => MatmulSg, "matmul_nt_sg";
    MatmulTnSg => MatmulSg, "matmul_tn_sg";
    MatmulTnRows4 => MatmulSg, "matmul_tn_rows4";
    MatmulNnTex => MatmulTex, "matmul_nn_tex";
    MatmulNtTex => MatmulTex, "matmul_nt_tex";
    MatmulTnTex => MatmulTex, "matmul_tn_tex";
    MatmulPackRows => MatmulPack, "matmul_pack_rows";
    MatmulPackCols => MatmulPack, "matmul_pack_cols";
    ActivationForward => Elementwise, "activation_forward";
    ActivationBackward => Elementwise, "activation_backward";
    AddInto => Elementwise, "add_into";
    SoftmaxForward => Reduce, "softmax_forward";
    SoftmaxBackward => Reduce, "softmax_backward";
    GradNormPartial => Guard, "grad_norm_partial";
    GradGuard => Guard, "grad_guard";
    MseLoss => Loss, "mse_loss";
    BceWithLogitsLoss => Loss, "bce_with_logits_loss";
    SoftmaxCrossEntropyLoss => Loss, "softmax_cross_entropy_loss";
    SgdStep => Optim, "sgd_step";
    AdamStep => Optim, "adam_step";
    SgdStepFused => Optim, "sgd_step_fused";
    AdamStepFused => Optim, "adam_step_fused";
    GatherRows => Data, "gather_rows";
    DropoutForward => Dropout, "dropout_forward";
    DropoutBackward => Dropout, "dropout_backward";
    Conv2dForward => Conv, "conv2d_forward";
    Conv2dBackwardInput => Conv, "conv2d_backward_input";
    Conv2dBackwardWeight => Conv, "conv2d_backward_weight";
    Conv2dForwardSg => ConvSg, "conv2d_forward_sg";
    Conv2dBackwardInputSg => ConvSg, "conv2d_backward_input_sg";
    Conv2dBackwardWeightSg => ConvSg, "conv2d_backward_weight_sg";
    Conv2dBackwardWeightSg4 => ConvSg, "conv2d_backward_weight_sg4";
    Conv2dForwardSg4 => ConvSg, "conv2d_forward_sg4";
    LstmForward => Rnn, "lstm_forward";
    LstmBackward => Rnn, "lstm_backward";
    GruForward => Rnn, "gru_forward";
    GruBackward => Rnn, "gru_backward";
    ElmanForward => Rnn, "elman_forward";
    ElmanBackward => Rnn, "elman_backward";
    LstmForwardSg => RnnSg, "lstm_forward_sg";
    LstmBackwardSg => RnnSg, "lstm_backward_sg";
    GruForwardSg => RnnSg, "gru_forward_sg";
    GruBackwardSg => RnnSg, "gru_backward_sg";
    ElmanForwardSg => RnnSg, "elman_forward_sg";
    ElmanBackwardSg => RnnSg, "elman_backward_sg";
    LstmStepForward => RnnStep, "lstm_step_forward";
    LstmStepBackward => RnnStep, "lstm_step_backward";
    GruStepForward => RnnStep, "gru_step_forward";
    GruStepBackward => RnnStep, "gru_step_backward";
    ElmanStepForward => RnnStep, "elman_step_forward";
    ElmanStepBackward => RnnStep, "elman_step_backward";
    MaxpoolForward => Pool, "maxpool_forward";
    MaxpoolBackward => Pool, "maxpool_backward";
    MaxpoolForwardV4 => Pool, "maxpool_forward_v4";
    MaxpoolBackwardV4 => Pool, "maxpool_backward_v4";
    AvgpoolForward => Pool, "avgpool_forward";
    AvgpoolBackward => Pool, "avgpool_backward";
    UpsampleForward => Pool, "upsample_forward";
    UpsampleBackward => Pool, "upsample_backward";
    BatchnormForwardTrain => BatchNorm, "batchnorm_forward_train";
    BatchnormForwardEval => BatchNorm, "batchnorm_forward_eval";
    BatchnormBackward => BatchNorm, "batchnorm_backward";
}

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
    /// The uniform, two rgba32float textures, then three storage buffers.
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
                let sampled = wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                };
                let mut e = vec![Self::texture_entry(1, sampled), Self::texture_entry(2, sampled)];
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
}

impl PipelineCache {
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
                 use another adapter (--adapter) or a model without that layer",
                kernel.entry_point()
            )));
        }
        let family = kernel.family();
        if let std::collections::hash_map::Entry::Vacant(slot) = self.modules.entry(family) {
            let src = family.source();
            let module = gpu.scoped(&format!("compiling shaders/{}", family.file()), || {
                gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(family.file()),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                })
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

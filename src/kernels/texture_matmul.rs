//! Texture matmuls (shaders/matmul_tex.wgsl) for CPU adapters: a call
//! packs op(A) and op(B)^T into rgba32float textures
//! (shaders/matmul_pack.wgsl), then multiplies, in three dispatches
//! recorded together. The packed textures are scratch shared by every
//! texture matmul of the same shape built through one [`PipelineCache`]:
//! dispatches run in order and each matmul packs its operands just before
//! it reads them, so no two of them need the scratch at once.

use super::{buffer_entry, uniform_entry, Call, Dispatch, KernelId, LayoutKind, PipelineCache, Slice};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::collections::HashMap;

/// Packed-operand textures by (width, height, operand: 0 for A, 1 for B).
#[derive(Default)]
pub(super) struct Scratch {
    textures: HashMap<(u32, u32, u8), wgpu::Texture>,
    bytes: u64,
}

impl Scratch {
    /// A view of the scratch texture of `width` x `height` texels for
    /// `operand`, created on first use.
    fn view(&mut self, gpu: &Gpu, width: u32, height: u32, operand: u8) -> Result<wgpu::TextureView> {
        let max = gpu.limits.max_texture_dimension_2d;
        if width > max || height > max {
            return Err(Error::LimitExceeded {
                limit: "max_texture_dimension_2d".into(),
                max: max as u64,
                needed: width.max(height) as u64,
                context: "a packed operand of a texture matmul".into(),
            });
        }
        let key = (width, height, operand);
        if !self.textures.contains_key(&key) {
            let bytes = width as u64 * height as u64 * 16;
            let texture = gpu.scoped("creating the scratch textures of a texture matmul", || {
                gpu.device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("packed matmul operand"),
                    size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba32Float,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
                    view_formats: &[],
                })
            })?;
            gpu.note_created(bytes);
            self.bytes += bytes;
            self.textures.insert(key, texture);
        }
        Ok(self.textures[&key].create_view(&Default::default()))
    }

    /// Bytes of every scratch texture created so far.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Texels per row of a packed texture for rows of `width` texels: `width`
/// rounded up to 4 more than a multiple of 8, so that a row is an odd
/// number of 64-byte cache lines. An invocation of the texture matmul reads
/// its 4 rows at the same k, and a subgroup 32 rows: rows a multiple of 4
/// KiB apart (K = 1024 or 2048) all fall into the same set of the L1 cache,
/// which holds 8 to 12 of them, so every fetch missed it.
fn padded_width(width: u32) -> u32 {
    width + (12 - width % 8) % 8
}

/// The pack, pack, multiply dispatches of a texture matmul call (bindings:
/// a, b, bias, aux, c as for the storage-buffer matmuls; uniform m, n, k).
pub(super) fn build(
    cache: &mut PipelineCache,
    gpu: &Gpu,
    call: &Call<Slice<'_>>,
    uniform: Slice<'_>,
) -> Result<Dispatch> {
    let (m, n, k) = match *call.uniform.as_slice() {
        [m, n, k, ..] => (m, n, k),
        _ => return Err(Error::Gpu(format!("{} without its sizes", call.kernel.entry_point()))),
    };
    if call.bindings.len() != 5 {
        return Err(Error::Gpu(format!("{} needs 5 bindings", call.kernel.entry_point())));
    }
    // is element (r, k) of op(A) and of op(B)^T at r * K + k (row-major along k)?
    let (a_rows, b_rows) = match call.kernel {
        KernelId::MatmulNnTex => (true, false),
        KernelId::MatmulNtTex => (true, true),
        _ => (false, false),
    };
    let width = k.div_ceil(4).max(1);
    let view_a = cache.scratch.view(gpu, padded_width(width), m.max(1), 0)?;
    let view_b = cache.scratch.view(gpu, padded_width(width), n.max(1), 1)?;
    let pack_a = pack(cache, gpu, call, &uniform, 0, a_rows, &view_a, [width, m.max(1)])?;
    let pack_b = pack(cache, gpu, call, &uniform, 1, b_rows, &view_b, [width, n.max(1)])?;

    let pipeline = cache.pipeline(gpu, call.kernel, 3, &call.overrides)?;
    let mut entries = vec![
        uniform_entry(&uniform),
        wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&view_a) },
        wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&view_b) },
    ];
    for (i, s) in call.bindings.iter().enumerate().skip(2) {
        entries.push(buffer_entry(gpu, i as u32 + 1, s, call.kernel)?);
    }
    let bind_group = cache.bind(gpu, LayoutKind::TextureMatmul, &entries, call.kernel)?;
    Ok(Dispatch {
        kernel: call.kernel,
        pipeline,
        bind_group,
        groups: call.groups,
        before: vec![pack_a, pack_b],
    })
}

/// The dispatch packing operand 0 (A) or 1 (B) of `call` into `view`, of
/// `texels` = [width, height].
#[allow(clippy::too_many_arguments)]
fn pack(
    cache: &mut PipelineCache,
    gpu: &Gpu,
    call: &Call<Slice<'_>>,
    uniform: &Slice<'_>,
    operand: usize,
    row_major: bool,
    view: &wgpu::TextureView,
    texels: [u32; 2],
) -> Result<Dispatch> {
    let kernel = if row_major { KernelId::MatmulPackRows } else { KernelId::MatmulPackCols };
    let pipeline = cache.pipeline(gpu, kernel, 1, &[("OPERAND_B", operand as f64)])?;
    let entries = [
        uniform_entry(uniform),
        buffer_entry(gpu, 1, &call.bindings[operand], kernel)?,
        wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(view) },
    ];
    let bind_group = cache.bind(gpu, LayoutKind::Pack, &entries, kernel)?;
    let groups = [texels[0].div_ceil(8), texels[1].div_ceil(8), 1];
    Ok(Dispatch { kernel, pipeline, bind_group, groups, before: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::padded_width;

    #[test]
    fn packed_rows_are_an_odd_number_of_cache_lines() {
        for width in 1..600u32 {
            let w = padded_width(width);
            assert!(w >= width && w - width < 8, "{width} -> {w}");
            assert_eq!((w * 16 / 64) % 2, 1, "{width} -> {w}: {} bytes a row", w * 16);
        }
        assert_eq!(padded_width(256), 260);
        assert_eq!(padded_width(260), 260);
    }
}

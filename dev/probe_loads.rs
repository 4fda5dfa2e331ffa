//! What one load (or store) costs on this adapter, by kind (a developer
//! probe for kernel design on software adapters): each entry point runs
//! 4096 invocations of a 1024-step loop with one load or store per step,
//! and the time per dispatch (minimum over rounds) is printed per kind.
//! On lavapipe a texel load costs about half a vec4 storage load (a
//! read-only storage-texture load about a fifth less again), but a
//! texel store about 3 times a vec4 storage store.
//! `cargo run --release --example probe_loads`

use medgpu::gpu::{DeviceOptions, Gpu};
use std::time::Instant;

const SHADER: &str = r#"
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@group(0) @binding(1) var<storage, read_write> buf4: array<vec4<f32>>;
@group(0) @binding(2) var tex: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var stex: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var rtex: texture_storage_2d<rgba32float, read>;

const STEPS: u32 = 1024u;
const MASK: u32 = 65535u;
var<workgroup> shared_mem: array<f32, 4096>;

@compute @workgroup_size(64)
fn scalar_divergent(@builtin(global_invocation_id) g: vec3<u32>) {
    var acc = 0.0;
    for (var i = 0u; i < STEPS; i = i + 1u) { acc = acc + buf[(i * 67u + g.x * 13u) & MASK]; }
    out[g.x] = vec4<f32>(acc);
}

@compute @workgroup_size(64)
fn scalar_uniform(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) w: vec3<u32>) {
    var acc = 0.0;
    for (var i = 0u; i < STEPS; i = i + 1u) { acc = acc + buf[(i * 67u + w.x) & MASK]; }
    out[g.x] = vec4<f32>(acc);
}

@compute @workgroup_size(64)
fn vec4_divergent(@builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < STEPS; i = i + 1u) { acc = acc + buf4[(i * 67u + g.x * 13u) & (MASK / 4u)]; }
    out[g.x] = acc;
}

@compute @workgroup_size(64)
fn vec4_uniform(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) w: vec3<u32>) {
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < STEPS; i = i + 1u) { acc = acc + buf4[(i * 67u + w.x) & (MASK / 4u)]; }
    out[g.x] = acc;
}

@compute @workgroup_size(64)
fn texel_divergent(@builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < STEPS; i = i + 1u) {
        let t = (i * 67u + g.x * 13u) & (MASK / 4u);
        acc = acc + textureLoad(tex, vec2<u32>(t & 255u, t >> 8u), 0);
    }
    out[g.x] = acc;
}

@compute @workgroup_size(64)
fn storage_texel_divergent(@builtin(global_invocation_id) g: vec3<u32>) {
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < STEPS; i = i + 1u) {
        let t = (i * 67u + g.x * 13u) & (MASK / 4u);
        acc = acc + textureLoad(rtex, vec2<u32>(t & 255u, t >> 8u));
    }
    out[g.x] = acc;
}

@compute @workgroup_size(64)
fn workgroup_divergent(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    shared_mem[li] = f32(li);
    workgroupBarrier();
    var acc = 0.0;
    for (var i = 0u; i < STEPS; i = i + 1u) { acc = acc + shared_mem[(i * 67u + li * 13u) & 4095u]; }
    out[g.x] = vec4<f32>(acc);
}

// fma() instead of a multiply and an add (pipelines of fma_64acc_fused)
override FUSED: bool = false;

fn fma4x4(acc: ptr<function, array<vec4<f32>, 4>>, v: vec4<f32>, c: f32) {
    (*acc)[0] = madd(v, c, (*acc)[0]);
    (*acc)[1] = madd(v, c + 1.0, (*acc)[1]);
    (*acc)[2] = madd(v, c + 2.0, (*acc)[2]);
    (*acc)[3] = madd(v, c + 3.0, (*acc)[3]);
}

fn madd(v: vec4<f32>, c: f32, acc: vec4<f32>) -> vec4<f32> {
    if (FUSED) { return fma(v, vec4<f32>(c), acc); }
    return acc + v * c;
}

fn total4(acc: ptr<function, array<vec4<f32>, 4>>) -> vec4<f32> {
    return (*acc)[0] + (*acc)[1] + (*acc)[2] + (*acc)[3];
}

// 16 FMAs per step on 16 accumulators
@compute @workgroup_size(64)
fn fma_16acc(@builtin(global_invocation_id) g: vec3<u32>) {
    var a: array<vec4<f32>, 4>;
    for (var i = 0u; i < STEPS; i = i + 1u) {
        let v = vec4<f32>(f32(i)) + vec4<f32>(f32(g.x));
        fma4x4(&a, v, 0.5);
    }
    out[g.x] = total4(&a);
}

// 64 FMAs per step on 64 accumulators
@compute @workgroup_size(64)
fn fma_64acc(@builtin(global_invocation_id) g: vec3<u32>) {
    var a: array<vec4<f32>, 4>;
    var b: array<vec4<f32>, 4>;
    var c: array<vec4<f32>, 4>;
    var d: array<vec4<f32>, 4>;
    for (var i = 0u; i < STEPS; i = i + 1u) {
        let v = vec4<f32>(f32(i)) + vec4<f32>(f32(g.x));
        fma4x4(&a, v, 0.5);
        fma4x4(&b, v, 1.5);
        fma4x4(&c, v, 2.5);
        fma4x4(&d, v, 3.5);
    }
    out[g.x] = total4(&a) + total4(&b) + total4(&c) + total4(&d);
}

// 64 FMAs per step on 64 accumulators, the 16 column values by subgroupBroadcast
@compute @workgroup_size(64)
fn fma_64acc_bcast(@builtin(global_invocation_id) g: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    var a: array<vec4<f32>, 4>;
    var b: array<vec4<f32>, 4>;
    var c: array<vec4<f32>, 4>;
    var d: array<vec4<f32>, 4>;
    for (var i = 0u; i < STEPS; i = i + 1u) {
        let v = vec4<f32>(f32(i)) + vec4<f32>(f32(g.x));
        let col = f32(i + lane);
        fma4x4(&a, v, subgroupBroadcast(col, 0u));
        fma4x4(&b, v, subgroupBroadcast(col, 1u));
        fma4x4(&c, v, subgroupBroadcast(col, 2u));
        fma4x4(&d, v, subgroupBroadcast(col, 3u));
    }
    out[g.x] = total4(&a) + total4(&b) + total4(&c) + total4(&d);
}

// stores: one vec4 per step to a storage buffer, or one texel to a storage texture
@compute @workgroup_size(64)
fn vec4_store_divergent(@builtin(global_invocation_id) g: vec3<u32>) {
    for (var i = 0u; i < STEPS; i = i + 1u) { buf4[(i * 67u + g.x * 13u) & (MASK / 4u)] = vec4<f32>(f32(i)); }
}

@compute @workgroup_size(64)
fn texel_store_divergent(@builtin(global_invocation_id) g: vec3<u32>) {
    for (var i = 0u; i < STEPS; i = i + 1u) {
        let t = (i * 67u + g.x * 13u) & (MASK / 4u);
        textureStore(stex, vec2<u32>(t & 255u, t >> 8u), vec4<f32>(f32(i)));
    }
}

@compute @workgroup_size(64)
fn no_load(@builtin(global_invocation_id) g: vec3<u32>) {
    var acc = 0.0;
    for (var i = 0u; i < STEPS; i = i + 1u) { acc = acc + f32((i * 67u + g.x * 13u) & MASK); }
    out[g.x] = vec4<f32>(acc);
}
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::open(&DeviceOptions::default())?;
    println!("{}", gpu.describe());
    let dev = &gpu.device;
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("probe loads"),
        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
    });
    let buf = gpu.storage_buffer("buf", 65536 * 4)?;
    let out = gpu.storage_buffer("out", 4096 * 16)?;
    let tex = dev.create_texture(&wgpu::TextureDescriptor {
        label: Some("tex"),
        size: wgpu::Extent3d { width: 256, height: 64, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::TEXTURE_BINDING,
        view_formats: &[],
    });
    let view = tex.create_view(&Default::default());
    let stex = dev.create_texture(&wgpu::TextureDescriptor {
        label: Some("stex"),
        size: wgpu::Extent3d { width: 256, height: 64, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING,
        view_formats: &[],
    });
    let sview = stex.create_view(&Default::default());
    let entries = [
        ("scalar_divergent", 1.0),
        ("scalar_uniform", 1.0),
        ("vec4_divergent", 4.0),
        ("vec4_uniform", 4.0),
        ("texel_divergent", 4.0),
        ("storage_texel_divergent", 4.0),
        ("workgroup_divergent", 1.0),
        ("vec4_store_divergent", 4.0),
        ("texel_store_divergent", 4.0),
        ("no_load", 0.0),
        ("fma_16acc", 16.0),
        ("fma_64acc", 64.0),
        ("fma_64acc_bcast", 64.0),
        // fma_64acc again with FUSED
        ("fma_64acc_fused", 64.0),
    ];
    let loads = 4096.0 * 1024.0;
    for (label, floats) in entries {
        let fused = label == "fma_64acc_fused";
        let name = if fused { "fma_64acc" } else { label };
        let constants = [("FUSED", if fused { 1.0 } else { 0.0 })];
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: None,
            module: &module,
            entry_point: Some(name),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let mut bind = Vec::new();
        // auto layouts keep only the bindings the entry point uses
        let used: &[u32] = match name {
            "scalar_divergent" | "scalar_uniform" => &[0, 3],
            "vec4_divergent" | "vec4_uniform" => &[1, 3],
            "texel_divergent" => &[2, 3],
            "storage_texel_divergent" => &[5, 3],
            "vec4_store_divergent" => &[1],
            "texel_store_divergent" => &[4],
            _ => &[3],
        };
        for b in used {
            let resource = match b {
                0 | 1 => buf.as_entire_binding(),
                2 => wgpu::BindingResource::TextureView(&view),
                4 | 5 => wgpu::BindingResource::TextureView(&sview),
                _ => out.as_entire_binding(),
            };
            bind.push(wgpu::BindGroupEntry { binding: *b, resource });
        }
        let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &bind,
        });
        let mut best = f64::MAX;
        for _ in 0..6 {
            let t = Instant::now();
            let mut enc = dev.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bg, &[]);
                for _ in 0..4 {
                    pass.dispatch_workgroups(64, 1, 1);
                }
            }
            gpu.queue.submit([enc.finish()]);
            gpu.wait("probe")?;
            best = best.min(t.elapsed().as_secs_f64() / 4.0);
        }
        println!(
            "{label:<22} {:>9.1} us per dispatch, {:>6.2} ns per load per invocation ({floats} floats)",
            best * 1e6,
            best * 1e9 / loads
        );
        if name.starts_with("fma") {
            println!("{:>32} {:.3} ns per FMA per invocation", "", best * 1e9 / loads / floats);
        }
    }
    Ok(())
}

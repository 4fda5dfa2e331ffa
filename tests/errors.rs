//! wgpu failures reach the caller as medgpu::Error values, never panics.

mod common;
use common::*;
use medgpu::Error;

#[test]
fn an_allocation_past_the_adapter_limit_is_a_limit_error() {
    let gpu = gpu();
    let too_big = gpu.limits.max_buffer_size + 1;
    match gpu.storage_buffer("huge", too_big) {
        Err(Error::LimitExceeded { limit, needed, .. }) => {
            assert_eq!(limit, "max_buffer_size");
            assert!(needed >= too_big);
        }
        other => panic!("expected LimitExceeded, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_shader_that_fails_validation_is_a_gpu_error() {
    let gpu = gpu();
    let r = gpu.scoped("compiling a test-only broken shader", || {
        gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("broken"),
            source: wgpu::ShaderSource::Wgsl(
                "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }".into(),
            ),
        })
    });
    match r {
        Err(Error::Gpu(msg)) => {
            assert!(msg.contains("compiling a test-only broken shader"), "{msg}")
        }
        other => panic!("expected a GPU validation error, got {:?}", other.map(|_| ())),
    }
    // the error was consumed by its scope: the device is still usable
    gpu.check().unwrap();
}

#[test]
fn a_parameter_store_that_does_not_match_the_model_is_refused() {
    use medgpu::graph::{Act, GpuDataset, LossKind, Mode, ParamStore, Program, ProgramOptions, TargetSource};
    use medgpu::models::MlpSpec;
    use std::sync::Arc;
    let gpu = gpu();
    let spec = |h: usize| MlpSpec {
        inputs: 3,
        hidden: vec![h],
        outputs: 1,
        activation: Act::Relu,
        loss: LossKind::BceWithLogits,
        target: TargetSource::Targets,
    };
    let params = Arc::new(ParamStore::init(&gpu, &spec(4).build(2).unwrap(), 1).unwrap());
    let data = Arc::new(GpuDataset::upload(&gpu, &[0.0; 6], &[0.0, 1.0], 3, 1).unwrap());
    let mut cache = medgpu::kernels::PipelineCache::new();
    let err = Program::compile(
        gpu.clone(),
        &spec(5).build(2).unwrap(),
        params,
        data,
        ProgramOptions { mode: Mode::Inference },
        &mut cache,
    )
    .err()
    .expect("a 5-unit model must not run on 4-unit weights")
    .to_string();
    assert!(err.contains("dense1.weight") && err.contains("[3, 4]") && err.contains("[3, 5]"), "{err}");
}

#[test]
fn a_grid_past_the_workgroup_limit_is_a_limit_error() {
    let gpu = gpu();
    let mut call = medgpu::kernels::add_into(16, false, 0usize, 1, 2);
    call.groups = [gpu.limits.max_compute_workgroups_per_dimension + 1, 1, 1];
    let bufs: Vec<wgpu::Buffer> = (0..3).map(|_| gpu.storage_buffer("t", 64).unwrap()).collect();
    let slices = call
        .map(|i| -> Result<medgpu::kernels::Slice, ()> {
            Ok(medgpu::kernels::Slice { buffer: &bufs[*i], offset: 0, size: 64 })
        })
        .unwrap();
    let ubuf = gpu.storage_buffer("u", 16).unwrap();
    let u = medgpu::kernels::Slice { buffer: &ubuf, offset: 0, size: 16 };
    // a uniform binding on a storage-only buffer would be a validation error:
    // the limit check must come first and name the limit
    let err = cache().lock().unwrap().build(&gpu, &slices, u).err().map(|e| e.to_string());
    let err = err.expect("an oversized grid must be refused");
    assert!(err.contains("max_compute_workgroups_per_dimension"), "{err}");
}

//! Every shader parses and validates with naga, and every KernelId entry point exists (no GPU needed).

use medgpu::kernels::{Family, KernelId};

fn module(f: Family) -> naga::Module {
    let src = f.source();
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}: {}", f.file(), e.emit_to_string(&src)));
    let mut v =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    v.validate(&module).unwrap_or_else(|e| panic!("{}: {}", f.file(), e.emit_to_string(&src)));
    module
}

#[test]
fn every_shader_validates() {
    for f in Family::ALL {
        module(f);
    }
}

#[test]
fn every_kernel_entry_point_exists_as_compute() {
    for k in KernelId::ALL {
        let m = module(k.family());
        let e = m.entry_points.iter().find(|e| e.name == k.entry_point());
        let e = e.unwrap_or_else(|| {
            panic!("{:?}: no entry point {} in {}", k, k.entry_point(), k.family().file())
        });
        assert_eq!(e.stage, naga::ShaderStage::Compute, "{:?}", k);
    }
}

#[test]
fn every_compute_entry_point_has_a_kernel_id() {
    for f in Family::ALL {
        for e in module(f).entry_points {
            assert!(
                KernelId::ALL.iter().any(|k| k.family() == f && k.entry_point() == e.name),
                "{} in {} has no KernelId row",
                e.name,
                f.file()
            );
        }
    }
}

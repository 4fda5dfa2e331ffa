//! Any text as a TOML or JSON model spec, built into a graph when it parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medgpu::graph::{LossKind, TargetSource};
use medgpu::models::{Head, ModelSpec};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for json in [false, true] {
        if let Ok(spec) = ModelSpec::parse(&text, json, "fuzz") {
            let head = Head { outputs: 2, loss: LossKind::SoftmaxCrossEntropy, target: TargetSource::Targets };
            let _ = spec.build(5, head, 3, true, 1);
        }
    }
});

//! Any bytes as a safetensors checkpoint.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = medgpu::train::checkpoint::parse_tensors(data, std::path::Path::new("fuzz.safetensors"));
});

//! Any bytes through the CSV reader and the column encoder: errors are fine, panics are not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medgpu::data::{encode_apply_lenient, encode_fit, parse_raw_csv, MissingPolicy, PrepareOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(raw) = parse_raw_csv(&text, "fuzz.csv") else { return };
    let target = raw.headers.last().cloned();
    let categorical = raw.headers.first().cloned().into_iter().collect();
    for cats in [vec![], categorical] {
        let opts = PrepareOptions { target: target.clone(), categorical: cats, ..Default::default() };
        if let Ok(ds) = encode_fit(&raw, &opts) {
            let _ = encode_apply_lenient(&raw, &ds.encoding);
            let _ = medgpu::data::rows_after_missing_policy(&ds, MissingPolicy::Median);
        }
    }
});

//! `medgpu privacy`: the budget a data-protection officer agrees to, planned
//! before any data is touched.

mod common;
use common::{assert_clean_error, medgpu};

#[test]
fn privacy_plans_epsilon_from_noise_and_noise_from_epsilon() {
    let (code, out, err) = medgpu(&[
        "privacy",
        "--sample-rate",
        "0.04",
        "--noise",
        "1.5",
        "--steps",
        "2250",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // Opacus's own test value for these settings
    assert!((v["epsilon"].as_f64().unwrap() - 7.32911).abs() < 1e-4, "{v}");
    let (code, out, err) =
        medgpu(&["privacy", "--sample-rate", "0.04", "--steps", "2250", "--epsilon", "7.32911", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let sigma = v["noise_multiplier"].as_f64().unwrap();
    assert!((sigma - 1.5).abs() < 1e-3, "{v}");
    assert!(v["epsilon"].as_f64().unwrap() <= 7.32911 + 1e-9);
    let (code, out, _) = medgpu(&["privacy", "--sample-rate", "0.04", "--noise", "1.5", "--steps", "2250"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("epsilon 7.3291 at delta 0.00001 after 2250 steps"), "{out}");
}

#[test]
fn privacy_requests_that_cannot_work_are_one_line() {
    assert_clean_error(
        &["privacy", "--sample-rate", "1.5", "--noise", "1", "--steps", "10"],
        2,
        &["--sample-rate must be in (0, 1]"],
    );
    assert_clean_error(
        &["privacy", "--sample-rate", "0.1", "--noise", "0", "--steps", "10"],
        2,
        &["--noise must be positive"],
    );
    assert_clean_error(
        &["privacy", "--sample-rate", "1", "--epsilon", "1e-9", "--steps", "100000"],
        2,
        &["cannot be reached"],
    );
    assert_clean_error(
        &["privacy", "--sample-rate", "0.1", "--noise", "1", "--steps", "10", "--delta", "2"],
        2,
        &["--delta must be in (0, 1)"],
    );
}

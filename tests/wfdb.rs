//! WFDB records as data: the built-in ECG written as a format-212 record
//! reads back as the CSV's values (to the format's precision) and trains a
//! sequence model like the CSV signal does.

mod common;
use common::{medgpu, s};

/// Format 212: two 12-bit samples in three bytes.
fn pack_212(samples: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    for pair in samples.chunks(2) {
        let a = (pair[0] & 0xFFF) as u32;
        let b = pair.get(1).map_or(0, |v| (*v & 0xFFF) as u32);
        out.extend([(a & 0xFF) as u8, ((a >> 8) | ((b >> 8) << 4)) as u8]);
        if pair.len() == 2 {
            out.push((b & 0xFF) as u8);
        }
    }
    out
}

#[test]
fn the_builtin_ecg_as_a_wfdb_record_reads_and_trains_like_the_csv() {
    let dir = std::env::temp_dir().join(format!("medgpu-wfdb-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let csv =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ecg_mitbih208.csv")).unwrap();
    let mv: Vec<f64> = csv.lines().skip(1).take(3001).map(|l| l.parse().unwrap()).collect();
    // gain 200 adu/mV, baseline 1024, as MIT-BIH stores its leads
    let digital: Vec<i32> = mv.iter().map(|v| (v * 200.0).round() as i32 + 1024).collect();
    std::fs::write(dir.join("e208.dat"), pack_212(&digital)).unwrap();
    let header = dir.join("e208.hea");
    std::fs::write(&header, "e208 1 360 3001\ne208.dat 212 200(1024)/mV 11 1024 0 0 0 MLII\n").unwrap();
    let t = medgpu::data::read_wfdb(&header).unwrap();
    assert_eq!((t.headers.clone(), t.rows()), (vec!["MLII".to_string()], 3001));
    for (r, want) in mv.iter().enumerate() {
        let got: f64 = t.cell_text(r, 0).parse().unwrap();
        assert!((got - want).abs() <= 0.5 / 200.0 + 1e-6, "sample {r}: {got} vs {want}");
    }
    let run = dir.join("run");
    let args = [
        "train",
        "--data",
        s(&header),
        "--model",
        "lstm",
        "--window",
        "32",
        "--stride",
        "4",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--out",
        s(&run),
    ];
    let (code, out, err) = medgpu(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("(WFDB record)") && out.contains("lstm 32x1-lstm8-1"), "{out}");
    let (code, preds, err) = medgpu(&["predict", "--run", s(&run), "--data", s(&header)]);
    assert_eq!(code, 0, "{err}");
    assert!(preds.lines().count() > 700, "{}", preds.lines().count());
    // a header naming a missing signal file is one line
    std::fs::write(dir.join("gone.hea"), "gone 1 360 10\nnowhere.dat 212 200 11 1024 0 0 0 MLII\n").unwrap();
    common::assert_clean_error(
        &["train", "--data", s(&dir.join("gone.hea")), "--out", s(&dir.join("never"))],
        1,
        &["nowhere.dat cannot be read"],
    );
}

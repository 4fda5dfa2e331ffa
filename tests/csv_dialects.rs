//! CSV as hospitals export it: semicolons and decimal commas, tabs; the
//! delimiter is detected from the header and said in the output, the
//! decimal comma is asked for and remembered by the saved model.

mod common;
use common::{assert_clean_error, medgpu, s};

use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-csv-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 200 rows: age, a marker that decides the outcome, sex as text; written
/// with `sep` between cells and `decimal` as the decimal mark.
fn export(path: &Path, sep: &str, decimal: &str) {
    let mut rng = medgpu::data::SplitMix64::new(4);
    let mut text = ["age", "marker", "sex", "y"].join(sep) + "\n";
    for i in 0..200 {
        let marker = rng.next_f64() * 4.0 - 2.0;
        let y = u8::from(marker + rng.next_f64() - 0.5 > 0.0);
        let m = format!("{marker:.3}").replace('.', decimal);
        let cells = [format!("{}", 40 + i % 30), m, ["F", "M"][i % 2].to_string(), y.to_string()];
        text.push_str(&(cells.join(sep) + "\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn accuracy(run: &Path) -> f64 {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    v["test"]["accuracy"].as_f64().unwrap()
}

#[test]
fn semicolons_decimal_commas_and_tabs_read_as_the_same_data() {
    let dir = tmp("dialects");
    let (semi, tab, comma) = (dir.join("semi.csv"), dir.join("tab.csv"), dir.join("comma.csv"));
    export(&semi, ";", ",");
    export(&tab, "\t", ".");
    export(&comma, ",", ".");
    let train = |data: &Path, extra: &[&str], name: &str| {
        let run = dir.join(name);
        let mut args = vec![
            "train",
            "--data",
            s(data),
            "--target",
            "y",
            "--categorical",
            "sex",
            "--epochs",
            "5",
            "--out",
            s(&run),
        ];
        args.extend(extra);
        let (code, out, err) = medgpu(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        (run, out)
    };
    let (r_semi, out) = train(&semi, &["--decimal", ","], "semi");
    assert!(out.contains("(semicolon-separated, decimal comma)"), "{out}");
    let (r_tab, out) = train(&tab, &[], "tab");
    assert!(out.contains("(tab-separated)"), "{out}");
    let (r_comma, out) = train(&comma, &[], "comma");
    assert!(out.contains("(comma-separated)"), "{out}");
    // the same numbers, so the same model and figures
    assert_eq!(accuracy(&r_semi), accuracy(&r_comma));
    assert_eq!(accuracy(&r_tab), accuracy(&r_comma));
    // the saved model reads new files of its dialect
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r_semi.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["source"]["prepare"]["csv"]["decimal_comma"], true);
    let (code, out, err) = medgpu(&["eval", "--run", s(&r_semi), "--data", s(&semi), "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, preds, err) = medgpu(&["predict", "--run", s(&r_semi), "--data", s(&semi)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(preds.lines().count(), 201);
}

#[test]
fn a_decimal_comma_not_asked_for_says_how_to_read_it() {
    let dir = tmp("hint");
    let semi = dir.join("semi.csv");
    export(&semi, ";", ",");
    let out = dir.join("never");
    assert_clean_error(
        &["train", "--data", s(&semi), "--target", "y", "--categorical", "sex", "--out", s(&out)],
        1,
        &["semi.csv:2:2", "in column 'marker' is written with a decimal comma", "--decimal ,"],
    );
    assert_clean_error(
        &["train", "--data", s(&semi), "--delimiter", "pipe", "--out", s(&out)],
        2,
        &["--delimiter 'pipe'"],
    );
    assert_clean_error(
        &["train", "--data", s(&semi), "--decimal", ",", "--delimiter", ",", "--out", s(&out)],
        2,
        &["--decimal ,"],
    );
    assert!(!out.exists());
}

//! Predictions as CSV, one row per input row, by task.

use super::evaluate::{probabilities, reconstruction_errors};
use super::infer::Inference;
use super::saved::{ModelFile, TargetScale};
use crate::data::{Dataset, TargetEncoding, Task};

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Predictions as CSV: the source line, the id (if the data has one), then
/// by task the predicted class and each class's probability, the predicted
/// value, or the reconstruction error and the bottleneck code.
pub fn predictions_csv(file: &ModelFile, ds: &Dataset, rows: &[usize], inf: &Inference) -> String {
    let has_id = !ds.ids.is_empty();
    let labels: Vec<String> = match &file.encoding.target {
        Some(TargetEncoding::Classes { labels, .. }) => labels.clone(),
        _ => Vec::new(),
    };
    let mut out = String::from("line");
    if has_id {
        out.push_str(",id");
    }
    match file.task {
        Task::Classify => {
            out.push_str(",predicted");
            for l in &labels {
                out.push_str(&format!(",{}", csv_field(&format!("prob_{l}"))));
            }
        }
        Task::Regress => match &file.encoding.target {
            Some(TargetEncoding::Value { name, more }) if !more.is_empty() => {
                for n in std::iter::once(name).chain(more) {
                    out.push_str(&format!(",{}", csv_field(&format!("predicted_{n}"))));
                }
            }
            _ => out.push_str(",predicted"),
        },
        Task::Reconstruct => {
            out.push_str(",reconstruction_error");
            if let Some((c, _)) = &inf.code {
                for j in 0..*c {
                    out.push_str(&format!(",code_{j}"));
                }
            }
        }
    }
    out.push('\n');
    let probs = (file.task == Task::Classify).then(|| probabilities(&inf.outputs, inf.cols));
    let errors =
        (file.task == Task::Reconstruct).then(|| reconstruction_errors(&inf.outputs, &inf.inputs, inf.cols));
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&ds.lines[*r].to_string());
        if has_id {
            out.push_str(&format!(",{}", csv_field(ds.ids.get(*r).map(String::as_str).unwrap_or(""))));
        }
        match file.task {
            Task::Classify => {
                let probs = probs.as_deref().unwrap_or(&[]);
                let p: Vec<f64> = if inf.cols == 1 {
                    let p1 = probs[i];
                    vec![1.0 - p1, p1]
                } else {
                    probs[i * inf.cols..(i + 1) * inf.cols].to_vec()
                };
                // first class wins a tie, as in the metrics
                let best = p.iter().enumerate().fold(0, |b, (j, v)| if *v > p[b] { j } else { b });
                out.push_str(&format!(",{}", csv_field(labels.get(best).map(String::as_str).unwrap_or(""))));
                for v in &p {
                    out.push_str(&format!(",{v:.6}"));
                }
            }
            Task::Regress => {
                let s = file.target_scale.unwrap_or(TargetScale { mean: 0.0, std: 1.0 });
                for v in &inf.outputs[i * inf.cols..(i + 1) * inf.cols] {
                    out.push_str(&format!(",{}", v * s.std + s.mean));
                }
            }
            Task::Reconstruct => {
                out.push_str(&format!(",{:.6}", errors.as_deref().unwrap_or(&[])[i]));
                if let Some((c, code)) = &inf.code {
                    for v in &code[i * c..(i + 1) * c] {
                        out.push_str(&format!(",{v}"));
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

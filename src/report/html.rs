//! The report page: the model card, the figures with intervals, and the
//! plots of the task, as one HTML document with inline SVG and CSS.

use super::card::ModelCard;
use super::charts;
use super::svg::escape;
use super::ReportInput;
use crate::data::Task;
use crate::model::clinical::{with_interval, ClinicalFigures, Figures, PointFigures, MIN_SUBGROUP_ROWS};
use crate::model::evaluate::reconstruction_errors;
use crate::model::TargetScale;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:0.2em}h2{border-bottom:2px solid #1f5fa8;padding-bottom:0.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left;vertical-align:top}\
th{background:#eef2f7}td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:1em}\
svg.chart{width:100%;height:auto;font-size:11px;background:#fff}svg .title{font-size:13px;font-weight:bold}\
svg .frame{fill:none;stroke:#888}svg .tick{stroke:#888}.bar{background:#1f5fa8;height:0.8em;display:inline-block}\
.caveats li{margin:0.3em 0}section{break-inside:avoid}@media print{body{margin:0;max-width:none}.charts{display:block}svg.chart{max-width:16cm;display:block;margin:0.5em auto}}";

/// The whole page.
pub fn page(input: &ReportInput, card: &ModelCard) -> String {
    let f = input.file;
    let mut s = String::new();
    let title = format!("{} on {}", card.model_details.model, input.training_data.source);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>medgpu report: {t}</title>\
         <style>{STYLE}</style></head><body>\n<h1>medgpu report</h1><p class=\"muted\">{t}; medgpu {}; \
         evaluated on {}</p>\n",
        f.medgpu_version,
        escape(&card.evaluation_data.description),
        t = escape(&title)
    );
    model_card_section(&mut s, card);
    if let Some(c) = &card.clinical {
        figures_section(&mut s, c);
    } else if let Some(m) = &card.metrics {
        let json = serde_json::to_string_pretty(m).unwrap_or_default();
        let _ = writeln!(s, "<section><h2>Metrics</h2><pre>{}</pre></section>", escape(&json));
    }
    plots_section(&mut s, input, card);
    if let Some(c) = &card.clinical {
        subgroups_section(&mut s, c);
    }
    importance_section(&mut s, input);
    s.push_str("<p class=\"muted\">Written by medgpu from the run's saved model and its evaluation rows. \
                Intervals: Wilson score for proportions, stratified percentile bootstrap otherwise.</p>\n</body></html>\n");
    s
}

fn row(s: &mut String, name: &str, value: &str) {
    let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(value));
}

fn model_card_section(s: &mut String, card: &ModelCard) {
    let d = &card.model_details;
    s.push_str("<section><h2>Model card</h2><h3>Model details</h3><table>");
    row(s, "model", &d.model);
    row(s, "task", &format!("{:?}", d.task));
    let inputs = if d.inputs.len() > 40 {
        format!(
            "{} inputs: {}, ... {}",
            d.inputs.len(),
            d.inputs[..20].join(", "),
            d.inputs[d.inputs.len() - 5..].join(", ")
        )
    } else {
        format!("{} inputs: {}", d.inputs.len(), d.inputs.join(", "))
    };
    row(s, "inputs", &inputs);
    row(s, "output", &d.output);
    row(s, "training", &d.training);
    row(s, "decision", &d.decision);
    row(s, "medgpu version", &d.medgpu_version);
    let _ = write!(s, "</table><h3>Intended use</h3><p>{}</p>", escape(&card.intended_use));
    let t = &card.training_data;
    s.push_str("<h3>Training data</h3><table>");
    row(s, "source", &t.source);
    row(s, "SHA-256", t.sha256.as_deref().unwrap_or("(not one file)"));
    row(s, "rows", &t.rows.to_string());
    row(s, "split (train / validation / test)", &format!("{} / {} / {}", t.split[0], t.split[1], t.split[2]));
    for (label, n) in &t.class_balance {
        row(s, &format!("class {label}"), &format!("{} / {} / {}", n[0], n[1], n[2]));
    }
    let e = &card.evaluation_data;
    s.push_str("</table><h3>Evaluation data</h3><table>");
    row(s, "rows", &format!("{}: {}", e.rows, e.description));
    row(
        s,
        "external",
        if e.external {
            "yes: not the training data's source"
        } else {
            "no: the test split of the training data"
        },
    );
    for (label, n) in &e.class_counts {
        row(s, &format!("class {label}"), &n.to_string());
    }
    s.push_str("</table><h3>Caveats</h3><ul class=\"caveats\">");
    for c in &card.caveats {
        let _ = write!(s, "<li>{}</li>", escape(c));
    }
    s.push_str("</ul></section>\n");
}

fn figures_table(s: &mut String, figures: &Figures) {
    s.push_str("<table><tr><th>figure</th><th>value (95% interval)</th></tr>");
    for (name, w) in &figures.0 {
        let _ = write!(s, "<tr><td>{}</td><td class=\"num\">{}</td></tr>", escape(name), with_interval(w));
    }
    s.push_str("</table>");
}

fn figures_section(s: &mut String, c: &ClinicalFigures) {
    s.push_str("<section><h2>Metrics with 95% intervals</h2>");
    figures_table(s, &c.test_ci95);
    if let Some(cal) = &c.calibration {
        let _ = write!(
            s,
            "<h3>Calibration</h3><table><tr><th></th><th>ECE (15 bins)</th><th>MCE</th><th>Brier</th></tr>\
             <tr><td>as trained</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.4}</td></tr>\
             <tr><td>temperature {:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.4}</td></tr></table>",
            cal.before.ece, cal.before.mce, cal.before.brier, cal.temperature, cal.after.ece, cal.after.mce, cal.after.brier
        );
    }
    for (title, p) in [
        ("Operating point", &c.operating_point),
        ("At validation-chosen sensitivity 0.95", &c.at_sensitivity_95),
    ] {
        if let Some(p) = p {
            point_section(s, title, p);
        }
    }
    s.push_str("</section>\n");
}

fn point_section(s: &mut String, title: &str, p: &PointFigures) {
    let _ = write!(
        s,
        "<h3>{title}: {}</h3><p>Threshold {:.3} on the calibrated probability, chosen on the validation split \
         (sensitivity {:.3}, specificity {:.3} there).</p>",
        escape(&p.rule),
        p.threshold,
        p.validation[0],
        p.validation[1]
    );
    figures_table(s, &p.test);
    confusion_table(
        s,
        &["negative".into(), "positive".into()],
        &[p.confusion[0].to_vec(), p.confusion[1].to_vec()],
    );
}

fn confusion_table(s: &mut String, labels: &[String], m: &[Vec<u64>]) {
    s.push_str("<table><tr><th>actual \\ predicted</th>");
    for l in labels {
        let _ = write!(s, "<th>{}</th>", escape(l));
    }
    s.push_str("</tr>");
    for (l, r) in labels.iter().zip(m) {
        let _ = write!(s, "<tr><th>{}</th>", escape(l));
        for v in r {
            let _ = write!(s, "<td class=\"num\">{v}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
}

fn plots_section(s: &mut String, input: &ReportInput, card: &ModelCard) {
    let f = input.file;
    let e = &input.evaluation;
    let mut svgs = Vec::new();
    if !input.learning_curve.is_empty() {
        svgs.push(charts::learning_curves(&input.learning_curve));
    }
    let mut after = String::new();
    match f.task {
        Task::Classify => {
            let labels: Vec<u32> = e.test.targets.iter().map(|t| *t as u32).collect();
            let k = e.test.cols;
            let probs = f.decision.probabilities(e.test.outputs, k);
            let before = crate::model::probabilities(e.test.outputs, k);
            if k == 1 {
                let t = f.decision.threshold();
                let auc = card
                    .clinical
                    .as_ref()
                    .and_then(|c| c.test_ci95.get("roc_auc"))
                    .map_or("n/a".into(), |w| with_interval(&w));
                svgs.push(charts::roc(&labels, &probs, t, &auc));
                svgs.push(charts::precision_recall_curve(&labels, &probs, t));
            }
            svgs.push(charts::reliability_diagram(&labels, &before, &probs, k));
            if k == 1 {
                svgs.push(charts::decision(&labels, &probs));
            }
            let classes = f.decision.classes(&probs, k);
            let names = f.encoding.class_labels();
            let mut m = vec![vec![0u64; names.len()]; names.len()];
            for (y, c) in labels.iter().zip(&classes) {
                if let Some(cell) = m.get_mut(*y as usize).and_then(|r| r.get_mut(*c)) {
                    *cell += 1;
                }
            }
            let at =
                if k == 1 { format!(" at threshold {:.3}", f.decision.threshold()) } else { String::new() };
            let _ = write!(after, "<h3>Confusion matrix{at}</h3>");
            confusion_table(&mut after, &names, &m);
        }
        Task::Regress => {
            let sc = f.target_scale.unwrap_or(TargetScale { mean: 0.0, std: 1.0 });
            let w = e.test.cols.max(1);
            let first = |v: &[f64]| v.iter().step_by(w).copied().collect::<Vec<f64>>();
            let targets: Vec<f64> = first(&e.test.targets.iter().map(|v| *v as f64).collect::<Vec<_>>());
            let preds: Vec<f64> =
                first(&e.test.outputs.iter().map(|v| (*v * sc.std + sc.mean) as f64).collect::<Vec<_>>());
            let name = f.encoding.target.as_ref().map_or("value".to_string(), |t| t.name().to_string());
            if f.source.window.is_some() {
                svgs.push(charts::forecast(&targets, &preds, &name));
            }
            svgs.push(charts::predicted_vs_actual(&targets, &preds, &name));
            svgs.push(charts::residuals(&targets, &preds));
        }
        Task::Reconstruct => {
            let errors = reconstruction_errors(e.test.outputs, e.inputs, e.test.cols);
            let names = f.encoding.class_labels();
            let classes: Vec<(String, Vec<usize>)> =
                if names.is_empty() || e.test.targets.len() != errors.len() {
                    vec![("all rows".into(), (0..errors.len()).collect())]
                } else {
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            (
                                format!("class {n}"),
                                (0..errors.len()).filter(|r| e.test.targets[*r] as usize == i).collect(),
                            )
                        })
                        .collect()
                };
            svgs.push(charts::anomaly_histogram(&errors, &classes));
        }
    }
    s.push_str("<section><h2>Plots</h2><div class=\"charts\">");
    for svg in svgs {
        let _ = write!(s, "<figure>{svg}</figure>");
    }
    s.push_str("</div>");
    s.push_str(&after);
    s.push_str("</section>\n");
}

fn subgroups_section(s: &mut String, c: &ClinicalFigures) {
    if c.subgroups.is_empty() {
        s.push_str("<section><h2>Subgroups</h2><p>No subgroup analysis: name the columns with --subgroup-column (for example sex,age_band).</p></section>\n");
        return;
    }
    s.push_str("<section><h2>Subgroups</h2>");
    for col in &c.subgroups {
        let names: Vec<&String> = col.largest_gap.iter().map(|(n, _)| n).collect();
        let _ = write!(s, "<h3>By {}</h3><table><tr><th>value</th><th>n</th>", escape(&col.column));
        for n in &names {
            let _ = write!(s, "<th>{}</th>", escape(n));
        }
        s.push_str("</tr>");
        for g in &col.groups {
            let _ = write!(s, "<tr><td>{}</td><td class=\"num\">{}</td>", escape(&g.value), g.n);
            if g.too_small {
                let _ = write!(
                    s,
                    "<td colspan=\"{}\">too small (fewer than {MIN_SUBGROUP_ROWS} rows)</td>",
                    names.len().max(1)
                );
            } else {
                for n in &names {
                    let cell = g.figures.get(n).map_or("n/a".into(), |w| with_interval(&w));
                    let _ = write!(s, "<td class=\"num\">{cell}</td>");
                }
            }
            s.push_str("</tr>");
        }
        s.push_str("<tr><th>largest gap</th><td></td>");
        for (_, gap) in &col.largest_gap {
            let _ = write!(s, "<td class=\"num\">{gap:.3}</td>");
        }
        s.push_str("</tr></table>");
    }
    s.push_str("</section>\n");
}

fn importance_section(s: &mut String, input: &ReportInput) {
    let Some((method, values)) = &input.importance else { return };
    let mut sorted: Vec<&(String, f64)> = values.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = sorted.first().map_or(1.0, |v| v.1).max(1e-30);
    let _ = write!(
        s,
        "<section><h2>Global feature importance</h2><p>{}; the {} most important of {} inputs.</p>\
         <table><tr><th>input</th><th>mean |attribution|</th><th></th></tr>",
        escape(method),
        sorted.len().min(15),
        sorted.len()
    );
    for (name, v) in sorted.iter().take(15) {
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"num\">{v:.4}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span></td></tr>",
            escape(name),
            200.0 * v / top
        );
    }
    s.push_str("</table></section>\n");
}

//! `medgpu report`: a run's report rebuilt from its directory, on its own
//! validation and test splits (the data read and split again as training
//! did) or on other labelled data (external validation).

use super::prepare::{prepare, Prepared};
use super::report::{read_learning_curve, test_subgroups, training_data};
use crate::data::{encode_apply, RawTable};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::clinical::Outcomes;
use crate::model::infer::run_normalized;
use crate::model::{load_raw_as, metrics_for, run_model, windows_for, Inference, TrainedModel};
use crate::report::{self, global_importance, DataSummary, Evaluation, Report, ReportInput, IMPORTANCE_ROWS};
use std::path::Path;
use std::sync::Arc;

/// The report of the run in `dir`: on `data` (a labelled file or
/// `builtin:NAME`) when given, else on the run's own test split.
pub fn rebuild(gpu: Arc<Gpu>, dir: &Path, data: Option<&str>) -> Result<Report> {
    let model = TrainedModel::load(dir)?;
    let learning_curve = read_learning_curve(dir)?;
    match data {
        None => on_own_split(gpu, &model, learning_curve),
        Some(d) => on_other_data(gpu, &model, learning_curve, dir, d),
    }
}

fn on_own_split(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    learning_curve: Vec<(usize, f64, f64)>,
) -> Result<Report> {
    let f = &model.file;
    let p = prepare(&f.source, &f.training)?;
    let rows_of = |rows: &[usize]| {
        let c = p.ds.cols();
        rows.iter().flat_map(|r| p.features[r * c..(r + 1) * c].iter().copied()).collect::<Vec<f32>>()
    };
    let val = run_normalized(gpu.clone(), model, rows_of(&p.split.val))?;
    let test = run_normalized(gpu.clone(), model, rows_of(&p.split.test))?;
    let (tv, tt) = (p.ds.targets_of(&p.split.val), p.ds.targets_of(&p.split.test));
    let importance = global_importance(gpu, model, &test.inputs);
    let evaluation = Evaluation {
        description: format!("the test split of {} ({} rows)", f.source.data, p.split.test.len()),
        external: f.source.test_data.is_some(),
        val: Some(Outcomes { targets: &tv, outputs: &val.outputs, cols: val.cols }),
        test: Outcomes { targets: &tt, outputs: &test.outputs, cols: test.cols },
        inputs: &test.inputs,
        subgroups: test_subgroups(&p),
        metrics: Some(metrics_for(f, &test.outputs, test.cols, &tt, &test.inputs)),
    };
    let input = report_input(model, &p, learning_curve, evaluation, importance);
    Ok(report::build(&input))
}

fn on_other_data(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    learning_curve: Vec<(usize, f64, f64)>,
    dir: &Path,
    data: &str,
) -> Result<Report> {
    let f = &model.file;
    if f.encoding.target.is_none() {
        return Err(Error::Options(
            "this model has no target column: a report on other data needs one".into(),
        ));
    }
    let (raw, _) = load_raw_as(data, f.model.input_shape, &f.source.prepare.csv)?;
    let raw = windows_for(raw, &f.source, false)?;
    let ds = encode_apply(&raw, &f.encoding, true)?;
    let subgroups = subgroups_of(&raw, &ds.lines, &f.training.evaluation.subgroups);
    let inf: Inference = run_model(gpu.clone(), model, &ds)?;
    let sample = &inf.inputs[..inf.inputs.len().min(IMPORTANCE_ROWS * ds.cols())];
    let importance = global_importance(gpu, model, sample);
    let evaluation = Evaluation {
        description: format!("{data} ({} rows)", ds.rows()),
        external: true,
        val: None,
        test: Outcomes { targets: &ds.targets, outputs: &inf.outputs, cols: inf.cols },
        inputs: &inf.inputs,
        subgroups,
        metrics: Some(metrics_for(f, &inf.outputs, inf.cols, &ds.targets, &inf.inputs)),
    };
    let mut input = report_input_without_split(model, learning_curve, evaluation, importance);
    input.training_data = saved_training_data(dir).unwrap_or(input.training_data);
    Ok(report::build(&input))
}

fn report_input<'a>(
    model: &'a TrainedModel,
    p: &Prepared,
    learning_curve: Vec<(usize, f64, f64)>,
    evaluation: Evaluation<'a>,
    importance: Option<(String, Vec<(String, f64)>)>,
) -> ReportInput<'a> {
    let f = &model.file;
    ReportInput {
        file: f,
        model_description: format!("{} {}", f.model.name, f.model.describe(p.ds.cols(), p.head.outputs)),
        learning_curve,
        training_data: training_data(p, f),
        evaluation,
        importance,
    }
}

fn report_input_without_split<'a>(
    model: &'a TrainedModel,
    learning_curve: Vec<(usize, f64, f64)>,
    evaluation: Evaluation<'a>,
    importance: Option<(String, Vec<(String, f64)>)>,
) -> ReportInput<'a> {
    let f = &model.file;
    let outputs = crate::model::head_for(&f.encoding).map_or(0, |h| h.outputs);
    ReportInput {
        file: f,
        model_description: format!(
            "{} {}",
            f.model.name,
            f.model.describe(f.encoding.num_features(), outputs)
        ),
        learning_curve,
        training_data: DataSummary {
            source: f.source.data.clone(),
            sha256: report::card::source_sha256(&f.source.data),
            ..DataSummary::default()
        },
        evaluation,
        importance,
    }
}

/// The training data as the run's `model_card.json` described it.
fn saved_training_data(dir: &Path) -> Option<DataSummary> {
    let text = std::fs::read_to_string(dir.join("model_card.json")).ok()?;
    let card: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(card.get("training_data")?.clone()).ok()
}

/// The subgroup columns the file has, each column's value for every row at `lines`.
fn subgroups_of(raw: &RawTable, lines: &[u64], names: &[String]) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .filter_map(|name| {
            let c = raw.column(name)?;
            let values = lines
                .iter()
                .map(|line| {
                    raw.lines.binary_search(line).map_or(String::new(), |r| raw.cell_text(r, c).into_owned())
                })
                .collect();
            Some((name.clone(), values))
        })
        .collect()
}

//! Using a trained run: `model.json` + `weights.safetensors` loaded once,
//! new data encoded with the saved encoding and normalization, and the
//! inference program replayed over it (eval and predict).

use crate::data::{Dataset, Encoding, Preprocessor, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{GpuDataset, Mode, ParamStore, Program, ProgramOptions};
use crate::kernels::PipelineCache;
use crate::models::ModelSpec;
use crate::train::checkpoint::{check_against, load_tensors, NamedTensor};
use crate::train::config::{DataSource, TrainConfig};
use crate::train::prepare::{head_for, TargetScale};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Rows per inference batch.
pub const INFER_BATCH: usize = 256;

/// The contents of `model.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelFile {
    /// medgpu version that wrote it.
    pub medgpu_version: String,
    /// The model body.
    pub model: ModelSpec,
    /// classify, regress or reconstruct.
    pub task: Task,
    /// Model input names, in order.
    pub feature_names: Vec<String>,
    /// How raw columns become inputs and targets (label map included).
    pub encoding: Encoding,
    /// Imputation and normalization statistics (from the training rows).
    pub preprocessor: Preprocessor,
    /// Regression target scaling.
    pub target_scale: Option<TargetScale>,
    /// Where the training data came from.
    pub source: DataSource,
    /// The training options.
    pub training: TrainConfig,
    /// Final validation and test metrics, once training finished.
    #[serde(default)]
    pub final_metrics: Option<serde_json::Value>,
}

impl ModelFile {
    /// Reads `DIR/model.json`.
    pub fn load(dir: &Path) -> Result<ModelFile> {
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            message: format!(
                "{e} (line {}, column {}); is this a medgpu run directory?",
                e.line(),
                e.column()
            ),
        })
    }

    /// The parameter names and shapes the model has.
    pub fn param_shapes(&self) -> Result<Vec<(String, Vec<usize>)>> {
        let g = self.model.build(self.encoding.num_features(), head_for(&self.encoding)?, 1, false, 0)?;
        Ok(g.params().iter().map(|t| (g.name(*t).to_string(), g.shape(*t).to_vec())).collect())
    }
}

/// A trained model ready to run.
pub struct TrainedModel {
    /// Its description.
    pub file: ModelFile,
    /// Its weights by name.
    pub weights: BTreeMap<String, NamedTensor>,
}

impl TrainedModel {
    /// Loads a run directory, checking that the weights fit the model.
    pub fn load(dir: &Path) -> Result<TrainedModel> {
        let file = ModelFile::load(dir)?;
        let path = dir.join("weights.safetensors");
        let weights = load_tensors(&path)?;
        check_against(&path, &weights, &file.param_shapes()?)?;
        Ok(TrainedModel { file, weights })
    }
}

/// What inference gives for a data set.
pub struct Inference {
    /// Raw outputs (logits, scaled values or reconstructions), rows x cols.
    pub outputs: Vec<f32>,
    /// Output columns.
    pub cols: usize,
    /// The bottleneck code of an autoencoder, rows x code columns.
    pub code: Option<(usize, Vec<f32>)>,
    /// The normalized inputs, rows x features.
    pub inputs: Vec<f32>,
}

/// Runs the model on every row of `ds` (already encoded with its encoding).
pub fn run_model(gpu: Arc<Gpu>, model: &TrainedModel, ds: &Dataset) -> Result<Inference> {
    let f = &model.file;
    let cols = f.encoding.num_features();
    if ds.cols() != cols {
        return Err(Error::Model(format!("the data has {} features, the model {cols}", ds.cols())));
    }
    let mut inputs = ds.features.clone();
    f.preprocessor.apply(&mut inputs);
    let head = head_for(&f.encoding)?;
    if ds.rows() == 0 {
        return Ok(Inference { outputs: Vec::new(), cols: head.outputs, code: None, inputs });
    }
    let data = Arc::new(GpuDataset::upload(&gpu, &inputs, &vec![0.0; ds.rows()], cols, 1)?);
    let graph = f.model.build(cols, head, INFER_BATCH.min(ds.rows()), false, f.training.seed)?;
    let params = Arc::new(ParamStore::init(&gpu, &graph, 0)?);
    for (name, t) in &model.weights {
        params.write(&gpu, name, &t.values)?;
    }
    let mut cache = PipelineCache::persistent(&gpu);
    let mut program =
        Program::compile(gpu, &graph, params, data, ProgramOptions { mode: Mode::Inference }, &mut cache)?;
    cache.save();
    let rows: Vec<u32> = (0..ds.rows() as u32).collect();
    let p = program.predict(&rows)?;
    let (cols_out, outputs) =
        p.get("output").map(|(c, v)| (c, v.to_vec())).unwrap_or((head.outputs, Vec::new()));
    let code = p.get("code").map(|(c, v)| (c, v.to_vec()));
    Ok(Inference { outputs, cols: cols_out, code, inputs })
}

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
        Some(crate::data::TargetEncoding::Classes { labels, .. }) => labels.clone(),
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
            Some(crate::data::TargetEncoding::Value { name, more }) if !more.is_empty() => {
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
    let probs = (file.task == Task::Classify).then(|| crate::train::probabilities(&inf.outputs, inf.cols));
    let errors = (file.task == Task::Reconstruct)
        .then(|| crate::train::evaluate::reconstruction_errors(&inf.outputs, &inf.inputs, inf.cols));
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

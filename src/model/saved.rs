//! The saved model: `model.json` (what the model is, how raw columns
//! become its inputs, how it was trained) and `weights.safetensors`, and
//! the output head a task takes. Training writes it; eval, predict and the
//! library's [`crate::Model`] load it.

use super::checkpoint::{check_against, load_tensors, save_tensors, to_json, write_atomic, NamedTensor};
use super::config::{DataSource, TrainConfig};
use crate::data::{Encoding, Preprocessor, Task};
use crate::error::{Error, Result};
use crate::graph::{LossKind, TargetSource};
use crate::models::{Head, ModelSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

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
    /// A classifier's temperature and operating point (chosen on the
    /// validation split once training finished).
    #[serde(default)]
    pub decision: super::decision::Decision,
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
#[derive(Clone, Debug)]
pub struct TrainedModel {
    /// Its description.
    pub file: ModelFile,
    /// Its weights by name.
    pub weights: BTreeMap<String, NamedTensor>,
}

impl TrainedModel {
    /// A model from its description and weights by name (shapes from the
    /// model); a weight the model does not have is an error.
    pub fn from_weights(file: ModelFile, weights: &BTreeMap<String, Vec<f32>>) -> Result<TrainedModel> {
        let mut tensors = BTreeMap::new();
        for (name, shape) in file.param_shapes()? {
            if let Some(v) = weights.get(&name) {
                tensors.insert(name, NamedTensor { shape, values: v.clone() });
            }
        }
        if let Some(extra) = weights.keys().find(|k| !tensors.contains_key(*k)) {
            return Err(Error::Model(format!("the model has no parameter '{extra}'")));
        }
        Ok(TrainedModel { file, weights: tensors })
    }

    /// Writes `DIR/weights.safetensors` (atomically).
    pub fn write_weights(&self, dir: &Path) -> Result<()> {
        let meta = HashMap::from([("writer".to_string(), format!("medgpu {}", env!("CARGO_PKG_VERSION")))]);
        save_tensors(&dir.join("weights.safetensors"), &self.weights, meta)
    }

    /// Writes `DIR/model.json` and `DIR/weights.safetensors` (creating
    /// DIR), each atomically: [`TrainedModel::load`] reads them back.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.write_weights(dir)?;
        write_atomic(&dir.join("model.json"), &to_json(&self.file)?)
    }

    /// Loads a run directory, checking that the weights fit the model.
    pub fn load(dir: &Path) -> Result<TrainedModel> {
        let file = ModelFile::load(dir)?;
        let path = dir.join("weights.safetensors");
        let weights = load_tensors(&path)?;
        check_against(&path, &weights, &file.param_shapes()?)?;
        Ok(TrainedModel { file, weights })
    }
}

/// Regression targets are trained standardized: t' = (t - mean) / std (training rows).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetScale {
    /// Training mean.
    pub mean: f32,
    /// Training standard deviation (1 when constant).
    pub std: f32,
}

/// The output layer and loss for a task.
pub fn head_for(encoding: &Encoding) -> Result<Head> {
    Ok(match encoding.task {
        Task::Classify => match encoding.num_classes() {
            Some(2) => Head { outputs: 1, loss: LossKind::BceWithLogits, target: TargetSource::Targets },
            Some(k) if k > 2 => {
                Head { outputs: k, loss: LossKind::SoftmaxCrossEntropy, target: TargetSource::Targets }
            }
            _ => return Err(Error::Dataset("classification needs at least two classes".into())),
        },
        Task::Regress => {
            Head { outputs: encoding.target_width(), loss: LossKind::Mse, target: TargetSource::Targets }
        }
        Task::Reconstruct => {
            Head { outputs: encoding.num_features(), loss: LossKind::Mse, target: TargetSource::Features }
        }
    })
}

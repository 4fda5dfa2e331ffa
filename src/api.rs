//! The front door: open a device, describe data and a model, train, then
//! save, load, predict and evaluate, without the command line.
//!
//! ```no_run
//! use medgpu::{Data, Device, Model, Trainer};
//!
//! # fn main() -> medgpu::Result<()> {
//! let device = Device::open()?;
//! let model = Trainer::mlp(&[64, 32]).epochs(20).fit(&device, &Data::builtin("breast_cancer"))?;
//! println!("test: {:?}", model.test_metrics());
//! model.save("runs/breast-cancer")?;
//!
//! let model = Model::load(&device, "runs/breast-cancer")?;
//! let predictions = model.predict_data(&Data::csv("new_patients.csv"))?;
//! println!("{:?}", predictions.predicted_labels());
//! # Ok(())
//! # }
//! ```

use crate::data::{encode_apply, Dataset, RawTable, Task};
use crate::error::{Error, Result};
use crate::gpu::{DeviceOptions, Gpu};
use crate::graph::Act;
use crate::model::explain::{Explanation, Method, Target};
use crate::model::{
    load_raw_as, metrics_for, run_model, windows_for, DataSource, Metrics, ModelFile, Predictions,
    TrainConfig, TrainedModel,
};
use crate::models::ModelSpec;
use crate::train::{prepare, report, train_prepared, EpochLog, Hooks};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An open GPU adapter (shared by the models trained or loaded on it).
#[derive(Clone)]
pub struct Device {
    gpu: Arc<Gpu>,
}

impl Device {
    /// Opens the default adapter: a hardware GPU where there is one, else a
    /// software adapter. `WGPU_BACKEND` (vulkan, metal, dx12, gl) and
    /// `MEDGPU_ADAPTER` (part of a name) choose another.
    pub fn open() -> Result<Device> {
        Device::with_options(&DeviceOptions::default())
    }

    /// Opens the adapter `opts` asks for.
    pub fn with_options(opts: &DeviceOptions) -> Result<Device> {
        Ok(Device { gpu: Arc::new(Gpu::open(opts)?) })
    }

    /// The adapter's name and backend, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)`.
    pub fn describe(&self) -> String {
        self.gpu.describe()
    }

    /// The engine's device, for the lower layers (graphs and programs).
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }
}

/// The targets of rows built in memory ([`Data::from_rows`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// One class label per row (classification).
    Classes(Vec<String>),
    /// One value per row (regression).
    Values(Vec<f32>),
    /// No target: an autoencoder learns to reconstruct the rows.
    None,
}

/// A data set: a built-in one, a CSV file, an image folder, or rows in memory.
#[derive(Clone, Debug)]
pub struct Data {
    source: DataSource,
    table: Option<RawTable>,
}

/// The column name of [`Labels`] in a table built in memory.
const MEMORY_TARGET: &str = "target";

impl Data {
    /// `builtin:NAME`, a CSV file with a header row, or a folder of images
    /// with one subfolder per class: what `medgpu train --data` takes.
    pub fn open(spec: &str) -> Data {
        Data::with_source(DataSource {
            data: spec.to_string(),
            test_data: None,
            prepare: Default::default(),
            window: None,
            sequences: None,
        })
    }

    /// A built-in data set with its own target (`breast_cancer`, `digits`, `ecg`).
    pub fn builtin(name: &str) -> Data {
        Data::with_source(DataSource::builtin(name))
    }

    /// A CSV file with a header row.
    pub fn csv(path: impl AsRef<Path>) -> Data {
        Data::open(&path.as_ref().to_string_lossy())
    }

    /// Every option of the command line's data flags (windows, sequences,
    /// categorical columns, ...).
    pub fn with_source(source: DataSource) -> Data {
        Data { source, table: None }
    }

    /// Rows in memory: `rows` holds one value per feature name for each
    /// row, row-major (NaN for a missing value), and `labels` one target
    /// per row. The model's inputs are the features in this order.
    ///
    /// ```
    /// use medgpu::{Data, Labels};
    /// let labels = Labels::Classes(vec!["benign".into(), "malignant".into()]);
    /// let data = Data::from_rows(&["age", "size_mm"], &[61.0, 12.5, 48.0, 31.0], labels).unwrap();
    /// assert_eq!(data.source().prepare.target.as_deref(), Some("target"));
    /// assert!(Data::from_rows(&["age"], &[61.0, 48.0], Labels::Values(vec![1.0])).is_err());
    /// ```
    pub fn from_rows(feature_names: &[&str], rows: &[f32], labels: Labels) -> Result<Data> {
        let mut table = RawTable::from_rows("memory", feature_names, rows)?;
        let mut data = Data::open("memory");
        let task = match labels {
            Labels::Classes(cells) => {
                table.push_text_column(MEMORY_TARGET, &cells)?;
                Task::Classify
            }
            Labels::Values(values) => {
                table.push_numeric_column(MEMORY_TARGET, values)?;
                Task::Regress
            }
            Labels::None => Task::Reconstruct,
        };
        if task != Task::Reconstruct {
            data.source.prepare.target = Some(MEMORY_TARGET.to_string());
        }
        data.source.prepare.task = Some(task);
        data.table = Some(table);
        Ok(data)
    }

    /// The target column (default for built-ins: their label).
    pub fn target(mut self, column: &str) -> Data {
        self.source.prepare.target = Some(column.to_string());
        self
    }

    /// The feature columns, in this order (default: every column but the
    /// target, id and group columns).
    pub fn features(mut self, columns: &[&str]) -> Data {
        self.source.prepare.features = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// A separate test file (same columns) instead of a test fraction.
    pub fn test_file(mut self, path: impl AsRef<Path>) -> Data {
        self.source.test_data = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Where the data comes from and how its columns are read.
    pub fn source(&self) -> &DataSource {
        &self.source
    }

    /// The raw table and its default target (images are read at `shape`).
    fn read(&self, shape: Option<[usize; 3]>) -> Result<(RawTable, Option<String>)> {
        match &self.table {
            Some(t) => Ok((t.clone(), None)),
            None => load_raw_as(&self.source.data, shape, &self.source.prepare.csv)
                .map(|(t, target)| (t, target.map(str::to_string))),
        }
    }
}

/// How to train a model: its layers and the training options, set one at a
/// time from the defaults of `medgpu train`.
///
/// ```
/// let t = medgpu::Trainer::mlp(&[16]).epochs(5).batch_size(64).learning_rate(3e-3).seed(7);
/// assert_eq!((t.config().epochs, t.config().batch_size, t.config().seed), (5, 64, 7));
/// ```
#[derive(Clone, Debug)]
pub struct Trainer {
    cfg: TrainConfig,
    run_dir: Option<PathBuf>,
}

impl Trainer {
    /// Trains `model` with the default options (Adam 1e-3, batch 32, 20
    /// epochs, 70/15/15 split, z-scores, seed 42).
    pub fn new(model: ModelSpec) -> Trainer {
        Trainer::with_config(TrainConfig { model, ..TrainConfig::default() })
    }

    /// A multilayer perceptron with ReLU hidden layers of these sizes.
    pub fn mlp(hidden: &[usize]) -> Trainer {
        Trainer::new(ModelSpec::mlp(hidden, Act::Relu, 0.0))
    }

    /// Every training option at once.
    pub fn with_config(cfg: TrainConfig) -> Trainer {
        Trainer { cfg, run_dir: None }
    }

    /// Passes over the training split.
    pub fn epochs(mut self, n: usize) -> Trainer {
        self.cfg.epochs = n;
        self
    }

    /// Rows per step.
    pub fn batch_size(mut self, n: usize) -> Trainer {
        self.cfg.batch_size = n;
        self
    }

    /// The optimizer's learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Trainer {
        self.cfg.optimizer.lr = lr;
        self
    }

    /// The seed of the split, initialization, shuffles and dropout: the
    /// same seed on the same adapter gives bit-identical weights.
    pub fn seed(mut self, seed: u64) -> Trainer {
        self.cfg.seed = seed;
        self
    }

    /// Stops after `patience` epochs without a better validation loss and
    /// keeps the best weights.
    pub fn early_stopping(mut self, patience: usize) -> Trainer {
        self.cfg.early_stopping = Some(patience);
        self
    }

    /// Chooses a binary classifier's threshold on the validation split by
    /// `rule` (e.g. `sensitivity=0.95`, see
    /// [`crate::metrics::operating::OperatingRule::parse`]); predictions
    /// and metrics then use it.
    pub fn operating_point(mut self, rule: crate::metrics::operating::OperatingRule) -> Trainer {
        self.cfg.evaluation.operating_point = Some(rule);
        self
    }

    /// Also writes the whole run directory into `dir`, as `medgpu train
    /// --out DIR` does (checkpoints, metrics.csv, summary.json, test
    /// predictions, model.json and weights); without it the checkpoints go
    /// to a temporary directory that is removed afterwards.
    pub fn run_dir(mut self, dir: impl AsRef<Path>) -> Trainer {
        self.run_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The options as they stand.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Trains on `data` and returns the trained model.
    pub fn fit(&self, device: &Device, data: &Data) -> Result<Model> {
        self.fit_with(device, data, &mut |_| {})
    }

    /// [`Trainer::fit`], calling `progress` after every epoch.
    pub fn fit_with(
        &self,
        device: &Device,
        data: &Data,
        progress: &mut dyn FnMut(&EpochLog),
    ) -> Result<Model> {
        let (raw, default_target) = data.read(self.cfg.model.input_shape)?;
        let p = prepare::prepare_table(raw, default_target.as_deref(), &data.source, &self.cfg)?;
        let scratch;
        let dir = match &self.run_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                d.clone()
            }
            None => {
                scratch = ScratchDir::new()?;
                scratch.0.clone()
            }
        };
        let hooks = Hooks { progress, stop_after_epoch: None };
        let out = train_prepared(device.gpu.clone(), p, &data.source, &self.cfg, &dir, false, hooks)?
            .ok_or_else(|| Error::Model("training stopped before its last epoch".into()))?;
        if self.run_dir.is_some() {
            report::write_run(&dir, &device.gpu, &out)?;
        }
        out.check_operating_point(self.run_dir.as_deref())?;
        let saved = TrainedModel::from_weights(out.file.clone(), &out.weights)?;
        let metrics = Some((out.val, out.test));
        Ok(Model { gpu: device.gpu.clone(), saved, history: out.epochs, metrics })
    }
}

/// A directory under the system's temporary directory, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("medgpu-fit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A trained model on a device, ready to predict and evaluate.
pub struct Model {
    gpu: Arc<Gpu>,
    saved: TrainedModel,
    history: Vec<EpochLog>,
    metrics: Option<(Metrics, Metrics)>,
}

impl Model {
    /// Loads a run directory (`model.json` and `weights.safetensors`, as
    /// written by `medgpu train` or [`Model::save`]), checking that the
    /// weights fit the model.
    pub fn load(device: &Device, dir: impl AsRef<Path>) -> Result<Model> {
        let saved = TrainedModel::load(dir.as_ref())?;
        Ok(Model { gpu: device.gpu.clone(), saved, history: Vec::new(), metrics: None })
    }

    /// Writes `model.json` and `weights.safetensors` into `dir` (created
    /// if needed), each file atomically.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.saved.save(dir.as_ref())
    }

    /// Classify, regress or reconstruct.
    pub fn task(&self) -> Task {
        self.saved.file.task
    }

    /// The model's inputs, in the order [`Model::predict`] takes them.
    pub fn feature_names(&self) -> &[String] {
        &self.saved.file.feature_names
    }

    /// The description saved in `model.json`: model, encoding,
    /// normalization, training options and final metrics.
    pub fn file(&self) -> &ModelFile {
        &self.saved.file
    }

    /// The weights by parameter name (`dense1.weight` [in, out], ...).
    pub fn weights(&self) -> &std::collections::BTreeMap<String, crate::model::checkpoint::NamedTensor> {
        &self.saved.weights
    }

    /// Per-epoch figures of the training run (empty for a loaded model).
    pub fn history(&self) -> &[EpochLog] {
        &self.history
    }

    /// Validation metrics of the kept weights (for a model just trained).
    pub fn validation_metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref().map(|m| &m.0)
    }

    /// Test metrics of the kept weights (for a model just trained; a loaded
    /// model has them as JSON in [`ModelFile::final_metrics`]).
    pub fn test_metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref().map(|m| &m.1)
    }

    /// Predicts rows given as model inputs: `rows` holds one value per
    /// [`Model::feature_names`] entry for each row, row-major, in the data's
    /// own units (the saved normalization is applied here).
    pub fn predict(&self, rows: &[f32]) -> Result<Predictions> {
        let cols = self.feature_names().len();
        if cols == 0 || !rows.len().is_multiple_of(cols) {
            return Err(Error::Dataset(format!(
                "{} values do not make whole rows of the model's {cols} inputs ({})",
                rows.len(),
                self.feature_names().join(", ")
            )));
        }
        let n = (rows.len() / cols) as u64;
        let ds = Dataset {
            source: "memory".into(),
            encoding: self.saved.file.encoding.clone(),
            features: rows.to_vec(),
            targets: Vec::new(),
            ids: Vec::new(),
            groups: Vec::new(),
            lines: (2..n + 2).collect(),
            source_columns: Vec::new(),
            task_inferred: false,
        };
        self.predictions(&ds)
    }

    /// Predicts every row of `data`, encoded with the saved encoding
    /// (windows run to the end of a signal, as `medgpu predict` does).
    pub fn predict_data(&self, data: &Data) -> Result<Predictions> {
        let f = &self.saved.file;
        let (raw, _) = data.read(f.model.input_shape)?;
        let raw = windows_for(raw, &f.source, true)?;
        let ds = encode_apply(&raw, &f.encoding, false)?;
        self.predictions(&ds)
    }

    /// Metrics on `data`, which must have the target column (an
    /// autoencoder's data need not).
    pub fn evaluate(&self, data: &Data) -> Result<Metrics> {
        let f = &self.saved.file;
        let (raw, _) = data.read(f.model.input_shape)?;
        // only windows whose targets are in the data can be scored
        let raw = windows_for(raw, &f.source, false)?;
        let ds = encode_apply(&raw, &f.encoding, f.encoding.target.is_some())?;
        let inf = run_model(self.gpu.clone(), &self.saved, &ds)?;
        Ok(metrics_for(f, &inf.outputs, inf.cols, &ds.targets, &inf.inputs))
    }

    /// Explains rows given as model inputs (as [`Model::predict`] takes
    /// them) with `method`, for the output `target` chooses.
    ///
    /// ```no_run
    /// use medgpu::model::explain::{Baseline, Method, Rule, Target};
    /// # fn main() -> medgpu::Result<()> {
    /// # let device = medgpu::Device::open()?;
    /// let model = medgpu::Model::load(&device, "runs/breast-cancer")?;
    /// let ig = Method::IntegratedGradients { steps: 50, rule: Rule::GaussLegendre, baseline: Baseline::Zeros };
    /// let e = model.explain(&vec![0.0; model.feature_names().len()], &ig, Target::Default)?;
    /// println!("{:?} (completeness gap {:?})", e.row(0), e.delta);
    /// # Ok(())
    /// # }
    /// ```
    pub fn explain(&self, rows: &[f32], method: &Method, target: Target) -> Result<Explanation> {
        crate::model::explain::explain(self.gpu.clone(), &self.saved, rows, target, method)
    }

    /// The model-randomization sanity check of an explanation
    /// ([`crate::model::explain::sanity_check`]): the explanation of the
    /// trained model and, layer by layer from the top, the rank
    /// correlation with that of a model re-initialized down to that layer.
    pub fn sanity_check(
        &self,
        rows: &[f32],
        method: &Method,
        target: Target,
        seed: u64,
    ) -> Result<(Explanation, Vec<crate::model::explain::SanityStep>)> {
        crate::model::explain::sanity_check(self.gpu.clone(), &self.saved, rows, target, method, seed)
    }

    /// Explains every row of `data`, encoded with the saved encoding.
    pub fn explain_data(&self, data: &Data, method: &Method, target: Target) -> Result<Explanation> {
        let f = &self.saved.file;
        let (raw, _) = data.read(f.model.input_shape)?;
        let raw = windows_for(raw, &f.source, true)?;
        let ds = encode_apply(&raw, &f.encoding, false)?;
        self.explain(&ds.features, method, target)
    }

    fn predictions(&self, ds: &Dataset) -> Result<Predictions> {
        let inf = run_model(self.gpu.clone(), &self.saved, ds)?;
        Ok(Predictions::from_inference(&self.saved.file, &inf))
    }
}

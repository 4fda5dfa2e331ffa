//! The inference program: a saved model's weights loaded once, new rows
//! normalized with the saved statistics, and the forward pass replayed
//! over them in batches (eval, predict, the library's [`crate::Model`]).

use super::saved::{head_for, TrainedModel};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{GpuDataset, Graph, Mode, ParamStore, Program, ProgramOptions};
use crate::kernels::PipelineCache;
use std::sync::Arc;

/// Rows per inference batch.
pub const INFER_BATCH: usize = 256;

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
    let cols = model.file.encoding.num_features();
    if ds.cols() != cols {
        return Err(Error::Model(format!("the data has {} features, the model {cols}", ds.cols())));
    }
    let mut inputs = ds.features.clone();
    model.file.preprocessor.apply(&mut inputs);
    run_normalized(gpu, model, inputs)
}

/// Runs the model on rows already normalized (rows x features, the
/// saved preprocessing applied).
pub fn run_normalized(gpu: Arc<Gpu>, model: &TrainedModel, inputs: Vec<f32>) -> Result<Inference> {
    let f = &model.file;
    let cols = f.encoding.num_features();
    let rows = inputs.len() / cols.max(1);
    let head = head_for(&f.encoding)?;
    if rows == 0 {
        return Ok(Inference { outputs: Vec::new(), cols: head.outputs, code: None, inputs });
    }
    let data = Arc::new(GpuDataset::upload(&gpu, &inputs, &vec![0.0; rows], cols, 1)?);
    let graph = f.model.build(cols, head, INFER_BATCH.min(rows), false, f.training.seed)?;
    let params = load_params(&gpu, model, &graph)?;
    let mut cache = PipelineCache::persistent(&gpu);
    let mut program =
        Program::compile(gpu, &graph, params, data, ProgramOptions { mode: Mode::Inference }, &mut cache)?;
    cache.save();
    let ids: Vec<u32> = (0..rows as u32).collect();
    let p = program.predict(&ids)?;
    let (cols_out, outputs) =
        p.get("output").map(|(c, v)| (c, v.to_vec())).unwrap_or((head.outputs, Vec::new()));
    let code = p.get("code").map(|(c, v)| (c, v.to_vec()));
    Ok(Inference { outputs, cols: cols_out, code, inputs })
}

/// A parameter store for `graph` holding the model's weights.
pub fn load_params(gpu: &Gpu, model: &TrainedModel, graph: &Graph) -> Result<Arc<ParamStore>> {
    let params = Arc::new(ParamStore::init(gpu, graph, 0)?);
    for (name, t) in &model.weights {
        params.write(gpu, name, &t.values)?;
    }
    Ok(params)
}

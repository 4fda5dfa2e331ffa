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

/// A model's inference program compiled once and replayed for every call,
/// over an input buffer of `capacity` rows that each call overwrites (what
/// a server needs: no compile and no allocation per request). Each row's
/// outputs depend on that row alone, so they are the same whichever rows
/// share its call.
pub struct Session {
    gpu: Arc<Gpu>,
    program: Program,
    data: Arc<GpuDataset>,
    cols: usize,
    capacity: usize,
    outputs: usize,
}

impl Session {
    /// Compiles `model`'s inference program for calls of up to `capacity` rows.
    pub fn new(gpu: Arc<Gpu>, model: &TrainedModel, capacity: usize) -> Result<Session> {
        let f = &model.file;
        let cols = f.encoding.num_features();
        let capacity = capacity.max(1);
        let head = head_for(&f.encoding)?;
        let data =
            Arc::new(GpuDataset::upload(&gpu, &vec![0.0; capacity * cols], &vec![0.0; capacity], cols, 1)?);
        let graph = f.model.build(cols, head, capacity, false, f.training.seed)?;
        let params = load_params(&gpu, model, &graph)?;
        let mut cache = PipelineCache::persistent(&gpu);
        let program = Program::compile(
            gpu.clone(),
            &graph,
            params,
            data.clone(),
            ProgramOptions { mode: Mode::Inference },
            &mut cache,
        )?;
        cache.save();
        Ok(Session { gpu, program, data, cols, capacity, outputs: head.outputs })
    }

    /// The most rows one replay takes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Runs the model on normalized rows (rows x features, the saved
    /// preprocessing applied), `capacity` rows per replay.
    pub fn run(&mut self, inputs: &[f32]) -> Result<Inference> {
        let rows = inputs.len() / self.cols.max(1);
        let (mut outputs, mut code, mut cols_out) = (Vec::new(), None::<(usize, Vec<f32>)>, self.outputs);
        for chunk in inputs.chunks(self.capacity * self.cols.max(1)) {
            let n = chunk.len() / self.cols.max(1);
            self.gpu.queue.write_buffer(&self.data.features, 0, bytemuck::cast_slice(chunk));
            let ids: Vec<u32> = (0..n as u32).collect();
            let p = self.program.predict(&ids)?;
            if let Some((c, v)) = p.get("output") {
                cols_out = c;
                outputs.extend_from_slice(v);
            }
            if let Some((c, v)) = p.get("code") {
                code.get_or_insert_with(|| (c, Vec::new())).1.extend_from_slice(v);
            }
        }
        debug_assert_eq!(outputs.len(), rows * cols_out);
        Ok(Inference { outputs, cols: cols_out, code, inputs: inputs.to_vec() })
    }
}

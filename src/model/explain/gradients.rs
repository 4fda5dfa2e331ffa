//! The input-gradient program of a model.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::graph::{GpuDataset, Graph, LossKind, Mode, ParamStore, Program, ProgramOptions};
use crate::kernels::PipelineCache;
use crate::model::infer::load_params;
use crate::model::saved::{head_for, TrainedModel};
use std::sync::Arc;

/// The input-gradient program of a model, compiled once per data set of
/// points and replayed over batches of them.
pub(super) struct InputGradients {
    gpu: Arc<Gpu>,
    model_graph: Graph,
    params: Arc<ParamStore>,
    pub(super) cols: usize,
    pub(super) submits: usize,
}

impl InputGradients {
    pub(super) fn new(gpu: Arc<Gpu>, model: &TrainedModel, batch: usize) -> Result<InputGradients> {
        let f = &model.file;
        let cols = f.encoding.num_features();
        let head = crate::models::Head { loss: LossKind::OutputScore, ..head_for(&f.encoding)? };
        let model_graph = f.model.build(cols, head, batch.max(1), false, f.training.seed)?;
        let params = load_params(&gpu, model, &model_graph)?;
        Ok(InputGradients { gpu, model_graph, params, cols, submits: 0 })
    }

    /// d(the chosen logit)/d(input) of each point (points x cols, the
    /// chosen logit's column per point in `classes`): batches of points
    /// through one program, one submit and one readback each.
    pub(super) fn run(&mut self, points: &[f32], classes: &[f32]) -> Result<Vec<f32>> {
        let n = classes.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let compiled = (self.gpu.clone(), &self.model_graph, self.params.clone());
        let mut prog = compile_over(compiled, (points, classes), Mode::InputGradient)?;
        let mut out = Vec::with_capacity(n * self.cols);
        for ids in batches(n, self.model_graph.batch) {
            prog.compute_gradients(&ids)?;
            self.submits += 1;
            let g = prog.read_input_grad()?;
            out.extend_from_slice(&g[..ids.len() * self.cols]);
        }
        Ok(out)
    }
}

/// `graph` compiled in `mode` over a data set of `points` (rows x the
/// graph's inputs, normalized) whose target is each point's explained
/// column (`classes`).
pub(super) fn compile_over(
    (gpu, graph, params): (Arc<Gpu>, &Graph, Arc<ParamStore>),
    (points, classes): (&[f32], &[f32]),
    mode: Mode,
) -> Result<Program> {
    let cols = points.len() / classes.len().max(1);
    let data = Arc::new(GpuDataset::upload(&gpu, points, classes, cols, 1)?);
    let mut cache = PipelineCache::persistent(&gpu);
    let prog = Program::compile(gpu, graph, params, data, ProgramOptions { mode }, &mut cache)?;
    cache.save();
    Ok(prog)
}

/// The row ids 0..n in batches of `batch`, one replay each.
pub(super) fn batches(n: usize, batch: usize) -> impl Iterator<Item = Vec<u32>> {
    (0..n).step_by(batch.max(1)).map(move |start| (start as u32..(start + batch).min(n) as u32).collect())
}

//! The input-gradient program of a model.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::graph::{GpuDataset, LossKind, Mode, Program, ProgramOptions};
use crate::kernels::PipelineCache;
use crate::model::infer::load_params;
use crate::model::saved::{head_for, TrainedModel};
use std::sync::Arc;

/// The input-gradient program of a model, compiled once per data set of
/// points and replayed over batches of them.
pub(super) struct InputGradients {
    gpu: Arc<Gpu>,
    model_graph: crate::graph::Graph,
    params: Arc<crate::graph::ParamStore>,
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
        let data = Arc::new(GpuDataset::upload(&self.gpu, points, classes, self.cols, 1)?);
        let mut cache = PipelineCache::persistent(&self.gpu);
        let mode = ProgramOptions { mode: Mode::InputGradient };
        let mut prog = Program::compile(
            self.gpu.clone(),
            &self.model_graph,
            self.params.clone(),
            data,
            mode,
            &mut cache,
        )?;
        cache.save();
        let mut out = Vec::with_capacity(n * self.cols);
        let batch = self.model_graph.batch;
        for start in (0..n).step_by(batch) {
            let ids: Vec<u32> = (start as u32..(start + batch).min(n) as u32).collect();
            prog.compute_gradients(&ids)?;
            self.submits += 1;
            let g = prog.read_input_grad()?;
            out.extend_from_slice(&g[..ids.len() * self.cols]);
        }
        Ok(out)
    }
}

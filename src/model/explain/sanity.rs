//! The model-randomization sanity check of an explanation.

use super::{explain, explain_with, Explanation, Method, Scores, Target};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::model::infer::{run_normalized, Inference, INFER_BATCH};
use crate::model::saved::{head_for, TrainedModel};
use std::sync::Arc;

/// One step of the model-randomization test.
#[derive(Clone, Debug, PartialEq)]
pub struct SanityStep {
    /// The layer re-initialized at this step (those above it already are).
    pub layer: String,
    /// Mean over the rows of the Spearman rank correlation between the
    /// absolute attributions of the trained and the randomized model.
    pub spearman: f64,
}

/// The model-randomization test of Adebayo et al. (2018, "Sanity checks
/// for saliency maps"): re-initializes the layers from the top down, one
/// at a time (weights drawn as at training start, from `seed`), explains
/// the same rows and outputs again, and compares. Attributions that
/// depend on what the model learned fall well below a correlation of 1.
pub fn sanity_check(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    target: Target,
    method: &Method,
    seed: u64,
) -> Result<(Explanation, Vec<SanityStep>)> {
    let original = explain(gpu.clone(), model, rows, target, method)?;
    let f = &model.file;
    let graph = f.model.build(f.encoding.num_features(), head_for(&f.encoding)?, 1, false, seed)?;
    let fresh = crate::graph::ParamStore::init(&gpu, &graph, seed)?.read_all(&gpu)?;
    // layers in creation order: a parameter's layer is its name before the first dot
    let mut layers: Vec<String> = Vec::new();
    for t in graph.params() {
        let layer = graph.name(t).split('.').next().unwrap_or("").to_string();
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    // the randomized models explain the outputs the trained one explained
    let mut x = rows.to_vec();
    f.preprocessor.apply(&mut x);
    let same = Scores::choose(model, &run_normalized(gpu.clone(), model, x.clone())?, target)?;
    let mut randomized = model.clone();
    let mut steps = Vec::new();
    for layer in layers.iter().rev() {
        for (name, t) in randomized.weights.iter_mut() {
            if name.split('.').next() == Some(layer.as_str()) {
                t.values = fresh[name].clone();
            }
        }
        let pick = |_: &Inference| Ok(Scores { column: same.column.clone(), sign: same.sign.clone() });
        let e = explain_with(gpu.clone(), &randomized, x.clone(), method, &pick, INFER_BATCH)?;
        let cols = e.features.len();
        let abs = |v: &[f64]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
        let rho: f64 = (0..e.rows())
            .map(|r| {
                crate::metrics::spearman(
                    &abs(original.row(r)),
                    &abs(&e.attributions[r * cols..(r + 1) * cols]),
                )
            })
            .sum::<f64>()
            / e.rows().max(1) as f64;
        steps.push(SanityStep { layer: layer.clone(), spearman: rho });
    }
    Ok((original, steps))
}

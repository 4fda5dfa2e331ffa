//! Grad-CAM: a convolution layer's output and the gradient of the
//! explained output with respect to it, from `Mode::LayerGradient`.

use super::gradients::{batches, compile_over};
use super::{Scores, Target};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{LossKind, Mode, Op, TensorId};
use crate::model::infer::{load_params, run_normalized, INFER_BATCH};
use crate::model::saved::{head_for, TrainedModel};
use std::sync::Arc;

/// The output of the convolution layer `name` (default: the last one),
/// with a message naming the choices when there is none.
pub(super) fn conv_layer(graph: &crate::graph::Graph, name: Option<&str>) -> Result<(TensorId, String)> {
    let convs: Vec<(TensorId, String)> = graph
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::Conv2d { name, out, .. } => Some((*out, name.clone())),
            _ => None,
        })
        .collect();
    if convs.is_empty() {
        return Err(Error::Options(
            "`method` grad-cam needs a convolutional model; this one has no convolution layer: use \
             integrated-gradients, saliency or smoothgrad"
                .into(),
        ));
    }
    let list = || convs.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        None => Ok(convs[convs.len() - 1].clone()),
        Some(n) => convs.iter().find(|(_, c)| c == n).cloned().ok_or_else(|| {
            Error::Options(format!(
                "`layer` '{n}' is not a convolution layer of the model; they are: {}",
                list()
            ))
        }),
    }
}

/// A convolution layer's output and the gradient of the explained output
/// with respect to it, for a set of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerGradient {
    /// The layer's name.
    pub layer: String,
    /// The layer's output shape per row: [channels, height, width].
    pub shape: [usize; 3],
    /// The layer's output, rows x channels x height x width.
    pub values: Vec<f32>,
    /// d(explained output)/d(layer output), same layout.
    pub grads: Vec<f32>,
    /// Submits of the program (one per batch).
    pub submits: usize,
}

/// The output of convolution `layer` (default: the last) and its gradient
/// for `rows` (the data's own units), batches of `per_submit` rows through
/// one program (`Mode::LayerGradient`).
pub fn layer_gradient(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    rows: &[f32],
    target: Target,
    layer: Option<&str>,
) -> Result<LayerGradient> {
    let mut x = rows.to_vec();
    model.file.preprocessor.apply(&mut x);
    let inf = run_normalized(gpu.clone(), model, x.clone())?;
    let scores = Scores::choose(model, &inf, target)?;
    layer_gradient_normalized(gpu, model, &x, &scores, layer, INFER_BATCH)
}

fn layer_gradient_normalized(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    x: &[f32],
    scores: &Scores,
    layer: Option<&str>,
    per_submit: usize,
) -> Result<LayerGradient> {
    let f = &model.file;
    let cols = f.encoding.num_features();
    let head = crate::models::Head { loss: LossKind::OutputScore, ..head_for(&f.encoding)? };
    let graph = f.model.build(cols, head, per_submit.max(1), false, f.training.seed)?;
    let (t, name) = conv_layer(&graph, layer)?;
    let s = graph.shape(t);
    let shape = [s[1], s[2], s[3]];
    let params = load_params(&gpu, model, &graph)?;
    let mut prog = compile_over((gpu, &graph, params), (x, &scores.column_f32()), Mode::LayerGradient(t))?;
    let (n, per_row) = (x.len() / cols, shape.iter().product::<usize>());
    let mut out = LayerGradient { layer: name, shape, values: Vec::new(), grads: Vec::new(), submits: 0 };
    for ids in batches(n, graph.batch) {
        let start = ids[0] as usize;
        prog.compute_gradients(&ids)?;
        out.submits += 1;
        let (v, g) = prog.read_layer()?;
        out.values.extend_from_slice(&v[..ids.len() * per_row]);
        for (k, gv) in g[..ids.len() * per_row].iter().enumerate() {
            out.grads.push((scores.sign[start + k / per_row] as f32) * gv);
        }
    }
    Ok(out)
}

/// Grad-CAM maps of the rows `x` (normalized), one value per input
/// feature, and the submits it took.
pub(super) fn grad_cam(
    gpu: Arc<Gpu>,
    model: &TrainedModel,
    x: &[f32],
    scores: &Scores,
    layer: Option<&str>,
    per_submit: usize,
) -> Result<(Vec<f64>, usize)> {
    let Some([c_in, h_in, w_in]) = model.file.model.input_shape else {
        return Err(Error::Options("`method` grad-cam needs image input (an input shape C,H,W)".into()));
    };
    let lg = layer_gradient_normalized(gpu, model, x, scores, layer, per_submit)?;
    let [c, h, w] = lg.shape;
    let per_row = c * h * w;
    let mut out = Vec::with_capacity(x.len());
    for (a, g) in lg.values.chunks(per_row).zip(lg.grads.chunks(per_row)) {
        let map = cam(a, g, [c, h, w]);
        let up = bilinear(&map, (h, w), (h_in, w_in));
        for _ in 0..c_in {
            out.extend(up.iter().copied());
        }
    }
    Ok((out, lg.submits))
}

/// ReLU of the channels of `a` ([c, h, w]) weighted by the spatial means
/// of their gradients `g`.
pub fn cam(a: &[f32], g: &[f32], [c, h, w]: [usize; 3]) -> Vec<f64> {
    let plane = h * w;
    let alpha: Vec<f64> = (0..c)
        .map(|k| g[k * plane..(k + 1) * plane].iter().map(|v| *v as f64).sum::<f64>() / plane as f64)
        .collect();
    (0..plane).map(|p| (0..c).map(|k| alpha[k] * a[k * plane + p] as f64).sum::<f64>().max(0.0)).collect()
}

/// Bilinear resampling of a (h, w) map to (oh, ow), pixel centres aligned.
pub fn bilinear(map: &[f64], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f64> {
    let at = |i: usize, n: usize, on: usize| {
        let s = ((i as f64 + 0.5) * n as f64 / on as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let lo = s.floor() as usize;
        (lo, (lo + 1).min(n - 1), s - lo as f64)
    };
    let mut out = Vec::with_capacity(oh * ow);
    for i in 0..oh {
        let (y0, y1, fy) = at(i, h, oh);
        for j in 0..ow {
            let (x0, x1, fx) = at(j, w, ow);
            let top = map[y0 * w + x0] * (1.0 - fx) + map[y0 * w + x1] * fx;
            let bottom = map[y1 * w + x0] * (1.0 - fx) + map[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

//! Every backward rule against central finite differences of the f64
//! reference forward pass (cpu_ref::graph), including a whole-MLP check, the
//! input gradient, and a partial batch whose padding rows must not count.

mod common;
use common::*;
use medgpu::cpu_ref::graph::{forward, RefData};
use medgpu::graph::image_ops::{Pair, Window};
use medgpu::graph::{
    Act, GpuDataset, Graph, LossKind, Mode, Padding, ParamStore, PoolKind, Program, ProgramOptions,
    TargetSource,
};
use medgpu::kernels::{PipelineCache, TextureMatmul, TiledMatmul, Variants};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Data {
    features: Vec<f64>,
    cols: usize,
    targets: Vec<f64>,
    tcols: usize,
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

/// Checks dL/dparam (and dL/dinput) from the GPU against finite differences.
fn check(name: &str, graph: &Graph, data: &Data, rows: &[u32], seed: u64) {
    check_on(None, name, graph, data, rows, seed);
}

/// [`check`] with the kernel variants forced to `forced` (when given);
/// returns the kernels the program dispatched.
fn check_on(
    forced: Option<Variants>,
    name: &str,
    graph: &Graph,
    data: &Data,
    rows: &[u32],
    seed: u64,
) -> Vec<&'static str> {
    let gpu = gpu();
    let ds = Arc::new(
        GpuDataset::upload(&gpu, &f32s(&data.features), &f32s(&data.targets), data.cols, data.tcols).unwrap(),
    );
    let params = Arc::new(ParamStore::init(&gpu, graph, seed).unwrap());
    let mut cache = PipelineCache::new();
    if let Some(v) = forced {
        cache.force_variants(v);
    }
    let opts = ProgramOptions { mode: Mode::Gradients { input_grad: true } };
    let mut prog = Program::compile(gpu.clone(), graph, params.clone(), ds, opts, &mut cache).unwrap();
    prog.reset_loss();
    prog.compute_gradients(rows).unwrap();
    let grads = prog.read_param_grads().unwrap();
    let input_grad: Vec<f64> = prog.read_input_grad().unwrap().iter().map(|v| *v as f64).collect();
    let (loss_sum, count) = prog.read_loss().unwrap();

    let p: BTreeMap<String, Vec<f64>> = params
        .read_all(&gpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(|x| *x as f64).collect()))
        .collect();
    let mut batch = vec![rows.len() as u32];
    batch.extend_from_slice(rows);
    batch.resize(graph.batch + 1, rows[0]);
    let rd = RefData {
        features: &data.features.iter().map(|v| *v as f32 as f64).collect::<Vec<_>>(),
        cols: data.cols,
        targets: &data.targets.iter().map(|v| *v as f32 as f64).collect::<Vec<_>>(),
        tcols: data.tcols,
    };
    let base = forward(graph, &p, &rd, &batch, None);
    let want_loss = base.loss.unwrap();
    assert_eq!(count, rows.len() as f64, "{name}: rows counted");
    // the explained output is summed over rows, a loss averaged
    let per_row = graph.loss_op().is_some_and(|(_, k, _)| k == LossKind::OutputScore);
    let got_loss = if per_row { loss_sum } else { loss_sum / count };
    assert!(
        (got_loss - want_loss).abs() < 1e-4 * (1.0 + want_loss.abs()),
        "{name}: loss {got_loss} vs {want_loss}"
    );

    let eps = 1e-6;
    for (pname, values) in &p {
        let g = &grads[pname];
        assert_eq!(g.len(), values.len(), "{name}: gradient length of {pname}");
        for (i, got) in g.iter().enumerate().take(values.len()) {
            let mut plus = p.clone();
            plus.get_mut(pname).unwrap()[i] += eps;
            let mut minus = p.clone();
            minus.get_mut(pname).unwrap()[i] -= eps;
            let lp = forward(graph, &plus, &rd, &batch, None).loss.unwrap();
            let lm = forward(graph, &minus, &rd, &batch, None).loss.unwrap();
            let fd = (lp - lm) / (2.0 * eps);
            let got = *got as f64;
            assert!(
                (got - fd).abs() <= 2e-5 + 2e-3 * fd.abs(),
                "{name}: d/d{pname}[{i}]: gpu {got}, finite difference {fd}"
            );
        }
    }
    let input = graph.input.unwrap();
    let x0 = base.values[input.0].clone();
    for i in 0..x0.len() {
        let (mut xp, mut xm) = (x0.clone(), x0.clone());
        xp[i] += eps;
        xm[i] -= eps;
        let lp = forward(graph, &p, &rd, &batch, Some(&xp)).loss.unwrap();
        let lm = forward(graph, &p, &rd, &batch, Some(&xm)).loss.unwrap();
        let fd = (lp - lm) / (2.0 * eps);
        let got = input_grad[i];
        assert!(
            (got - fd).abs() <= 2e-5 + 2e-3 * fd.abs(),
            "{name}: d/dinput[{i}]: gpu {got}, finite difference {fd}"
        );
    }
    prog.kernel_names()
}

fn random_data(rows: usize, cols: usize, tcols: usize, kind: LossKind, seed: u64) -> Data {
    let features = rand_vec(rows * cols, seed);
    let targets = match kind {
        LossKind::Mse => rand_vec(rows * tcols, seed + 1),
        LossKind::BceWithLogits => {
            rand_vec(rows * tcols, seed + 1).iter().map(|v| (*v > 0.0) as u32 as f64).collect()
        }
        LossKind::SoftmaxCrossEntropy | LossKind::OutputScore => {
            (0..rows).map(|r| (r * 5 % 3) as f64).collect()
        }
    };
    Data { features, cols, targets, tcols }
}

#[test]
fn dense_layers_with_every_activation_and_loss_match_finite_differences() {
    let acts = [Act::None, Act::Relu, Act::LeakyRelu, Act::Sigmoid, Act::Tanh];
    let losses =
        [LossKind::Mse, LossKind::BceWithLogits, LossKind::SoftmaxCrossEntropy, LossKind::OutputScore];
    for (ai, act) in acts.iter().enumerate() {
        for (li, loss) in losses.iter().enumerate() {
            let by_class = matches!(loss, LossKind::SoftmaxCrossEntropy | LossKind::OutputScore);
            let outputs = if by_class { 3 } else { 2 };
            let tcols = if by_class { 1 } else { outputs };
            let data = random_data(20, 5, tcols, *loss, (ai * 3 + li) as u64);
            // batch of 6 with 5 valid rows: the padding row must not count
            let mut g = Graph::new(6);
            let x = g.input(5).unwrap();
            let h = g.dense("hidden", x, 7, *act).unwrap();
            let y = g.dense("out", h, outputs, Act::None).unwrap();
            g.loss(y, *loss, TargetSource::Targets).unwrap();
            check(&format!("{act:?}/{loss:?}"), &g, &data, &[3, 17, 0, 9, 12], ai as u64 + 7);
        }
    }
}

#[test]
fn standalone_activation_softmax_and_unfused_output_activation_match_finite_differences() {
    let data = random_data(15, 4, 3, LossKind::Mse, 99);
    let mut g = Graph::new(7);
    let x = g.input(4).unwrap();
    let h = g.dense("d1", x, 6, Act::None).unwrap();
    let a = g.activation("act", h, Act::Tanh).unwrap();
    let z = g.dense("d2", a, 3, Act::None).unwrap();
    let s = g.softmax("soft", z).unwrap();
    g.loss(s, LossKind::Mse, TargetSource::Targets).unwrap();
    check("activation+softmax", &g, &data, &[0, 1, 2, 3, 4, 5, 14], 3);

    // an activation fused into the last layer feeds the loss: its backward
    // cannot ride on a matmul and runs as its own kernel
    let mut g = Graph::new(5);
    let x = g.input(4).unwrap();
    let h = g.dense("d1", x, 6, Act::Relu).unwrap();
    let y = g.dense("d2", h, 3, Act::Sigmoid).unwrap();
    g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
    check("sigmoid output", &g, &data, &[7, 8, 9], 4);
}

#[test]
fn autoencoder_reconstruction_loss_matches_finite_differences() {
    let data = random_data(12, 6, 1, LossKind::Mse, 5);
    let mut g = Graph::new(4);
    let x = g.input(6).unwrap();
    let h = g.dense("enc", x, 3, Act::Tanh).unwrap();
    let y = g.dense("dec", h, 6, Act::None).unwrap();
    g.loss(y, LossKind::Mse, TargetSource::Features).unwrap();
    check("autoencoder", &g, &data, &[1, 5, 11, 2], 6);
}

/// Every matmul through the texture variant (packed operands in shared
/// scratch textures; training takes it for large matmuls on CPU adapters),
/// on adapters that run it: same-shape layers share the scratch, so a pack
/// that overwrote a texture too early would show.
#[test]
fn texture_matmuls_match_finite_differences() {
    if !Variants::detect(&gpu()).subgroup8 {
        eprintln!("no 8-wide subgroups on {}: no texture matmuls to check", gpu().describe());
        return;
    }
    let max_edge = gpu().limits.max_texture_dimension_2d;
    let forced = Variants {
        subgroup8: true,
        texture_matmul: Some(TextureMatmul { min_macs: 0, min_blocks: 0, max_edge }),
        subgroup_exactly8: false,
        rnn_lanes: false,
        tiled_matmul: None,
    };
    let data = random_data(20, 5, 2, LossKind::Mse, 31);
    let mut g = Graph::new(6);
    let x = g.input(5).unwrap();
    let h1 = g.dense("h1", x, 7, Act::Tanh).unwrap();
    let h2 = g.dense("h2", h1, 7, Act::Relu).unwrap();
    let h3 = g.dense("h3", h2, 7, Act::Sigmoid).unwrap();
    let y = g.dense("out", h3, 2, Act::None).unwrap();
    g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
    let kernels = check_on(Some(forced), "texture matmuls", &g, &data, &[3, 17, 0, 9, 12], 11);
    for k in ["matmul_pack_rows", "matmul_pack_cols", "matmul_nn_tex", "matmul_nt_tex", "matmul_tn_tex"] {
        assert!(kernels.contains(&k), "{k} not dispatched: {kernels:?}");
    }
    assert!(!kernels.iter().any(|k| k.ends_with("_sg") && k.starts_with("matmul")), "{kernels:?}");
}

/// Every matmul through the workgroup-tiled variant (GPUs take it for
/// large matmuls), forced on for small ones, on any adapter: the forward,
/// both gradients and the bias gradient it sums on the way.
#[test]
fn tiled_matmuls_match_finite_differences() {
    let v = Variants::detect(&gpu());
    let forced = Variants { tiled_matmul: Some(TiledMatmul { min_macs: 0, min_edge: 0 }), ..v };
    let data = random_data(20, 5, 2, LossKind::Mse, 37);
    let mut g = Graph::new(6);
    let x = g.input(5).unwrap();
    let h1 = g.dense("h1", x, 7, Act::Tanh).unwrap();
    let h2 = g.dense("h2", h1, 9, Act::Relu).unwrap();
    let y = g.dense("out", h2, 2, Act::None).unwrap();
    g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
    let kernels = check_on(Some(forced), "tiled matmuls", &g, &data, &[3, 17, 0, 9, 12], 11);
    for k in ["matmul_nn_tiled", "matmul_nt_tiled", "matmul_tn_tiled"] {
        assert!(kernels.contains(&k), "{k} not dispatched: {kernels:?}");
    }
    assert!(!kernels.iter().any(|k| k.starts_with("matmul") && !k.ends_with("_tiled")), "{kernels:?}");
}

#[test]
fn whole_default_mlp_matches_finite_differences() {
    // the real model on real rows: 30-64-32-1, ReLU, BCE, z-scored breast cancer
    // prepared as the trainer prepares them
    let source = medgpu::train::DataSource::builtin("breast_cancer");
    let p = medgpu::train::prepare::prepare(&source, &medgpu::train::TrainConfig::default()).unwrap();
    let data = Data {
        features: p.features.iter().map(|v| *v as f64).collect(),
        cols: 30,
        targets: p.train_targets.iter().map(|v| *v as f64).collect(),
        tcols: 1,
    };
    let spec = medgpu::models::MlpSpec {
        inputs: 30,
        hidden: vec![64, 32],
        outputs: 1,
        activation: Act::Relu,
        loss: LossKind::BceWithLogits,
        target: TargetSource::Targets,
    };
    let g = spec.build(32).unwrap();
    let ids: Vec<u32> = (0..32).map(|i| i * 17 % 569).collect();
    check("mlp full batch", &g, &data, &ids, 42);
    check("mlp partial batch", &g, &data, &ids[..13], 42);
}

#[test]
fn shape_errors_name_the_op_and_both_shapes() {
    let mut g = Graph::new(4);
    let x = g.input(5).unwrap();
    let w = g.param("w", &[6, 3], medgpu::graph::Init::XavierUniform).unwrap();
    let err = g.linear("dense7", x, w, None, Act::None).unwrap_err().to_string();
    assert!(err.contains("dense7") && err.contains("[4, 5]") && err.contains("[6, 3]"), "{err}");
}

#[test]
fn dropout_backward_matches_finite_differences() {
    let data = random_data(16, 5, 1, LossKind::BceWithLogits, 21);
    let mut g = Graph::new(8);
    g.seed = 1234;
    let x = g.input(5).unwrap();
    let h = g.dense("d1", x, 9, Act::Relu).unwrap();
    let h = g.dropout("drop1", h, 0.4).unwrap();
    let y = g.dense("d2", h, 1, Act::None).unwrap();
    g.loss(y, LossKind::BceWithLogits, TargetSource::Targets).unwrap();
    check("dropout", &g, &data, &[0, 2, 4, 6, 8, 10, 12], 5);
}

fn window(k: usize, s: usize, padding: Padding) -> Window {
    Window { kernel: Pair::Both(k), stride: Pair::Both(s), padding }
}

#[test]
fn whole_cnn_with_pooling_and_batch_norm_matches_finite_differences() {
    // [3, 2, 7, 6] -> conv 3x3 same relu -> maxpool 3/2 pad 1 -> [4, 4, 3]
    // -> conv 2x2 stride 2 -> [5, 2, 1] -> batch norm tanh -> global avg -> dense 3
    let data = random_data(10, 2 * 7 * 6, 1, LossKind::SoftmaxCrossEntropy, 31);
    let mut g = Graph::new(3);
    let x = g.input_shaped(&[2, 7, 6]).unwrap();
    let h = g.conv2d("c1", x, 4, window(3, 1, Padding::SAME), Act::Relu).unwrap();
    let h = g.pool2d("p1", PoolKind::Max, h, window(3, 2, Padding::Explicit(Pair::Both(1)))).unwrap();
    assert_eq!(g.shape(h), &[3, 4, 4, 3]);
    let h = g.conv2d("c2", h, 5, window(2, 2, Padding::VALID), Act::None).unwrap();
    assert_eq!(g.shape(h), &[3, 5, 2, 1]);
    let h = g.batchnorm("bn", h, 1e-3, 0.1, Act::Tanh, true).unwrap();
    let h = g.global_avgpool2d("gap", h).unwrap();
    let y = g.dense("out", h, 3, Act::None).unwrap();
    g.loss(y, LossKind::SoftmaxCrossEntropy, TargetSource::Targets).unwrap();
    check("cnn full batch", &g, &data, &[4, 1, 8], 3);
    // a padding row must change neither the batch statistics nor the loss
    check("cnn partial batch", &g, &data, &[7, 2], 3);
}

#[test]
fn cnn_over_rows_of_four_matches_finite_differences() {
    // [4, 4, 8] -> conv 3x3 same relu -> conv 1x1 relu -> maxpool 2 ->
    // [4, 2, 4] -> conv 3x3 same tanh -> maxpool 2 -> [4, 1, 2] -> dense 3:
    // rows of a multiple of 4 (and 8), so the convolutions' four-pixel
    // variants (adapters with 8-wide subgroups: the 3x3 weight gradients by
    // tap rows, the 1x1 one four pixels at a time, the input gradient of
    // 4 channels) and the vec4 max pools over 8- and 4-wide rows (every
    // adapter) run
    let data = random_data(6, 4 * 4 * 8, 1, LossKind::SoftmaxCrossEntropy, 53);
    let mut g = Graph::new(2);
    let x = g.input_shaped(&[4, 4, 8]).unwrap();
    let h = g.conv2d("c1", x, 4, window(3, 1, Padding::SAME), Act::Relu).unwrap();
    let h = g.conv2d("c1x1", h, 4, window(1, 1, Padding::VALID), Act::Relu).unwrap();
    let h = g.pool2d("p1", PoolKind::Max, h, window(2, 2, Padding::VALID)).unwrap();
    assert_eq!(g.shape(h), &[2, 4, 2, 4]);
    let h = g.conv2d("c2", h, 4, window(3, 1, Padding::SAME), Act::Tanh).unwrap();
    let h = g.pool2d("p2", PoolKind::Max, h, window(2, 2, Padding::VALID)).unwrap();
    assert_eq!(g.shape(h), &[2, 4, 1, 2]);
    let y = g.dense("out", h, 3, Act::None).unwrap();
    g.loss(y, LossKind::SoftmaxCrossEntropy, TargetSource::Targets).unwrap();
    let kernels = check_on(None, "cnn over rows of 4", &g, &data, &[1, 4], 3);
    let mut want =
        vec!["maxpool_forward_v4", "maxpool_backward_v4", "maxpool_forward_v8", "maxpool_backward_v8"];
    if Variants::detect(&gpu()).subgroup8 {
        want.extend([
            "conv2d_forward_sg4",
            "conv2d_backward_weight_sg4",
            "conv2d_backward_weight_kx3",
            "conv2d_backward_input_sg4",
        ]);
    }
    for k in want {
        assert!(kernels.contains(&k), "{k} not dispatched: {kernels:?}");
    }
}

#[test]
fn convolutional_autoencoder_with_upsampling_matches_finite_differences() {
    // [2, 1, 4, 6] -> conv sigmoid -> avgpool 2 -> [3, 2, 3] -> upsample 2 -> conv -> [1, 4, 6]
    let data = random_data(6, 24, 1, LossKind::Mse, 41);
    let mut g = Graph::new(2);
    let x = g.input_shaped(&[1, 4, 6]).unwrap();
    let h = g.conv2d("enc", x, 3, window(3, 1, Padding::SAME), Act::Sigmoid).unwrap();
    let h = g.pool2d("down", PoolKind::Avg, h, window(2, 2, Padding::VALID)).unwrap();
    let h = g.upsample2d("up", h, Pair::Both(2)).unwrap();
    let y = g.conv2d("dec", h, 1, window(3, 1, Padding::SAME), Act::None).unwrap();
    assert_eq!(g.shape(y), &[2, 1, 4, 6]);
    g.loss(y, LossKind::Mse, TargetSource::Features).unwrap();
    check("conv autoencoder", &g, &data, &[5, 0], 8);
}

#[test]
fn dense_batch_norm_on_a_partial_batch_matches_finite_differences() {
    let data = random_data(12, 5, 1, LossKind::BceWithLogits, 51);
    let mut g = Graph::new(6);
    let x = g.input(5).unwrap();
    let h = g.dense("d1", x, 7, Act::None).unwrap();
    let h = g.batchnorm("bn1", h, 1e-3, 0.1, Act::Relu, true).unwrap();
    let y = g.dense("d2", h, 1, Act::None).unwrap();
    g.loss(y, LossKind::BceWithLogits, TargetSource::Targets).unwrap();
    check("dense batch norm", &g, &data, &[0, 3, 5, 7, 11], 9);
}

#[test]
fn lstm_through_time_matches_finite_differences() {
    // [3 rows (2 valid), 5 steps, 2 features] -> lstm 3 (last state) -> dense 1, MSE
    let data = random_data(9, 5 * 2, 1, LossKind::Mse, 61);
    let mut g = Graph::new(3);
    let x = g.input_shaped(&[5, 2]).unwrap();
    let h = g.lstm("lstm1", x, 3, false).unwrap();
    assert_eq!(g.shape(h), &[3, 3]);
    let y = g.dense("out", h, 1, Act::None).unwrap();
    g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
    check("lstm last state", &g, &data, &[4, 7], 12);
}

#[test]
fn stacked_lstms_returning_sequences_match_finite_differences() {
    // lstm 4 (every step) -> lstm 2 (last state) -> dense 3, softmax cross-entropy
    let data = random_data(8, 4 * 3, 1, LossKind::SoftmaxCrossEntropy, 71);
    let mut g = Graph::new(2);
    let x = g.input_shaped(&[4, 3]).unwrap();
    let h = g.lstm("lstm1", x, 4, true).unwrap();
    assert_eq!(g.shape(h), &[2, 4, 4]);
    let h = g.lstm("lstm2", h, 2, false).unwrap();
    let y = g.dense("out", h, 3, Act::None).unwrap();
    g.loss(y, LossKind::SoftmaxCrossEntropy, TargetSource::Targets).unwrap();
    check("stacked lstm", &g, &data, &[1, 6], 13);
}

#[test]
fn gru_and_elman_through_time_match_finite_differences() {
    use medgpu::graph::Cell;
    for (ci, cell) in [Cell::Gru, Cell::Elman(Act::Tanh), Cell::Elman(Act::Relu)].into_iter().enumerate() {
        // a sequence layer feeding a last-state layer of the same cell, then dense 1, MSE
        let data = random_data(9, 6 * 2, 1, LossKind::Mse, 81 + ci as u64);
        let mut g = Graph::new(3);
        let x = g.input_shaped(&[6, 2]).unwrap();
        let h = g.recurrent("r1", cell, x, 3, true).unwrap();
        let h = g.recurrent("r2", cell, h, 2, false).unwrap();
        let y = g.dense("out", h, 1, Act::None).unwrap();
        g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
        check(&format!("{cell:?}"), &g, &data, &[2, 5], 14 + ci as u64);
    }
}

#[test]
fn bidirectional_layers_match_finite_differences() {
    use medgpu::graph::Cell;
    for (ci, cell) in [Cell::Lstm, Cell::Gru, Cell::Elman(Act::Tanh)].into_iter().enumerate() {
        // bidirectional, every step -> bidirectional, last state -> dense 2, BCE
        let data = random_data(8, 5 * 2, 2, LossKind::BceWithLogits, 91 + ci as u64);
        let mut g = Graph::new(3);
        let x = g.input_shaped(&[5, 2]).unwrap();
        let h = g.recurrent_layer("b1", cell, x, 3, true, true).unwrap();
        assert_eq!(g.shape(h), &[3, 5, 6]);
        let h = g.recurrent_layer("b2", cell, h, 2, false, true).unwrap();
        assert_eq!(g.shape(h), &[3, 4]);
        let y = g.dense("out", h, 2, Act::None).unwrap();
        g.loss(y, LossKind::BceWithLogits, TargetSource::Targets).unwrap();
        check(&format!("bidirectional {cell:?}"), &g, &data, &[1, 6], 21 + ci as u64);
    }
}

/// Sequences [rows, steps, features + 1] whose last channel marks real
/// steps: row r pads the steps for which `pad(r, t)` holds, and the padded
/// steps hold large garbage values that must never matter.
fn masked_data(rows: usize, steps: usize, features: usize, tcols: usize, kind: LossKind, seed: u64) -> Data {
    let c = features + 1;
    let mut d = random_data(rows, steps * c, tcols, kind, seed);
    for r in 0..rows {
        for t in 0..steps {
            let at = (r * steps + t) * c;
            let pad = (r * 3 + t * 2) % 5 == 0 || t + (r % 3) >= steps;
            if pad {
                for v in &mut d.features[at..at + features] {
                    *v *= 40.0;
                }
            }
            d.features[at + features] = if pad { 0.0 } else { 1.0 };
        }
    }
    d
}

#[test]
fn masked_recurrent_layers_match_finite_differences() {
    use medgpu::graph::Cell;
    let cells = [Cell::Lstm, Cell::Gru, Cell::Elman(Act::Tanh)];
    // the persistent kernels, then the per-step ones (the large-hidden fallback)
    for (ci, (cell, per_step)) in cells.iter().flat_map(|c| [(*c, false), (*c, true)]).enumerate() {
        // padded steps anywhere in each row: bidirectional sequence layer -> last-state layer -> dense 1
        let data = masked_data(8, 6, 2, 1, LossKind::Mse, 101 + ci as u64);
        let mut g = Graph::new(3);
        g.rnn_per_step = per_step;
        let x = g.input_shaped(&[6, 3]).unwrap();
        g.set_step_mask(x).unwrap();
        let h = g.recurrent_layer("m1", cell, x, 3, true, true).unwrap();
        let h = g.recurrent("m2", cell, h, 2, false).unwrap();
        let y = g.dense("out", h, 1, Act::None).unwrap();
        g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
        check(&format!("masked {cell:?} per step {per_step}"), &g, &data, &[0, 4, 7], 31 + ci as u64);
    }
}

/// Loss and parameter gradients from the GPU.
fn gpu_gradients(graph: &Graph, data: &Data, rows: &[u32], seed: u64) -> (f64, BTreeMap<String, Vec<f32>>) {
    let gpu = gpu();
    let ds = Arc::new(
        GpuDataset::upload(&gpu, &f32s(&data.features), &f32s(&data.targets), data.cols, data.tcols).unwrap(),
    );
    let params = Arc::new(ParamStore::init(&gpu, graph, seed).unwrap());
    let mut cache = PipelineCache::new();
    let opts = ProgramOptions { mode: Mode::Gradients { input_grad: false } };
    let mut prog = Program::compile(gpu.clone(), graph, params, ds, opts, &mut cache).unwrap();
    prog.reset_loss();
    prog.compute_gradients(rows).unwrap();
    let (sum, count) = prog.read_loss().unwrap();
    (sum / count, prog.read_param_grads().unwrap())
}

#[test]
fn padding_changes_neither_the_loss_nor_the_gradients() {
    use medgpu::graph::Cell;
    // 5 rows of 4 real steps; the padded copy spreads them over 7 steps,
    // garbage at the padded ones (before, between and after the real steps)
    let (rows, real, steps, f) = (5, 4, 7, 2);
    let short = masked_data(rows, real, f, 1, LossKind::Mse, 111);
    let mut padded =
        Data { features: Vec::new(), cols: steps * (f + 1), targets: short.targets.clone(), tcols: 1 };
    for r in 0..rows {
        let mut next = 0;
        for t in 0..steps {
            let is_real = next < real && (t + r) % 2 == 0 || steps - t == real - next;
            if is_real {
                let at = (r * real + next) * (f + 1);
                padded.features.extend_from_slice(&short.features[at..at + f]);
                padded.features.push(1.0);
                next += 1;
            } else {
                padded.features.extend((0..f).map(|j| 50.0 * ((r * 7 + t * 3 + j) as f64).sin()));
                padded.features.push(0.0);
            }
        }
        assert_eq!(next, real, "row {r} keeps every real step");
    }
    // every step of the short copy is real
    let short = Data {
        features: short.features.chunks(f + 1).flat_map(|s| s[..f].iter().copied().chain([1.0])).collect(),
        ..short
    };
    for cell in [Cell::Lstm, Cell::Gru, Cell::Elman(Act::Relu)] {
        let build = |t: usize| {
            let mut g = Graph::new(3);
            let x = g.input_shaped(&[t, f + 1]).unwrap();
            g.set_step_mask(x).unwrap();
            let h = g.recurrent_layer("r1", cell, x, 4, true, true).unwrap();
            let h = g.recurrent("r2", cell, h, 3, false).unwrap();
            let y = g.dense("out", h, 1, Act::None).unwrap();
            g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
            g
        };
        let rows = [0, 3, 4];
        let (want_loss, want) = gpu_gradients(&build(real), &short, &rows, 5);
        let (loss, got) = gpu_gradients(&build(steps), &padded, &rows, 5);
        assert!(
            (loss - want_loss).abs() < 1e-5 * (1.0 + want_loss.abs()),
            "{cell:?}: loss {loss} vs {want_loss}"
        );
        for (name, w) in &want {
            let gv = &got[name];
            let close = w.iter().zip(gv).all(|(a, b)| (a - b).abs() <= 1e-5 + 1e-4 * a.abs());
            assert!(close, "{cell:?}: gradient of {name}: padded {gv:?} vs unpadded {w:?}");
        }
    }
}

#[test]
fn initial_states_from_another_layer_match_finite_differences() {
    use medgpu::graph::Cell;
    let cells = [Cell::Lstm, Cell::Gru, Cell::Elman(Act::Tanh)];
    for (ci, (cell, per_step)) in cells.iter().flat_map(|c| [(*c, false), (*c, true)]).enumerate() {
        // an encoder's last state, projected by a dense tanh layer, starts a
        // decoder over the same (padded) steps: dL/d(initial state) reaches
        // the encoder and the projection
        let data = masked_data(8, 5, 2, 1, LossKind::Mse, 121 + ci as u64);
        let mut g = Graph::new(3);
        g.rnn_per_step = per_step;
        let x = g.input_shaped(&[5, 3]).unwrap();
        g.set_step_mask(x).unwrap();
        let enc = g.recurrent("enc", cell, x, 3, false).unwrap();
        let width = if cell == Cell::Lstm { 8 } else { 4 };
        let init = g.dense("init", enc, width, Act::Tanh).unwrap();
        let dec = g.recurrent_from_state("dec", cell, x, 4, true, init).unwrap();
        assert_eq!(g.shape(dec), &[3, 5, 4]);
        let y = g.dense("out", dec, 1, Act::None).unwrap();
        g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
        check(&format!("initial state {cell:?} per step {per_step}"), &g, &data, &[1, 2, 6], 41 + ci as u64);
        // a state of the wrong width is refused, naming the layer and both shapes
        let e = g.recurrent_from_state("bad", cell, x, 2, true, enc).unwrap_err().to_string();
        let want = if cell == Cell::Lstm { "[3, 4]" } else { "[3, 2]" };
        assert!(e.contains("'bad'") && e.contains(want) && e.contains("[3, 3]"), "{e}");
    }
}

/// The one-subgroup-per-row LSTM, GRU and Elman kernels (rnn_lanes.wgsl and rnn_lanes_gru_elman.wgsl, H a
/// multiple of 4 up to 32; CPU adapters) through a whole model: an encoder's
/// state starting a decoder over padded steps, returning every step, then
/// a bidirectional layer and a last-state layer over 16 features; asserts
/// they were dispatched where the adapter takes them, and the one-pass
/// weight gradients: for the LSTM layers of up to 8 features the backward
/// that sums them, for the Elman layers rnn_grads.wgsl.
#[test]
fn lanes_kernels_match_finite_differences() {
    use medgpu::graph::Cell;
    let cells = [(Cell::Lstm, "lstm"), (Cell::Gru, "gru"), (Cell::Elman(Act::Tanh), "elman")];
    for (ci, (cell, name)) in cells.into_iter().enumerate() {
        let data = masked_data(7, 5, 2, 1, LossKind::Mse, 131 + ci as u64);
        let mut g = Graph::new(3);
        let x = g.input_shaped(&[5, 3]).unwrap();
        g.set_step_mask(x).unwrap();
        let enc = g.recurrent("enc", cell, x, 4, false).unwrap();
        let width = if cell == Cell::Lstm { 8 } else { 4 };
        let init = g.dense("init", enc, width, Act::Tanh).unwrap();
        let h = g.recurrent_from_state("dec", cell, x, 4, true, init).unwrap();
        let h = g.recurrent_layer("bi", cell, h, 8, true, true).unwrap();
        let h = g.recurrent("last", cell, h, 12, false).unwrap();
        let y = g.dense("out", h, 1, Act::None).unwrap();
        g.loss(y, LossKind::Mse, TargetSource::Targets).unwrap();
        let kernels = check_on(None, &format!("{name} lanes"), &g, &data, &[0, 3, 5], 51 + ci as u64);
        if Variants::detect(&gpu()).rnn_lanes {
            let mut want = vec![format!("{name}_forward_lanes"), format!("{name}_backward_lanes")];
            if cell == Cell::Lstm {
                // up to 8 features, the backward sums the weight gradients as it goes
                want.push("lstm_backward_grads_lanes".into());
            } else if cell != Cell::Gru {
                // the weight gradients in one pass (rnn_grads.wgsl)
                want.push("rnn_grads_partial".into());
            }
            for k in want {
                assert!(kernels.contains(&k.as_str()), "{k} not dispatched: {kernels:?}");
            }
        }
    }
}

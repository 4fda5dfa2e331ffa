//! Kernel variants must not change results: each model type trained
//! briefly under every variant set this adapter offers gives the weights of
//! the portable kernels bit for bit, except where a variant is known to sum
//! in another order (stated below, with the bound it keeps).

mod common;
use common::*;
use medgpu::graph::TargetSource;
use medgpu::graph::{
    Act, Cell, GpuDataset, LossKind, Mode, OptimizerConfig, ParamStore, Program, ProgramOptions,
};
use medgpu::kernels::{PipelineCache, TextureMatmul, TiledMatmul, Variants};
use medgpu::models::{Head, ModelSpec};
use medgpu::train::prepare::prepare;
use medgpu::train::{DataSource, TrainConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The portable kernels first, then every variant set the adapter runs:
/// its own choice, each optional variant alone and forced on for every
/// size it takes.
fn variant_sets() -> Vec<(String, Variants)> {
    let own = Variants::detect(&gpu());
    let tiled = Some(TiledMatmul { min_macs: 0, min_edge: 0 });
    let mut sets = vec![
        ("portable".to_string(), Variants::default()),
        ("adapter's own".to_string(), own),
        ("tiled matmuls for every size".to_string(), Variants { tiled_matmul: tiled, ..Variants::default() }),
    ];
    if own.subgroup8 {
        let sg = Variants { texture_matmul: None, rnn_lanes: false, tiled_matmul: None, ..own };
        sets.push(("subgroup kernels only".into(), sg));
        let max_edge = gpu().limits.max_texture_dimension_2d;
        let tex = Some(TextureMatmul { min_macs: 0, min_blocks: 0, max_edge });
        sets.push(("texture matmuls for every size".into(), Variants { texture_matmul: tex, ..sg }));
    }
    if own.rnn_lanes {
        let sg = Variants { texture_matmul: None, tiled_matmul: None, ..own };
        sets.push(("one subgroup per row recurrences".into(), sg));
    }
    sets
}

/// Weights after `steps` training steps of `model` on `data`'s training rows.
fn train(
    data: &DataSource,
    model: &ModelSpec,
    head: Head,
    batch: usize,
    steps: usize,
    v: Variants,
) -> BTreeMap<String, Vec<f32>> {
    let cfg = TrainConfig { model: model.clone(), val_frac: 0.1, test_frac: 0.2, ..TrainConfig::default() };
    let p = prepare(data, &cfg).unwrap();
    let gpu = gpu();
    let tcols = p.train_targets.len() / p.ds.rows();
    let ds = Arc::new(GpuDataset::upload(&gpu, &p.features, &p.train_targets, p.ds.cols(), tcols).unwrap());
    let graph = model.build(p.ds.cols(), head, batch, true, 5).unwrap();
    let params = Arc::new(ParamStore::init(&gpu, &graph, 5).unwrap());
    let mut cache = PipelineCache::new();
    cache.force_variants(v);
    let mode = ProgramOptions { mode: Mode::Train(OptimizerConfig::adam(3e-3)) };
    let mut prog = Program::compile(gpu.clone(), &graph, params.clone(), ds, mode, &mut cache).unwrap();
    let rows: Vec<u32> = p.split.train.iter().map(|r| *r as u32).collect();
    let batches: Vec<Vec<u32>> = rows.chunks(batch).take(steps).map(|c| c.to_vec()).collect();
    prog.train_steps(&batches, &[3e-3]).unwrap();
    params.read_all(&gpu).unwrap()
}

/// The largest difference between two weight sets, and whether every bit agrees.
fn compare(a: &BTreeMap<String, Vec<f32>>, b: &BTreeMap<String, Vec<f32>>) -> (f64, bool) {
    let mut worst = 0.0f64;
    let mut same = true;
    for (name, wa) in a {
        for (x, y) in wa.iter().zip(&b[name]) {
            same &= x.to_bits() == y.to_bits();
            worst = worst.max((*x as f64 - *y as f64).abs());
        }
    }
    (worst, same)
}

fn check(what: &str, data: &DataSource, model: &ModelSpec, head: Head, batch: usize, steps: usize) {
    let recurrent = what.starts_with("recurrent");
    let sets = variant_sets();
    let portable = train(data, model, head, batch, steps, sets[0].1);
    for (name, v) in &sets[1..] {
        let w = train(data, model, head, batch, steps, *v);
        let (worst, same) = compare(&portable, &w);
        // the one-subgroup-per-row recurrences sum their weight gradients
        // in chunks of rows, then the chunks: another order than the
        // matmuls' (the weights stay within float rounding of the others)
        let lanes = v.rnn_lanes && recurrent;
        if lanes {
            assert!(worst < 1e-5, "{what} under {name}: weights differ by {worst:e}");
        } else {
            assert!(
                same,
                "{what} under {name}: weights differ from the portable kernels' by up to {worst:e}"
            );
        }
        eprintln!(
            "{what} under {name}: {}",
            if same { "bit-identical".into() } else { format!("max diff {worst:e}") }
        );
    }
}

#[test]
fn dense_models_give_the_same_weights_under_every_variant_set() {
    let head = Head { outputs: 1, loss: LossKind::BceWithLogits, target: TargetSource::Targets };
    check(
        "mlp",
        &DataSource::builtin("breast_cancer"),
        &ModelSpec::mlp(&[64, 32], Act::Relu, 0.1),
        head,
        32,
        6,
    );
}

#[test]
fn convolutional_models_give_the_same_weights_under_every_variant_set() {
    let head = Head { outputs: 10, loss: LossKind::SoftmaxCrossEntropy, target: TargetSource::Targets };
    check("cnn", &DataSource::builtin("digits"), &ModelSpec::cnn([1, 8, 8]), head, 32, 4);
}

#[test]
fn recurrent_models_give_the_same_weights_under_every_variant_set() {
    let head = Head { outputs: 1, loss: LossKind::Mse, target: TargetSource::Targets };
    let window =
        medgpu::data::WindowOptions { window: 16, stride: 64, horizon: 1, signals: vec![], target: None };
    let data = DataSource { window: Some(window), ..DataSource::builtin("ecg") };
    for cell in [Cell::Lstm, Cell::Gru, Cell::Elman(Act::Tanh)] {
        let what = format!("recurrent {cell:?}");
        check(&what, &data, &ModelSpec::recurrent(cell, &[16], 16), head, 16, 3);
    }
}

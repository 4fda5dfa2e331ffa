//! Every kernel against its f64 twin in medgpu::cpu_ref, on odd shapes.

mod common;
use common::*;
use medgpu::cpu_ref::{self, Epi};
use medgpu::kernels::{
    self, Act, Epilogue, LossOperands, MatmulOperands, OptimUniform, TextureMatmul, TiledMatmul, Variants,
};

const ACTS: [Act; 5] = [Act::None, Act::Relu, Act::LeakyRelu, Act::Sigmoid, Act::Tanh];
// (m, n, k): odd sizes, 1, and sizes past one tile
const SHAPES: [(usize, usize, usize); 14] = [
    (1, 1, 1),
    (7, 33, 65),
    (33, 7, 1),
    (65, 130, 7),
    (130, 65, 33),
    (1, 130, 65),
    (32, 64, 30),
    (300, 9, 5),
    (16, 1, 40),
    // multiples of 4 that are not of the 8 or 16 columns a subgroup
    // workgroup owns: the vec4 loads of matmul_sg clamp at the edge
    (36, 20, 9),
    (64, 12, 17),
    // K a multiple of 4: nn and nt take 4 k at a time
    (20, 24, 12),
    // at most 4 rows, N a multiple of 4: matmul_tn_rows4 (two workgroups)
    (3, 20, 7),
    (2, 260, 9),
];

/// The call and every variant of it the adapter can run: subgroup, and
/// texture and workgroup-tiled matmuls forced on whatever the size
/// (training takes texture matmuls only for large ones on CPU adapters,
/// tiled ones only for large ones on GPUs).
fn with_variants(call: kernels::Call<usize>) -> Vec<kernels::Call<usize>> {
    let v = Variants::detect(&gpu());
    let tiled = Some(TiledMatmul { min_macs: 0, min_edge: 0 });
    let mut choices = vec![
        Variants { texture_matmul: None, tiled_matmul: None, ..v },
        Variants { texture_matmul: None, tiled_matmul: tiled, ..v },
    ];
    if v.subgroup8 {
        let max_edge = gpu().limits.max_texture_dimension_2d;
        choices.push(Variants {
            texture_matmul: Some(TextureMatmul { min_macs: 0, min_blocks: 0, max_edge }),
            tiled_matmul: None,
            ..v
        });
    }
    let mut out = vec![call.clone()];
    for v in choices {
        let special = kernels::specialize(call.clone(), v);
        if out.iter().all(|c| c.kernel != special.kernel) {
            out.push(special);
        }
    }
    out
}

fn tol(k: usize) -> (f64, f64) {
    (1e-5 * (k as f64).sqrt() + 1e-6, 1e-4)
}

#[test]
fn matmul_nn_with_bias_and_activation_matches_reference() {
    for (si, &(m, n, k)) in SHAPES.iter().enumerate() {
        for (ai, act) in ACTS.iter().enumerate() {
            let seed = (si * 10 + ai) as u64;
            let (a, b, bias) = (rand_vec(m * k, seed), rand_vec(k * n, seed + 100), rand_vec(n, seed + 200));
            let ops = MatmulOperands { a: 0, b: 1, bias: Some(2), aux: None, c: 3 };
            let epi = Epilogue { act: *act, ..Epilogue::PLAIN };
            let calls = with_variants(kernels::matmul_nn(m, n, k, ops, epi, 4));
            let mut want = vec![0.0; m * n];
            cpu_ref::matmul_nn(
                m,
                n,
                k,
                &a,
                &b,
                Epi { bias: Some(&bias), act: *act, grad_act: None, accumulate: false },
                &mut want,
            );
            let (at, rt) = tol(k);
            for call in calls {
                let out = run_call(&call, &[words(&a), words(&b), words(&bias), vec![0; m * n], vec![0; 4]]);
                let what = format!("{:?} {m}x{n}x{k} {act:?}", call.kernel);
                assert_close(&what, &floats(&out[3]), &want, at, rt);
            }
        }
    }
}

#[test]
fn matmul_nt_with_fused_activation_grad_and_accumulate_matches_reference() {
    for (si, &(m, n, k)) in SHAPES.iter().enumerate() {
        for (ai, act) in ACTS.iter().enumerate() {
            let accumulate = ai % 2 == 1;
            let seed = (si * 10 + ai) as u64 + 1000;
            let (a, b) = (rand_vec(m * k, seed), rand_vec(n * k, seed + 1));
            // aux plays an activation output: make it a valid y for the activation
            let mut aux = vec![0.0; m * n];
            cpu_ref::activation_forward(*act, &rand_vec(m * n, seed + 2), &mut aux);
            let c0 = rand_vec(m * n, seed + 3);
            let ops = MatmulOperands { a: 0, b: 1, bias: None, aux: Some(2), c: 3 };
            let epi = Epilogue { act: Act::None, grad_act: *act, accumulate };
            let calls = with_variants(kernels::matmul_nt(m, n, k, ops, epi, 4));
            let mut want = floats(&words(&c0));
            let epi =
                Epi { bias: None, act: Act::None, grad_act: Some((*act, &floats(&words(&aux)))), accumulate };
            cpu_ref::matmul_nt(m, n, k, &a, &b, epi, &mut want);
            let (at, rt) = tol(k);
            for call in calls {
                let out = run_call(&call, &[words(&a), words(&b), words(&aux), words(&c0), vec![0; 4]]);
                let what = format!("{:?} {m}x{n}x{k} {act:?} acc={accumulate}", call.kernel);
                assert_close(&what, &floats(&out[3]), &want, at, rt);
            }
        }
    }
}

#[test]
fn matmul_tn_with_bias_gradient_matches_reference() {
    for (si, &(m, n, k)) in SHAPES.iter().enumerate() {
        for accumulate in [false, true] {
            let seed = si as u64 + 2000 + accumulate as u64 * 50;
            let (a, b) = (rand_vec(k * m, seed), rand_vec(k * n, seed + 1));
            let (c0, g0) = (rand_vec(m * n, seed + 2), rand_vec(n, seed + 3));
            let ops = MatmulOperands { a: 0, b: 1, bias: Some(2), aux: None, c: 3 };
            let epi = Epilogue { accumulate, ..Epilogue::PLAIN };
            let calls = with_variants(kernels::matmul_tn(m, n, k, ops, epi, 4));
            let (mut want, mut want_g) = (floats(&words(&c0)), floats(&words(&g0)));
            let epi = Epi { bias: None, act: Act::None, grad_act: None, accumulate };
            cpu_ref::matmul_tn(m, n, k, &a, &b, epi, &mut want, Some(&mut want_g));
            let (at, rt) = tol(k);
            for call in calls {
                let out = run_call(&call, &[words(&a), words(&b), words(&g0), words(&c0), vec![0; 4]]);
                let what = format!("{:?} {m}x{n}x{k} acc={accumulate}", call.kernel);
                assert_close(&what, &floats(&out[3]), &want, at, rt);
                assert_close(&format!("{what} bias grad"), &floats(&out[2]), &want_g, at, rt);
            }
        }
    }
}

#[test]
fn activations_forward_backward_and_add_match_reference() {
    for n in [1usize, 7, 33, 65, 130, 1000] {
        for (ai, act) in ACTS.iter().enumerate() {
            let seed = n as u64 * 7 + ai as u64;
            let x = rand_vec(n, seed).iter().map(|v| v * 4.0).collect::<Vec<_>>();
            let out = run_call(
                &kernels::activation_forward(n, *act, 0, 1, 2),
                &[words(&x), vec![0; n], vec![0; 4]],
            );
            let mut want = vec![0.0; n];
            cpu_ref::activation_forward(*act, &floats(&words(&x)), &mut want);
            assert_close(&format!("activation_forward {act:?} n={n}"), &floats(&out[1]), &want, 1e-6, 1e-5);

            let y = want.clone();
            let dy = rand_vec(n, seed + 1);
            let o0 = rand_vec(n, seed + 2);
            for accumulate in [false, true] {
                let call = kernels::activation_backward(n, *act, accumulate, 0, 1, 2);
                let out = run_call(&call, &[words(&dy), words(&y), words(&o0)]);
                let mut want = floats(&words(&o0));
                cpu_ref::activation_backward(
                    *act,
                    accumulate,
                    &floats(&words(&dy)),
                    &floats(&words(&y)),
                    &mut want,
                );
                assert_close(
                    &format!("activation_backward {act:?} n={n}"),
                    &floats(&out[2]),
                    &want,
                    1e-6,
                    1e-5,
                );
            }
        }
        let (x, o0) = (rand_vec(n, 5), rand_vec(n, 6));
        for accumulate in [false, true] {
            let out =
                run_call(&kernels::add_into(n, accumulate, 0, 1, 2), &[words(&x), words(&o0), vec![0; 4]]);
            let mut want = floats(&words(&o0));
            cpu_ref::add_into(accumulate, &floats(&words(&x)), &mut want);
            assert_close("add_into", &floats(&out[1]), &want, 1e-7, 1e-6);
        }
    }
}

#[test]
fn softmax_forward_and_backward_match_reference() {
    for (rows, cols) in [(1usize, 2usize), (7, 10), (65, 3), (130, 33)] {
        let x: Vec<f64> = rand_vec(rows * cols, 9).iter().map(|v| v * 10.0).collect();
        let out = run_call(
            &kernels::softmax_forward(rows, cols, 0, 1, 2),
            &[words(&x), vec![0; rows * cols], vec![0; 4]],
        );
        let mut y = vec![0.0; rows * cols];
        cpu_ref::softmax_forward(rows, cols, &floats(&words(&x)), &mut y);
        assert_close("softmax_forward", &floats(&out[1]), &y, 1e-6, 1e-5);
        let dy = rand_vec(rows * cols, 10);
        let call = kernels::softmax_backward(rows, cols, false, 0, 1, 2);
        let out = run_call(&call, &[words(&dy), words(&y), vec![0; rows * cols]]);
        let mut want = vec![0.0; rows * cols];
        cpu_ref::softmax_backward(rows, cols, false, &floats(&words(&dy)), &floats(&words(&y)), &mut want);
        assert_close("softmax_backward", &floats(&out[2]), &want, 1e-6, 1e-5);
    }
}

#[test]
fn losses_match_reference_and_mask_padding_rows() {
    use medgpu::graph::LossKind;
    for kind in [LossKind::Mse, LossKind::BceWithLogits, LossKind::SoftmaxCrossEntropy, LossKind::OutputScore]
    {
        for (rows, cols, count) in [(1usize, 3usize, 1usize), (7, 1, 5), (33, 10, 33), (300, 4, 290)] {
            let by_class = matches!(kind, LossKind::SoftmaxCrossEntropy | LossKind::OutputScore);
            let cols = if kind == LossKind::SoftmaxCrossEntropy { cols.max(2) } else { cols };
            let n_data = 50;
            let tcols = if by_class { 1 } else { cols };
            let targets: Vec<f64> = match kind {
                LossKind::Mse => rand_vec(n_data * tcols, 3),
                LossKind::BceWithLogits => {
                    rand_vec(n_data * tcols, 3).iter().map(|v| (*v > 0.0) as u32 as f64).collect()
                }
                LossKind::SoftmaxCrossEntropy | LossKind::OutputScore => {
                    (0..n_data).map(|i| (i * 7 % cols) as f64).collect()
                }
            };
            let mut batch = vec![count as u32];
            batch.extend((0..rows).map(|r| ((r * 13 + 5) % n_data) as u32));
            let logits: Vec<f64> = rand_vec(rows * cols, 4).iter().map(|v| v * 3.0).collect();
            let stats0 = vec![1.5, 2.0];
            let o = LossOperands { batch: 0, targets: 1, logits: 2, grad: 3, stats: 4 };
            let call = match kind {
                LossKind::Mse => kernels::mse_loss(rows, cols, tcols, o),
                LossKind::BceWithLogits => kernels::bce_with_logits_loss(rows, cols, tcols, o),
                LossKind::SoftmaxCrossEntropy => kernels::softmax_cross_entropy_loss(rows, cols, tcols, o),
                LossKind::OutputScore => kernels::output_score(rows, cols, tcols, o),
            };
            let out = run_call(
                &call,
                &[batch.clone(), words(&targets), words(&logits), vec![7; rows * cols], words(&stats0)],
            );
            let (sum, grad) = cpu_ref::loss(
                kind,
                rows,
                cols,
                tcols,
                &batch,
                &floats(&words(&targets)),
                &floats(&words(&logits)),
            );
            let what = format!("{kind:?} rows={rows} cols={cols} count={count}");
            assert_close(&format!("{what} grad"), &floats(&out[3]), &grad, 1e-6, 1e-4);
            let stats = floats(&out[4]);
            assert_close(&format!("{what} loss sum"), &stats[..1], &[1.5 + sum], 1e-4, 1e-4);
            assert_eq!(stats[1], 2.0 + count as f64, "{what} count");
        }
    }
}

/// Runs an optimizer or guard call (optim.wgsl and guard.wgsl read the
/// arenas as vec4) on buffers
/// padded with zeros to whole vec4, as the arena is, and cuts the results
/// back to the given lengths: padding has zero gradient and must stay zero.
fn run_arena_call(call: &kernels::Call<usize>, buffers: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let padded: Vec<Vec<u32>> = buffers
        .iter()
        .map(|b| {
            let mut w = b.clone();
            w.resize(b.len().div_ceil(4) * 4, 0);
            w
        })
        .collect();
    let out = run_call(call, &padded);
    for (o, b) in out.iter().zip(buffers) {
        assert!(o[b.len()..].iter().all(|w| *w == 0), "{:?} wrote into the padding", call.kernel);
    }
    out.into_iter().zip(buffers).map(|(o, b)| o[..b.len()].to_vec()).collect()
}

#[test]
fn optimizers_match_reference() {
    for n in [1usize, 7, 130, 1000] {
        let (p, g, m0, v0) = (
            rand_vec(n, 1),
            rand_vec(n, 2),
            rand_vec(n, 3),
            rand_vec(n, 4).iter().map(|x| x.abs()).collect::<Vec<_>>(),
        );
        for (t, decoupled) in [(1, false), (7, true)] {
            let h = cpu_ref::Hyper {
                lr: 0.01,
                weight_decay: 0.1,
                momentum: 0.9,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-7,
                t,
                decoupled,
            };
            let u = OptimUniform {
                n: n as u32,
                decoupled,
                lr: 0.01,
                weight_decay: 0.1,
                momentum: 0.9,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-7,
                bc1: (1.0 - 0.9f64.powi(t)) as f32,
                bc2: (1.0 - 0.999f64.powi(t)) as f32,
                max_norm: 0.0,
                stop: false,
            };
            let out = run_arena_call(
                &kernels::adam_step(&u, 0, 1, 2, 3, 4, 5),
                &[words(&p), words(&g), words(&m0), words(&v0), words(&[1.0, 0.0, 0.0, 0.0]), vec![0; 4]],
            );
            let (mut wp, mut wm, mut wv) = (floats(&words(&p)), floats(&words(&m0)), floats(&words(&v0)));
            cpu_ref::adam_step(&h, &mut wp, &floats(&words(&g)), &mut wm, &mut wv);
            assert_close("adam params", &floats(&out[0]), &wp, 1e-6, 1e-5);
            assert_close("adam m", &floats(&out[2]), &wm, 1e-6, 1e-5);
            assert_close("adam v", &floats(&out[3]), &wv, 1e-6, 1e-5);

            let out = run_arena_call(
                &kernels::sgd_step(&u, 0, 1, 2, 3, 4),
                &[words(&p), words(&g), words(&m0), words(&[1.0, 0.0, 0.0, 0.0]), vec![0; 4]],
            );
            let (mut wp, mut wm) = (floats(&words(&p)), floats(&words(&m0)));
            cpu_ref::sgd_step(&h, &mut wp, &floats(&words(&g)), &mut wm);
            assert_close("sgd params", &floats(&out[0]), &wp, 1e-6, 1e-5);
            assert_close("sgd velocity", &floats(&out[2]), &wm, 1e-6, 1e-5);
        }
    }
}

#[test]
fn gather_rows_matches_reference() {
    for (rows, cols) in [(1usize, 1usize), (7, 30), (33, 65), (130, 7)] {
        let n_data = 200;
        let data = rand_vec(n_data * cols, 8);
        let mut batch = vec![rows as u32];
        batch.extend((0..rows).map(|r| ((r * 37 + 11) % n_data) as u32));
        let out = run_call(
            &kernels::gather_rows(rows, cols, 0, 1, 2),
            &[batch.clone(), words(&data), vec![0; rows * cols]],
        );
        let want = cpu_ref::gather_rows(rows, cols, &batch, &floats(&words(&data)));
        assert_close("gather_rows", &floats(&out[2]), &want, 0.0, 0.0);
    }
}

#[test]
fn dropout_matches_reference_and_drops_the_asked_fraction() {
    for n in [1usize, 7, 130, 5000] {
        for (p, step) in [(0.0f32, 3u32), (0.3, 1), (0.5, 77)] {
            let d = kernels::DropoutParams { n, seed: 42, layer: 9, p };
            let x = rand_vec(n, n as u64);
            let step_buf = vec![step, 0, 0, 0];
            let out =
                run_call(&kernels::dropout_forward(d, 0, 1, 2), &[step_buf.clone(), words(&x), vec![0; n]]);
            let mut want = vec![0.0; n];
            cpu_ref::dropout_forward(42, step, 9, p as f64, &floats(&words(&x)), &mut want);
            assert_close(&format!("dropout_forward n={n} p={p}"), &floats(&out[2]), &want, 1e-6, 1e-5);
            if n == 5000 {
                let dropped = floats(&out[2]).iter().filter(|v| **v == 0.0).count() as f64 / n as f64;
                assert!((dropped - p as f64).abs() < 0.03, "dropped {dropped} for p={p}");
            }
            let (dy, o0) = (rand_vec(n, 3), rand_vec(n, 4));
            for accumulate in [false, true] {
                let call = kernels::dropout_backward(d, accumulate, 0, 1, 2);
                let out = run_call(&call, &[step_buf.clone(), words(&dy), words(&o0)]);
                let mut want = floats(&words(&o0));
                cpu_ref::dropout_backward(42, step, 9, p as f64, accumulate, &floats(&words(&dy)), &mut want);
                assert_close("dropout_backward", &floats(&out[2]), &want, 1e-6, 1e-5);
            }
        }
    }
}

#[test]
fn gradient_guard_clips_and_skips_non_finite_steps_like_the_reference() {
    use kernels::GuardOperands;
    let o = GuardOperands { grads: 0, partials: 1, stats: 2, step: 3, guard: 4 };
    for n in [1usize, 7, 4096, 4097, 20000, kernels::GUARD_SINGLE_MAX + 1234] {
        for (clip, poison) in [(Some(1.0f32), false), (None, false), (Some(1.0), true)] {
            let mut g: Vec<f64> = rand_vec(n, n as u64 + 1).iter().map(|v| v * 0.5).collect();
            if poison {
                g[n / 2] = f64::NAN;
            }
            let parts = kernels::norm_partials(n);
            let mut bufs =
                vec![words(&g), vec![0; parts], words(&[0.0, 0.0, 0.0, 0.0]), vec![5, 0, 0, 0], vec![0; 4]];
            bufs = run_arena_call(&kernels::grad_norm_partial(n, o.clone()), &bufs);
            let total: f64 = floats(&bufs[1]).iter().sum();
            bufs = run_arena_call(&kernels::grad_guard(n, clip, true, o.clone()), &bufs);
            let guard = floats(&bufs[4]);
            let stats = floats(&bufs[2]);
            let what = format!("n={n} clip={clip:?} poison={poison}");
            if poison {
                assert!(!total.is_finite(), "{what}");
                assert_eq!(guard[2], 1.0, "{what}: the step must be skipped");
                assert_eq!((stats[2], stats[3]), (1.0, 5.0), "{what}: one bad step, at step 5");
                continue;
            }
            let (want_factor, want_norm) =
                cpu_ref::clip_factor(&floats(&words(&g)), clip.map_or(f64::INFINITY, |c| c as f64));
            assert_close(&format!("norm^2 {what}"), &[total], &[want_norm * want_norm], 1e-4, 1e-4);
            assert_close(&format!("guard {what}"), &guard[..3], &[want_factor, want_norm, 0.0], 1e-5, 1e-4);
            assert_eq!(stats[2], 0.0);

            // the optimizer applies the factor
            let u = OptimUniform {
                n: n as u32,
                decoupled: false,
                lr: 0.1,
                weight_decay: 0.0,
                momentum: 0.0,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-7,
                bc1: 1.0,
                bc2: 1.0,
                max_norm: 0.0,
                stop: false,
            };
            let p0 = rand_vec(n, 5);
            let out = run_arena_call(
                &kernels::sgd_step(&u, 0, 1, 2, 3, 4),
                &[words(&p0), words(&g), vec![0; n], words(&guard), vec![0; 4]],
            );
            let want: Vec<f64> = floats(&words(&p0))
                .iter()
                .zip(floats(&words(&g)))
                .map(|(p, g)| p - 0.1 * g * guard[0])
                .collect();
            assert_close("guarded sgd", &floats(&out[0]), &want, 1e-6, 1e-5);
        }
    }
    // a skipped step leaves the weights as they are
    let u = OptimUniform {
        n: 7,
        decoupled: false,
        lr: 0.1,
        weight_decay: 0.0,
        momentum: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-7,
        bc1: 0.1,
        bc2: 0.001,
        max_norm: 0.0,
        stop: false,
    };
    let p0 = words(&rand_vec(7, 9));
    let out = run_arena_call(
        &kernels::adam_step(&u, 0, 1, 2, 3, 4, 5),
        &[
            p0.clone(),
            words(&[f64::NAN; 7]),
            vec![0; 7],
            vec![0; 7],
            words(&[1.0, f64::NAN, 1.0, 0.0]),
            vec![0; 4],
        ],
    );
    assert_eq!(out[0], p0);
}

#[test]
fn fused_optimizer_steps_match_guard_then_step() {
    use kernels::{FusedStepOperands, GuardOperands};
    for n in [1usize, 7, 300, 4097, 20000] {
        for (clip, poison, stop_first) in
            [(None, false, false), (Some(0.5f32), false, false), (None, true, false), (None, false, true)]
        {
            let mut g: Vec<f64> = rand_vec(n, n as u64 + 7);
            if poison {
                g[n - 1] = f64::INFINITY;
            }
            let (p0, m0) = (rand_vec(n, 1), rand_vec(n, 2));
            let v0: Vec<f64> = rand_vec(n, 3).iter().map(|x| x.abs()).collect();
            // stop_first: an earlier step was bad, so with stop this one is skipped too
            let stats0 = words(&[0.0, 0.0, if stop_first { 1.0 } else { 0.0 }, 3.0]);
            for adam in [true, false] {
                let u = OptimUniform {
                    n: n as u32,
                    decoupled: false,
                    lr: 0.01,
                    weight_decay: 0.01,
                    momentum: 0.9,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-7,
                    bc1: 0.19,
                    bc2: 0.002,
                    max_norm: clip.unwrap_or(0.0),
                    stop: true,
                };
                let o = FusedStepOperands { params: 0, grads: 1, m: 2, v: 3, guard: 4, stats: 5, step: 6 };
                let call = if adam {
                    kernels::adam_step_fused(&u, clip.is_some(), o)
                } else {
                    kernels::sgd_step_fused(&u, clip.is_some(), o)
                };
                let fused = run_arena_call(
                    &call,
                    &[
                        words(&p0),
                        words(&g),
                        words(&m0),
                        words(&v0),
                        vec![0; 4],
                        stats0.clone(),
                        vec![9, 0, 0, 0],
                    ],
                );

                // the same through grad_norm_partial, grad_guard and the plain step
                let go = GuardOperands { grads: 0, partials: 1, stats: 2, step: 3, guard: 4 };
                let mut gb = vec![
                    words(&g),
                    vec![0; kernels::norm_partials(n)],
                    stats0.clone(),
                    vec![9, 0, 0, 0],
                    vec![0; 4],
                ];
                gb = run_arena_call(&kernels::grad_norm_partial(n, go.clone()), &gb);
                gb = run_arena_call(&kernels::grad_guard(n, clip, true, go), &gb);
                let step = if adam {
                    kernels::adam_step(&u, 0, 1, 2, 3, 4, 5)
                } else {
                    kernels::sgd_step(&u, 0, 1, 2, 4, 5)
                };
                let bufs = if adam {
                    vec![words(&p0), words(&g), words(&m0), words(&v0), gb[4].clone(), vec![0; 4]]
                } else {
                    vec![words(&p0), words(&g), words(&m0), vec![0; 4], gb[4].clone(), vec![0; 4]]
                };
                let plain = run_arena_call(&step, &bufs);
                let what = format!("n={n} clip={clip:?} poison={poison} stop_first={stop_first} adam={adam}");
                assert_close(&format!("{what}: params"), &floats(&fused[0]), &floats(&plain[0]), 1e-6, 1e-5);
                assert_close(
                    &format!("{what}: guard"),
                    &floats(&fused[4])[..3]
                        .iter()
                        .map(|x| if x.is_finite() { *x } else { -1.0 })
                        .collect::<Vec<_>>(),
                    &floats(&gb[4])[..3]
                        .iter()
                        .map(|x| if x.is_finite() { *x } else { -1.0 })
                        .collect::<Vec<_>>(),
                    1e-6,
                    1e-5,
                );
                assert_eq!(floats(&fused[5])[2..], floats(&gb[2])[2..], "{what}: bad-step counters");
                if poison || stop_first {
                    assert_eq!(fused[0], words(&p0), "{what}: a skipped step leaves the weights");
                }
            }
        }
    }
}

//! The image kernels (convolution, pooling, upsampling, batch norm) against
//! their f64 twins in medgpu::cpu_ref, on odd shapes: sizes that are not
//! multiples of the 4x4 block, stride 2 on odd inputs, padding, batch 1.

mod common;
use common::*;
use medgpu::cpu_ref;
use medgpu::kernels::{
    self, Act, ConvOperands, NormBackward, NormBackwardEval, NormForward, NormGeom, Variants, WindowGeom,
};

/// The portable kernels, and the subgroup variants where the adapter runs them.
fn variants() -> Vec<Variants> {
    let mut v = vec![Variants::default()];
    if Variants::detect(&gpu()).subgroup8 {
        v.push(Variants::detect(&gpu()));
    }
    v
}

/// Geometry with symmetric padding: oh = (h + 2 ph - kh) / sh + 1.
#[allow(clippy::too_many_arguments)]
fn geom(
    batch: usize,
    c: usize,
    h: usize,
    w: usize,
    oc: usize,
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
) -> WindowGeom {
    WindowGeom {
        batch,
        c,
        h,
        w,
        oc,
        oh: (h + 2 * p.0 - k.0) / s.0 + 1,
        ow: (w + 2 * p.1 - k.1) / s.1 + 1,
        kh: k.0,
        kw: k.1,
        sh: s.0,
        sw: s.1,
        ph: p.0,
        pw: p.1,
    }
}

fn conv_geoms() -> Vec<WindowGeom> {
    vec![
        geom(1, 1, 5, 7, 3, (3, 3), (1, 1), (1, 1)),
        geom(2, 3, 9, 6, 5, (3, 2), (2, 2), (1, 0)),
        geom(3, 2, 7, 7, 6, (5, 5), (2, 2), (2, 2)),
        geom(2, 5, 4, 4, 17, (1, 1), (1, 1), (0, 0)),
        geom(1, 2, 3, 3, 2, (3, 3), (3, 3), (2, 2)),
        geom(2, 16, 4, 4, 32, (3, 3), (1, 1), (1, 1)),
        // stride 1 across over rows of a multiple of 4: the weight gradient
        // four pixels at a time (taps reaching 1 and 2 columns either side,
        // and a taller stride)
        geom(2, 1, 8, 8, 16, (3, 3), (1, 1), (1, 1)),
        geom(1, 2, 6, 8, 4, (5, 5), (1, 1), (2, 2)),
        geom(1, 2, 5, 8, 3, (5, 5), (2, 1), (0, 0)),
        // 3x3 four input channels at a time (weights as vec4; the input
        // gradient at stride 1): 8-wide rows, a partial second group of 16
        // channels, a taller stride, dy wider than dx
        geom(2, 8, 8, 8, 20, (3, 3), (1, 1), (1, 1)),
        geom(1, 4, 7, 8, 12, (3, 3), (2, 1), (1, 1)),
        geom(1, 20, 5, 8, 6, (3, 3), (1, 1), (1, 1)),
        geom(2, 4, 6, 12, 5, (3, 3), (1, 1), (0, 3)),
        geom(1, 7, 4, 8, 5, (3, 3), (1, 1), (1, 1)),
        // the output wider than the input: columns past the input are padding
        // (an 8-wide input row under 12 output columns)
        geom(1, 2, 5, 8, 3, (3, 3), (1, 1), (3, 3)),
        geom(1, 2, 4, 4, 3, (1, 1), (1, 1), (2, 2)),
    ]
}

fn f32ed(v: &[f64]) -> Vec<f64> {
    floats(&words(v))
}

#[test]
fn conv2d_forward_matches_reference() {
    for (gi, g) in conv_geoms().iter().enumerate() {
        for (ai, act) in [Act::None, Act::Relu, Act::Tanh].iter().enumerate() {
            let seed = (gi * 10 + ai) as u64 + 5000;
            let x = f32ed(&rand_vec(g.in_len(), seed));
            let w = f32ed(&rand_vec(g.oc * g.c * g.kh * g.kw, seed + 1));
            let bias = f32ed(&rand_vec(g.oc, seed + 2));
            let o = ConvOperands { a: 0, b: 1, bias: Some(2), aux: None, out: 3 };
            let mut want = vec![0.0; g.out_len()];
            cpu_ref::conv2d_forward(g, &x, &w, Some(&bias), *act, &mut want);
            for v in variants() {
                let call = kernels::specialize(kernels::conv2d_forward(g, o.clone(), *act, 4), v);
                let out =
                    run_call(&call, &[words(&x), words(&w), words(&bias), vec![0; g.out_len()], vec![0; 4]]);
                let k = (g.c * g.kh * g.kw) as f64;
                assert_close(
                    &format!("conv2d_forward {g:?} {act:?} {v:?}"),
                    &floats(&out[3]),
                    &want,
                    1e-5 * k.sqrt(),
                    1e-4,
                );
            }
        }
    }
}

#[test]
fn conv2d_backward_input_matches_reference() {
    for (gi, g) in conv_geoms().iter().enumerate() {
        for (ai, act) in [Act::None, Act::Relu, Act::Sigmoid].iter().enumerate() {
            let accumulate = ai == 1;
            let seed = (gi * 10 + ai) as u64 + 6000;
            let dy = f32ed(&rand_vec(g.out_len(), seed));
            let w = f32ed(&rand_vec(g.oc * g.c * g.kh * g.kw, seed + 1));
            let mut aux = vec![0.0; g.in_len()];
            cpu_ref::activation_forward(*act, &rand_vec(g.in_len(), seed + 2), &mut aux);
            let aux = f32ed(&aux);
            let dx0 = f32ed(&rand_vec(g.in_len(), seed + 3));
            let o = ConvOperands { a: 0, b: 1, bias: None, aux: Some(2), out: 3 };
            let mut want = dx0.clone();
            let ga = (*act != Act::None).then_some((*act, aux.as_slice()));
            cpu_ref::conv2d_backward_input(g, &dy, &w, ga, accumulate, &mut want);
            for v in variants() {
                let call =
                    kernels::specialize(kernels::conv2d_backward_input(g, o.clone(), *act, accumulate, 4), v);
                let out = run_call(&call, &[words(&dy), words(&w), words(&aux), words(&dx0), vec![0; 4]]);
                let k = (g.oc * g.kh * g.kw) as f64;
                assert_close(
                    &format!("conv2d_backward_input {g:?} {act:?} {v:?}"),
                    &floats(&out[3]),
                    &want,
                    1e-5 * k.sqrt(),
                    1e-4,
                );
            }
        }
    }
}

#[test]
fn conv2d_backward_weight_and_bias_match_reference() {
    for (gi, g) in conv_geoms().iter().enumerate() {
        for accumulate in [false, true] {
            let seed = gi as u64 * 10 + accumulate as u64 + 7000;
            let x = f32ed(&rand_vec(g.in_len(), seed));
            let dy = f32ed(&rand_vec(g.out_len(), seed + 1));
            let nw = g.oc * g.c * g.kh * g.kw;
            let (dw0, db0) = (f32ed(&rand_vec(nw, seed + 2)), f32ed(&rand_vec(g.oc, seed + 3)));
            let o = ConvOperands { a: 0, b: 1, bias: Some(2), aux: None, out: 3 };
            let (mut dw, mut db) = (dw0.clone(), db0.clone());
            cpu_ref::conv2d_backward_weight(g, &x, &dy, accumulate, &mut dw, Some(&mut db));
            for v in variants() {
                let call =
                    kernels::specialize(kernels::conv2d_backward_weight(g, o.clone(), accumulate, 4), v);
                let out = run_call(&call, &[words(&x), words(&dy), words(&db0), words(&dw0), vec![0; 4]]);
                let k = (g.batch * g.oh * g.ow) as f64;
                assert_close(&format!("conv2d dw {g:?} {v:?}"), &floats(&out[3]), &dw, 1e-5 * k.sqrt(), 1e-4);
                assert_close(
                    &format!("conv2d dbias {g:?} {v:?}"),
                    &floats(&out[2]),
                    &db,
                    1e-5 * k.sqrt(),
                    1e-4,
                );
            }
        }
    }
}

fn pool_geoms() -> Vec<WindowGeom> {
    let p = |batch, c, h, w, k, s, pad| geom(batch, c, h, w, c, k, s, pad);
    vec![
        p(1, 1, 5, 7, (2, 2), (2, 2), (0, 0)),
        p(2, 3, 7, 5, (3, 3), (2, 2), (1, 1)),
        p(3, 2, 6, 6, (3, 3), (1, 1), (1, 1)),
        p(2, 4, 5, 3, (5, 3), (1, 1), (0, 0)),
        p(1, 2, 4, 4, (3, 2), (2, 1), (2, 1)),
        // 2x2 at stride 2 over rows of a multiple of 4: the _v4 kernels, and
        // of a multiple of 8: the _v8 ones (an odd height leaves the last
        // row in no window)
        p(2, 3, 6, 8, (2, 2), (2, 2), (0, 0)),
        p(1, 2, 5, 4, (2, 2), (2, 2), (0, 0)),
        p(1, 1, 2, 4, (2, 2), (2, 2), (0, 0)),
        p(2, 3, 6, 12, (2, 2), (2, 2), (0, 0)),
        p(1, 2, 5, 16, (2, 2), (2, 2), (0, 0)),
    ]
}

#[test]
fn max_and_average_pooling_match_reference() {
    for (gi, g) in pool_geoms().iter().enumerate() {
        for (ai, act) in [Act::None, Act::Relu].iter().enumerate() {
            let accumulate = ai == 1;
            let seed = (gi * 10 + ai) as u64 + 8000;
            let x = f32ed(&rand_vec(g.in_len(), seed));
            let out = run_call(
                &kernels::maxpool_forward(g, 0, 1, 2, 3),
                &[words(&x), vec![0; g.out_len()], vec![0; g.out_len()], vec![0; 4]],
            );
            let (mut y, mut arg) = (vec![0.0; g.out_len()], vec![0i64; g.out_len()]);
            cpu_ref::maxpool_forward(g, &x, &mut y, &mut arg);
            assert_close(&format!("maxpool_forward {g:?}"), &floats(&out[2]), &y, 0.0, 0.0);
            let got_arg: Vec<i64> = out[1].iter().map(|w| *w as i32 as i64).collect();
            assert_eq!(got_arg, arg, "maxpool argmax {g:?}");

            let dy = f32ed(&rand_vec(g.out_len(), seed + 1));
            let mut aux = vec![0.0; g.in_len()];
            cpu_ref::activation_forward(*act, &rand_vec(g.in_len(), seed + 2), &mut aux);
            let aux = f32ed(&aux);
            let dx0 = f32ed(&rand_vec(g.in_len(), seed + 3));
            let ga = (*act != Act::None).then_some((*act, aux.as_slice()));
            let call = kernels::maxpool_backward(g, *act, accumulate, 0, 1, Some(2), 3, 4);
            let got = run_call(&call, &[words(&dy), out[1].clone(), words(&aux), words(&dx0), vec![0; 4]]);
            let mut want = dx0.clone();
            cpu_ref::maxpool_backward(g, &dy, &arg, ga, accumulate, &mut want);
            assert_close(&format!("maxpool_backward {g:?}"), &floats(&got[3]), &want, 1e-6, 1e-5);

            let out = run_call(
                &kernels::avgpool_forward(g, 0, 1, 2),
                &[words(&x), vec![0; g.out_len()], vec![0; 4]],
            );
            let mut y = vec![0.0; g.out_len()];
            cpu_ref::avgpool_forward(g, &x, &mut y);
            assert_close(&format!("avgpool_forward {g:?}"), &floats(&out[1]), &y, 1e-6, 1e-5);
            let call = kernels::avgpool_backward(g, *act, accumulate, 0, Some(1), 2, 3);
            let got = run_call(&call, &[words(&dy), words(&aux), words(&dx0), vec![0; 4]]);
            let mut want = dx0.clone();
            cpu_ref::avgpool_backward(g, &dy, ga, accumulate, &mut want);
            assert_close(&format!("avgpool_backward {g:?}"), &floats(&got[2]), &want, 1e-6, 1e-5);
        }
    }
}

#[test]
fn upsampling_matches_reference() {
    for (gi, &(batch, c, h, w, sh, sw)) in
        [(1, 1, 3, 5, 2, 2), (2, 3, 4, 1, 3, 2), (1, 2, 1, 1, 1, 4)].iter().enumerate()
    {
        let g = WindowGeom {
            batch,
            c,
            h,
            w,
            oc: c,
            oh: h * sh,
            ow: w * sw,
            kh: sh,
            kw: sw,
            sh,
            sw,
            ph: 0,
            pw: 0,
        };
        let seed = gi as u64 + 9000;
        let x = f32ed(&rand_vec(g.in_len(), seed));
        let out =
            run_call(&kernels::upsample_forward(&g, 0, 1, 2), &[words(&x), vec![0; g.out_len()], vec![0; 4]]);
        let mut y = vec![0.0; g.out_len()];
        cpu_ref::upsample_forward(&g, &x, &mut y);
        assert_close(&format!("upsample_forward {g:?}"), &floats(&out[1]), &y, 0.0, 0.0);
        let dy = f32ed(&rand_vec(g.out_len(), seed + 1));
        let dx0 = f32ed(&rand_vec(g.in_len(), seed + 2));
        let call = kernels::upsample_backward(&g, Act::None, true, 0, None, 1, 2);
        let got = run_call(&call, &[words(&dy), words(&dx0), vec![0; 4]]);
        let mut want = dx0.clone();
        cpu_ref::upsample_backward(&g, &dy, None, true, &mut want);
        assert_close(&format!("upsample_backward {g:?}"), &floats(&got[1]), &want, 1e-6, 1e-5);
    }
}

#[test]
fn batch_norm_matches_reference_and_ignores_padding_rows() {
    // (batch, valid rows, channels, values per channel): images and features
    for (ci, &(batch, valid, c, s)) in
        [(5, 3, 3, 7), (4, 4, 17, 1), (1, 1, 2, 9), (33, 30, 2, 1)].iter().enumerate()
    {
        let g = NormGeom { batch, c, s, eps: 1e-5, momentum: 0.1 };
        let seed = ci as u64 * 10 + 9500;
        let n = batch * c * s;
        let x: Vec<f64> = f32ed(&rand_vec(n, seed).iter().map(|v| 3.0 * v + 1.0).collect::<Vec<_>>());
        let gamma = f32ed(&rand_vec(c, seed + 1));
        let beta = f32ed(&rand_vec(c, seed + 2));
        let (rm0, rv0) = (
            f32ed(&rand_vec(c, seed + 3)),
            f32ed(&rand_vec(c, seed + 4).iter().map(|v| v.abs() + 0.5).collect::<Vec<_>>()),
        );
        let mut batch_words = vec![valid as u32];
        batch_words.extend(0..batch as u32);
        let act = if ci % 2 == 0 { Act::Relu } else { Act::None };
        let o = NormForward {
            batch: 0,
            x: 1,
            gamma: 2,
            beta: 3,
            running_mean: 4,
            running_var: 5,
            saved: 6,
            y: 7,
        };
        let call = kernels::batchnorm_forward_train(&g, act, true, o);
        let bufs = [
            batch_words.clone(),
            words(&x),
            words(&gamma),
            words(&beta),
            words(&rm0),
            words(&rv0),
            vec![0; 2 * c],
            vec![0; n],
        ];
        let out = run_call(&call, &bufs);
        let (mut rm, mut rv, mut saved, mut y) = (rm0.clone(), rv0.clone(), vec![0.0; 2 * c], vec![0.0; n]);
        cpu_ref::batchnorm_forward_train(
            &g,
            valid,
            act,
            &x,
            &gamma,
            &beta,
            Some((&mut rm, &mut rv)),
            &mut saved,
            &mut y,
        );
        let what = format!("batchnorm batch={batch} valid={valid} c={c} s={s}");
        assert_close(&format!("{what} y"), &floats(&out[7]), &y, 1e-5, 1e-4);
        assert_close(&format!("{what} saved"), &floats(&out[6]), &saved, 1e-5, 1e-4);
        assert_close(&format!("{what} running mean"), &floats(&out[4]), &rm, 1e-6, 1e-5);
        assert_close(&format!("{what} running var"), &floats(&out[5]), &rv, 1e-5, 1e-4);

        let o = NormForward {
            batch: 0,
            x: 1,
            gamma: 2,
            beta: 3,
            running_mean: 4,
            running_var: 5,
            saved: 6,
            y: 7,
        };
        let out = run_call(&kernels::batchnorm_forward_eval(&g, act, o), &bufs);
        let mut ye = vec![0.0; n];
        cpu_ref::batchnorm_forward_eval(&g, act, &x, &gamma, &beta, &rm0, &rv0, &mut ye);
        assert_close(&format!("{what} eval"), &floats(&out[7]), &ye, 1e-5, 1e-4);

        let saved = f32ed(&saved);
        let dy = f32ed(&rand_vec(n, seed + 5));
        for (accp, acc) in [(false, false), (true, true)] {
            let (dg0, db0, dx0) =
                (f32ed(&rand_vec(c, seed + 6)), f32ed(&rand_vec(c, seed + 7)), f32ed(&rand_vec(n, seed + 8)));
            let o = NormBackward { batch: 0, x: 1, gamma: 2, dy: 3, saved: 4, dgamma: 5, dbeta: 6, dx: 7 };
            let call = kernels::batchnorm_backward(&g, accp, acc, o);
            let out = run_call(
                &call,
                &[
                    batch_words.clone(),
                    words(&x),
                    words(&gamma),
                    words(&dy),
                    words(&saved),
                    words(&dg0),
                    words(&db0),
                    words(&dx0),
                ],
            );
            let (mut dg, mut db, mut dx) = (dg0.clone(), db0.clone(), dx0.clone());
            cpu_ref::batchnorm_backward(
                &g, valid, &x, &gamma, &dy, &saved, accp, acc, &mut dg, &mut db, &mut dx,
            );
            assert_close(&format!("{what} dgamma"), &floats(&out[5]), &dg, 1e-4, 1e-4);
            assert_close(&format!("{what} dbeta"), &floats(&out[6]), &db, 1e-4, 1e-4);
            assert_close(&format!("{what} dx"), &floats(&out[7]), &dx, 1e-4, 1e-3);
        }
        // with running statistics: dx = dy * gamma / sqrt(running var + eps)
        for acc in [false, true] {
            let dx0 = f32ed(&rand_vec(n, seed + 9));
            let o =
                NormBackwardEval { batch: 0, x: 1, gamma: 2, dy: 3, running_mean: 4, running_var: 5, dx: 6 };
            let call = kernels::batchnorm_backward_eval(&g, acc, o);
            let bufs = [
                batch_words.clone(),
                words(&x),
                words(&gamma),
                words(&dy),
                words(&rm0),
                words(&rv0),
                words(&dx0),
            ];
            let out = run_call(&call, &bufs);
            let mut dx = dx0.clone();
            cpu_ref::batchnorm_backward_eval(&g, &gamma, &rv0, &dy, acc, &mut dx);
            assert_close(&format!("{what} eval dx (accumulate {acc})"), &floats(&out[6]), &dx, 1e-5, 1e-4);
        }
    }
}

//! The recurrent persistent kernels against their f64 twins in
//! medgpu::cpu_ref, on odd sizes: one step, one unit, hidden sizes that
//! fill 1/64 to all of the 64-invocation workgroup, last state only or the
//! whole sequence, every step real from a zero state, or some padded (a
//! step mask) from a given initial state.

mod common;
use common::*;
use medgpu::cpu_ref::rnn::{self as cref, Side};
use medgpu::kernels::Variants;
use medgpu::kernels::{self, LstmOperands, RnnGeom};

fn f32ed(v: &[f64]) -> Vec<f64> {
    floats(&words(v))
}

/// Cases: (last state only, step mask).
const CASES: [(bool, bool); 4] = [(true, false), (false, false), (true, true), (false, true)];

/// The geometry, and with `masked` a model input [B, T, 2] whose last
/// channel pads about a third of the steps, anywhere in the sequence (a
/// one-element placeholder otherwise).
fn geom_and_mask(
    batch: usize,
    steps: usize,
    hidden: usize,
    last_only: bool,
    masked: bool,
) -> (RnnGeom, Vec<f64>) {
    let g =
        RnnGeom { mask_width: if masked { 2 } else { 0 }, ..RnnGeom::new(batch, steps, hidden, last_only) };
    if !masked {
        return (g, vec![0.0]);
    }
    let mut m = Vec::with_capacity(batch * steps * 2);
    for b in 0..batch {
        for t in 0..steps {
            m.push(0.25); // a feature channel: never read as the mask
            m.push(if (b * 7 + t * 5) % 3 == 1 { 0.0 } else { 1.0 });
        }
    }
    (g, m)
}

/// Operands 0 to 9 in binding order: buffer i of a test is binding i + 1.
fn numbered_operands() -> medgpu::kernels::RecurrenceOperands<usize> {
    medgpu::kernels::RecurrenceOperands {
        src: 0,
        whh: 1,
        gates: 2,
        cells: 3,
        hprev: 4,
        dst: 5,
        aux: 6,
        mask: 7,
        init: 8,
        dinit: 9,
    }
}

/// The LSTM's operands 0 to 8 in binding order (it has no `aux`).
fn numbered_lstm_operands() -> LstmOperands<usize> {
    LstmOperands { src: 0, whh: 1, gates: 2, cells: 3, hprev: 4, dst: 5, mask: 6, init: 7, dinit: 8 }
}

/// Runs `call` and, where the adapter has them, its variants (rnn_sg.wgsl:
/// 8-wide subgroups, H a multiple of 8; rnn_lanes.wgsl: LSTMs on CPU
/// adapters, H a multiple of 4 up to 32, checked with and without it) on
/// copies of the same buffers; checks that each variant writes what the
/// portable kernel writes and returns the portable kernel's buffers, which
/// the caller checks against the reference.
fn run_with_variant(call: &medgpu::kernels::Call<usize>, bufs: &[Vec<u32>], steps: usize) -> Vec<Vec<u32>> {
    let got = run_call(call, bufs);
    let v = Variants::detect(&gpu());
    let mut done = vec![call.kernel];
    for v in [v, kernels::Variants { rnn_lanes: false, ..v }] {
        let special = kernels::specialize(call.clone(), v);
        if done.contains(&special.kernel) {
            continue;
        }
        done.push(special.kernel);
        let alt = run_call(&special, bufs);
        for (i, (a, b)) in alt.iter().zip(&got).enumerate() {
            let what = format!("{} buffer {i}", special.kernel.entry_point());
            assert_close(&what, &floats(a), &floats(b), 1e-6 * steps as f64, 1e-5);
        }
    }
    got
}

#[test]
fn lstm_forward_and_backward_match_reference() {
    for (ci, &(batch, steps, hidden)) in
        [(1, 1, 1), (3, 7, 5), (2, 9, 32), (1, 4, 64), (4, 3, 17), (3, 6, 8), (5, 4, 24), (37, 2, 12)]
            .iter()
            .enumerate()
    {
        for (last_only, masked) in CASES {
            let (mut g, mask) = geom_and_mask(batch, steps, hidden, last_only, masked);
            let seed = ci as u64 * 10 + last_only as u64 + 2 * masked as u64 + 11000;
            // the masked cases also start from a given state: h then c
            g.init_width = if masked { 2 * hidden } else { 0 };
            let init = f32ed(&rand_vec(batch * g.init_width + 1, seed + 7));
            let side = Side { mask: &mask, init: &init };
            let g4 = 4 * hidden;
            let gx = f32ed(&rand_vec(batch * steps * g4, seed));
            let whh = f32ed(&rand_vec(hidden * g4, seed + 1).iter().map(|v| v * 0.5).collect::<Vec<_>>());
            let out_len = if last_only { batch * hidden } else { batch * steps * hidden };
            let o = numbered_lstm_operands();
            let bufs = [
                words(&gx),
                words(&whh),
                vec![0; batch * steps * g4],
                vec![0; batch * steps * hidden],
                vec![0; batch * steps * hidden],
                vec![0; out_len],
                words(&mask),
                words(&init),
                vec![0; 4],
            ];
            let got = run_with_variant(&kernels::lstm_forward(&g, o.clone()), &bufs, steps);
            let want = cref::lstm_forward(&g, &gx, &whh, side);
            let what = format!("lstm {g:?}");
            let tol = 1e-5 * (steps as f64).sqrt();
            assert_close(&format!("{what} gates"), &floats(&got[2]), &want.gates, tol, 1e-4);
            assert_close(&format!("{what} cells"), &floats(&got[3]), &want.cells, tol, 1e-4);
            assert_close(&format!("{what} hprev"), &floats(&got[4]), &want.hprev, tol, 1e-4);
            assert_close(&format!("{what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
            // where nothing reads h_{t-1}, rnn_lanes.wgsl does not write it
            let lanes = kernels::specialize(
                kernels::lstm_forward(&RnnGeom { hprev_unread: true, ..g }, o.clone()),
                Variants::detect(&gpu()),
            );
            if lanes.kernel.entry_point() == "lstm_forward_lanes" {
                let got = run_call(&lanes, &bufs);
                assert!(floats(&got[4]).iter().all(|v| *v == 0.0), "{what}: hprev written");
                assert_close(&format!("{what} lanes gates"), &floats(&got[2]), &want.gates, tol, 1e-4);
                assert_close(&format!("{what} lanes out"), &floats(&got[5]), &want.out, tol, 1e-4);
            }

            let dout = f32ed(&rand_vec(out_len, seed + 2));
            let (gates, cells) = (f32ed(&want.gates), f32ed(&want.cells));
            let bufs = [
                words(&dout),
                words(&whh),
                words(&gates),
                words(&cells),
                vec![0; 4],
                vec![0; batch * steps * g4],
                words(&mask),
                words(&init),
                vec![0; 4],
            ];
            let got = run_with_variant(&kernels::lstm_backward(&g, o), &bufs, steps);
            let want_dz = cref::lstm_backward(&g, &dout, &whh, &gates, &cells, side);
            assert_close(&format!("{what} dz"), &floats(&got[5]), &want_dz, 1e-5 * steps as f64, 1e-3);
        }
    }
}

#[test]
fn lstm_forward_from_input_matches_reference() {
    // (batch, steps, hidden, features): the kernel adds x . w_ih + b itself
    // (35 sequences: rnn_lanes.wgsl runs 2 per workgroup, 1 in the last)
    for (ci, &(batch, steps, hidden, features)) in
        [(3, 7, 5, 1), (2, 9, 32, 3), (1, 4, 64, 8), (4, 3, 17, 2), (3, 6, 8, 1), (35, 2, 8, 2)]
            .iter()
            .enumerate()
    {
        for (last_only, masked) in CASES {
            let (mut g, mask) = geom_and_mask(batch, steps, hidden, last_only, masked);
            let seed = ci as u64 * 10 + last_only as u64 + 2 * masked as u64 + 14000;
            g.init_width = if masked { 2 * hidden } else { 0 };
            let init = f32ed(&rand_vec(batch * g.init_width + 1, seed + 7));
            let side = Side { mask: &mask, init: &init };
            let (g4, rows) = (4 * hidden, batch * steps);
            let x = f32ed(&rand_vec(rows * features, seed));
            let wih = f32ed(&rand_vec(features * g4, seed + 3));
            let bias = f32ed(&rand_vec(g4, seed + 4));
            let whh = f32ed(&rand_vec(hidden * g4, seed + 1).iter().map(|v| v * 0.5).collect::<Vec<_>>());
            // the input projection the kernel computes, in f64
            let mut gx = vec![0.0; rows * g4];
            for r in 0..rows {
                for j in 0..g4 {
                    gx[r * g4 + j] =
                        bias[j] + (0..features).map(|f| x[r * features + f] * wih[f * g4 + j]).sum::<f64>();
                }
            }
            let out_len = if last_only { batch * hidden } else { rows * hidden };
            let o = numbered_lstm_operands();
            let bufs = [
                words(&x),
                words(&whh),
                vec![0; rows * g4],
                vec![0; rows * hidden],
                vec![0; rows * hidden],
                vec![0; out_len],
                words(&mask),
                words(&init),
                vec![0; 4],
                words(&wih),
                words(&bias),
            ];
            let call = kernels::lstm_forward_from_input(&g, features, o, 9, 10);
            let got = run_with_variant(&call, &bufs, steps);
            let want = cref::lstm_forward(&g, &gx, &whh, side);
            let what = format!("lstm from input, {features} features, {g:?}");
            let tol = 1e-5 * (steps as f64).sqrt();
            assert_close(&format!("{what} gates"), &floats(&got[2]), &want.gates, tol, 1e-4);
            assert_close(&format!("{what} cells"), &floats(&got[3]), &want.cells, tol, 1e-4);
            assert_close(&format!("{what} hprev"), &floats(&got[4]), &want.hprev, tol, 1e-4);
            assert_close(&format!("{what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
        }
    }
}

#[test]
fn gru_and_elman_forward_and_backward_match_reference() {
    use medgpu::kernels::Act;
    for (ci, &(batch, steps, hidden)) in
        [(1, 1, 1), (3, 7, 5), (2, 9, 32), (1, 4, 64), (4, 3, 17), (3, 6, 8), (5, 4, 24), (37, 2, 12)]
            .iter()
            .enumerate()
    {
        for (last_only, masked) in CASES {
            let (mut g, mask) = geom_and_mask(batch, steps, hidden, last_only, masked);
            let seed = ci as u64 * 10 + last_only as u64 + 2 * masked as u64 + 12000;
            // the masked cases also start from a given state h
            g.init_width = if masked { hidden } else { 0 };
            let init = f32ed(&rand_vec(batch * g.init_width + 1, seed + 7));
            let side = Side { mask: &mask, init: &init };
            let what = format!("{g:?}");
            let tol = 1e-5 * (steps as f64).sqrt();
            let out_len = if last_only { batch * hidden } else { batch * steps * hidden };
            let seq = batch * steps * hidden;
            let dout = f32ed(&rand_vec(out_len, seed + 5));
            let o = numbered_operands();

            // GRU
            let g3 = 3 * hidden;
            let gx = f32ed(&rand_vec(batch * steps * g3, seed));
            let whh = f32ed(&rand_vec(hidden * g3, seed + 1).iter().map(|v| v * 0.5).collect::<Vec<_>>());
            let bhh = f32ed(&rand_vec(g3, seed + 2));
            let bufs = [
                words(&gx),
                words(&whh),
                vec![0; batch * steps * g3],
                vec![0; seq],
                vec![0; seq],
                vec![0; out_len],
                words(&bhh),
                words(&mask),
                words(&init),
                vec![0; 4],
            ];
            let got = run_with_variant(&kernels::gru_forward(&g, o.clone()), &bufs, steps);
            let want = cref::gru_forward(&g, &gx, &whh, &bhh, side);
            assert_close(&format!("gru {what} gates"), &floats(&got[2]), &want.gates, tol, 1e-4);
            assert_close(&format!("gru {what} gh_n"), &floats(&got[3]), &want.cells, tol, 1e-4);
            assert_close(&format!("gru {what} hprev"), &floats(&got[4]), &want.hprev, tol, 1e-4);
            assert_close(&format!("gru {what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
            let saved = cref::RecurrenceForward {
                gates: f32ed(&want.gates),
                cells: f32ed(&want.cells),
                hprev: f32ed(&want.hprev),
                out: Vec::new(),
            };
            let bufs = [
                words(&dout),
                words(&whh),
                words(&saved.gates),
                words(&saved.cells),
                words(&saved.hprev),
                vec![0; batch * steps * g3],
                vec![0; batch * steps * g3],
                words(&mask),
                words(&init),
                vec![0; 4],
            ];
            let got = run_with_variant(&kernels::gru_backward(&g, o.clone()), &bufs, steps);
            let (dgx, dgh) = cref::gru_backward(&g, &dout, &whh, &saved, side);
            assert_close(&format!("gru {what} dgx"), &floats(&got[5]), &dgx, 1e-5 * steps as f64, 1e-3);
            assert_close(&format!("gru {what} dgh"), &floats(&got[6]), &dgh, 1e-5 * steps as f64, 1e-3);

            // Elman, tanh and relu
            for act in [Act::Tanh, Act::Relu] {
                let gx = f32ed(&rand_vec(seq, seed + 3));
                let whh =
                    f32ed(&rand_vec(hidden * hidden, seed + 4).iter().map(|v| v * 0.5).collect::<Vec<_>>());
                let bufs = [
                    words(&gx),
                    words(&whh),
                    vec![0; 4],
                    vec![0; seq],
                    vec![0; seq],
                    vec![0; out_len],
                    vec![0; 4],
                    words(&mask),
                    words(&init),
                    vec![0; 4],
                ];
                let got = run_with_variant(&kernels::elman_forward(&g, act, o.clone()), &bufs, steps);
                let want = cref::elman_forward(&g, act, &gx, &whh, side);
                assert_close(&format!("elman {act:?} {what} h"), &floats(&got[3]), &want.cells, tol, 1e-4);
                assert_close(
                    &format!("elman {act:?} {what} hprev"),
                    &floats(&got[4]),
                    &want.hprev,
                    tol,
                    1e-4,
                );
                assert_close(&format!("elman {act:?} {what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
                let cells = f32ed(&want.cells);
                let bufs = [
                    words(&dout),
                    words(&whh),
                    vec![0; 4],
                    words(&cells),
                    vec![0; 4],
                    vec![0; seq],
                    vec![0; 4],
                    words(&mask),
                    words(&init),
                    vec![0; 4],
                ];
                let got = run_with_variant(&kernels::elman_backward(&g, act, o.clone()), &bufs, steps);
                let da = cref::elman_backward(&g, act, &dout, &whh, &cells, side);
                assert_close(
                    &format!("elman {act:?} {what} da"),
                    &floats(&got[5]),
                    &da,
                    1e-5 * steps as f64,
                    1e-3,
                );
            }
        }
    }
}

/// Runs a sequence of calls on the same buffers, one after the other.
fn run_calls(calls: &[medgpu::kernels::Call<usize>], bufs: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut bufs = bufs.to_vec();
    for c in calls {
        bufs = run_call(c, &bufs);
    }
    bufs
}

#[test]
fn per_step_kernels_match_reference_above_the_persistent_size() {
    use medgpu::kernels::Act;
    // 65 and 70 units do not fit the persistent kernels; 5 is forced to run step by step
    for (ci, &(batch, steps, hidden)) in [(2, 3, 65), (1, 4, 70), (3, 5, 5)].iter().enumerate() {
        for (last_only, masked) in CASES {
            let (mut g, mask) = geom_and_mask(batch, steps, hidden, last_only, masked);
            g.per_step = true;
            let seed = ci as u64 * 10 + last_only as u64 + 2 * masked as u64 + 13000;
            let what = format!("{g:?}");
            let (seq, out_len) =
                (batch * steps * hidden, if last_only { batch * hidden } else { batch * steps * hidden });
            let dout = f32ed(&rand_vec(out_len, seed + 5));
            let carry = vec![0; batch * 2 * hidden];
            let tol = 1e-5 * (steps as f64).sqrt();
            let bt = 1e-5 * steps as f64;

            // LSTM, from a given state when masked
            g.init_width = if masked { 2 * hidden } else { 0 };
            let init = f32ed(&rand_vec(batch * g.init_width + 1, seed + 7));
            let side = Side { mask: &mask, init: &init };
            let g4 = 4 * hidden;
            let gx = f32ed(&rand_vec(batch * steps * g4, seed));
            let whh = f32ed(&rand_vec(hidden * g4, seed + 1).iter().map(|v| v * 0.2).collect::<Vec<_>>());
            let o = numbered_lstm_operands();
            let bufs = [
                words(&gx),
                words(&whh),
                vec![0; batch * steps * g4],
                vec![0; seq],
                vec![0; seq],
                vec![0; out_len],
                words(&mask),
                words(&init),
                vec![0; 4],
                carry.clone(),
            ];
            let got = run_calls(&kernels::lstm_forward_steps(&g, o.clone()), &bufs);
            let want = cref::lstm_forward(&g, &gx, &whh, side);
            assert_close(&format!("lstm steps {what} gates"), &floats(&got[2]), &want.gates, tol, 1e-4);
            assert_close(&format!("lstm steps {what} cells"), &floats(&got[3]), &want.cells, tol, 1e-4);
            assert_close(&format!("lstm steps {what} hprev"), &floats(&got[4]), &want.hprev, tol, 1e-4);
            assert_close(&format!("lstm steps {what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
            let (gates, cells) = (f32ed(&want.gates), f32ed(&want.cells));
            let bufs = [
                words(&dout),
                words(&whh),
                words(&gates),
                words(&cells),
                vec![0; 4],
                vec![0; batch * steps * g4],
                words(&mask),
                words(&init),
                vec![0; 4],
                carry.clone(),
            ];
            let got = run_calls(&kernels::lstm_backward_steps(&g, o, 9), &bufs);
            let want_dz = cref::lstm_backward(&g, &dout, &whh, &gates, &cells, side);
            assert_close(&format!("lstm steps {what} dz"), &floats(&got[5]), &want_dz, bt, 1e-3);

            // GRU and Elman, from a given state when masked
            g.init_width = if masked { hidden } else { 0 };
            let init = f32ed(&rand_vec(batch * g.init_width + 1, seed + 8));
            let side = Side { mask: &mask, init: &init };
            let o = numbered_operands();
            let g3 = 3 * hidden;
            let gx = f32ed(&rand_vec(batch * steps * g3, seed + 2));
            let whh = f32ed(&rand_vec(hidden * g3, seed + 3).iter().map(|v| v * 0.2).collect::<Vec<_>>());
            let bhh = f32ed(&rand_vec(g3, seed + 4));
            let bufs = [
                words(&gx),
                words(&whh),
                vec![0; batch * steps * g3],
                vec![0; seq],
                vec![0; seq],
                vec![0; out_len],
                words(&bhh),
                words(&mask),
                words(&init),
                vec![0; 4],
                carry.clone(),
            ];
            let got = run_calls(&kernels::gru_forward_steps(&g, o.clone()), &bufs);
            let want = cref::gru_forward(&g, &gx, &whh, &bhh, side);
            assert_close(&format!("gru steps {what} gates"), &floats(&got[2]), &want.gates, tol, 1e-4);
            assert_close(&format!("gru steps {what} hprev"), &floats(&got[4]), &want.hprev, tol, 1e-4);
            assert_close(&format!("gru steps {what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
            let saved = cref::RecurrenceForward {
                gates: f32ed(&want.gates),
                cells: f32ed(&want.cells),
                hprev: f32ed(&want.hprev),
                out: Vec::new(),
            };
            let bufs = [
                words(&dout),
                words(&whh),
                words(&saved.gates),
                words(&saved.cells),
                words(&saved.hprev),
                vec![0; batch * steps * g3],
                vec![0; batch * steps * g3],
                words(&mask),
                words(&init),
                vec![0; 4],
                carry.clone(),
            ];
            let got = run_calls(&kernels::gru_backward_steps(&g, o.clone(), 10), &bufs);
            let (dgx, dgh) = cref::gru_backward(&g, &dout, &whh, &saved, side);
            assert_close(&format!("gru steps {what} dgx"), &floats(&got[5]), &dgx, bt, 1e-3);
            assert_close(&format!("gru steps {what} dgh"), &floats(&got[6]), &dgh, bt, 1e-3);

            let gx = f32ed(&rand_vec(seq, seed + 5));
            let whh = f32ed(&rand_vec(hidden * hidden, seed + 6).iter().map(|v| v * 0.2).collect::<Vec<_>>());
            let act = Act::Tanh;
            let bufs = [
                words(&gx),
                words(&whh),
                vec![0; 4],
                vec![0; seq],
                vec![0; seq],
                vec![0; out_len],
                vec![0; 4],
                words(&mask),
                words(&init),
                vec![0; 4],
                carry.clone(),
            ];
            let got = run_calls(&kernels::elman_forward_steps(&g, act, o.clone()), &bufs);
            let want = cref::elman_forward(&g, act, &gx, &whh, side);
            assert_close(&format!("elman steps {what} h"), &floats(&got[3]), &want.cells, tol, 1e-4);
            assert_close(&format!("elman steps {what} out"), &floats(&got[5]), &want.out, tol, 1e-4);
            let cells = f32ed(&want.cells);
            let bufs = [
                words(&dout),
                words(&whh),
                vec![0; 4],
                words(&cells),
                vec![0; 4],
                vec![0; seq],
                vec![0; 4],
                words(&mask),
                words(&init),
                vec![0; 4],
                carry.clone(),
            ];
            let got = run_calls(&kernels::elman_backward_steps(&g, act, o, 10), &bufs);
            let da = cref::elman_backward(&g, act, &dout, &whh, &cells, side);
            assert_close(&format!("elman steps {what} da"), &floats(&got[5]), &da, bt, 1e-3);
        }
    }
}

/// On adapters that take the rnn_lanes kernels (lavapipe), the LSTM, GRU and
/// Elman cases above with H a multiple of 4 up to 32 ran it: it is what specialize picks.
#[test]
fn lanes_variants_are_chosen_where_they_fit() {
    use medgpu::kernels::KernelId;
    let v = Variants::detect(&gpu());
    if !v.rnn_lanes {
        eprintln!("{} does not take the one-subgroup-per-row recurrent kernels", gpu().describe());
        return;
    }
    let o = numbered_operands();
    let lanes = [
        KernelId::LstmForwardLanes,
        KernelId::LstmBackwardLanes,
        KernelId::GruForwardLanes,
        KernelId::GruBackwardLanes,
        KernelId::ElmanForwardLanes,
        KernelId::ElmanBackwardLanes,
    ];
    for (hidden, fits) in [(32, true), (24, true), (8, true), (5, false), (64, false)] {
        let g = RnnGeom::new(3, 4, hidden, true);
        let calls = [
            kernels::lstm_forward(&g, o.clone().lstm()),
            kernels::lstm_backward(&g, o.clone().lstm()),
            kernels::gru_forward(&g, o.clone()),
            kernels::gru_backward(&g, o.clone()),
            kernels::elman_forward(&g, kernels::Act::Tanh, o.clone()),
            kernels::elman_backward(&g, kernels::Act::Relu, o.clone()),
        ];
        for call in calls {
            let k = kernels::specialize(call, v).kernel;
            assert_eq!(lanes.contains(&k), fits, "hidden {hidden}: {}", k.entry_point());
        }
    }
}

/// The recurrent weight gradients in one pass over dz (rnn_grads.wgsl, on
/// adapters that take rnn_lanes.wgsl) against f64 sums: row counts past
/// whole chunks, widths of an LSTM (4H) and of an Elman layer (H, not a
/// multiple of 32), 1 to 8 features, written and added to.
#[test]
fn recurrent_weight_grads_in_one_pass_match_reference() {
    use medgpu::kernels::RnnGradOperands;
    if !Variants::detect(&gpu()).rnn_lanes {
        eprintln!("{} does not take rnn_grads.wgsl", gpu().describe());
        return;
    }
    for (ci, &(rows, hidden, features, width)) in
        [(300, 8, 1, 32), (129, 32, 3, 128), (77, 12, 8, 12), (5, 4, 2, 16)].iter().enumerate()
    {
        for acc in [false, true] {
            let seed = 15000 + ci as u64 * 10 + acc as u64;
            let hprev = f32ed(&rand_vec(rows * hidden, seed));
            let x = f32ed(&rand_vec(rows * features, seed + 1));
            let dz = f32ed(&rand_vec(rows * width, seed + 2));
            let init = |n: usize, s: u64| if acc { f32ed(&rand_vec(n, s)) } else { vec![0.0; n] };
            let (whh0, wih0, b0) =
                (init(hidden * width, seed + 3), init(features * width, seed + 4), init(width, seed + 5));
            let chunks = kernels::rnn_grads_chunks(rows);
            let bufs = [
                words(&hprev),
                words(&x),
                words(&dz),
                vec![0; chunks * (hidden + features + 1) * width],
                words(&whh0),
                words(&wih0),
                words(&b0),
            ];
            let o = RnnGradOperands {
                hprev: 0,
                x: 1,
                dz: 2,
                partials: 3,
                whh: 4,
                wih: 5,
                bias: 6,
                accumulate: [acc; 3],
            };
            let mut got = bufs.to_vec();
            for call in kernels::rnn_weight_grads(rows, hidden, features, width, o) {
                got = run_call(&call, &got);
            }
            // f64 sums over the rows: lhs[r] . dz[r] for lhs = hprev, x, 1
            let sums = |lhs: &[f64], cols: usize, start: &[f64]| -> Vec<f64> {
                let mut out = start.to_vec();
                for r in 0..rows {
                    for k in 0..cols {
                        for n in 0..width {
                            out[k * width + n] += lhs[r * cols + k] * dz[r * width + n];
                        }
                    }
                }
                out
            };
            let what = format!("rows {rows} hidden {hidden} features {features} width {width} acc {acc}");
            let tol = 1e-5 * (rows as f64).sqrt();
            assert_close(&format!("{what} w_hh"), &floats(&got[4]), &sums(&hprev, hidden, &whh0), tol, 1e-4);
            assert_close(&format!("{what} w_ih"), &floats(&got[5]), &sums(&x, features, &wih0), tol, 1e-4);
            assert_close(&format!("{what} b"), &floats(&got[6]), &sums(&vec![1.0; rows], 1, &b0), tol, 1e-4);
        }
    }
}

/// The LSTM backward that also sums the weight gradients (rnn_lanes.wgsl
/// `lstm_backward_grads_lanes` and rnn_grads_reduce, on adapters that take
/// rnn_lanes.wgsl) against the f64 backward and f64 sums over its dz:
/// batches that give one and several sequences per workgroup and a last
/// workgroup with fewer, hidden sizes of 1 to 8 lanes, 1 to 8 features,
/// padded steps from a given state (h_{t-1} read; without padding it is
/// recomputed, and hprev is left zero), gradients written and added to, dz
/// written or not.
#[test]
fn lstm_backward_with_weight_grads_matches_reference() {
    use medgpu::kernels::RnnGradOperands;
    if !Variants::detect(&gpu()).rnn_lanes {
        eprintln!("{} does not take rnn_lanes.wgsl", gpu().describe());
        return;
    }
    for (ci, &(batch, steps, hidden, features)) in
        [(3, 5, 4, 1), (37, 3, 12, 3), (20, 4, 32, 8), (33, 2, 8, 2)].iter().enumerate()
    {
        for (last_only, masked) in CASES {
            let acc = masked;
            let (mut g, mask) = geom_and_mask(batch, steps, hidden, last_only, masked);
            let seed = 16000 + ci as u64 * 10 + last_only as u64 + 2 * masked as u64;
            g.init_width = if masked { 2 * hidden } else { 0 };
            let init = f32ed(&rand_vec(batch * g.init_width + 1, seed + 7));
            let side = Side { mask: &mask, init: &init };
            let (g4, rows) = (4 * hidden, batch * steps);
            let gx = f32ed(&rand_vec(rows * g4, seed));
            let whh = f32ed(&rand_vec(hidden * g4, seed + 1).iter().map(|v| v * 0.5).collect::<Vec<_>>());
            let fwd = cref::lstm_forward(&g, &gx, &whh, side);
            let (gates, cells, hprev) = (f32ed(&fwd.gates), f32ed(&fwd.cells), f32ed(&fwd.hprev));
            let out_len = if last_only { batch * hidden } else { rows * hidden };
            let dout = f32ed(&rand_vec(out_len, seed + 2));
            let x = f32ed(&rand_vec(rows * features, seed + 3));
            let start = |n: usize, s: u64| if acc { f32ed(&rand_vec(n, s)) } else { vec![0.0; n] };
            let (whh0, wih0, b0) =
                (start(hidden * g4, seed + 4), start(features * g4, seed + 5), start(g4, seed + 6));
            let partials = kernels::lstm_grads_partials(batch);
            // without a step mask the kernel recomputes h_{t-1}: it must not need hprev
            let hprev_buf = if masked { words(&hprev) } else { vec![0; rows * hidden] };
            let bufs = [
                words(&dout),
                words(&whh),
                words(&gates),
                words(&cells),
                hprev_buf,
                vec![0; rows * g4],
                words(&mask),
                words(&init),
                vec![0; 4],
                words(&x),
                vec![0; partials * (hidden + features + 1) * g4],
                words(&whh0),
                words(&wih0),
                words(&b0),
            ];
            let o = numbered_lstm_operands();
            let grads = RnnGradOperands {
                hprev: 4,
                x: 9,
                dz: 5,
                partials: 10,
                whh: 11,
                wih: 12,
                bias: 13,
                accumulate: [acc; 3],
            };
            // dz is written where it is read after (the layer input's
            // gradient): every other shape (each is a compile of a large
            // kernel, seconds on a software adapter without a shader cache)
            let store_dz = ci % 2 == 1;
            let calls = kernels::lstm_backward_with_grads(&g, features, o, grads, store_dz);
            assert_eq!(calls[0].kernel.entry_point(), "lstm_backward_grads_lanes");
            let got = run_calls(&calls, &bufs);
            let dz = cref::lstm_backward(&g, &dout, &whh, &gates, &cells, side);
            let what = format!("lstm {g:?} features {features} acc {acc} store_dz {store_dz}");
            let want_dz = if store_dz { dz.clone() } else { vec![0.0; rows * g4] };
            assert_close(&format!("{what} dz"), &floats(&got[5]), &want_dz, 1e-5 * steps as f64, 1e-3);
            // f64 sums over the rows: lhs[r] . dz[r] for lhs = hprev, x, 1
            let sums = |lhs: &[f64], cols: usize, start: &[f64]| -> Vec<f64> {
                let mut out = start.to_vec();
                for r in 0..rows {
                    for k in 0..cols {
                        for n in 0..g4 {
                            out[k * g4 + n] += lhs[r * cols + k] * dz[r * g4 + n];
                        }
                    }
                }
                out
            };
            let tol = 1e-5 * (rows as f64).sqrt() * steps as f64;
            assert_close(&format!("{what} w_hh"), &floats(&got[11]), &sums(&hprev, hidden, &whh0), tol, 1e-3);
            assert_close(&format!("{what} w_ih"), &floats(&got[12]), &sums(&x, features, &wih0), tol, 1e-3);
            assert_close(&format!("{what} b"), &floats(&got[13]), &sums(&vec![1.0; rows], 1, &b0), tol, 1e-3);
        }
    }
}

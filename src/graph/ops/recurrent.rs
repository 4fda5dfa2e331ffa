//! Recurrent layers (LSTM, GRU, Elman) over sequences [batch, T, F]: the
//! input product x . w_ih + b for all steps as one matmul, then the
//! recurrence (one persistent dispatch, or one per step); the backward runs
//! through time and its weight gradients are lowered in recurrent_grads.rs.

use super::super::autodiff::{Pass, Ref};
use super::recurrent_grads::{backward_calls, RecurrentGrads, RecurrentLayer};
use super::{Backward, Forward};
use crate::error::{Error, Result};
use crate::graph::{Act, Class, Graph, Init, Op, TensorId};
use crate::kernels::{self, Call, Epilogue, MatmulOperands, RecurrenceOperands, RnnGeom};
use serde::{Deserialize, Serialize};

/// The cell of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    /// LSTM: gates i, f, g, o.
    Lstm,
    /// GRU: gates r, z, n, the reset gate applied after the hidden matmul.
    Gru,
    /// Elman RNN: h_t = act(x . w_ih + b + h_{t-1} . w_hh), tanh or relu.
    Elman(Act),
}

impl Cell {
    /// Gates per unit (the width of w_ih and w_hh is gates x units).
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Elman(_) => 1,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
            Cell::Elman(_) => "rnn",
        }
    }

    /// The forward recurrence: one persistent dispatch, or one per step
    /// (`g.per_step`: above 64 units).
    pub(crate) fn forward_calls<B: Clone>(self, g: &RnnGeom, o: RecurrenceOperands<B>) -> Vec<Call<B>> {
        match (self, g.per_step) {
            (Cell::Lstm, false) => vec![kernels::lstm_forward(g, o.lstm())],
            (Cell::Gru, false) => vec![kernels::gru_forward(g, o)],
            (Cell::Elman(act), false) => vec![kernels::elman_forward(g, act, o)],
            (Cell::Lstm, true) => kernels::lstm_forward_steps(g, o.lstm()),
            (Cell::Gru, true) => kernels::gru_forward_steps(g, o),
            (Cell::Elman(act), true) => kernels::elman_forward_steps(g, act, o),
        }
    }

    /// Backpropagation through time, as [`Cell::forward_calls`]; `carry`
    /// [B, 2H] is the per-step kernels' scratch (unused otherwise).
    pub(crate) fn backward_calls<B: Clone>(
        self,
        g: &RnnGeom,
        o: RecurrenceOperands<B>,
        carry: B,
    ) -> Vec<Call<B>> {
        match (self, g.per_step) {
            (Cell::Lstm, false) => vec![kernels::lstm_backward(g, o.lstm())],
            (Cell::Gru, false) => vec![kernels::gru_backward(g, o)],
            (Cell::Elman(act), false) => vec![kernels::elman_backward(g, act, o)],
            (Cell::Lstm, true) => kernels::lstm_backward_steps(g, o.lstm(), carry),
            (Cell::Gru, true) => kernels::gru_backward_steps(g, o, carry),
            (Cell::Elman(act), true) => kernels::elman_backward_steps(g, act, o, carry),
        }
    }
}

impl Graph {
    /// An LSTM layer over x [batch, T, F]: see [`Graph::recurrent`].
    pub fn lstm(
        &mut self,
        name: &str,
        x: TensorId,
        units: usize,
        return_sequences: bool,
    ) -> Result<TensorId> {
        self.recurrent(name, Cell::Lstm, x, units, return_sequences)
    }

    /// A recurrent layer over x [batch, T, F] with `units` hidden units: creates
    /// `name.w_ih` [F, G*H], `name.w_hh` [H, G*H], `name.bias` \[G*H\] (LSTM:
    /// forget-gate bias 1) and for a GRU `name.bias_hh` \[3H\]. Outputs h_T
    /// [batch, H], or every h_t [batch, T, H] with `return_sequences` (to
    /// stack layers). With `bidirectional` a second set of weights (suffix
    /// `_reverse`) runs from the last step to the first and its h fills the
    /// second half of each output row: [batch, (T,) 2H].
    pub fn recurrent_layer(
        &mut self,
        name: &str,
        cell: Cell,
        x: TensorId,
        units: usize,
        return_sequences: bool,
        bidirectional: bool,
    ) -> Result<TensorId> {
        self.recurrent_with(name, cell, x, units, return_sequences, bidirectional, None)
    }

    /// A one-direction recurrent layer whose state starts at `init` [batch,
    /// S] instead of 0: for an LSTM h_{-1} then c_{-1} (S = 2H), otherwise
    /// h_{-1} (S = H). The state can come from another layer (an encoder's
    /// last state, a dense projection of static features), and the
    /// backward passes dL/d(init) to it.
    pub fn recurrent_from_state(
        &mut self,
        name: &str,
        cell: Cell,
        x: TensorId,
        units: usize,
        return_sequences: bool,
        init: TensorId,
    ) -> Result<TensorId> {
        self.recurrent_with(name, cell, x, units, return_sequences, false, Some(init))
    }

    #[allow(clippy::too_many_arguments)]
    fn recurrent_with(
        &mut self,
        name: &str,
        cell: Cell,
        x: TensorId,
        units: usize,
        return_sequences: bool,
        bidirectional: bool,
        init: Option<TensorId>,
    ) -> Result<TensorId> {
        let kind = cell.kind();
        let (batch, steps) = match *self.shape(x) {
            [b, t, _] => (b, t),
            ref s => {
                return Err(Error::Model(format!(
                    "{kind} '{name}': input shape {s:?} is not [batch, steps, features]; \
                     give sequence data a window (`window`)"
                )))
            }
        };
        if units == 0 {
            return Err(Error::Model(format!("{kind} '{name}': 0 units; give at least 1")));
        }
        if let Cell::Elman(a) = cell {
            if !matches!(a, Act::Tanh | Act::Relu) {
                return Err(Error::Model(format!(
                    "rnn '{name}': the activation must be tanh or relu, not {a:?}"
                )));
            }
        }
        let mask_width = match self.step_mask.map(|m| self.shape(m).to_vec()) {
            None => 0,
            Some(s) if s.len() == 3 && s[..2] == [batch, steps] => s[2],
            Some(s) => {
                return Err(Error::Model(format!(
                    "{kind} '{name}': the step mask {s:?} does not match the input's {batch} sequences \
                     of {steps} steps"
                )))
            }
        };
        let init_width = if cell == Cell::Lstm { 2 * units } else { units };
        if let Some(i) = init {
            if self.shape(i) != [batch, init_width] {
                return Err(Error::Model(format!(
                    "{kind} '{name}': the initial state is {:?}; it must be [{batch}, {init_width}] \
                     ({})",
                    self.shape(i),
                    if cell == Cell::Lstm { "h then c for every sequence" } else { "h for every sequence" }
                )));
            }
        }
        let width = if bidirectional { 2 * units } else { units };
        let shape = if return_sequences { vec![batch, steps, width] } else { vec![batch, width] };
        let out = self.activation_out(name, shape);
        let geom = crate::kernels::RnnGeom {
            out_width: width,
            mask_width,
            init_width: if init.is_some() { init_width } else { 0 },
            ..crate::kernels::RnnGeom::new(batch, steps, units, !return_sequences)
        };
        let geom = crate::kernels::RnnGeom { per_step: geom.per_step || self.rnn_per_step, ..geom };
        self.direction(name, "", cell, x, geom, init, out)?;
        if bidirectional {
            let geom = crate::kernels::RnnGeom { reverse: true, out_offset: units, ..geom };
            self.direction(name, "_reverse", cell, x, geom, None, out)?;
        }
        Ok(out)
    }

    /// Marks `x` [batch, T, C] (normally the input) as the step mask of
    /// every recurrent layer added after: its last channel is 1 at real
    /// steps and 0 at padding, and a padded step keeps the layer's state,
    /// so padding changes neither the outputs at real steps, the last
    /// state, nor any gradient.
    pub fn set_step_mask(&mut self, x: TensorId) -> Result<()> {
        match *self.shape(x) {
            [_, _, c] if c >= 1 => {
                self.step_mask = Some(x);
                Ok(())
            }
            ref s => {
                Err(Error::Model(format!("a step mask needs a sequence [batch, steps, channels], not {s:?}")))
            }
        }
    }

    /// A one-direction recurrent layer: see [`Graph::recurrent_layer`].
    pub fn recurrent(
        &mut self,
        name: &str,
        cell: Cell,
        x: TensorId,
        units: usize,
        return_sequences: bool,
    ) -> Result<TensorId> {
        self.recurrent_layer(name, cell, x, units, return_sequences, false)
    }

    /// One direction: its weights (names end in `suffix`), saved tensors and op.
    #[allow(clippy::too_many_arguments)]
    fn direction(
        &mut self,
        name: &str,
        suffix: &str,
        cell: Cell,
        x: TensorId,
        geom: crate::kernels::RnnGeom,
        init: Option<TensorId>,
        out: TensorId,
    ) -> Result<()> {
        let features = self.shape(x)[2];
        let (batch, steps, units) = (geom.batch, geom.steps, geom.hidden);
        let width = cell.gates() * units;
        let w_ih = self.param(&format!("{name}.w_ih{suffix}"), &[features, width], Init::XavierUniform)?;
        let w_hh = self.param(&format!("{name}.w_hh{suffix}"), &[units, width], Init::XavierUniform)?;
        let bias_init = if cell == Cell::Lstm { Init::LstmBias } else { Init::Zeros };
        let b = self.param(&format!("{name}.bias{suffix}"), &[width], bias_init)?;
        let b_hh = match cell {
            Cell::Gru => Some(self.param(&format!("{name}.bias_hh{suffix}"), &[width], Init::Zeros)?),
            _ => None,
        };
        let internal = |g: &mut Graph, what: &str, w: usize| {
            g.add_tensor(format!("{name}.{what}{suffix}"), vec![batch, steps, w], Class::Activation)
        };
        let gx = internal(self, "gx", width);
        let gates = (!matches!(cell, Cell::Elman(_))).then(|| internal(self, "gates", width));
        let cells = internal(self, "cells", units);
        let hprev = internal(self, "hprev", units);
        self.ops.push(Op::Recurrent {
            name: name.into(),
            cell,
            x,
            w_ih,
            w_hh,
            b,
            b_hh,
            gx,
            gates,
            cells,
            hprev,
            geom,
            mask: self.step_mask,
            init,
            out,
        });
        Ok(())
    }
}

/// The input product (unless a persistent LSTM over few features adds it
/// itself) and the recurrence.
pub(super) fn forward(f: &Forward, op: &Op, calls: &mut Vec<Call<Ref>>) {
    let t = Ref::T;
    let Op::Recurrent {
        cell,
        x,
        w_ih,
        w_hh,
        b: bias,
        b_hh,
        gx,
        gates,
        cells,
        hprev,
        geom,
        mask,
        init,
        out,
        ..
    } = op
    else {
        return;
    };
    let (rows, features, width) = (geom.batch * geom.steps, f.graph.shape(*w_ih)[0], f.graph.shape(*w_hh)[1]);
    // a persistent LSTM over few features adds x . w_ih + b itself (gx stays unused)
    let fused = *cell == Cell::Lstm && !geom.per_step && features <= kernels::RNN_MAX_FUSED_INPUTS;
    if !fused {
        let ops = MatmulOperands { a: t(*x), b: t(*w_ih), bias: Some(t(*bias)), aux: None, c: t(*gx) };
        calls.push(kernels::matmul_nn(rows, width, features, ops, Epilogue::PLAIN, Ref::Dummy));
    }
    let o = RecurrenceOperands {
        src: if fused { t(*x) } else { t(*gx) },
        whh: t(*w_hh),
        gates: gates.map_or(Ref::Dummy, t),
        cells: t(*cells),
        hprev: t(*hprev),
        dst: t(*out),
        aux: b_hh.map_or(Ref::Dummy, t),
        mask: mask.map_or(Ref::Dummy, t),
        init: init.map_or(Ref::Dummy, t),
        dinit: Ref::Dummy,
    };
    // h_{t-1} is read by nothing (inference), or only by an LSTM
    // backward that recomputes it (no step mask)
    let recomputed =
        *cell == Cell::Lstm && geom.mask_width == 0 && kernels::rnn_grads_fit(f.variants, geom, features);
    let hprev_unread = f.pass == Pass::Forward || recomputed;
    let geom = &RnnGeom { hprev_unread, ..*geom };
    if fused {
        calls.push(kernels::lstm_forward_from_input(geom, features, o.lstm(), t(*w_ih), t(*bias)));
    } else {
        calls.extend(cell.forward_calls(geom, o));
    }
}

/// Backpropagation through time, the weight gradients, and dx = dgx . w_ihᵀ.
pub(super) fn backward(bw: &mut Backward, op: &Op, gz: TensorId) -> Result<()> {
    let t = Ref::T;
    let Op::Recurrent { cell, x, w_ih, w_hh, b: bias, b_hh, gates, cells, hprev, geom, mask, init, .. } = op
    else {
        return Ok(());
    };
    let (rows, features, width) =
        (geom.batch * geom.steps, bw.graph.shape(*w_ih)[0], bw.graph.shape(*w_hh)[1]);
    let name = bw.graph.name(*cells).to_string();
    let scratch_shape = vec![geom.batch, geom.steps, width];
    // the gradients of gx and of the hidden product (one tensor but for the GRU)
    let dgx = bw.scratch(format!("gradgx({name})"), scratch_shape.clone());
    let dgh = if *cell == Cell::Gru { bw.scratch(format!("gradgh({name})"), scratch_shape) } else { dgx };
    let mut o = RecurrenceOperands {
        src: t(gz),
        whh: t(*w_hh),
        gates: gates.map_or(Ref::Dummy, t),
        cells: t(*cells),
        hprev: t(*hprev),
        dst: t(dgx),
        aux: if *cell == Cell::Gru { t(dgh) } else { Ref::Dummy },
        mask: mask.map_or(Ref::Dummy, t),
        init: init.map_or(Ref::Dummy, t),
        dinit: Ref::Dummy,
    };
    // dL/d(initial state), when the state comes from a tensor that needs it
    let mut geom = *geom;
    if let Some(i) = init.filter(|i| bw.needs(*i)) {
        o.dinit = t(bw.grad(i));
        geom.init_grad = true;
        geom.init_accumulate = bw.accumulates(i);
    }
    // per step: each unit's dL/dh (and dL/dc) between the step dispatches
    let carry =
        geom.per_step.then(|| t(bw.scratch(format!("carry({name})"), vec![geom.batch, 2 * geom.hidden])));
    let gwhh = bw.grad(*w_hh);
    let gbhh = b_hh.map(|bh| bw.grad(bh));
    let (gwih, gb) = (bw.grad(*w_ih), bw.grad(*bias));
    let acc_bhh = b_hh.is_some_and(|bh| bw.accumulates(bh));
    let accumulate = [bw.accumulates(*w_hh), acc_bhh, bw.accumulates(*w_ih), bw.accumulates(*bias)];
    let grads = RecurrentGrads { whh: gwhh, bhh: gbhh, wih: gwih, bias: gb, accumulate };
    let dz_needed = bw.needs(*x);
    let layer = RecurrentLayer { cell: *cell, geom: &geom, features, width, name: &name, dz_needed };
    let inputs = (*hprev, *x, dgx, dgh);
    let carry = carry.unwrap_or(Ref::Dummy);
    let calls = backward_calls(&layer, o, carry, inputs, grads, bw.variants, &mut bw.tensors);
    bw.calls.extend(calls);
    if bw.needs(*x) {
        let gx = bw.grad(*x);
        let acc = bw.accumulates(*x);
        let (grad_act, aux) = bw.fused_act(*x);
        let ops = MatmulOperands { a: t(dgx), b: t(*w_ih), bias: None, aux, c: t(gx) };
        let epi = Epilogue { act: Act::None, grad_act, accumulate: acc };
        bw.calls.push(kernels::matmul_nt(rows, features, width, ops, epi, Ref::Dummy));
    }
    Ok(())
}

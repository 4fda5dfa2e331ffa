//! Graph ops over NCHW image tensors: convolution, pooling, upsampling and
//! batch normalization, with shape rules whose errors name the layer and
//! the shapes.

use super::{Act, Class, Graph, Init, Op, TensorId, WindowGeom};
use crate::error::{Error, Result};
use crate::kernels::{self, Call, RecurrenceOperands, RnnGeom};
use serde::{Deserialize, Serialize};

/// A size given once for both axes or as [height, width].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Pair {
    /// The same for height and width.
    Both(usize),
    /// [height, width].
    Each([usize; 2]),
}

impl Pair {
    /// (height, width).
    pub fn hw(self) -> (usize, usize) {
        match self {
            Pair::Both(v) => (v, v),
            Pair::Each([h, w]) => (h, w),
        }
    }
}

/// Named padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// Output size ceil(in / stride); the padding is split between both
    /// sides, the odd one at the bottom/right.
    Same,
    /// No padding.
    Valid,
}

/// How a window op pads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Padding {
    /// `same` or `valid`.
    Mode(PadMode),
    /// Explicit zero padding on both sides of each axis.
    Explicit(Pair),
}

impl Padding {
    /// No padding.
    pub const VALID: Padding = Padding::Mode(PadMode::Valid);
    /// Output size ceil(in / stride).
    pub const SAME: Padding = Padding::Mode(PadMode::Same);

    /// (out size, padding before) along one axis, or None when the window
    /// does not fit.
    fn axis(self, input: usize, k: usize, s: usize, explicit: usize) -> Option<(usize, usize)> {
        match self {
            Padding::Mode(PadMode::Same) => {
                let out = input.div_ceil(s);
                let total = ((out - 1) * s + k).saturating_sub(input);
                Some((out, total / 2))
            }
            Padding::Mode(PadMode::Valid) => (input >= k).then(|| ((input - k) / s + 1, 0)),
            Padding::Explicit(_) => {
                (input + 2 * explicit >= k).then(|| ((input + 2 * explicit - k) / s + 1, explicit))
            }
        }
    }
}

/// Which window op a [`Op::Pool`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the input positions the window covers.
    Avg,
    /// Nearest-neighbour upsampling (window = stride = the factor).
    Upsample,
}

/// Window, stride and padding of a convolution or pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel / window size.
    pub kernel: Pair,
    /// Stride.
    pub stride: Pair,
    /// Padding.
    pub padding: Padding,
}

impl Graph {
    fn image_shape(&self, what: &str, name: &str, x: TensorId) -> Result<[usize; 4]> {
        match *self.shape(x) {
            [b, c, h, w] => Ok([b, c, h, w]),
            ref s => Err(Error::Model(format!(
                "{what} '{name}': input shape {s:?} is not [batch, channels, height, width]; \
                 give image data an input shape (--input-shape C,H,W)"
            ))),
        }
    }

    /// The geometry of a window op on x with `oc` output channels.
    fn geom(&self, what: &str, name: &str, x: TensorId, oc: usize, win: Window) -> Result<WindowGeom> {
        let [batch, c, h, w] = self.image_shape(what, name, x)?;
        let ((kh, kw), (sh, sw)) = (win.kernel.hw(), win.stride.hw());
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::Model(format!("{what} '{name}': kernel and stride must be at least 1")));
        }
        let (eh, ew) = match win.padding {
            Padding::Explicit(p) => p.hw(),
            _ => (0, 0),
        };
        let fit = win.padding.axis(h, kh, sh, eh).zip(win.padding.axis(w, kw, sw, ew));
        let Some(((oh, ph), (ow, pw))) = fit else {
            return Err(Error::Model(format!(
                "{what} '{name}': a {kh}x{kw} window with padding {:?} does not fit the input of shape {:?}",
                win.padding,
                self.shape(x)
            )));
        };
        Ok(WindowGeom { batch, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw })
    }

    /// A 2-D convolution layer: creates `name.weight` [filters, C, KH, KW]
    /// and `name.bias` \[filters\]; out = act(conv(x) + bias).
    pub fn conv2d(
        &mut self,
        name: &str,
        x: TensorId,
        filters: usize,
        win: Window,
        act: Act,
    ) -> Result<TensorId> {
        if filters == 0 {
            return Err(Error::Model(format!("conv2d '{name}': filters must be at least 1")));
        }
        let g = self.geom("conv2d", name, x, filters, win)?;
        let init = match act {
            Act::Relu | Act::LeakyRelu => Init::HeNormal,
            _ => Init::XavierUniform,
        };
        let w = self.param(&format!("{name}.weight"), &[filters, g.c, g.kh, g.kw], init)?;
        let b = Some(self.param(&format!("{name}.bias"), &[filters], Init::Zeros)?);
        let out = self.activation_out(name, vec![g.batch, filters, g.oh, g.ow]);
        self.ops.push(Op::Conv2d { name: name.into(), x, w, b, act, geom: g, out });
        Ok(out)
    }

    /// Max or average pooling with `win`.
    pub fn pool2d(&mut self, name: &str, kind: PoolKind, x: TensorId, win: Window) -> Result<TensorId> {
        let what = if kind == PoolKind::Max { "maxpool2d" } else { "avgpool2d" };
        let c = self.image_shape(what, name, x)?[1];
        let g = self.geom(what, name, x, c, win)?;
        let shape = vec![g.batch, c, g.oh, g.ow];
        let argmax = (kind == PoolKind::Max)
            .then(|| self.add_tensor(format!("{name}.argmax"), shape.clone(), Class::Activation));
        let out = self.activation_out(name, shape);
        self.ops.push(Op::Pool { name: name.into(), kind, x, geom: g, argmax, out });
        Ok(out)
    }

    /// Average over each whole plane: [batch, C, H, W] -> [batch, C, 1, 1].
    pub fn global_avgpool2d(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let [_, _, h, w] = self.image_shape("global_avgpool2d", name, x)?;
        let win = Window { kernel: Pair::Each([h, w]), stride: Pair::Both(1), padding: Padding::VALID };
        self.pool2d(name, PoolKind::Avg, x, win)
    }

    /// Nearest-neighbour upsampling by `factor`: [.., H, W] -> [.., H*fh, W*fw].
    pub fn upsample2d(&mut self, name: &str, x: TensorId, factor: Pair) -> Result<TensorId> {
        let [batch, c, h, w] = self.image_shape("upsample2d", name, x)?;
        let (fh, fw) = factor.hw();
        if fh == 0 || fw == 0 {
            return Err(Error::Model(format!("upsample2d '{name}': the factor must be at least 1")));
        }
        let g = WindowGeom {
            batch,
            c,
            h,
            w,
            oc: c,
            oh: h * fh,
            ow: w * fw,
            kh: fh,
            kw: fw,
            sh: fh,
            sw: fw,
            ph: 0,
            pw: 0,
        };
        let out = self.activation_out(name, vec![batch, c, g.oh, g.ow]);
        self.ops.push(Op::Pool {
            name: name.into(),
            kind: PoolKind::Upsample,
            x,
            geom: g,
            argmax: None,
            out,
        });
        Ok(out)
    }

    /// Batch normalization over dim 1 of [batch, C] or [batch, C, H, W]:
    /// creates `name.gamma` (ones), `name.beta` (zeros) and the state
    /// `name.running_mean` (zeros), `name.running_var` (ones). A training
    /// graph normalizes with the batch statistics, an inference graph with
    /// the running ones.
    pub fn batchnorm(
        &mut self,
        name: &str,
        x: TensorId,
        eps: f32,
        momentum: f32,
        act: Act,
        training: bool,
    ) -> Result<TensorId> {
        let shape = self.shape(x).to_vec();
        if shape.len() != 2 && shape.len() != 4 {
            return Err(Error::Model(format!(
                "batchnorm '{name}': input shape {shape:?} is neither [batch, features] nor [batch, C, H, W]"
            )));
        }
        if !(eps > 0.0 && eps.is_finite() && (0.0..=1.0).contains(&momentum)) {
            return Err(Error::Model(format!(
                "batchnorm '{name}': eps must be > 0 and momentum in [0, 1], got eps {eps} and momentum {momentum}"
            )));
        }
        let c = shape[1];
        let gamma = self.param(&format!("{name}.gamma"), &[c], Init::Ones)?;
        let beta = self.param(&format!("{name}.beta"), &[c], Init::Zeros)?;
        let running_mean = self.state(&format!("{name}.running_mean"), &[c], Init::Zeros)?;
        let running_var = self.state(&format!("{name}.running_var"), &[c], Init::Ones)?;
        let saved = self.add_tensor(format!("{name}.saved"), vec![2 * c], Class::Activation);
        let out = self.activation_out(name, shape);
        self.ops.push(Op::BatchNorm {
            name: name.into(),
            x,
            gamma,
            beta,
            running_mean,
            running_var,
            saved,
            act,
            eps,
            momentum,
            training,
            out,
        });
        Ok(out)
    }
}

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
                     give sequence data a window (--window)"
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

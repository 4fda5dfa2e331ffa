//! The geometry of window ops over NCHW image tensors (convolution,
//! pooling, upsampling): sizes, strides, padding, and the shape rule of a
//! window over an image, whose errors name the layer and the shapes.

use super::{Graph, TensorId, WindowGeom};
use crate::error::{Error, Result};
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

/// Which window op a [`crate::graph::Op::Pool`] is.
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
    pub(crate) fn image_shape(&self, what: &str, name: &str, x: TensorId) -> Result<[usize; 4]> {
        match *self.shape(x) {
            [b, c, h, w] => Ok([b, c, h, w]),
            ref s => Err(Error::Model(format!(
                "{what} '{name}': input shape {s:?} is not [batch, channels, height, width]; \
                 give image data an input shape (`input_shape` C,H,W)"
            ))),
        }
    }

    /// The geometry of a window op on x with `oc` output channels.
    pub(crate) fn geom(
        &self,
        what: &str,
        name: &str,
        x: TensorId,
        oc: usize,
        win: Window,
    ) -> Result<WindowGeom> {
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
}

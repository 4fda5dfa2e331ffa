//! Model specs: a list of layers, from a preset (`mlp`, `autoencoder`) or a
//! TOML/JSON file, turned into a graph with a task head.
//!
//! ```toml
//! # model.toml: the body; medgpu adds the output layer the task needs
//! [[layers]]
//! type = "dense"
//! units = 64
//! activation = "relu"
//!
//! [[layers]]
//! type = "dropout"
//! rate = 0.2
//!
//! [[layers]]
//! type = "dense"
//! units = 32
//! activation = "relu"
//! ```
//!
//! Image models add `input_shape = [C, H, W]` (or take it from
//! `--input-shape`) and use `conv2d` (filters, kernel, stride, padding =
//! "same" | "valid" | n | [h, w], activation), `maxpool2d` / `avgpool2d`
//! (kernel, stride defaulting to the kernel, padding), `global_avgpool2d`,
//! `upsample2d` (factor), `batchnorm` (momentum, eps, activation) and
//! `flatten` before the dense layers.

use crate::error::{Error, Result};
use crate::graph::image_ops::{Pair, Window};
use crate::graph::{Act, Cell, Graph, LossKind, Padding, PoolKind, TargetSource, TensorId};
use serde::{Deserialize, Serialize};
use std::path::Path;

fn default_act() -> Act {
    Act::None
}

pub(super) fn three() -> Pair {
    Pair::Both(3)
}

pub(super) fn one() -> Pair {
    Pair::Both(1)
}

pub(super) fn two() -> Pair {
    Pair::Both(2)
}

pub(super) fn same() -> Padding {
    Padding::SAME
}

pub(super) fn valid() -> Padding {
    Padding::VALID
}

fn bn_momentum() -> f32 {
    0.1
}

fn bn_eps() -> f32 {
    1e-5
}

/// One layer of a model body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected layer with a fused activation.
    Dense {
        /// Output units.
        units: usize,
        /// relu, leaky_relu, sigmoid, tanh or none.
        #[serde(default = "default_act")]
        activation: Act,
    },
    /// Inverted dropout during training.
    Dropout {
        /// Drop probability in [0, 1).
        rate: f32,
    },
    /// A standalone activation.
    Activation {
        /// Which activation.
        activation: Act,
    },
    /// 2-D convolution over [C, H, W] with a fused activation.
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Kernel size (default 3).
        #[serde(default = "three")]
        kernel: Pair,
        /// Stride (default 1).
        #[serde(default = "one")]
        stride: Pair,
        /// "same" (default), "valid", or explicit padding.
        #[serde(default = "same")]
        padding: Padding,
        /// Activation (default none).
        #[serde(default = "default_act")]
        activation: Act,
    },
    /// Max pooling.
    Maxpool2d {
        /// Window (default 2).
        #[serde(default = "two")]
        kernel: Pair,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<Pair>,
        /// "valid" (default), "same", or explicit padding.
        #[serde(default = "valid")]
        padding: Padding,
    },
    /// Average pooling (padding is not counted in the mean).
    Avgpool2d {
        /// Window (default 2).
        #[serde(default = "two")]
        kernel: Pair,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<Pair>,
        /// "valid" (default), "same", or explicit padding.
        #[serde(default = "valid")]
        padding: Padding,
    },
    /// Mean of each channel: [C, H, W] -> [C, 1, 1].
    GlobalAvgpool2d,
    /// Nearest-neighbour upsampling.
    Upsample2d {
        /// Factor (default 2).
        #[serde(default = "two")]
        factor: Pair,
    },
    /// Batch normalization over channels (images) or features.
    Batchnorm {
        /// Weight of each batch in the running statistics (default 0.1).
        #[serde(default = "bn_momentum")]
        momentum: f32,
        /// Added to the variance (default 1e-5).
        #[serde(default = "bn_eps")]
        eps: f32,
        /// Activation after the normalization (default none).
        #[serde(default = "default_act")]
        activation: Act,
    },
    /// Marks the end of the image layers; dense layers read the image
    /// flattened in C, H, W order (no copy).
    Flatten,
    /// LSTM over the steps of a sequence (gates i, f, g, o).
    Lstm {
        /// Hidden units (up to 64: one persistent dispatch; more: one dispatch per step).
        units: usize,
        /// Output every step's h (to stack another recurrent layer) instead of the last.
        #[serde(default)]
        return_sequences: bool,
        /// A second direction from the last step to the first; outputs are [.., 2 * units].
        #[serde(default)]
        bidirectional: bool,
    },
    /// GRU over the steps of a sequence (gates r, z, n; reset after the hidden matmul).
    Gru {
        /// Hidden units (up to 64: one persistent dispatch; more: one dispatch per step).
        units: usize,
        /// Output every step's h instead of the last.
        #[serde(default)]
        return_sequences: bool,
        /// A second direction from the last step to the first.
        #[serde(default)]
        bidirectional: bool,
    },
    /// Elman RNN: h_t = act(x . w_ih + b + h_{t-1} . w_hh).
    Rnn {
        /// Hidden units (up to 64: one persistent dispatch; more: one dispatch per step).
        units: usize,
        /// Output every step's h instead of the last.
        #[serde(default)]
        return_sequences: bool,
        /// A second direction from the last step to the first.
        #[serde(default)]
        bidirectional: bool,
        /// tanh (default) or relu.
        #[serde(default = "tanh")]
        activation: Act,
    },
}

fn tanh() -> Act {
    Act::Tanh
}

impl LayerSpec {
    /// The layer type's name in spec files.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Activation { .. } => "activation",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::Maxpool2d { .. } => "maxpool2d",
            LayerSpec::Avgpool2d { .. } => "avgpool2d",
            LayerSpec::GlobalAvgpool2d => "global_avgpool2d",
            LayerSpec::Upsample2d { .. } => "upsample2d",
            LayerSpec::Batchnorm { .. } => "batchnorm",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Lstm { .. } => "lstm",
            LayerSpec::Gru { .. } => "gru",
            LayerSpec::Rnn { .. } => "rnn",
        }
    }

    /// The cell, units, return_sequences and bidirectional of a recurrent layer.
    fn recurrent(&self) -> Option<(Cell, usize, bool, bool)> {
        match *self {
            LayerSpec::Lstm { units, return_sequences, bidirectional } => {
                Some((Cell::Lstm, units, return_sequences, bidirectional))
            }
            LayerSpec::Gru { units, return_sequences, bidirectional } => {
                Some((Cell::Gru, units, return_sequences, bidirectional))
            }
            LayerSpec::Rnn { units, return_sequences, bidirectional, activation } => {
                Some((Cell::Elman(activation), units, return_sequences, bidirectional))
            }
            _ => None,
        }
    }

    fn is_image(&self) -> bool {
        matches!(
            self,
            LayerSpec::Conv2d { .. }
                | LayerSpec::Maxpool2d { .. }
                | LayerSpec::Avgpool2d { .. }
                | LayerSpec::GlobalAvgpool2d
                | LayerSpec::Upsample2d { .. }
        )
    }
}

/// A model body plus the facts needed to rebuild it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `mlp`, `autoencoder` or the name given in the file.
    #[serde(default = "custom_name")]
    pub name: String,
    /// The body, input to last hidden layer.
    pub layers: Vec<LayerSpec>,
    /// Index of the layer whose output is the bottleneck code (autoencoders).
    #[serde(default)]
    pub code_layer: Option<usize>,
    /// [C, H, W] of image input: each data row holds the pixels in that order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<[usize; 3]>,
    /// Steps T of sequence input: each data row holds T steps of
    /// features/T values, step by step (windows of a signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_steps: Option<usize>,
    /// Sequences of different lengths (`--sequence-id`): the last input
    /// channel of each step is 1 at real steps and 0 at padding, and every
    /// recurrent layer keeps its state over padded steps. The steps come
    /// from the data when `sequence_steps` is not given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub step_mask: bool,
}

fn custom_name() -> String {
    "custom".into()
}

/// The output layer and loss a task needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Head {
    /// Output units.
    pub outputs: usize,
    /// Loss on the output.
    pub loss: LossKind,
    /// What the loss compares with.
    pub target: TargetSource,
}

impl ModelSpec {
    /// Reads a spec from a `.toml` or `.json` file.
    pub fn from_file(path: &Path) -> Result<ModelSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, is_json, &path.display().to_string())
    }

    /// Parses spec text (TOML, or JSON when `is_json`); `source` names it in errors.
    pub fn parse(text: &str, is_json: bool, source: &str) -> Result<ModelSpec> {
        let spec: ModelSpec = if is_json {
            serde_json::from_str(text)
                .map_err(|e| Error::Model(format!("{source}:{}:{}: {e}", e.line(), e.column())))?
        } else {
            toml::from_str(text).map_err(|e| {
                let (line, col) = e
                    .span()
                    .and_then(|s| text.get(..s.start.min(text.len())))
                    .map(|before| {
                        (
                            before.matches('\n').count() + 1,
                            before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
                        )
                    })
                    .unwrap_or((0, 0));
                Error::Model(format!("{source}:{line}:{col}: {}", e.message()))
            })?
        };
        if spec.layers.is_empty() {
            return Err(Error::Model(format!(
                "{source}: the model has no layers; add at least one [[layers]] entry"
            )));
        }
        // the input shape may still come from the command line
        spec.validate_layers()?;
        Ok(spec)
    }

    /// Checks each layer's settings and that image layers get image input,
    /// naming the layer (no layers: a linear model).
    pub fn validate(&self) -> Result<()> {
        let mut flat = self.input_shape.is_none();
        for (i, l) in self.layers.iter().enumerate() {
            if l.is_image() && flat {
                return Err(Error::Model(format!(
                    "layer {} ({}): needs image input [C, H, W] before any flatten or dense layer; \
                     give the input shape (`input_shape` C,H,W; input_shape = [C, H, W] in a spec file)",
                    i + 1,
                    l.kind()
                )));
            }
            if matches!(l, LayerSpec::Flatten | LayerSpec::Dense { .. }) {
                flat = true;
            }
            if l.recurrent().is_some() && self.sequence_steps.is_none() && !self.step_mask {
                return Err(Error::Model(format!(
                    "layer {} ({}): needs sequence input; give windows of a signal (`window` W) \
                     or sequence_steps in the spec",
                    i + 1,
                    l.kind()
                )));
            }
        }
        self.validate_layers()
    }

    /// Checks each layer's own settings, naming the layer.
    pub fn validate_layers(&self) -> Result<()> {
        for (i, l) in self.layers.iter().enumerate() {
            match l {
                l if l.recurrent().is_some_and(|(_, u, _, _)| u == 0) => {
                    return Err(Error::Model(format!(
                        "layer {} ({}): units must be at least 1",
                        i + 1,
                        l.kind()
                    )))
                }
                LayerSpec::Rnn { activation, .. } if !matches!(activation, Act::Tanh | Act::Relu) => {
                    return Err(Error::Model(format!(
                        "layer {} (rnn): activation must be tanh or relu",
                        i + 1
                    )))
                }
                LayerSpec::Conv2d { filters: 0, .. } => {
                    return Err(Error::Model(format!("layer {} (conv2d): filters must be at least 1", i + 1)))
                }
                LayerSpec::Dense { units: 0, .. } => {
                    return Err(Error::Model(format!("layer {} (dense): units must be at least 1", i + 1)))
                }
                LayerSpec::Dropout { rate } if !(0.0..1.0).contains(rate) => {
                    return Err(Error::Model(format!(
                        "layer {} (dropout): rate {rate} is not in [0, 1)",
                        i + 1
                    )))
                }
                _ => {}
            }
        }
        if let Some(c) = self.code_layer {
            if c >= self.layers.len() {
                return Err(Error::Model(format!("code_layer {c} is past the {} layers", self.layers.len())));
            }
        }
        Ok(())
    }

    /// Layer sizes for messages, e.g. `30-64-32-1` or `1x8x8-conv16-pool-conv32-pool-10`.
    pub fn describe(&self, inputs: usize, outputs: usize) -> String {
        let mut v = vec![match self.input_shape {
            Some([c, h, w]) => format!("{c}x{h}x{w}"),
            None => match self.sequence_steps {
                Some(t) if t > 0 => format!("{t}x{}", inputs / t),
                _ => inputs.to_string(),
            },
        }];
        for l in &self.layers {
            match l {
                LayerSpec::Dense { units, .. } => v.push(units.to_string()),
                LayerSpec::Conv2d { filters, .. } => v.push(format!("conv{filters}")),
                LayerSpec::Maxpool2d { .. } | LayerSpec::Avgpool2d { .. } => v.push("pool".into()),
                LayerSpec::GlobalAvgpool2d => v.push("gap".into()),
                LayerSpec::Upsample2d { .. } => v.push("up".into()),
                LayerSpec::Batchnorm { .. } => v.push("bn".into()),
                l if l.recurrent().is_some() => {
                    let (_, units, _, bi) = l.recurrent().unwrap_or((Cell::Lstm, 0, false, false));
                    v.push(format!("{}{}{units}", if bi { "bi" } else { "" }, l.kind()))
                }
                _ => {}
            }
        }
        v.push(outputs.to_string());
        v.join("-")
    }

    /// Builds the graph: input, the body (layers named by type and count:
    /// `dense1`.., `conv1`.., `pool1`.., `bn1`.., `dropout1`.., `act1`..,
    /// `up1`..), the head `output` and its loss. Inference graphs
    /// (`training` false) leave dropout out and use batch-norm running
    /// statistics.
    pub fn build(&self, inputs: usize, head: Head, batch: usize, training: bool, seed: u64) -> Result<Graph> {
        self.validate()?;
        let mut g = Graph::new(batch);
        g.seed = seed;
        let mut x: TensorId = match self.input_shape {
            Some(shape) => {
                if shape.iter().product::<usize>() != inputs {
                    return Err(Error::Model(format!(
                        "the input shape {shape:?} holds {} values but the data has {inputs} feature columns",
                        shape.iter().product::<usize>()
                    )));
                }
                g.input_shaped(&shape)?
            }
            None => match self.sequence_steps {
                Some(t) if t > 0 && inputs.is_multiple_of(t) => g.input_shaped(&[t, inputs / t])?,
                Some(t) => {
                    return Err(Error::Model(format!(
                        "{inputs} feature columns do not split into {t} steps of equal width"
                    )))
                }
                None => g.input(inputs)?,
            },
        };
        if self.step_mask {
            g.set_step_mask(x)?;
        }
        let mut counts = std::collections::HashMap::new();
        let mut next = |kind: &str| {
            let c = counts.entry(kind.to_string()).or_insert(0);
            *c += 1;
            format!("{kind}{c}")
        };
        for (i, l) in self.layers.iter().enumerate() {
            x = match l {
                LayerSpec::Dense { units, activation } => g.dense(&next("dense"), x, *units, *activation)?,
                LayerSpec::Dropout { rate } => {
                    let name = next("dropout");
                    if training && *rate > 0.0 {
                        g.dropout(&name, x, *rate)?
                    } else {
                        x
                    }
                }
                LayerSpec::Activation { activation } => g.activation(&next("act"), x, *activation)?,
                LayerSpec::Conv2d { filters, kernel, stride, padding, activation } => {
                    let win = Window { kernel: *kernel, stride: *stride, padding: *padding };
                    g.conv2d(&next("conv"), x, *filters, win, *activation)?
                }
                LayerSpec::Maxpool2d { kernel, stride, padding } => {
                    let win =
                        Window { kernel: *kernel, stride: stride.unwrap_or(*kernel), padding: *padding };
                    g.pool2d(&next("pool"), PoolKind::Max, x, win)?
                }
                LayerSpec::Avgpool2d { kernel, stride, padding } => {
                    let win =
                        Window { kernel: *kernel, stride: stride.unwrap_or(*kernel), padding: *padding };
                    g.pool2d(&next("pool"), PoolKind::Avg, x, win)?
                }
                LayerSpec::GlobalAvgpool2d => g.global_avgpool2d(&next("pool"), x)?,
                LayerSpec::Upsample2d { factor } => g.upsample2d(&next("up"), x, *factor)?,
                LayerSpec::Batchnorm { momentum, eps, activation } => {
                    g.batchnorm(&next("bn"), x, *eps, *momentum, *activation, training)?
                }
                LayerSpec::Flatten => x,
                LayerSpec::Lstm { .. } | LayerSpec::Gru { .. } | LayerSpec::Rnn { .. } => {
                    let (cell, units, seq, bi) = l.recurrent().unwrap_or((Cell::Lstm, 0, false, false));
                    g.recurrent_layer(&next(l.kind()), cell, x, units, seq, bi)?
                }
            };
            if self.code_layer == Some(i) {
                g.add_extra_output("code", x);
            }
        }
        // a decoder that restores the input's height and width ends in a
        // convolution back to its channels; every other head is dense
        let image_out = match (self.input_shape, g.shape(x)) {
            (Some([c, h, w]), &[_, _, oh, ow])
                if head.target == TargetSource::Features && (oh, ow) == (h, w) =>
            {
                Some(c)
            }
            _ => None,
        };
        let out = match image_out {
            Some(c) => {
                let win = Window { kernel: three(), stride: one(), padding: same() };
                g.conv2d("output", x, c, win, Act::None)?
            }
            None => g.dense("output", x, head.outputs, Act::None)?,
        };
        g.set_output(out);
        g.loss(out, head.loss, head.target)?;
        Ok(g)
    }
}

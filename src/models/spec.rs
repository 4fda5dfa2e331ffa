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

use crate::error::{Error, Result};
use crate::graph::{Act, Graph, LossKind, TargetSource, TensorId};
use serde::{Deserialize, Serialize};
use std::path::Path;

fn default_act() -> Act {
    Act::None
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
    /// Dense layers of the given sizes, each followed by dropout when `dropout > 0`.
    pub fn mlp(hidden: &[usize], activation: Act, dropout: f32) -> ModelSpec {
        let mut layers = Vec::new();
        for &units in hidden {
            layers.push(LayerSpec::Dense { units, activation });
            if dropout > 0.0 {
                layers.push(LayerSpec::Dropout { rate: dropout });
            }
        }
        ModelSpec { name: "mlp".into(), layers, code_layer: None }
    }

    /// A symmetric dense autoencoder: encoder `hidden` (the last is the
    /// bottleneck code), decoder the same sizes in reverse, output added by the head.
    pub fn autoencoder(hidden: &[usize], activation: Act) -> ModelSpec {
        let mut layers: Vec<LayerSpec> =
            hidden.iter().map(|&units| LayerSpec::Dense { units, activation }).collect();
        let code_layer = layers.len().checked_sub(1);
        for &units in hidden.iter().rev().skip(1) {
            layers.push(LayerSpec::Dense { units, activation });
        }
        ModelSpec { name: "autoencoder".into(), layers, code_layer }
    }

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
        spec.validate()?;
        Ok(spec)
    }

    /// Checks each layer's settings, naming the layer (no layers: a linear model).
    pub fn validate(&self) -> Result<()> {
        for (i, l) in self.layers.iter().enumerate() {
            match l {
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

    /// Layer sizes for messages, e.g. `30-64-32-1`.
    pub fn describe(&self, inputs: usize, outputs: usize) -> String {
        let mut v = vec![inputs.to_string()];
        for l in &self.layers {
            if let LayerSpec::Dense { units, .. } = l {
                v.push(units.to_string());
            }
        }
        v.push(outputs.to_string());
        v.join("-")
    }

    /// Builds the graph: input, the body (dense layers named `dense1`..,
    /// dropout `dropout1`.., activations `act1`..), the head `output` and its
    /// loss. Inference graphs (`training` false) leave dropout out.
    pub fn build(&self, inputs: usize, head: Head, batch: usize, training: bool, seed: u64) -> Result<Graph> {
        self.validate()?;
        let mut g = Graph::new(batch);
        g.seed = seed;
        let mut x: TensorId = g.input(inputs)?;
        let (mut nd, mut nr, mut na) = (0, 0, 0);
        for (i, l) in self.layers.iter().enumerate() {
            x = match l {
                LayerSpec::Dense { units, activation } => {
                    nd += 1;
                    g.dense(&format!("dense{nd}"), x, *units, *activation)?
                }
                LayerSpec::Dropout { rate } => {
                    nr += 1;
                    if training && *rate > 0.0 {
                        g.dropout(&format!("dropout{nr}"), x, *rate)?
                    } else {
                        x
                    }
                }
                LayerSpec::Activation { activation } => {
                    na += 1;
                    g.activation(&format!("act{na}"), x, *activation)?
                }
            };
            if self.code_layer == Some(i) {
                g.add_extra_output("code", x);
            }
        }
        let out = g.dense("output", x, head.outputs, Act::None)?;
        g.set_output(out);
        g.loss(out, head.loss, head.target)?;
        Ok(g)
    }
}

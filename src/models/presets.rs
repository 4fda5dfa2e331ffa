//! Preset model bodies: `mlp`, `autoencoder`, `cnn`, `cnn-autoencoder`,
//! `lstm`/`gru`/`rnn` and `lstm-autoencoder` (the `--model` names), each a
//! [`ModelSpec`] the task's head is added to.

use super::spec::{one, same, three, two, valid, LayerSpec, ModelSpec};
use crate::graph::{Act, Cell};

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
        ModelSpec {
            name: "mlp".into(),
            layers,
            code_layer: None,
            input_shape: None,
            sequence_steps: None,
            step_mask: false,
        }
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
        ModelSpec {
            name: "autoencoder".into(),
            layers,
            code_layer,
            input_shape: None,
            sequence_steps: None,
            step_mask: false,
        }
    }

    /// The default CNN for images of `shape` [C, H, W]: conv 3x3 (16
    /// filters, ReLU) + 2x2 max-pool, conv 3x3 (32) + max-pool, a further
    /// conv (64) + pool block while the image is larger than 8x8, then
    /// flatten and the task's dense head.
    pub fn cnn(shape: [usize; 3]) -> ModelSpec {
        let (mut h, mut w) = (shape[1], shape[2]);
        let mut layers = Vec::new();
        for filters in [16, 32, 64, 64, 64] {
            let more = layers.len() < 4 || h.min(w) > 8;
            if !more {
                break;
            }
            layers.push(LayerSpec::Conv2d {
                filters,
                kernel: three(),
                stride: one(),
                padding: same(),
                activation: Act::Relu,
            });
            if h >= 2 && w >= 2 {
                layers.push(LayerSpec::Maxpool2d { kernel: two(), stride: None, padding: valid() });
                (h, w) = (h / 2, w / 2);
            }
        }
        layers.push(LayerSpec::Flatten);
        ModelSpec {
            name: "cnn".into(),
            layers,
            code_layer: None,
            input_shape: Some(shape),
            sequence_steps: None,
            step_mask: false,
        }
    }

    /// A convolutional autoencoder for images of `shape`: conv 3x3 (16,
    /// ReLU), 2x2 max-pool, conv 3x3 (8, ReLU: the code), 2x upsampling,
    /// conv 3x3 (16, ReLU); the head is a 3x3 convolution back to C channels
    /// when the decoder restores H x W (even sizes), a dense layer otherwise.
    pub fn conv_autoencoder(shape: [usize; 3]) -> ModelSpec {
        let conv = |filters| LayerSpec::Conv2d {
            filters,
            kernel: three(),
            stride: one(),
            padding: same(),
            activation: Act::Relu,
        };
        let layers = vec![
            conv(16),
            LayerSpec::Maxpool2d { kernel: two(), stride: None, padding: valid() },
            conv(8),
            LayerSpec::Upsample2d { factor: two() },
            conv(16),
        ];
        ModelSpec {
            name: "conv_autoencoder".into(),
            layers,
            code_layer: Some(2),
            input_shape: Some(shape),
            sequence_steps: None,
            step_mask: false,
        }
    }

    /// Stacked LSTMs of the given sizes over sequences of `steps` steps (every
    /// layer but the last returns all steps), then the task's dense head.
    pub fn lstm(hidden: &[usize], steps: usize) -> ModelSpec {
        Self::recurrent(Cell::Lstm, hidden, steps)
    }

    /// An LSTM autoencoder for windows of `steps` steps: stacked LSTMs
    /// (`hidden`; the last one's final state is the code), a dense ReLU
    /// layer of twice the code width, and the head that reconstructs the
    /// whole window. The reconstruction error per window is its anomaly score.
    pub fn lstm_autoencoder(hidden: &[usize], steps: usize) -> ModelSpec {
        let mut spec = Self::recurrent(Cell::Lstm, hidden, steps);
        spec.code_layer = spec.layers.len().checked_sub(1);
        let width = hidden.last().copied().unwrap_or(32) * 2;
        spec.layers.push(LayerSpec::Dense { units: width, activation: Act::Relu });
        spec.name = "lstm_autoencoder".into();
        spec
    }

    /// The same spec with every recurrent layer bidirectional.
    pub fn bidirectional(mut self) -> ModelSpec {
        for l in &mut self.layers {
            match l {
                LayerSpec::Lstm { bidirectional, .. }
                | LayerSpec::Gru { bidirectional, .. }
                | LayerSpec::Rnn { bidirectional, .. } => *bidirectional = true,
                _ => {}
            }
        }
        self
    }

    /// Stacked recurrent layers of one cell (named `lstm`, `gru` or `rnn`).
    pub fn recurrent(cell: Cell, hidden: &[usize], steps: usize) -> ModelSpec {
        let layers = hidden
            .iter()
            .enumerate()
            .map(|(i, &units)| {
                let return_sequences = i + 1 < hidden.len();
                let bidirectional = false;
                match cell {
                    Cell::Lstm => LayerSpec::Lstm { units, return_sequences, bidirectional },
                    Cell::Gru => LayerSpec::Gru { units, return_sequences, bidirectional },
                    Cell::Elman(activation) => {
                        LayerSpec::Rnn { units, return_sequences, bidirectional, activation }
                    }
                }
            })
            .collect();
        let name = match cell {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
            Cell::Elman(_) => "rnn",
        };
        ModelSpec {
            name: name.into(),
            layers,
            code_layer: None,
            input_shape: None,
            sequence_steps: Some(steps),
            step_mask: false,
        }
    }
}

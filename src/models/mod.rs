//! Model builders: a model spec plus a batch size gives a [`crate::graph::Graph`].

pub mod mlp;
pub mod presets;
pub mod spec;

pub use mlp::MlpSpec;
pub use spec::{Head, LayerSpec, ModelSpec};

//! Model builders: a model spec plus a batch size gives a [`crate::graph::Graph`].

pub mod mlp;

pub use mlp::MlpSpec;

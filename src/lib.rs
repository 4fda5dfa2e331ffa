//! medgpu: a portable GPU training engine for medical AI.
//!
//! Kernels are WGSL compute shaders run through wgpu on any adapter it reaches
//! (Vulkan, Metal, DX12, GL). A model is built once as a [`graph::Graph`],
//! compiled with its backward pass into a [`graph::Program`] whose dispatches
//! are replayed every step. See DESIGN.md in the repository for the layout.

#![warn(missing_docs)]

pub mod bench;
pub mod cpu_ref;
pub mod data;
pub mod error;
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod models;
pub mod settings;
pub mod train;

pub use error::{Error, Result};

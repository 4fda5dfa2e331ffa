//! medgpu: a portable GPU training engine for medical AI.
//!
//! Kernels are WGSL compute shaders run through wgpu on any adapter it
//! reaches (Vulkan, Metal, DX12, GL; Mesa's software adapters in CI). A
//! model is built once as a graph, compiled with its backward pass into a
//! program whose dispatches are replayed every step.
//!
//! The front door is [`Device`], [`Data`], [`Trainer`] and [`Model`]:
//!
//! ```
//! use medgpu::{Data, Device, Labels, Model, Trainer};
//!
//! # fn main() -> medgpu::Result<()> {
//! // two measurements per patient, labelled by whether their sum is large
//! let (mut rows, mut labels) = (Vec::new(), Vec::new());
//! for i in 0..200 {
//!     let (a, b) = ((i % 20) as f32, (i / 10) as f32);
//!     rows.extend([a, b]);
//!     labels.push(if a + b > 19.0 { "high" } else { "low" }.to_string());
//! }
//! let data = Data::from_rows(&["a", "b"], &rows, Labels::Classes(labels))?;
//!
//! let device = Device::open()?;
//! let model = Trainer::mlp(&[16]).epochs(30).learning_rate(1e-2).fit(&device, &data)?;
//! let dir = std::env::temp_dir().join(format!("medgpu-doc-{}", std::process::id()));
//! model.save(&dir)?;
//!
//! let loaded = Model::load(&device, &dir)?;
//! let predictions = loaded.predict(&[19.0, 15.0, 1.0, 2.0])?;
//! assert_eq!(predictions.predicted_labels(), ["high", "low"]);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! Below it the modules form layers that depend one way (docs/DESIGN.md;
//! tests/layering.rs keeps it so): [`settings`] and [`error`]; [`gpu`] and
//! [`data`]; `kernels` and [`metrics`]; [`graph`]; [`models`]; [`model`]
//! (the saved model, shared by training and inference); [`train`]; the
//! front door; `bench` and the command line.

#![warn(missing_docs)]

pub mod api;
#[doc(hidden)]
pub mod bench;
#[doc(hidden)]
pub mod cpu_ref;
pub mod data;
pub mod error;
pub mod gpu;
pub mod graph;
#[doc(hidden)]
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod models;
pub mod report;
pub mod serve;
pub mod settings;
pub mod train;

pub use api::{Data, Device, Labels, Model, Trainer};
pub use error::{Error, Result};
pub use model::{Metrics, Predictions};

//! The command implementations behind `medgpu` (main.rs only parses).

pub mod bench;
pub mod cv;
pub mod devices;
pub mod explain;
pub mod explain_images;
pub mod flags;
pub mod predict;
pub mod privacy;
pub mod report;
pub mod serve;
pub mod startup;
pub mod train;
pub mod tune;

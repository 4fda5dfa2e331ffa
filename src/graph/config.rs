//! What a program is compiled from and for: the data set on the GPU, the
//! optimizer settings, the mode, and the memory report.

use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// The data set on the GPU, uploaded once: features [rows, cols], targets [rows, tcols].
pub struct GpuDataset {
    /// Features, row-major.
    pub features: wgpu::Buffer,
    /// Targets, row-major (class ids as f32 for classification).
    pub targets: wgpu::Buffer,
    /// Rows.
    pub rows: usize,
    /// Feature columns.
    pub cols: usize,
    /// Target columns.
    pub tcols: usize,
}

impl GpuDataset {
    /// Uploads a data set. Features and targets must each fit one storage
    /// binding (128 MiB on lavapipe); a larger one is refused, naming the limit.
    pub fn upload(
        gpu: &Gpu,
        features: &[f32],
        targets: &[f32],
        cols: usize,
        tcols: usize,
    ) -> Result<GpuDataset> {
        let rows = features.len().checked_div(cols).unwrap_or(0);
        Self::check(gpu, features.len(), targets.len(), rows, cols, tcols)?;
        Ok(GpuDataset {
            features: gpu.storage_from("data.features", features)?,
            targets: gpu.storage_from("data.targets", targets)?,
            rows,
            cols,
            tcols,
        })
    }

    /// Like [`GpuDataset::upload`], but takes the features and frees them
    /// piece by piece as they go up, last piece first, so a large data set
    /// never exists twice in full (on software adapters GPU memory is host
    /// memory too).
    pub fn upload_consuming(
        gpu: &Gpu,
        mut features: Vec<f32>,
        targets: &[f32],
        cols: usize,
        tcols: usize,
    ) -> Result<GpuDataset> {
        // 16 MiB pieces
        const PIECE: usize = 4 << 20;
        let rows = features.len().checked_div(cols).unwrap_or(0);
        Self::check(gpu, features.len(), targets.len(), rows, cols, tcols)?;
        let buffer = gpu.storage_buffer("data.features", (features.len() * 4) as u64)?;
        while !features.is_empty() {
            let start = (features.len() - 1) / PIECE * PIECE;
            gpu.queue.write_buffer(&buffer, (start * 4) as u64, bytemuck::cast_slice(&features[start..]));
            gpu.queue.submit([]);
            gpu.wait("uploading data.features")?;
            features.truncate(start);
            features.shrink_to_fit();
        }
        Ok(GpuDataset {
            features: buffer,
            targets: gpu.storage_from("data.targets", targets)?,
            rows,
            cols,
            tcols,
        })
    }

    fn check(
        gpu: &Gpu,
        features: usize,
        targets: usize,
        rows: usize,
        cols: usize,
        tcols: usize,
    ) -> Result<()> {
        if rows == 0 || features != rows * cols || targets != rows * tcols {
            return Err(Error::Dataset(format!(
                "features ({features} values) and targets ({targets} values) do not form {cols}+{tcols} columns of the same rows"
            )));
        }
        let max = gpu.limits.max_storage_buffer_binding_size;
        for (what, len) in [("features", features), ("targets", targets)] {
            if (len * 4) as u64 > max {
                return Err(Error::LimitExceeded {
                    limit: "max_storage_buffer_binding_size".into(),
                    max,
                    needed: (len * 4) as u64,
                    context: format!(
                        "the data set's {what} ({len} values); splitting a data set across bindings is not \
                         supported yet: use fewer rows or columns"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Which optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// SGD with momentum and L2 weight decay.
    Sgd,
    /// Adam with L2 weight decay in the gradient.
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
}

/// Optimizer hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerConfig {
    /// Which optimizer.
    pub kind: Optimizer,
    /// Learning rate.
    pub lr: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Adam beta1.
    pub beta1: f32,
    /// Adam beta2.
    pub beta2: f32,
    /// Adam epsilon.
    pub eps: f32,
    /// Clip the gradients to this global L2 norm before each step.
    #[serde(default)]
    pub clip_grad_norm: Option<f32>,
    /// What a NaN or Inf in the loss or gradients does.
    #[serde(default)]
    pub on_nonfinite: NonFinitePolicy,
}

/// What a step with a NaN or Inf in its loss or gradients does. Either way
/// that step leaves the weights unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NonFinitePolicy {
    /// Skip it and every later step; the run stops at the end of the epoch
    /// with the epoch and step, keeping the last good checkpoint.
    #[default]
    Stop,
    /// Skip that step only and go on (the count is reported).
    SkipStep,
}

impl OptimizerConfig {
    /// Adam with the usual defaults and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig {
            kind: Optimizer::Adam,
            lr,
            weight_decay: 0.0,
            momentum: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            clip_grad_norm: None,
            on_nonfinite: NonFinitePolicy::Stop,
        }
    }

    /// The optimizer kernel's uniform for an arena of `n` f32 at optimizer
    /// step `step` (from 1; 0 gives no bias correction) and learning rate `lr`.
    pub fn uniform(&self, n: usize, lr: f32, step: u64) -> crate::kernels::OptimUniform {
        let correction =
            |beta: f32| if step == 0 { 1.0 } else { (1.0 - (beta as f64).powi(step as i32)) as f32 };
        crate::kernels::OptimUniform {
            n: n as u32,
            decoupled: self.kind == Optimizer::AdamW,
            lr,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            bc1: correction(self.beta1),
            bc2: correction(self.beta2),
            max_norm: self.clip_grad_norm.unwrap_or(0.0),
            stop: self.on_nonfinite == NonFinitePolicy::Stop,
        }
    }

    /// SGD with momentum.
    pub fn sgd(lr: f32, momentum: f32) -> Self {
        OptimizerConfig { kind: Optimizer::Sgd, momentum, ..Self::adam(lr) }
    }
}

/// What a program computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Forward, loss, backward and the optimizer step.
    Train(OptimizerConfig),
    /// Forward, loss and backward; gradients are kept for reading (tests,
    /// explanations). With `input_grad`, dL/dinput too.
    Gradients {
        /// Also keep the gradient w.r.t. the input batch.
        input_grad: bool,
    },
    /// Forward, loss and backward to the input only: dL/dinput is kept and
    /// no parameter gradient is computed (explanations).
    InputGradient,
    /// Forward, loss and backward down to this tensor: its value and
    /// dL/d(it) are kept (Grad-CAM); no parameter gradient is computed.
    LayerGradient(super::TensorId),
    /// Forward only; the graph's output is read back.
    Inference,
}

/// Compile options.
#[derive(Clone, Copy, Debug)]
pub struct ProgramOptions {
    /// What to compute.
    pub mode: Mode,
}

impl MemoryReport {
    /// All bytes of the report (activations after reuse).
    pub fn total(&self) -> u64 {
        self.params + self.grads + self.optimizer_state + self.activations + self.other + self.scratch
    }
}

/// Bytes each part of a program takes on the GPU.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct MemoryReport {
    /// Parameter arena (shared between programs of one model).
    pub params: u64,
    /// Gradient arena.
    pub grads: u64,
    /// Optimizer state.
    pub optimizer_state: u64,
    /// Activation arena after liveness reuse.
    pub activations: u64,
    /// What the activations would take without reuse.
    pub activations_unshared: u64,
    /// Batch ids, uniforms, stats and small buffers (per-epoch uploads not included).
    pub other: u64,
    /// Scratch textures of the texture matmuls, shared by the programs
    /// built through one pipeline cache (0 on adapters without them).
    pub scratch: u64,
}

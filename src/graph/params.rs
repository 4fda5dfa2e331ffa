//! The parameter arena: every trainable tensor in one flat GPU buffer, so the
//! optimizer, clipping and (later) all-reduce each see one buffer.
//!
//! Initialization happens on the CPU from a counter-based generator keyed by
//! (seed, tensor name, element index): the same seed gives the same weights
//! whatever order layers are built in.

use super::plan::align;
use super::{Class, Graph, Init};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::collections::BTreeMap;

/// One parameter's place in the arena.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamEntry {
    /// Name, e.g. `dense1.weight`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Offset in f32 (aligned).
    pub offset: usize,
    /// Element count.
    pub len: usize,
}

/// All parameters of a model in one GPU buffer.
pub struct ParamStore {
    /// The arena.
    pub buffer: wgpu::Buffer,
    /// Layout, in creation order.
    pub entries: Vec<ParamEntry>,
    /// Arena length in f32 (padding included).
    pub len: usize,
    /// Length of the trainable part at the start of the arena (state
    /// tensors such as running statistics follow it); the optimizer updates
    /// only this part.
    pub trainable_len: usize,
    /// Kept for reading the arena back without allocating each time.
    readback: std::sync::Mutex<wgpu::Buffer>,
}

/// splitmix64 finalizer: a good 64-bit mix for counter-based generation.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn name_key(name: &str) -> u64 {
    // FNV-1a
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Uniform in (0, 1) for counter `i` of stream `key`.
fn uniform(key: u64, i: u64) -> f64 {
    ((mix(key ^ mix(i)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Initial values of one parameter tensor.
pub fn init_values(name: &str, shape: &[usize], init: Init, seed: u64) -> Vec<f32> {
    let len: usize = shape.iter().product();
    // dense [in, out]; conv [out channels, in channels, kh, kw]
    let (fan_in, fan_out) = match *shape {
        [i, o] => (i, o),
        [oc, c, kh, kw] => (c * kh * kw, oc * kh * kw),
        _ => (len, len),
    };
    let key = mix(seed) ^ name_key(name);
    (0..len as u64)
        .map(|i| match init {
            Init::Zeros => 0.0,
            Init::Ones => 1.0,
            Init::LstmBias => {
                let h = len as u64 / 4;
                (i >= h && i < 2 * h) as u32 as f32
            }
            Init::XavierUniform => {
                let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                ((2.0 * uniform(key, i) - 1.0) * a) as f32
            }
            Init::HeNormal => {
                // Box-Muller on two independent counters
                let (u1, u2) = (uniform(key, 2 * i), uniform(key, 2 * i + 1));
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                (z * (2.0 / fan_in as f64).sqrt()) as f32
            }
        })
        .collect()
}

impl ParamStore {
    /// The arena length (f32, padding included) `init` would lay out for `graph`.
    pub fn arena_len(graph: &Graph) -> usize {
        let len: usize = graph.params().iter().map(|t| align(graph.tensors[t.0].len())).sum();
        len.max(align(1))
    }

    /// The length of the arena's trainable part for `graph`.
    pub fn trainable_len(graph: &Graph) -> usize {
        let params = graph.params();
        let trainable = params.iter().filter(|t| matches!(graph.tensors[t.0].class, Class::Param(_)));
        let len: usize = trainable.map(|t| align(graph.tensors[t.0].len())).sum();
        len.max(align(1)).min(Self::arena_len(graph))
    }

    /// Lays out and initializes the parameters of `graph` with `seed`.
    pub fn init(gpu: &Gpu, graph: &Graph, seed: u64) -> Result<ParamStore> {
        let mut entries = Vec::new();
        let mut host = Vec::new();
        for t in graph.params() {
            let info = &graph.tensors[t.0];
            let (Class::Param(init) | Class::State(init)) = info.class else {
                continue;
            };
            let offset = host.len();
            let values = init_values(&info.name, &info.shape, init, seed);
            host.extend_from_slice(&values);
            host.resize(offset + align(values.len()), 0.0);
            entries.push(ParamEntry {
                name: info.name.clone(),
                shape: info.shape.clone(),
                offset,
                len: values.len(),
            });
        }
        if host.is_empty() {
            host.resize(align(1), 0.0);
        }
        let buffer = gpu.storage_from("parameters", &host)?;
        let readback = std::sync::Mutex::new(gpu.readback_buffer((host.len() * 4) as u64)?);
        let trainable_len = Self::trainable_len(graph);
        Ok(ParamStore { buffer, len: host.len(), trainable_len, entries, readback })
    }

    /// The entry of a parameter, checking that its shape is what `expected` says.
    pub fn entry(&self, name: &str, expected: &[usize]) -> Result<&ParamEntry> {
        let e = self
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::Model(format!("parameter '{name}' is not in the parameter store")))?;
        if e.shape != expected {
            return Err(Error::Model(format!(
                "parameter '{name}' has shape {:?} in the store but {expected:?} in the model",
                e.shape
            )));
        }
        Ok(e)
    }

    /// Reads every parameter back, by name.
    pub fn read_all(&self, gpu: &Gpu) -> Result<BTreeMap<String, Vec<f32>>> {
        let all = self.read_arena(gpu, &self.buffer)?;
        Ok(self.entries.iter().map(|e| (e.name.clone(), all[e.offset..e.offset + e.len].to_vec())).collect())
    }

    /// Reads a whole arena-sized buffer (parameters, gradients or optimizer
    /// state share the layout) through the kept readback buffer.
    pub fn read_arena(&self, gpu: &Gpu, buffer: &wgpu::Buffer) -> Result<Vec<f32>> {
        let staging = self.readback.lock().map_err(|_| Error::Gpu("readback buffer poisoned".into()))?;
        let bytes = gpu.read_bytes_via(buffer, 0, (self.len * 4) as u64, Some(&staging))?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Overwrites one parameter.
    pub fn write(&self, gpu: &Gpu, name: &str, values: &[f32]) -> Result<()> {
        let e = self
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::Model(format!("parameter '{name}' is not in the parameter store")))?;
        if values.len() != e.len {
            return Err(Error::Model(format!(
                "parameter '{name}' has {} values, {} given",
                e.len,
                values.len()
            )));
        }
        gpu.queue.write_buffer(&self.buffer, (e.offset * 4) as u64, bytemuck::cast_slice(values));
        Ok(())
    }
}

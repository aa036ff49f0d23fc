//! # kernels: how to compute on a device
//!
//! The bottom layer of the engine. Every function here takes plain buffers plus the shapes
//! and strides that describe them, and writes plain buffers; nothing here knows what a
//! `Tensor` or a gradient tape is. The layers above decide *what* to compute
//! (`tensor` dispatches on device and dtype, `autograd` records backward passes); this
//! crate decides *how*.
//!
//! ```text
//! kernels  ->  tensor  ->  autograd  ->  model  ->  trainer
//! ```
//!
//! Each op lives in one module with its forward and backward kernels side by side and a
//! doc comment giving the math. The CPU kernels are generic over [`Float`] (`f32` and `f64`:
//! `f64` exists so that finite-difference gradient checks are exact enough to mean something);
//! half-precision tensors are computed on the CPU by widening to `f32`, which is also what
//! the GPU kernels do internally (fp32 accumulation). Parallelism comes from rayon, always
//! over a fixed partition of the work so that results are bit-for-bit deterministic
//! regardless of thread scheduling: gradient checkpointing relies on that.
//!
//! The CUDA side lives in [`cuda`]: a [`cuda::Gpu`] context (one stream, cuBLASLt, a cache
//! of compiled modules), the CUDA C sources in `kernels/cuda/*.cu` (one file per op family,
//! each naming the CPU module above that is its reference), compiled at run time by NVRTC
//! for the device's architecture, and the Rust launchers beside them in `cuda::*`.

pub mod adam;
pub mod attention;
pub mod binary;
pub mod copy;
pub mod cuda;
pub mod cross_entropy;
pub mod dropout;
pub mod embedding;
mod error;
pub mod float;
pub mod gelu;
pub mod layer_norm;
pub mod matmul;
pub mod philox;
pub mod reduce;
pub mod softmax;
pub mod sparse_attention;
pub mod unary;

pub use error::{Error, Result};
pub use float::Float;

/// Rows handed to one rayon task by the row-parallel kernels. A fixed number (not one that
/// depends on the thread count) keeps every partial sum, and so every result, reproducible.
pub const ROWS_PER_TASK: usize = 16;

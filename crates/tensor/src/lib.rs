//! # tensor: what a tensor is
//!
//! A [`Tensor`] is a cheap handle: shared storage (a buffer on one device), a [`Layout`]
//! (shape, strides, offset) saying which elements of the buffer it sees and in what order,
//! a runtime [`DType`] and a [`Device`]. Views (`reshape`, `permute`, `transpose`,
//! `narrow`, `broadcast_as`) only change the layout; `contiguous` copies when a kernel needs
//! dense rows.
//!
//! Forward ops live in [`ops`]: each checks its arguments (an error names the op and the
//! shapes, dtypes or devices involved; nothing here panics on bad input), then dispatches on
//! the device to `kernels`. The CPU computes `f32` and `f64` natively and `bf16`/`f16` by
//! widening to `f32`, the same fp32 accumulation the GPU kernels use.
//!
//! Gradients are not this crate's business: `autograd` records, for each op here, how to
//! push a gradient back through it.
//!
//! The device enum already has `Cuda`; the storage gains its CUDA variant with the GPU
//! backend, and every dispatch `match` then has to say what it does there.

mod device;
mod dtype;
mod error;
mod copy_offsets;
pub mod cuda;
mod layout;
pub mod ops;
mod storage;
mod tensor;

pub use device::Device;
pub use dtype::{DType, WithDType};
pub use error::{Error, Result};
pub use half::{bf16, f16};
pub use kernels::attention::Mask as KernelMask;
pub use layout::Layout;
pub use kernels::sparse_attention::SaPart;
pub use ops::attention::AttnMask;
pub use ops::elementwise::{BinaryOp, UnaryOp};
pub use ops::optim::AdamParams;
pub use storage::{CpuStorage, Storage};
pub use tensor::Tensor;

use crate::{DType, Device};

/// Everything that can go wrong in a tensor op. Every variant names the op, so that an error
/// deep inside a model says which call and which shapes were at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not fit: {why}")]
    ShapeMismatch { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize>, why: String },

    #[error("{op}: bad shape {shape:?}: {why}")]
    BadShape { op: &'static str, shape: Vec<usize>, why: String },

    #[error("{op}: dtype {got} where {want} was expected")]
    DTypeMismatch { op: &'static str, got: DType, want: DType },

    #[error("{op}: dtype {dtype} is not supported here")]
    UnsupportedDType { op: &'static str, dtype: DType },

    #[error("{op}: tensors on different devices, {lhs} and {rhs}")]
    DeviceMismatch { op: &'static str, lhs: Device, rhs: Device },

    #[error("{op}: device {device} is not available: {why}")]
    DeviceUnavailable { op: &'static str, device: Device, why: String },

    #[error("{op}: dimension {dim} out of range for a tensor of rank {rank}")]
    DimOutOfRange { op: &'static str, dim: usize, rank: usize },

    #[error("{op}: {why}")]
    InvalidArgument { op: &'static str, why: String },

    #[error(transparent)]
    Kernel(#[from] kernels::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

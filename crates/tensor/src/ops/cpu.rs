//! Running a generic CPU kernel on tensors of any float dtype.
//!
//! A kernel is written once against `kernels::Float` and wrapped in a small struct
//! implementing [`FloatKernel`]. [`run_float`] checks that the inputs agree in dtype and
//! device, hands the kernel `&[f32]` or `&[f64]` slices (half-precision inputs are widened to
//! `f32` first), and turns the outputs back into buffers: data outputs in the inputs' dtype,
//! statistics (means, inverse deviations, log-sum-exps, the loss) kept in the compute
//! precision, as mixed-precision training wants.

use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Tensor, WithDType};
use kernels::Float;

/// One output buffer of a kernel.
pub(crate) enum Out<T> {
    /// Stored in the dtype of the inputs.
    Data(Vec<T>),
    /// Stored in the compute precision (f32, or f64 for f64 inputs).
    Stat(Vec<T>),
}

/// A CPU kernel generic over the compute type.
pub(crate) trait FloatKernel {
    fn run<T: Float + WithDType>(&self, inputs: &[&[T]]) -> Result<Vec<Out<T>>>;
}

/// How a kernel reads its inputs.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Access {
    /// Dense row-major slices of exactly `numel` elements (views are copied first).
    Contiguous,
    /// The whole underlying buffers; the kernel applies the layouts itself.
    Strided,
}

/// Checks that `inputs` share one float dtype and one device.
pub(crate) fn check_float_inputs(op: &'static str, inputs: &[&Tensor]) -> Result<DType> {
    let first = inputs[0];
    if !first.dtype().is_float() {
        return Err(Error::UnsupportedDType { op, dtype: first.dtype() });
    }
    for t in &inputs[1..] {
        first.same_kind(op, t)?;
    }
    Ok(first.dtype())
}

fn typed_slices<'a, T: WithDType>(guards: &'a [std::sync::RwLockReadGuard<'_, Storage>], ranges: &[std::ops::Range<usize>]) -> Vec<&'a [T]> {
    guards
        .iter()
        .zip(ranges)
        .map(|(g, r)| {
            let Storage::Cpu(s) = &**g;
            &T::slice(s).expect("dtypes checked by run_float")[r.clone()]
        })
        .collect()
}

fn finish<T: WithDType>(outs: Vec<Out<T>>, dtype: DType, narrow: impl Fn(Vec<T>) -> CpuStorage) -> Vec<CpuStorage> {
    outs.into_iter()
        .map(|o| match o {
            Out::Data(v) if dtype == T::DTYPE => T::into_storage(v),
            Out::Data(v) => narrow(v),
            Out::Stat(v) => T::into_storage(v),
        })
        .collect()
}

/// Runs `kernel` on `inputs` and returns its output buffers (see the module doc).
pub(crate) fn run_float<K: FloatKernel>(op: &'static str, kernel: &K, inputs: &[&Tensor], access: Access) -> Result<Vec<CpuStorage>> {
    let dtype = check_float_inputs(op, inputs)?;
    let owned: Vec<Tensor> = match access {
        Access::Contiguous => inputs.iter().map(|t| t.contiguous()).collect::<Result<_>>()?,
        Access::Strided => inputs.iter().map(|&t| t.clone()).collect(),
    };
    let guards: Vec<_> = owned.iter().map(|t| t.read_storage()).collect();
    let ranges: Vec<_> = owned
        .iter()
        .zip(&guards)
        .map(|(t, g)| match access {
            Access::Contiguous => t.layout().offset()..t.layout().offset() + t.numel(),
            Access::Strided => 0..g.len(),
        })
        .collect();
    match dtype {
        DType::F32 => Ok(finish(kernel.run::<f32>(&typed_slices(&guards, &ranges))?, dtype, CpuStorage::F32)),
        DType::F64 => Ok(finish(kernel.run::<f64>(&typed_slices(&guards, &ranges))?, dtype, CpuStorage::F64)),
        DType::BF16 | DType::F16 => {
            let wide: Vec<Vec<f32>> = guards
                .iter()
                .zip(&ranges)
                .map(|(g, r)| {
                    let Storage::Cpu(s) = &**g;
                    s.to_f32_vec()[r.clone()].to_vec()
                })
                .collect();
            let slices: Vec<&[f32]> = wide.iter().map(|v| &v[..]).collect();
            Ok(finish(kernel.run::<f32>(&slices)?, dtype, |v| CpuStorage::from_f32_vec(dtype, v)))
        }
        other => Err(Error::UnsupportedDType { op, dtype: other }),
    }
}

/// Runs `kernel` and wraps its outputs as contiguous tensors of the given shapes.
pub(crate) fn run_float_shaped<K: FloatKernel>(
    op: &'static str,
    kernel: &K,
    inputs: &[&Tensor],
    access: Access,
    shapes: &[&[usize]],
) -> Result<Vec<Tensor>> {
    run_float(op, kernel, inputs, access)?
        .into_iter()
        .zip(shapes)
        .map(|(s, shape)| Tensor::from_cpu_storage(s, shape))
        .collect()
}

/// Convenience for the common one-output case.
pub(crate) fn run_float1<K: FloatKernel>(op: &'static str, kernel: &K, inputs: &[&Tensor], access: Access, shape: &[usize]) -> Result<Tensor> {
    Ok(run_float_shaped(op, kernel, inputs, access, &[shape])?.remove(0))
}

impl Tensor {
    /// The elements of an integer tensor (i32 or u8) as row indices, rejecting negatives.
    pub fn to_indices(&self, op: &'static str) -> Result<Vec<u32>> {
        match self.dtype() {
            DType::U8 => Ok(self.to_vec::<u8>()?.into_iter().map(u32::from).collect()),
            DType::I32 => self
                .to_vec::<i32>()?
                .into_iter()
                .map(|i| u32::try_from(i).map_err(|_| Error::InvalidArgument { op, why: format!("negative index {i}") }))
                .collect(),
            dtype => Err(Error::UnsupportedDType { op, dtype }),
        }
    }
}

//! Running one kernel on tensors of any float dtype, on the CPU or a CUDA device.
//!
//! An op is a small struct implementing [`FloatKernel`], with two methods side by side:
//! - `run`, the CPU kernel, written once against `kernels::Float`: it gets `&[f32]` or `&[f64]`
//!   slices (half-precision inputs widened to `f32` first) and returns its outputs;
//! - `run_cuda`, which gets device addresses and launches the CUDA kernel(s) of the same op.
//!
//! [`run_float`] checks that the inputs agree in dtype and device, picks the path and turns
//! the outputs into buffers: data outputs in the inputs' dtype, statistics (means, inverse
//! deviations, log-sum-exps, the loss) in the compute precision (`f32`, or `f64` for `f64`
//! inputs), as mixed-precision training wants.

use crate::cuda::{elem_of, CudaStorage};
use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Device, Tensor, WithDType};
use kernels::cuda::{DevBuf, Elem, Gpu};
use kernels::Float;
use std::sync::Arc;

/// One output buffer of a CPU kernel.
pub(crate) enum Out<T> {
    /// Stored in the dtype of the inputs.
    Data(Vec<T>),
    /// Stored in the compute precision (f32, or f64 for f64 inputs).
    Stat(Vec<T>),
    /// Integer indices (arg-max).
    Index(Vec<i32>),
}

/// What a CUDA kernel gets: the device, the inputs' element type and one device address per
/// input (element 0 of the view for [`Access::Contiguous`], of the buffer for
/// [`Access::Strided`]).
pub(crate) struct CudaCall<'a> {
    pub gpu: &'a Arc<Gpu>,
    pub elem: Elem,
    pub inputs: Vec<u64>,
}

impl CudaCall<'_> {
    /// A new output buffer of `n` elements and its address.
    pub fn alloc(&self, elem: Elem, n: usize) -> Result<(DevBuf, u64)> {
        let b = self.gpu.alloc(elem, n)?;
        let p = b.ptr(self.gpu);
        Ok((b, p))
    }
}

/// A kernel with a CPU and a CUDA implementation.
pub(crate) trait FloatKernel {
    fn run<T: Float + WithDType>(&self, inputs: &[&[T]]) -> Result<Vec<Out<T>>>;
    fn run_cuda(&self, call: &CudaCall) -> Result<Vec<DevBuf>>;
}

/// How a kernel reads its inputs.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Access {
    /// Dense row-major data of exactly `numel` elements (views are copied first).
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
    if first.dtype() == DType::F64 && first.device() != Device::Cpu {
        return Err(Error::UnsupportedDType { op, dtype: DType::F64 });
    }
    Ok(first.dtype())
}

fn typed_slices<'a, T: WithDType>(guards: &'a [std::sync::RwLockReadGuard<'_, Storage>], ranges: &[std::ops::Range<usize>]) -> Vec<&'a [T]> {
    guards
        .iter()
        .zip(ranges)
        .map(|(g, r)| match &**g {
            Storage::Cpu(s) => &T::slice(s).expect("dtypes checked by run_float")[r.clone()],
            Storage::Cuda(_) => unreachable!("devices checked by run_float"),
        })
        .collect()
}

fn finish<T: WithDType>(outs: Vec<Out<T>>, dtype: DType, narrow: impl Fn(Vec<T>) -> CpuStorage) -> Vec<Storage> {
    outs.into_iter()
        .map(|o| {
            Storage::Cpu(match o {
                Out::Data(v) if dtype == T::DTYPE => T::into_storage(v),
                Out::Data(v) => narrow(v),
                Out::Stat(v) => T::into_storage(v),
                Out::Index(v) => CpuStorage::I32(v),
            })
        })
        .collect()
}

/// Runs `kernel` on `inputs` and returns its output buffers (see the module doc).
pub(crate) fn run_float<K: FloatKernel>(op: &'static str, kernel: &K, inputs: &[&Tensor], access: Access) -> Result<Vec<Storage>> {
    let dtype = check_float_inputs(op, inputs)?;
    let owned: Vec<Tensor> = match access {
        Access::Contiguous => inputs.iter().map(|t| t.contiguous()).collect::<Result<_>>()?,
        Access::Strided => inputs.iter().map(|&t| t.clone()).collect(),
    };
    if let Device::Cuda(_) = inputs[0].device() {
        let ptrs = owned
            .iter()
            .map(|t| match access {
                Access::Contiguous => t.cuda_ptr(),
                Access::Strided => t.cuda_base(),
            })
            .collect::<Result<Vec<_>>>()?;
        let gpu = ptrs[0].0.clone();
        let call = CudaCall { gpu: &gpu, elem: elem_of(dtype), inputs: ptrs.into_iter().map(|(_, p)| p).collect() };
        let outs = kernel.run_cuda(&call)?;
        return Ok(outs.into_iter().map(|buf| Storage::Cuda(CudaStorage { gpu: gpu.clone(), buf })).collect());
    }
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
                .map(|(g, r)| match &**g {
                    Storage::Cpu(s) => s.to_f32_vec()[r.clone()].to_vec(),
                    Storage::Cuda(_) => unreachable!("devices checked above"),
                })
                .collect();
            let slices: Vec<&[f32]> = wide.iter().map(|v| &v[..]).collect();
            Ok(finish(kernel.run::<f32>(&slices)?, dtype, |v| CpuStorage::from_f32_vec(dtype, v)))
        }
        other => Err(Error::UnsupportedDType { op, dtype: other }),
    }
}

/// Runs `kernel` and wraps its outputs as contiguous tensors of the given shapes.
pub(crate) fn run_float_shaped<K: FloatKernel>(op: &'static str, kernel: &K, inputs: &[&Tensor], access: Access, shapes: &[&[usize]]) -> Result<Vec<Tensor>> {
    Ok(run_float(op, kernel, inputs, access)?.into_iter().zip(shapes).map(|(s, shape)| Tensor::from_storage(s, shape)).collect())
}

/// Convenience for the common one-output case.
pub(crate) fn run_float1<K: FloatKernel>(op: &'static str, kernel: &K, inputs: &[&Tensor], access: Access, shape: &[usize]) -> Result<Tensor> {
    Ok(run_float_shaped(op, kernel, inputs, access, &[shape])?.remove(0))
}

/// The element type of a statistic output for inputs of `elem` (f32 for every GPU dtype).
pub(crate) fn stat_elem(_elem: Elem) -> Elem {
    Elem::F32
}

/// A tensor that travels beside the float inputs (indices, saved statistics): on the CUDA
/// path its device address, checked to be on `device` and made contiguous.
pub(crate) fn side_ptr(op: &'static str, t: &Tensor, device: Device) -> Result<(Tensor, u64)> {
    if t.device() != device {
        return Err(Error::DeviceMismatch { op, lhs: device, rhs: t.device() });
    }
    let c = t.contiguous()?;
    let (_, p) = c.cuda_ptr()?;
    Ok((c, p))
}

/// The element type of an index tensor on the device (i32 or u8).
pub(crate) fn index_elem(op: &'static str, t: &Tensor) -> Result<Elem> {
    match t.dtype() {
        DType::I32 | DType::U8 => Ok(elem_of(t.dtype())),
        dtype => Err(Error::UnsupportedDType { op, dtype }),
    }
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

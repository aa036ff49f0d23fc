//! Tensors on CUDA devices: the storage variant and the conversions between `tensor`'s
//! dtypes and `kernels::cuda`'s element types.

use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Device, Tensor};
use kernels::cuda::{DevBuf, Elem, Gpu};
use std::sync::Arc;

/// A device buffer and the GPU it lives on.
#[derive(Debug)]
pub struct CudaStorage {
    pub gpu: Arc<Gpu>,
    pub buf: DevBuf,
}

pub(crate) fn elem_of(dtype: DType) -> Elem {
    match dtype {
        DType::F64 => Elem::F64,
        DType::F32 => Elem::F32,
        DType::BF16 => Elem::BF16,
        DType::F16 => Elem::F16,
        DType::I32 => Elem::I32,
        DType::U8 => Elem::U8,
    }
}

pub(crate) fn dtype_of(elem: Elem) -> DType {
    match elem {
        Elem::F64 => DType::F64,
        Elem::F32 => DType::F32,
        Elem::BF16 => DType::BF16,
        Elem::F16 => DType::F16,
        Elem::I32 => DType::I32,
        Elem::U8 => DType::U8,
    }
}

/// The GPU behind `device`, with a clear error when there is none.
pub(crate) fn gpu_for(op: &'static str, device: Device) -> Result<Arc<Gpu>> {
    match device {
        Device::Cuda(i) => Gpu::get(i).map_err(|e| Error::DeviceUnavailable { op, device, why: e.to_string() }),
        Device::Cpu => Err(Error::InvalidArgument { op, why: "not a CUDA device".into() }),
    }
}

impl Tensor {
    /// Wraps a device buffer as a contiguous tensor of `shape`.
    pub(crate) fn from_devbuf(gpu: Arc<Gpu>, buf: DevBuf, shape: &[usize]) -> Result<Tensor> {
        debug_assert_eq!(buf.len, shape.iter().product::<usize>());
        Ok(Tensor::from_storage(Storage::Cuda(CudaStorage { gpu, buf }), shape))
    }

    /// The GPU and the device address of this tensor's first element (offset applied).
    /// For kernels that read through the layout, use [`Tensor::cuda_base`].
    pub(crate) fn cuda_ptr(&self) -> Result<(Arc<Gpu>, u64)> {
        let (gpu, base) = self.cuda_base()?;
        Ok((gpu, base + (self.layout().offset() * self.dtype().size_in_bytes()) as u64))
    }

    /// The GPU and the device address of element 0 of the underlying buffer.
    pub(crate) fn cuda_base(&self) -> Result<(Arc<Gpu>, u64)> {
        match &*self.read_storage() {
            Storage::Cuda(c) => Ok((c.gpu.clone(), c.buf.ptr(&c.gpu))),
            Storage::Cpu(_) => Err(Error::InvalidArgument { op: "cuda_ptr", why: "tensor is on the CPU".into() }),
        }
    }

    /// A new uninitialised (or, in tests, NaN-poisoned) device tensor.
    pub(crate) fn cuda_alloc(gpu: &Arc<Gpu>, dtype: DType, shape: &[usize]) -> Result<(Tensor, u64)> {
        let buf = gpu.alloc(elem_of(dtype), shape.iter().product())?;
        let ptr = buf.ptr(gpu);
        Ok((Tensor::from_devbuf(gpu.clone(), buf, shape)?, ptr))
    }
}

/// Copies a host buffer to the device.
pub(crate) fn upload(gpu: &Arc<Gpu>, s: &CpuStorage) -> Result<DevBuf> {
    Ok(gpu.upload(elem_of(s.dtype()), s.len(), s.as_bytes())?)
}

/// Copies `len` elements from element `offset` of a device buffer to the host.
pub(crate) fn download(c: &CudaStorage, offset: usize, len: usize) -> Result<CpuStorage> {
    let bytes = c.gpu.download(&c.buf, offset, len)?;
    Ok(CpuStorage::from_bytes(dtype_of(c.buf.elem), &bytes))
}

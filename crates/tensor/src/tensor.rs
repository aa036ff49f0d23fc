//! The `Tensor` handle: creation, inspection, views and conversions.

use crate::cuda::{download, elem_of, gpu_for, upload, CudaStorage};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Device, WithDType};
use kernels::cuda::launch;
use kernels::philox;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// An n-dimensional array: shared storage plus a view of it.
///
/// Cloning is cheap (an `Arc` bump). Ops return new tensors; the only in-place writes are the
/// optimizer's, which take the storage's write lock.
#[derive(Clone, Debug)]
pub struct Tensor {
    storage: Arc<RwLock<Storage>>,
    layout: Layout,
    dtype: DType,
    device: Device,
}

/// Random values are computed in f64 and, for every dtype but f64, rounded to f32 before the
/// target dtype, exactly as the CUDA kernel does: the same seed gives the same bits everywhere.
fn through_f32(dtype: DType, v: f64) -> f64 {
    if dtype == DType::F64 {
        v
    } else {
        v as f32 as f64
    }
}

impl Tensor {
    // ---------------------------------------------------------------- creation

    /// Wraps a buffer as a contiguous tensor of `shape` (lengths checked by the callers).
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Self {
        let (dtype, device) = (storage.dtype(), storage.device());
        Tensor { storage: Arc::new(RwLock::new(storage)), layout: Layout::contiguous(shape), dtype, device }
    }

    /// Wraps a fresh CPU buffer as a contiguous tensor of `shape`.
    pub fn from_cpu_storage(storage: CpuStorage, shape: &[usize]) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if storage.len() != numel {
            return Err(Error::BadShape {
                op: "from_storage",
                shape: shape.to_vec(),
                why: format!("{} elements given for a shape of {numel}", storage.len()),
            });
        }
        Ok(Self::from_storage(Storage::Cpu(storage), shape))
    }

    /// Moves a host buffer onto `device` as a tensor of `shape`.
    fn from_storage_on(storage: CpuStorage, shape: &[usize], device: Device, op: &'static str) -> Result<Self> {
        let cpu = Self::from_cpu_storage(storage, shape)?;
        match device {
            Device::Cpu => Ok(cpu),
            Device::Cuda(_) => {
                gpu_for(op, device)?; // an unavailable GPU is reported under this op's name
                cpu.to_device(device)
            }
        }
    }

    pub fn from_vec<T: WithDType>(data: Vec<T>, shape: &[usize], device: Device) -> Result<Self> {
        Self::from_storage_on(T::into_storage(data), shape, device, "from_vec")
    }

    pub fn from_slice<T: WithDType>(data: &[T], shape: &[usize], device: Device) -> Result<Self> {
        Self::from_vec(data.to_vec(), shape, device)
    }

    pub fn zeros(shape: &[usize], dtype: DType, device: Device) -> Result<Self> {
        let n: usize = shape.iter().product();
        match device {
            Device::Cpu => Self::from_cpu_storage(CpuStorage::zeros(dtype, n), shape),
            Device::Cuda(_) => {
                let gpu = gpu_for("zeros", device)?;
                let buf = gpu.zeros(elem_of(dtype), n)?;
                Self::from_devbuf(gpu, buf, shape)
            }
        }
    }

    pub fn full(value: f64, shape: &[usize], dtype: DType, device: Device) -> Result<Self> {
        let n: usize = shape.iter().product();
        match device {
            Device::Cpu => Self::from_cpu_storage(CpuStorage::from_f64(dtype, std::iter::repeat_n(value, n)), shape),
            Device::Cuda(_) => {
                let gpu = gpu_for("full", device)?;
                let (t, ptr) = Self::cuda_alloc(&gpu, dtype, shape)?;
                launch::fill(&gpu, elem_of(dtype), ptr, n, value as f32)?;
                Ok(t)
            }
        }
    }

    pub fn ones(shape: &[usize], dtype: DType, device: Device) -> Result<Self> {
        Self::full(1.0, shape, dtype, device)
    }

    /// A 0-dimensional tensor holding `value`.
    pub fn scalar(value: f64, dtype: DType, device: Device) -> Result<Self> {
        Self::full(value, &[], dtype, device)
    }

    /// Normal(`mean`, `std`) samples; element `i` is a pure function of `(seed, i)` (Philox),
    /// so the same seed gives the same tensor on every device and thread count.
    pub fn randn(shape: &[usize], mean: f64, std: f64, seed: u64, dtype: DType, device: Device) -> Result<Self> {
        if let Device::Cuda(_) = device {
            return Self::cuda_random("randn", shape, mean, std, seed, dtype, device, true);
        }
        let n = shape.iter().product::<usize>() as u64;
        let values = (0..n).map(|i| through_f32(dtype, mean + std * philox::normal_at(seed, i)));
        Self::from_storage_on(CpuStorage::from_f64(dtype, values), shape, device, "randn")
    }

    #[allow(clippy::too_many_arguments)]
    fn cuda_random(op: &'static str, shape: &[usize], a: f64, b: f64, seed: u64, dtype: DType, device: Device, normal: bool) -> Result<Self> {
        if !dtype.is_float() || dtype == DType::F64 {
            return Err(Error::UnsupportedDType { op, dtype });
        }
        let gpu = gpu_for(op, device)?;
        let (t, ptr) = Self::cuda_alloc(&gpu, dtype, shape)?;
        launch::random(&gpu, elem_of(dtype), ptr, t.numel(), seed, a as f32, b as f32, normal)?;
        Ok(t)
    }

    /// Uniform samples in `[lo, hi)`, keyed like [`Tensor::randn`].
    pub fn rand_uniform(shape: &[usize], lo: f64, hi: f64, seed: u64, dtype: DType, device: Device) -> Result<Self> {
        if let Device::Cuda(_) = device {
            return Self::cuda_random("rand_uniform", shape, lo, hi, seed, dtype, device, false);
        }
        let n = shape.iter().product::<usize>() as u64;
        let values = (0..n).map(|i| through_f32(dtype, lo + (hi - lo) * philox::uniform_at(seed, i)));
        Self::from_storage_on(CpuStorage::from_f64(dtype, values), shape, device, "rand_uniform")
    }

    pub fn zeros_like(&self) -> Result<Self> {
        Self::zeros(self.shape(), self.dtype, self.device)
    }

    // ---------------------------------------------------------------- inspection

    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> Device {
        self.device
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Size of dimension `dim`, or an error naming `op`.
    pub fn dim(&self, op: &'static str, dim: usize) -> Result<usize> {
        self.layout.check_dim(op, dim)?;
        Ok(self.shape()[dim])
    }

    /// An identity for the underlying buffer: views of one tensor share it.
    pub fn storage_id(&self) -> usize {
        Arc::as_ptr(&self.storage) as *const () as usize
    }

    /// Bytes of the underlying buffer (shared by all views of it).
    pub fn storage_bytes(&self) -> usize {
        self.read_storage().size_in_bytes()
    }

    pub(crate) fn read_storage(&self) -> RwLockReadGuard<'_, Storage> {
        self.storage.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write_storage(&self) -> RwLockWriteGuard<'_, Storage> {
        self.storage.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The elements in row-major order, as `T` (which must be this tensor's dtype).
    pub fn to_vec<T: WithDType>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DTypeMismatch { op: "to_vec", got: self.dtype, want: T::DTYPE });
        }
        let c = self.contiguous()?.to_device(Device::Cpu)?;
        let guard = c.read_storage();
        let Storage::Cpu(s) = &*guard else { unreachable!("copied to the CPU above") };
        let slice = T::slice(s).expect("dtype checked above");
        Ok(slice[c.layout.offset()..c.layout.offset() + c.numel()].to_vec())
    }

    /// The elements in row-major order, widened to `f64` whatever the dtype.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let c = self.contiguous()?.to_device(Device::Cpu)?;
        let guard = c.read_storage();
        let Storage::Cpu(s) = &*guard else { unreachable!("copied to the CPU above") };
        Ok((c.layout.offset()..c.layout.offset() + c.numel()).map(|i| s.get_f64(i)).collect())
    }

    /// The single element of a one-element tensor.
    pub fn to_scalar_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::BadShape {
                op: "to_scalar",
                shape: self.shape().to_vec(),
                why: "a scalar needs exactly one element".into(),
            });
        }
        Ok(self.to_vec_f64()?[0])
    }

    // ---------------------------------------------------------------- conversions

    /// Casts to `dtype` (round to nearest for floats, truncation towards zero for integers).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        if dtype == self.dtype {
            return Ok(self.clone());
        }
        let c = self.contiguous()?;
        if let Device::Cuda(_) = self.device {
            let (gpu, src) = c.cuda_ptr()?;
            let (out, dst) = Self::cuda_alloc(&gpu, dtype, self.shape())?;
            launch::cast(&gpu, elem_of(self.dtype), elem_of(dtype), src, dst, self.numel())?;
            return Ok(out);
        }
        let guard = c.read_storage();
        let Storage::Cpu(s) = &*guard else { unreachable!("device checked above") };
        let start = c.layout.offset();
        let out = match (s, dtype) {
            (CpuStorage::F32(v), DType::BF16 | DType::F16) => {
                CpuStorage::from_f32_vec(dtype, v[start..start + c.numel()].to_vec())
            }
            _ => CpuStorage::from_f64(dtype, (start..start + c.numel()).map(|i| s.get_f64(i))),
        };
        Self::from_cpu_storage(out, self.shape())
    }

    /// The elements in row-major order as raw bytes (native endianness), from any device.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let c = self.contiguous()?;
        let (off, n, size) = (c.layout.offset(), c.numel(), self.dtype.size_in_bytes());
        let guard = c.read_storage();
        let bytes = match &*guard {
            Storage::Cpu(s) => s.as_bytes()[off * size..(off + n) * size].to_vec(),
            Storage::Cuda(cs) => download(cs, off, n)?.as_bytes().to_vec(),
        };
        Ok(bytes)
    }

    /// Copies to `device` (a no-op handle clone when already there).
    pub fn to_device(&self, device: Device) -> Result<Self> {
        if device == self.device {
            return Ok(self.clone());
        }
        let host = CpuStorage::from_bytes(self.dtype, &self.to_bytes()?);
        match device {
            Device::Cpu => Self::from_cpu_storage(host, self.shape()),
            Device::Cuda(_) => {
                let gpu = gpu_for("to_device", device)?;
                let buf = upload(&gpu, &host)?;
                Ok(Self::from_storage(Storage::Cuda(CudaStorage { gpu, buf }), self.shape()))
            }
        }
    }

    // ---------------------------------------------------------------- views

    fn with_layout(&self, layout: Layout) -> Self {
        Tensor { storage: self.storage.clone(), layout, dtype: self.dtype, device: self.device }
    }

    /// A dense row-major copy, or `self` when already contiguous.
    pub fn contiguous(&self) -> Result<Self> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let l = &self.layout;
        if let Device::Cuda(_) = self.device {
            let (gpu, base) = self.cuda_base()?;
            let (out, dst) = Self::cuda_alloc(&gpu, self.dtype, self.shape())?;
            launch::gather_strided(&gpu, elem_of(self.dtype), base, dst, l.shape(), l.strides(), l.offset())?;
            return Ok(out);
        }
        let guard = self.read_storage();
        let Storage::Cpu(s) = &*guard else { unreachable!("device checked above") };
        macro_rules! gather {
            ($($v:ident),*) => {
                match s {
                    $(CpuStorage::$v(b) => CpuStorage::$v(kernels::copy::gather_strided(b, l.shape(), l.strides(), l.offset())),)*
                }
            };
        }
        let out = gather!(F64, F32, BF16, F16, I32, U8);
        drop(guard);
        Self::from_cpu_storage(out, self.shape())
    }

    /// The same elements under `shape` (one entry may be `usize::MAX` meaning "the rest");
    /// a view when contiguous, otherwise a copy.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let mut shape = shape.to_vec();
        if let Some(pos) = shape.iter().position(|&d| d == usize::MAX) {
            let known: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
            if known == 0 || self.numel() % known != 0 {
                return Err(Error::ShapeMismatch {
                    op: "reshape",
                    lhs: self.shape().to_vec(),
                    rhs: shape,
                    why: "the free dimension cannot be inferred".into(),
                });
            }
            shape[pos] = self.numel() / known;
        }
        let base = self.contiguous()?;
        let layout = base.layout.reshape(&shape)?;
        Ok(base.with_layout(layout))
    }

    pub fn permute(&self, dims: &[usize]) -> Result<Self> {
        Ok(self.with_layout(self.layout.permute(dims)?))
    }

    /// Swaps dimensions `a` and `b`.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        self.layout.check_dim("transpose", a)?;
        self.layout.check_dim("transpose", b)?;
        let mut dims: Vec<usize> = (0..self.rank()).collect();
        dims.swap(a, b);
        self.permute(&dims)
    }

    /// Elements `start..start+len` of dimension `dim`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        Ok(self.with_layout(self.layout.narrow(dim, start, len)?))
    }

    /// Stretches size-1 and missing leading dimensions to `shape` (stride 0, no copy).
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Self> {
        Ok(self.with_layout(self.layout.broadcast_as(shape)?))
    }

    /// Inserts a size-1 dimension at `dim`.
    pub fn unsqueeze(&self, dim: usize) -> Result<Self> {
        if dim > self.rank() {
            return Err(Error::DimOutOfRange { op: "unsqueeze", dim, rank: self.rank() });
        }
        let mut shape = self.shape().to_vec();
        let mut strides = self.layout.strides().to_vec();
        shape.insert(dim, 1);
        strides.insert(dim, 0);
        Ok(self.with_layout(Layout::new(shape, strides, self.layout.offset())))
    }

    /// Checks that `self` and `other` share dtype and device.
    pub fn same_kind(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.device != other.device {
            return Err(Error::DeviceMismatch { op, lhs: self.device, rhs: other.device });
        }
        if self.dtype != other.dtype {
            return Err(Error::DTypeMismatch { op, got: other.dtype, want: self.dtype });
        }
        Ok(())
    }

    /// Checks the shape, naming `op` when it is wrong.
    pub fn expect_shape(&self, op: &'static str, shape: &[usize]) -> Result<()> {
        if self.shape() == shape {
            Ok(())
        } else {
            Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: shape.to_vec(), why: "expected equal shapes".into() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_read_the_right_elements() {
        let t = Tensor::from_vec((0..6).map(|x| x as f32).collect(), &[2, 3], Device::Cpu).unwrap();
        assert_eq!(t.transpose(0, 1).unwrap().to_vec::<f32>().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
        assert_eq!(t.narrow(1, 1, 2).unwrap().to_vec::<f32>().unwrap(), vec![1., 2., 4., 5.]);
        let b = Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1], Device::Cpu).unwrap();
        assert_eq!(b.broadcast_as(&[2, 3]).unwrap().to_vec::<f32>().unwrap(), vec![1., 1., 1., 2., 2., 2.]);
        assert_eq!(t.transpose(0, 1).unwrap().reshape(&[6]).unwrap().to_vec::<f32>().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
        assert_eq!(t.reshape(&[usize::MAX, 2]).unwrap().shape(), &[3, 2]);
    }

    #[test]
    fn dtype_round_trips() {
        let t = Tensor::from_vec(vec![1.5f32, -2.25, 3.0], &[3], Device::Cpu).unwrap();
        for dt in [DType::F64, DType::BF16, DType::F16] {
            assert_eq!(t.to_dtype(dt).unwrap().to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(), vec![1.5, -2.25, 3.0]);
        }
        assert!(t.to_vec::<f64>().is_err());
    }


    #[test]
    fn randn_is_seeded() {
        let a = Tensor::randn(&[1000], 0.0, 2.0, 5, DType::F64, Device::Cpu).unwrap().to_vec::<f64>().unwrap();
        let b = Tensor::randn(&[1000], 0.0, 2.0, 5, DType::F64, Device::Cpu).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(a, b);
        let var = a.iter().map(|x| x * x).sum::<f64>() / 1000.0;
        assert!((var - 4.0).abs() < 0.5, "{var}");
    }
}

//! The optimizer's in-place update, and the inf/NaN check of dynamic loss scaling.

use crate::cuda::elem_of;
use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Device, Tensor};
use kernels::cuda::launch;
pub use kernels::adam::AdamParams;

impl Tensor {
    /// One Adam(W) step, in place: `self` (the master weights), `m` and `v` are updated from
    /// `grad`. Weights and moments share one shape and the master dtype (f32, or f64 on the
    /// CPU); the gradient may be of lower precision (bf16/f16 in mixed-precision training),
    /// it is widened on the fly.
    ///
    /// The write goes to the shared buffer, so every handle to these weights sees the update.
    pub fn adam_step(&self, grad: &Tensor, m: &Tensor, v: &Tensor, h: AdamParams) -> Result<()> {
        const OP: &str = "adam_step";
        for t in [m, v] {
            self.same_kind(OP, t)?;
        }
        for t in [grad, m, v] {
            t.expect_shape(OP, self.shape())?;
        }
        if grad.device() != self.device() {
            return Err(Error::DeviceMismatch { op: OP, lhs: self.device(), rhs: grad.device() });
        }
        if !matches!(self.dtype(), DType::F32 | DType::F64) {
            return Err(Error::UnsupportedDType { op: OP, dtype: self.dtype() });
        }
        if !grad.dtype().is_float() {
            return Err(Error::UnsupportedDType { op: OP, dtype: grad.dtype() });
        }
        for t in [self, m, v] {
            if !t.is_contiguous() || t.layout().offset() != 0 || t.numel() != t.read_storage().len() {
                return Err(Error::InvalidArgument { op: OP, why: "weights and moments must each own a whole contiguous buffer".into() });
            }
        }
        if self.storage_id() == m.storage_id() || self.storage_id() == v.storage_id() || m.storage_id() == v.storage_id() {
            return Err(Error::InvalidArgument { op: OP, why: "weights, m and v must be distinct buffers".into() });
        }
        let n = self.numel();
        if let Device::Cuda(_) = self.device() {
            if self.dtype() != DType::F32 {
                return Err(Error::UnsupportedDType { op: OP, dtype: self.dtype() });
            }
            let grad = grad.contiguous()?;
            let (gpu, pg) = grad.cuda_ptr()?;
            let (_, pp) = self.cuda_ptr()?;
            let (_, pm) = m.cuda_ptr()?;
            let (_, pv) = v.cuda_ptr()?;
            launch::adam(&gpu, elem_of(grad.dtype()), pp, pg, pm, pv, n, h)?;
            return Ok(());
        }
        let grad = grad.to_dtype(self.dtype())?.contiguous()?;
        let g_guard = grad.read_storage();
        let (mut p_guard, mut m_guard, mut v_guard) = (self.write_storage(), m.write_storage(), v.write_storage());
        let (Storage::Cpu(g), Storage::Cpu(p), Storage::Cpu(mm), Storage::Cpu(vv)) = (&*g_guard, &mut *p_guard, &mut *m_guard, &mut *v_guard) else {
            unreachable!("devices checked above")
        };
        let off = grad.layout().offset();
        match (p, g, mm, vv) {
            (CpuStorage::F32(p), CpuStorage::F32(g), CpuStorage::F32(m), CpuStorage::F32(v)) => kernels::adam::adam_step(p, &g[off..off + n], m, v, h),
            (CpuStorage::F64(p), CpuStorage::F64(g), CpuStorage::F64(m), CpuStorage::F64(v)) => kernels::adam::adam_step(p, &g[off..off + n], m, v, h),
            _ => unreachable!("dtypes checked above"),
        }
        Ok(())
    }

    /// Overwrites this tensor's elements with `src`'s (same shape and dtype, any device), in
    /// place: every handle to this buffer sees the new values. For loading weights.
    pub fn assign(&self, src: &Tensor) -> Result<()> {
        const OP: &str = "assign";
        src.expect_shape(OP, self.shape())?;
        if src.dtype() != self.dtype() {
            return Err(Error::DTypeMismatch { op: OP, got: src.dtype(), want: self.dtype() });
        }
        if !self.is_contiguous() {
            return Err(Error::InvalidArgument { op: OP, why: "the destination must be contiguous".into() });
        }
        let src = src.to_device(self.device())?.contiguous()?;
        let (off, n, size) = (self.layout().offset(), self.numel(), self.dtype().size_in_bytes());
        let (soff, src_guard) = (src.layout().offset(), src.read_storage());
        let mut dst = self.write_storage();
        match (&mut *dst, &*src_guard) {
            (Storage::Cpu(d), Storage::Cpu(s)) => d.as_bytes_mut()[off * size..(off + n) * size].copy_from_slice(&s.as_bytes()[soff * size..(soff + n) * size]),
            (Storage::Cuda(d), Storage::Cuda(s)) => d.gpu.copy(&s.buf, soff, &mut d.buf, off, n)?,
            _ => unreachable!("moved to this device above"),
        }
        Ok(())
    }

    /// A 0-d i32 tensor on the tensors' device: 1 if any element of any of `tensors` is inf or
    /// NaN, else 0. On a GPU this queues one small kernel per tensor into one flag and does not
    /// wait: read the flag once per step (dynamic loss scaling skips the step when it is set).
    pub fn any_nonfinite(tensors: &[&Tensor]) -> Result<Tensor> {
        const OP: &str = "any_nonfinite";
        let Some(first) = tensors.first() else {
            return Tensor::zeros(&[], DType::I32, Device::Cpu);
        };
        let device = first.device();
        let flag = Tensor::zeros(&[], DType::I32, device)?;
        for t in tensors {
            if t.device() != device {
                return Err(Error::DeviceMismatch { op: OP, lhs: device, rhs: t.device() });
            }
            if !t.dtype().is_float() {
                return Err(Error::UnsupportedDType { op: OP, dtype: t.dtype() });
            }
        }
        if let Device::Cuda(_) = device {
            let (gpu, pf) = flag.cuda_ptr()?;
            for t in tensors {
                let c = t.contiguous()?;
                let (_, p) = c.cuda_ptr()?;
                launch::nonfinite_flag(&gpu, elem_of(c.dtype()), p, c.numel(), pf)?;
            }
            return Ok(flag);
        }
        let bad = tensors.iter().map(|t| t.to_vec_f64()).collect::<Result<Vec<_>>>()?.iter().any(|v| v.iter().any(|x| !x.is_finite()));
        Tensor::full(f64::from(u8::from(bad)), &[], DType::I32, Device::Cpu)
    }
}

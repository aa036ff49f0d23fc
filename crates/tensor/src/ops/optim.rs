//! The optimizer's in-place update.

use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Tensor};
pub use kernels::adam::AdamParams;

impl Tensor {
    /// One Adam(W) step, in place: `self` (the master weights), `m` and `v` are updated from
    /// `grad`. All four must be contiguous, of one shape; the weights and moments f32 or f64
    /// (master precision), the gradient of the same dtype.
    ///
    /// The write goes to the shared buffer, so every handle to these weights sees the update.
    pub fn adam_step(&self, grad: &Tensor, m: &Tensor, v: &Tensor, h: AdamParams) -> Result<()> {
        const OP: &str = "adam_step";
        for t in [grad, m, v] {
            self.same_kind(OP, t)?;
            t.expect_shape(OP, self.shape())?;
        }
        if !matches!(self.dtype(), DType::F32 | DType::F64) {
            return Err(Error::UnsupportedDType { op: OP, dtype: self.dtype() });
        }
        for t in [self, m, v] {
            if !t.is_contiguous() || t.layout().offset() != 0 || t.numel() != t.read_storage().len() {
                return Err(Error::InvalidArgument { op: OP, why: "weights and moments must each own a whole contiguous buffer".into() });
            }
        }
        if self.storage_id() == m.storage_id() || self.storage_id() == v.storage_id() || m.storage_id() == v.storage_id() {
            return Err(Error::InvalidArgument { op: OP, why: "weights, m and v must be distinct buffers".into() });
        }
        let grad = grad.contiguous()?;
        let g_guard = grad.read_storage();
        let (mut p_guard, mut m_guard, mut v_guard) = (self.write_storage(), m.write_storage(), v.write_storage());
        let (Storage::Cpu(g), Storage::Cpu(p), Storage::Cpu(mm), Storage::Cpu(vv)) = (&*g_guard, &mut *p_guard, &mut *m_guard, &mut *v_guard);
        let off = grad.layout().offset();
        let n = self.numel();
        match (p, g, mm, vv) {
            (CpuStorage::F32(p), CpuStorage::F32(g), CpuStorage::F32(m), CpuStorage::F32(v)) => kernels::adam::adam_step(p, &g[off..off + n], m, v, h),
            (CpuStorage::F64(p), CpuStorage::F64(g), CpuStorage::F64(m), CpuStorage::F64(v)) => kernels::adam::adam_step(p, &g[off..off + n], m, v, h),
            _ => unreachable!("dtypes checked above"),
        }
        Ok(())
    }
}

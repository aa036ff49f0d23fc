//! Fused sparse attention on a GPU (`kernels::cuda::sparse_attention`): the paper's
//! factorized patterns without the `n x n` matrix. The pattern arrives as a list of parts
//! ([`kernels::sparse_attention::SaPart`]); the reference [`Tensor::attention`] with the
//! equivalent boolean mask computes the same thing and is what the tests compare against.
//!
//! bf16 or fp16, head widths 32, 64 or 128 (queries/keys and values may differ). The inputs
//! may be strided views (e.g. heads split out of one projection) as long as the last
//! dimension is contiguous and the other strides keep rows 16-byte aligned; otherwise they are
//! copied first.

use crate::error::{Error, Result};
use crate::{DType, Device, Tensor};
use kernels::cuda::sparse_attention::{self as sa, SaDims, Str3, View};
use kernels::sparse_attention::SaPart;

/// A view the kernels can read directly, or a contiguous copy; the tensor keeps it alive.
fn view_of(t: &Tensor) -> Result<(Tensor, View)> {
    let st = t.layout().strides();
    let elem = t.dtype().size_in_bytes();
    let direct = st[3] == 1 && st[..3].iter().all(|s| s % 8 == 0) && (t.layout().offset() * elem) % 16 == 0;
    let t = if direct { t.clone() } else { t.contiguous()? };
    let st = t.layout().strides().to_vec();
    let (_, ptr) = t.cuda_ptr()?;
    Ok((t, View { ptr, strides: Str3 { b: st[0] as i64, h: st[1] as i64, t: st[2] as i64 } }))
}

/// Checks `q, k: [B, H, n, Dqk]`, `v: [B, H, n, Dv]` on one CUDA device in bf16/f16.
fn dims(op: &'static str, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<SaDims> {
    for t in [k, v] {
        q.same_kind(op, t)?;
    }
    if !matches!(q.device(), Device::Cuda(_)) {
        return Err(Error::InvalidArgument { op, why: "the fused sparse attention runs on CUDA devices (use `attention` with a mask on the CPU)".into() });
    }
    if !matches!(q.dtype(), DType::BF16 | DType::F16) {
        return Err(Error::UnsupportedDType { op, dtype: q.dtype() });
    }
    let bad = |why: &str| Error::ShapeMismatch { op, lhs: q.shape().to_vec(), rhs: v.shape().to_vec(), why: why.into() };
    if q.rank() != 4 || k.shape() != q.shape() || v.rank() != 4 || v.shape()[..3] != q.shape()[..3] {
        return Err(bad("q, k: [batch, heads, n, d_qk] and v: [batch, heads, n, d_v]"));
    }
    let s = q.shape();
    Ok(SaDims { batch: s[0], heads: s[1], n: s[2], dqk: s[3], dv: v.shape()[3] })
}

impl Tensor {
    /// `softmax(scale q k^T restricted to the pattern) v`: returns `(out [B, H, n, Dv], lse
    /// [B, H, n] fp32)`, the pattern given by `parts`.
    pub fn sparse_attention(q: &Tensor, k: &Tensor, v: &Tensor, parts: &[SaPart], scale: f64) -> Result<(Tensor, Tensor)> {
        const OP: &str = "sparse_attention";
        let d = dims(OP, q, k, v)?;
        let (gpu, _) = q.cuda_ptr()?;
        let ((_q, qv), (_k, kv), (_v, vv)) = (view_of(q)?, view_of(k)?, view_of(v)?);
        let e = crate::cuda::elem_of(q.dtype());
        let (out, lse) = sa::forward(&gpu, e, d, qv, kv, vv, parts, scale as f32)?;
        Ok((Tensor::from_devbuf(gpu.clone(), out, &[d.batch, d.heads, d.n, d.dv])?, Tensor::from_devbuf(gpu, lse, &[d.batch, d.heads, d.n])?))
    }

    /// Backward of [`Tensor::sparse_attention`]: `(dq, dk, dv)`, contiguous.
    #[allow(clippy::too_many_arguments)]
    pub fn sparse_attention_backward(q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor, lse: &Tensor, dout: &Tensor, parts: &[SaPart], scale: f64) -> Result<(Tensor, Tensor, Tensor)> {
        const OP: &str = "sparse_attention_backward";
        let d = dims(OP, q, k, v)?;
        for t in [out, dout] {
            q.same_kind(OP, t)?;
            t.expect_shape(OP, &[d.batch, d.heads, d.n, d.dv])?;
        }
        lse.expect_shape(OP, &[d.batch, d.heads, d.n])?;
        let (gpu, _) = q.cuda_ptr()?;
        let ((_q, qv), (_k, kv), (_v, vv)) = (view_of(q)?, view_of(k)?, view_of(v)?);
        let ((_o, ov), (_d, dv)) = (view_of(out)?, view_of(dout)?);
        let lse = lse.contiguous()?;
        let (_, lp) = lse.cuda_ptr()?;
        let e = crate::cuda::elem_of(q.dtype());
        let (gq, gk, gv) = sa::backward(&gpu, e, d, qv, kv, vv, ov, lp, dv, parts, scale as f32)?;
        Ok((
            Tensor::from_devbuf(gpu.clone(), gq, q.shape())?,
            Tensor::from_devbuf(gpu.clone(), gk, k.shape())?,
            Tensor::from_devbuf(gpu, gv, v.shape())?,
        ))
    }
}

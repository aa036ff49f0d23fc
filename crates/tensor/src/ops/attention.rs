//! Reference attention on tensors `[B, H, T, D]`, with any mask. Exact and simple; the
//! fast sparse kernels are checked against it.
//!
//! On the CPU it is one kernel (`kernels::attention`, row by row). On a GPU it is composed:
//! `S = q k^T` (cuBLASLt), the masked, scaled softmax `P` with its log-sum-exp (one kernel,
//! `softmax.cu`), `out = P v`; the backward recomputes `P` and applies
//! `dS = scale * P * (dP - rowsum(P dP))` with `dP = dout v^T`. It materialises the
//! `Tq x Tk` matrix, which is fine for a reference; the fused kernels never do.

use super::dispatch::{run_float_shaped, side_ptr, Access, CudaCall, FloatKernel, Out};
use crate::cuda::elem_of;
use crate::error::{Error, Result};
use crate::{DType, Device, Tensor, WithDType};
use kernels::attention::{AttnDims, Mask};
use kernels::cuda::{launch, DevBuf};
use kernels::Float;

/// Which keys each query sees.
#[derive(Clone, Debug)]
pub enum AttnMask {
    /// Every key (an encoder, or a cross-attention).
    None,
    /// Keys up to the query's own position (aligned to the last keys when `Tq < Tk`).
    Causal,
    /// A `u8` tensor, nonzero where query `i` may see key `j`: `[Tq, Tk]` shared by all heads
    /// or `[H, Tq, Tk]` per head. This is how the sparse patterns run on the reference path.
    Bool(Tensor),
}

struct Attention {
    dims: AttnDims,
    mask: AttnMask,
    /// Heads sharing the boolean mask (1) or each with its own (`H`).
    mask_heads: usize,
    scale: f64,
    /// `Some(lse)` for the backward.
    lse: Option<Tensor>,
}

impl FloatKernel for Attention {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        use kernels::attention::{attention, attention_backward};
        let bool_mask = match &self.mask {
            AttnMask::Bool(m) => Some(m.to_vec::<u8>()?),
            _ => None,
        };
        let mask = match (&self.mask, &bool_mask) {
            (AttnMask::None, _) => Mask::None,
            (AttnMask::Causal, _) => Mask::Causal,
            (AttnMask::Bool(_), m) => Mask::Bool { allowed: m.as_deref().unwrap_or(&[]), heads: self.mask_heads },
        };
        Ok(match &self.lse {
            None => {
                let (o, lse) = attention(x[0], x[1], x[2], self.dims, mask, self.scale);
                vec![Out::Data(o), Out::Stat(lse)]
            }
            Some(lse) => {
                let lse: Vec<T> = lse.to_vec_f64()?.into_iter().map(<T as Float>::from_f64).collect();
                let (dq, dk, dv) = attention_backward(x[0], x[1], x[2], &lse, x[3], self.dims, mask, self.scale);
                vec![Out::Data(dq), Out::Data(dk), Out::Data(dv)]
            }
        })
    }

    fn run_cuda(&self, _c: &CudaCall) -> Result<Vec<DevBuf>> {
        Err(Error::InvalidArgument { op: "attention", why: "on CUDA the reference attention is composed in attention_cuda".into() })
    }
}

/// The masked, scaled softmax of scores `s: [B, H, Tq, Tk]` on a GPU: `(P, lse)`.
fn attn_softmax_cuda(s: &Tensor, a: &Attention) -> Result<(Tensor, Tensor)> {
    let (gpu, ps) = s.cuda_ptr()?;
    let shape = s.shape();
    let (p, pp) = Tensor::cuda_alloc(&gpu, s.dtype(), shape)?;
    let (lse, pl) = Tensor::cuda_alloc(&gpu, DType::F32, &shape[..3])?;
    let (kind, mask_ptr, _keep) = match &a.mask {
        AttnMask::None => (0, 0, None),
        AttnMask::Causal => (1, 0, None),
        AttnMask::Bool(m) => {
            let (t, ptr) = side_ptr("attention (mask)", m, s.device())?;
            (2, ptr, Some(t))
        }
    };
    let d = a.dims;
    launch::attn_softmax(&gpu, elem_of(s.dtype()), ps, pp, pl, d.bh, d.tq, d.tk, a.mask_heads, a.scale as f32, kind, mask_ptr)?;
    Ok((p, lse))
}

fn attention_cuda(q: &Tensor, k: &Tensor, v: &Tensor, a: &Attention) -> Result<(Tensor, Tensor)> {
    let s = q.matmul(&k.transpose(2, 3)?)?; // [B, H, Tq, Tk]
    let (p, lse) = attn_softmax_cuda(&s, a)?;
    Ok((p.matmul(v)?, lse))
}

fn attention_backward_cuda(q: &Tensor, k: &Tensor, v: &Tensor, dout: &Tensor, a: &Attention) -> Result<(Tensor, Tensor, Tensor)> {
    let s = q.matmul(&k.transpose(2, 3)?)?;
    let (p, _) = attn_softmax_cuda(&s, a)?;
    let dp = dout.matmul(&v.transpose(2, 3)?)?;
    let ds = p.softmax_backward(&dp)?.scale(a.scale)?;
    let dq = ds.matmul(k)?;
    let dk = ds.transpose(2, 3)?.matmul(q)?;
    let dv = p.transpose(2, 3)?.matmul(dout)?;
    Ok((dq, dk, dv))
}

/// Validates shapes and builds the kernel description.
fn prepare(q: &Tensor, k: &Tensor, v: &Tensor, mask: &AttnMask, scale: f64) -> Result<Attention> {
    const OP: &str = "attention";
    let bad = |why: &str| Error::ShapeMismatch { op: OP, lhs: q.shape().to_vec(), rhs: k.shape().to_vec(), why: why.into() };
    if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
        return Err(bad("q, k and v must be [batch, heads, time, head_dim]"));
    }
    let (b, h, tq, dk) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (tk, dv) = (k.shape()[2], v.shape()[3]);
    if k.shape() != [b, h, tk, dk] {
        return Err(bad("k must match q in batch, heads and head_dim"));
    }
    if v.shape()[..3] != [b, h, tk] {
        return Err(Error::ShapeMismatch { op: OP, lhs: k.shape().to_vec(), rhs: v.shape().to_vec(), why: "v must match k in batch, heads and time".into() });
    }
    let mask_heads = match mask {
        AttnMask::None | AttnMask::Causal => 1,
        AttnMask::Bool(m) => {
            if m.dtype() != DType::U8 {
                return Err(Error::DTypeMismatch { op: "attention (mask)", got: m.dtype(), want: DType::U8 });
            }
            let heads = match m.shape() {
                [a, c] if [*a, *c] == [tq, tk] => 1,
                [hh, a, c] if [*hh, *a, *c] == [h, tq, tk] => h,
                s => return Err(Error::BadShape { op: "attention (mask)", shape: s.to_vec(), why: format!("expected [{tq}, {tk}] or [{h}, {tq}, {tk}]") }),
            };
            if m.device() != q.device() {
                return Err(Error::DeviceMismatch { op: "attention (mask)", lhs: q.device(), rhs: m.device() });
            }
            heads
        }
    };
    Ok(Attention { dims: AttnDims { bh: b * h, tq, tk, dk, dv }, mask: mask.clone(), mask_heads, scale, lse: None })
}

impl Tensor {
    /// `softmax(scale * q k^T + mask) v` for `q: [B, H, Tq, Dk]`, `k: [B, H, Tk, Dk]`,
    /// `v: [B, H, Tk, Dv]`. Returns `(out [B, H, Tq, Dv], lse [B, H, Tq])`; `lse` (kept in the
    /// compute precision) is what the backward needs besides the inputs.
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &AttnMask, scale: f64) -> Result<(Tensor, Tensor)> {
        let kernel = prepare(q, k, v, mask, scale)?;
        for t in [k, v] {
            q.same_kind("attention", t)?;
        }
        if q.device() != Device::Cpu {
            return attention_cuda(q, k, v, &kernel);
        }
        let s = q.shape();
        let out_shape = [s[0], s[1], s[2], v.shape()[3]];
        let mut outs = run_float_shaped("attention", &kernel, &[q, k, v], Access::Contiguous, &[&out_shape, &s[..3]])?;
        let lse = outs.pop().unwrap();
        Ok((outs.pop().unwrap(), lse))
    }

    /// Backward of [`Tensor::attention`]: returns `(dq, dk, dv)`.
    pub fn attention_backward(q: &Tensor, k: &Tensor, v: &Tensor, lse: &Tensor, dout: &Tensor, mask: &AttnMask, scale: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let mut kernel = prepare(q, k, v, mask, scale)?;
        for t in [k, v, dout] {
            q.same_kind("attention_backward", t)?;
        }
        if q.device() != Device::Cpu {
            return attention_backward_cuda(q, k, v, dout, &kernel);
        }
        kernel.lse = Some(lse.clone());
        let mut outs = run_float_shaped("attention_backward", &kernel, &[q, k, v, dout], Access::Contiguous, &[q.shape(), k.shape(), v.shape()])?;
        let (dv, dk) = (outs.pop().unwrap(), outs.pop().unwrap());
        Ok((outs.pop().unwrap(), dk, dv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;

    #[test]
    fn causal_equals_explicit_lower_triangular_mask() {
        let q = Tensor::randn(&[1, 2, 5, 4], 0.0, 1.0, 1, DType::F64, Device::Cpu).unwrap();
        let k = Tensor::randn(&[1, 2, 5, 4], 0.0, 1.0, 2, DType::F64, Device::Cpu).unwrap();
        let v = Tensor::randn(&[1, 2, 5, 3], 0.0, 1.0, 3, DType::F64, Device::Cpu).unwrap();
        let tri: Vec<u8> = (0..25).map(|x| u8::from(x % 5 <= x / 5)).collect();
        let m = AttnMask::Bool(Tensor::from_vec(tri, &[5, 5], Device::Cpu).unwrap());
        let (a, _) = Tensor::attention(&q, &k, &v, &AttnMask::Causal, 0.5).unwrap();
        let (b, _) = Tensor::attention(&q, &k, &v, &m, 0.5).unwrap();
        assert_eq!(a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        let bad = AttnMask::Bool(Tensor::zeros(&[4, 5], DType::U8, Device::Cpu).unwrap());
        let e = Tensor::attention(&q, &k, &v, &bad, 0.5).unwrap_err().to_string();
        assert!(e.contains("attention (mask)") && e.contains("[4, 5]"), "{e}");
    }
}

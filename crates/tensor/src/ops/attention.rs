//! Reference attention on tensors `[B, H, T, D]`, with any mask. Exact and simple; the
//! fast sparse kernels are checked against it.

use super::cpu::{run_float_shaped, Access, FloatKernel, Out};
use crate::error::{Error, Result};
use crate::{DType, Tensor, WithDType};
use kernels::attention::{AttnDims, Mask};
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
    mask: Option<(Vec<u8>, usize)>,
    causal: bool,
    scale: f64,
    /// `Some(lse)` for the backward.
    lse: Option<Vec<f64>>,
}

impl Attention {
    fn mask(&self) -> Mask<'_> {
        match (&self.mask, self.causal) {
            (Some((m, heads)), _) => Mask::Bool { allowed: m, heads: *heads },
            (None, true) => Mask::Causal,
            (None, false) => Mask::None,
        }
    }
}

impl FloatKernel for Attention {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        use kernels::attention::{attention, attention_backward};
        Ok(match &self.lse {
            None => {
                let (o, lse) = attention(x[0], x[1], x[2], self.dims, self.mask(), self.scale);
                vec![Out::Data(o), Out::Stat(lse)]
            }
            Some(lse) => {
                let lse: Vec<T> = lse.iter().map(|&v| <T as Float>::from_f64(v)).collect();
                let (dq, dk, dv) = attention_backward(x[0], x[1], x[2], &lse, x[3], self.dims, self.mask(), self.scale);
                vec![Out::Data(dq), Out::Data(dk), Out::Data(dv)]
            }
        })
    }
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
    let (mask, causal) = match mask {
        AttnMask::None => (None, false),
        AttnMask::Causal => (None, true),
        AttnMask::Bool(m) => {
            if m.dtype() != DType::U8 {
                return Err(Error::DTypeMismatch { op: "attention (mask)", got: m.dtype(), want: DType::U8 });
            }
            let heads = match m.shape() {
                [a, c] if [*a, *c] == [tq, tk] => 1,
                [hh, a, c] if [*hh, *a, *c] == [h, tq, tk] => h,
                s => return Err(Error::BadShape { op: "attention (mask)", shape: s.to_vec(), why: format!("expected [{tq}, {tk}] or [{h}, {tq}, {tk}]") }),
            };
            (Some((m.to_vec::<u8>()?, heads)), false)
        }
    };
    Ok(Attention { dims: AttnDims { bh: b * h, tq, tk, dk, dv }, mask, causal, scale, lse: None })
}

impl Tensor {
    /// `softmax(scale * q k^T + mask) v` for `q: [B, H, Tq, Dk]`, `k: [B, H, Tk, Dk]`,
    /// `v: [B, H, Tk, Dv]`. Returns `(out [B, H, Tq, Dv], lse [B, H, Tq])`; `lse` (kept in the
    /// compute precision) is what the backward needs besides the inputs.
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &AttnMask, scale: f64) -> Result<(Tensor, Tensor)> {
        let kernel = prepare(q, k, v, mask, scale)?;
        let s = q.shape();
        let out_shape = [s[0], s[1], s[2], v.shape()[3]];
        let mut outs = run_float_shaped("attention", &kernel, &[q, k, v], Access::Contiguous, &[&out_shape, &s[..3]])?;
        let lse = outs.pop().unwrap();
        Ok((outs.pop().unwrap(), lse))
    }

    /// Backward of [`Tensor::attention`]: returns `(dq, dk, dv)`.
    pub fn attention_backward(q: &Tensor, k: &Tensor, v: &Tensor, lse: &Tensor, dout: &Tensor, mask: &AttnMask, scale: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let mut kernel = prepare(q, k, v, mask, scale)?;
        kernel.lse = Some(lse.to_vec_f64()?);
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

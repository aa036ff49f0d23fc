//! Matrix multiplication: `[.., m, k] @ [.., k, n] -> [.., m, n]`, batch dimensions broadcast.
//!
//! Operands are passed to gemm by strides, so transposed views cost nothing. When the right
//! operand has no batch of its own and the left one's batch rows are evenly spaced (a linear
//! layer applied to `[B, T, C]`), the batch is folded into `m`: one large gemm instead of `B`
//! small ones.

use super::dispatch::{run_float1, Access, CudaCall, FloatKernel, Out};
use crate::copy_offsets::batch_offsets;
use crate::error::{Error, Result};
use crate::layout::broadcast_shape;
use crate::{Tensor, WithDType};
use kernels::cuda::blas::{self, MatOperand};
use kernels::cuda::DevBuf;
use kernels::matmul::MatRef;
use kernels::Float;

/// One operand's strides and per-batch offsets.
struct Operand {
    offsets: Vec<usize>,
    row_stride: usize,
    col_stride: usize,
}

struct Matmul {
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Operand,
    b: Operand,
    /// Offset of a `[n]` bias (third input) added to every row, when fused.
    bias: Option<usize>,
}

impl Operand {
    /// The constant distance between consecutive batch entries, if there is one.
    fn uniform_batch_stride(&self) -> Option<usize> {
        let step = if self.offsets.len() > 1 { self.offsets[1].checked_sub(self.offsets[0])? } else { 0 };
        self.offsets.windows(2).all(|w| w[1] == w[0] + step).then_some(step)
    }

    /// cuBLASLt needs a unit stride in one direction and evenly spaced batch entries.
    fn fits_cublas(&self) -> bool {
        (self.row_stride == 1 || self.col_stride == 1) && self.uniform_batch_stride().is_some()
    }

    fn cublas(&self, base: u64, size: usize) -> MatOperand {
        MatOperand {
            ptr: base + (self.offsets[0] * size) as u64,
            row_stride: self.row_stride as i64,
            col_stride: self.col_stride as i64,
            batch_stride: self.uniform_batch_stride().unwrap_or(0) as i64,
        }
    }
}

impl FloatKernel for Matmul {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let a = MatRef { data: x[0], offsets: &self.a.offsets, row_stride: self.a.row_stride, col_stride: self.a.col_stride };
        let b = MatRef { data: x[1], offsets: &self.b.offsets, row_stride: self.b.row_stride, col_stride: self.b.col_stride };
        let mut out = kernels::matmul::matmul(self.batch, self.m, self.k, self.n, a, b);
        if let Some(off) = self.bias {
            let bias = &x[2][off..off + self.n];
            for row in out.chunks_mut(self.n.max(1)) {
                for (o, &b) in row.iter_mut().zip(bias) {
                    *o += b;
                }
            }
        }
        Ok(vec![Out::Data(out)])
    }

    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let n_out = self.batch * self.m * self.n;
        if n_out == 0 || (self.k == 0 && self.bias.is_none()) {
            return Ok(vec![c.gpu.zeros(c.elem, n_out)?]);
        }
        let (out, y) = c.alloc(c.elem, n_out)?;
        let size = c.elem.size();
        let (a, b) = (self.a.cublas(c.inputs[0], size), self.b.cublas(c.inputs[1], size));
        let bias = self.bias.map(|off| c.inputs[2] + (off * size) as u64);
        blas::matmul(c.gpu, c.elem, self.batch, self.m, self.k, self.n, a, b, y, bias)?;
        Ok(vec![out])
    }
}

impl Tensor {
    /// `self @ rhs`. Both need rank >= 2.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.matmul_impl(rhs, None)
    }

    /// `self @ rhs + bias` with `bias: [n]` added to every row: a linear layer. On a GPU the
    /// bias add is fused into the matmul as a cuBLASLt epilogue when the product is a single
    /// GEMM (any `[.., k] @ [k, n]`); otherwise it is a separate broadcast add.
    pub fn matmul_bias(&self, rhs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let n = rhs.shape().last().copied().unwrap_or(0);
        self.same_kind("matmul_bias", bias)?;
        bias.expect_shape("matmul_bias (bias)", &[n])?;
        self.matmul_impl(rhs, Some(bias))
    }

    fn matmul_impl(&self, rhs: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        const OP: &str = "matmul";
        self.same_kind(OP, rhs)?;
        let (ra, rb) = (self.rank(), rhs.rank());
        let mismatch = |why: String| Error::ShapeMismatch { op: OP, lhs: self.shape().to_vec(), rhs: rhs.shape().to_vec(), why };
        if ra < 2 || rb < 2 {
            return Err(mismatch("both operands need at least 2 dimensions".into()));
        }
        let (m, k) = (self.shape()[ra - 2], self.shape()[ra - 1]);
        let (k2, n) = (rhs.shape()[rb - 2], rhs.shape()[rb - 1]);
        if k != k2 {
            return Err(mismatch(format!("inner dimensions differ ({k} vs {k2})")));
        }
        let batch_shape = broadcast_shape(OP, &self.shape()[..ra - 2], &rhs.shape()[..rb - 2]).map_err(|_| mismatch("batch dimensions do not broadcast".into()))?;
        let batch: usize = batch_shape.iter().product();
        let operand = |t: &Tensor, rows: usize, cols: usize| -> Result<Operand> {
            let mut full = batch_shape.clone();
            full.extend([rows, cols]);
            let l = t.layout().broadcast_as(&full)?;
            let r = l.rank();
            Ok(Operand {
                offsets: batch_offsets(&l.shape()[..r - 2], &l.strides()[..r - 2], l.offset()),
                row_stride: l.strides()[r - 2],
                col_stride: l.strides()[r - 1],
            })
        };
        let (mut a, mut b) = (operand(self, m, k)?, operand(rhs, k, n)?);
        if self.device() != crate::Device::Cpu && !(a.fits_cublas() && b.fits_cublas()) {
            // A layout cuBLASLt cannot read: materialise the broadcast operands densely.
            let dense = |t: &Tensor, rows, cols| -> Result<Tensor> {
                let mut full = batch_shape.clone();
                full.extend([rows, cols]);
                t.broadcast_as(&full)?.contiguous()
            };
            let (da, db) = (if a.fits_cublas() { self.clone() } else { dense(self, m, k)? }, if b.fits_cublas() { rhs.clone() } else { dense(rhs, k, n)? });
            return da.matmul_impl(&db, bias);
        }
        let mut out_shape = batch_shape.clone();
        out_shape.extend([m, n]);
        // Fold the batch into m when the rhs is shared and the lhs rows are evenly spaced.
        let rhs_shared = b.offsets.windows(2).all(|w| w[0] == w[1]);
        let lhs_even = a.offsets.iter().enumerate().all(|(i, &o)| o == a.offsets[0] + i * m * a.row_stride);
        let mut kernel = if batch > 1 && rhs_shared && lhs_even {
            a.offsets.truncate(1);
            b.offsets.truncate(1);
            Matmul { batch: 1, m: batch * m, k, n, a, b, bias: None }
        } else {
            Matmul { batch, m, k, n, a, b, bias: None }
        };
        match bias {
            None => run_float1(OP, &kernel, &[self, rhs], Access::Strided, &out_shape),
            Some(bias) if kernel.batch == 1 && bias.is_contiguous() => {
                kernel.bias = Some(bias.layout().offset());
                run_float1(OP, &kernel, &[self, rhs, bias], Access::Strided, &out_shape)
            }
            Some(bias) => run_float1(OP, &kernel, &[self, rhs], Access::Strided, &out_shape)?.add(bias),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Device, Tensor};

    #[test]
    fn batched_broadcast_and_transposed() {
        let a = Tensor::from_vec((0..12).map(|x| x as f64).collect(), &[2, 2, 3], Device::Cpu).unwrap();
        let w = Tensor::from_vec((0..6).map(|x| x as f64).collect(), &[3, 2], Device::Cpu).unwrap();
        let y = a.matmul(&w).unwrap();
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![10., 13., 28., 40., 46., 67., 64., 94.]);
        // (w^T)^T through a view equals w.
        let wt = w.transpose(0, 1).unwrap().contiguous().unwrap().transpose(0, 1).unwrap();
        assert_eq!(a.matmul(&wt).unwrap().to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap());
        let e = a.matmul(&a).unwrap_err().to_string();
        assert!(e.contains("matmul") && e.contains("inner dimensions"), "{e}");
    }
}

//! Neural-network ops over the last dimension (softmax, LayerNorm), GELU, embedding lookup,
//! cross-entropy, dropout, and the scatter that undoes `narrow`. Each forward has its
//! backward right below it; `autograd` wires them together.

use super::dispatch::{index_elem, run_float_shaped, run_float1, side_ptr, stat_elem, Access, CudaCall, FloatKernel, Out};
use crate::cuda::elem_of;
use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Device, Tensor, WithDType};
use kernels::cuda::{launch, DevBuf, Elem};
use kernels::Float;

fn last_dim(op: &'static str, t: &Tensor) -> Result<usize> {
    t.shape().last().copied().ok_or_else(|| Error::BadShape { op, shape: vec![], why: "needs at least one dimension".into() })
}

/// The row-wise and elementwise kernels of this file, one variant each; `.1` of [`Rows`] is
/// the element count.
struct Rows(RowKernel, usize);

enum RowKernel {
    Softmax(usize),
    SoftmaxBackward(usize),
    LogSoftmax(usize),
    LogSoftmaxBackward(usize),
    Gelu,
    GeluBackward,
    Dropout { p: f64, seed: u64 },
}

impl FloatKernel for Rows {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        use kernels::{dropout, gelu, softmax};
        Ok(vec![Out::Data(match self.0 {
            RowKernel::Softmax(n) => softmax::softmax(x[0], n),
            RowKernel::SoftmaxBackward(n) => softmax::softmax_backward(x[0], x[1], n),
            RowKernel::LogSoftmax(n) => softmax::log_softmax(x[0], n),
            RowKernel::LogSoftmaxBackward(n) => softmax::log_softmax_backward(x[0], x[1], n),
            RowKernel::Gelu => gelu::gelu(x[0]),
            RowKernel::GeluBackward => gelu::gelu_backward(x[0], x[1]),
            RowKernel::Dropout { p, seed } => dropout::dropout(x[0], p, seed),
        })])
    }

    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let total = self.1;
        let (out, y) = c.alloc(c.elem, total)?;
        let (g, e, x) = (c.gpu, c.elem, &c.inputs);
        let rows = |n: usize| if n == 0 { 0 } else { total / n };
        match self.0 {
            RowKernel::Softmax(n) => launch::softmax_fwd(g, e, x[0], y, rows(n), n, false)?,
            RowKernel::LogSoftmax(n) => launch::softmax_fwd(g, e, x[0], y, rows(n), n, true)?,
            RowKernel::SoftmaxBackward(n) => launch::softmax_bwd(g, e, x[0], x[1], y, rows(n), n, false)?,
            RowKernel::LogSoftmaxBackward(n) => launch::softmax_bwd(g, e, x[0], x[1], y, rows(n), n, true)?,
            RowKernel::Gelu => launch::gelu_fwd(g, e, x[0], y, total)?,
            RowKernel::GeluBackward => launch::gelu_bwd(g, e, x[0], x[1], y, total)?,
            RowKernel::Dropout { p, seed } => launch::dropout(g, e, x[0], y, total, p, seed)?,
        }
        Ok(vec![out])
    }
}

struct LayerNorm {
    rows: usize,
    n: usize,
    eps: f64,
}
impl FloatKernel for LayerNorm {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let (y, mean, rstd) = kernels::layer_norm::layer_norm(x[0], x[1], x[2], self.n, self.eps);
        Ok(vec![Out::Data(y), Out::Stat(mean), Out::Stat(rstd)])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let rows = self.rows;
        let (y, py) = c.alloc(c.elem, rows * self.n)?;
        let (mean, pm) = c.alloc(stat_elem(c.elem), rows)?;
        let (rstd, pr) = c.alloc(stat_elem(c.elem), rows)?;
        let x = &c.inputs;
        launch::ln_fwd(c.gpu, c.elem, x[0], x[1], x[2], py, pm, pr, rows, self.n, self.eps as f32)?;
        Ok(vec![y, mean, rstd])
    }
}

struct Embedding {
    ids: Tensor,
    dim: usize,
    vocab: usize,
    backward: bool,
}
impl FloatKernel for Embedding {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let ids = self.ids.to_indices("embedding")?;
        Ok(vec![Out::Data(if self.backward {
            kernels::embedding::embedding_backward(x[0], self.dim, &ids, self.vocab)?
        } else {
            kernels::embedding::embedding(x[0], self.dim, &ids)?
        })])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let idx = index_elem("embedding", &self.ids)?;
        let (_ids, pid) = side_ptr("embedding", &self.ids, self.ids.device())?;
        let nids = self.ids.numel();
        if self.backward {
            let (out, d) = c.alloc(c.elem, self.vocab * self.dim)?;
            launch::embedding_bwd(c.gpu, c.elem, idx, c.inputs[0], pid, d, nids, self.dim, self.vocab)?;
            Ok(vec![out])
        } else {
            let (out, y) = c.alloc(c.elem, nids * self.dim)?;
            launch::embedding_fwd(c.gpu, c.elem, idx, c.inputs[0], pid, y, nids, self.dim, self.vocab)?;
            Ok(vec![out])
        }
    }
}

struct CrossEntropy {
    targets: Tensor,
    vocab: usize,
}
impl FloatKernel for CrossEntropy {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let targets = self.targets.to_indices("cross_entropy")?;
        let (loss, lse) = kernels::cross_entropy::cross_entropy(x[0], &targets, self.vocab)?;
        Ok(vec![Out::Stat(vec![loss]), Out::Stat(lse)])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let idx = index_elem("cross_entropy", &self.targets)?;
        let (_t, pt) = side_ptr("cross_entropy", &self.targets, self.targets.device())?;
        let rows = self.targets.numel();
        let (loss, pl) = c.alloc(Elem::F32, 1)?;
        let (lse, ps) = c.alloc(Elem::F32, rows)?;
        launch::ce_fwd(c.gpu, c.elem, idx, c.inputs[0], pt, pl, ps, rows, self.vocab)?;
        Ok(vec![loss, lse])
    }
}

/// Saved statistics and the upstream gradient travel as tensors, so on a GPU nothing is
/// copied to the host.
struct CrossEntropyBackward {
    targets: Tensor,
    lse: Tensor,
    g: Tensor,
    vocab: usize,
}
impl FloatKernel for CrossEntropyBackward {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let targets = self.targets.to_indices("cross_entropy_backward")?;
        let lse: Vec<T> = self.lse.to_vec_f64()?.into_iter().map(<T as Float>::from_f64).collect();
        let g = <T as Float>::from_f64(self.g.to_scalar_f64()?);
        Ok(vec![Out::Data(kernels::cross_entropy::cross_entropy_backward(x[0], &targets, &lse, self.vocab, g))])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        const OP: &str = "cross_entropy_backward";
        let idx = index_elem(OP, &self.targets)?;
        let dev = self.targets.device();
        let (_t, pt) = side_ptr(OP, &self.targets, dev)?;
        let (_l, pl) = side_ptr(OP, &self.lse.to_dtype(DType::F32)?, dev)?;
        let (_g, pg) = side_ptr(OP, &self.g.to_dtype(DType::F32)?, dev)?;
        let rows = self.targets.numel();
        let (out, d) = c.alloc(c.elem, rows * self.vocab)?;
        launch::ce_bwd(c.gpu, c.elem, idx, c.inputs[0], pt, pl, pg, d, rows, self.vocab)?;
        Ok(vec![out])
    }
}

impl Tensor {
    /// Softmax over the last dimension.
    pub fn softmax(&self) -> Result<Tensor> {
        let n = last_dim("softmax", self)?;
        run_float1("softmax", &Rows(RowKernel::Softmax(n), self.numel()), &[self], Access::Contiguous, self.shape())
    }
    /// Given `y = softmax(x)` (self) and `g = dL/dy`, returns `dL/dx`.
    pub fn softmax_backward(&self, g: &Tensor) -> Result<Tensor> {
        g.expect_shape("softmax_backward", self.shape())?;
        let n = last_dim("softmax_backward", self)?;
        run_float1("softmax_backward", &Rows(RowKernel::SoftmaxBackward(n), self.numel()), &[self, g], Access::Contiguous, self.shape())
    }
    /// Log-softmax over the last dimension.
    pub fn log_softmax(&self) -> Result<Tensor> {
        let n = last_dim("log_softmax", self)?;
        run_float1("log_softmax", &Rows(RowKernel::LogSoftmax(n), self.numel()), &[self], Access::Contiguous, self.shape())
    }
    /// Given `y = log_softmax(x)` (self) and `g = dL/dy`, returns `dL/dx`.
    pub fn log_softmax_backward(&self, g: &Tensor) -> Result<Tensor> {
        g.expect_shape("log_softmax_backward", self.shape())?;
        let n = last_dim("log_softmax_backward", self)?;
        run_float1("log_softmax_backward", &Rows(RowKernel::LogSoftmaxBackward(n), self.numel()), &[self, g], Access::Contiguous, self.shape())
    }

    /// `x * sigmoid(1.702 x)`, the GELU of the paper's reference code.
    pub fn gelu(&self) -> Result<Tensor> {
        run_float1("gelu", &Rows(RowKernel::Gelu, self.numel()), &[self], Access::Contiguous, self.shape())
    }
    /// `dL/dx` of GELU at `x` (self) for `g = dL/dy`.
    pub fn gelu_backward(&self, g: &Tensor) -> Result<Tensor> {
        g.expect_shape("gelu_backward", self.shape())?;
        run_float1("gelu_backward", &Rows(RowKernel::GeluBackward, self.numel()), &[self, g], Access::Contiguous, self.shape())
    }

    /// Inverted dropout with probability `p`, the mask a pure function of `(seed, index)`.
    /// Applied to an output gradient with the same seed, it is its own backward.
    pub fn dropout(&self, p: f64, seed: u64) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::InvalidArgument { op: "dropout", why: format!("probability {p} is outside [0, 1)") });
        }
        run_float1("dropout", &Rows(RowKernel::Dropout { p, seed }, self.numel()), &[self], Access::Contiguous, self.shape())
    }

    /// LayerNorm over the last dimension: returns `(y, mean, rstd)`, the statistics shaped
    /// like `self` without its last dimension and kept in the compute precision.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let n = last_dim("layer_norm", self)?;
        gamma.expect_shape("layer_norm (gamma)", &[n])?;
        beta.expect_shape("layer_norm (beta)", &[n])?;
        let stat_shape = &self.shape()[..self.rank() - 1];
        let mut outs = run_float_shaped("layer_norm", &LayerNorm { rows: self.numel() / n.max(1), n, eps }, &[self, gamma, beta], Access::Contiguous, &[self.shape(), stat_shape, stat_shape])?;
        let (rstd, mean) = (outs.pop().unwrap(), outs.pop().unwrap());
        Ok((outs.pop().unwrap(), mean, rstd))
    }

    /// Backward of [`Tensor::layer_norm`] at input `self`: returns `(dx, dgamma, dbeta)`.
    pub fn layer_norm_backward(&self, gamma: &Tensor, mean: &Tensor, rstd: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        const OP: &str = "layer_norm_backward";
        let n = last_dim(OP, self)?;
        g.expect_shape(OP, self.shape())?;
        struct Bwd {
            rows: usize,
            n: usize,
            mean: Tensor,
            rstd: Tensor,
        }
        impl FloatKernel for Bwd {
            fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
                let widen = |t: &Tensor| -> Result<Vec<T>> { Ok(t.to_vec_f64()?.into_iter().map(<T as Float>::from_f64).collect()) };
                let (dx, dg, db) = kernels::layer_norm::layer_norm_backward(x[0], x[1], &widen(&self.mean)?, &widen(&self.rstd)?, x[2], self.n);
                Ok(vec![Out::Data(dx), Out::Data(dg), Out::Data(db)])
            }
            fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
                let dev = self.mean.device();
                let (_m, pm) = side_ptr(OP, &self.mean.to_dtype(DType::F32)?, dev)?;
                let (_r, pr) = side_ptr(OP, &self.rstd.to_dtype(DType::F32)?, dev)?;
                let (dx, pdx) = c.alloc(c.elem, self.rows * self.n)?;
                let (dg, pdg) = c.alloc(c.elem, self.n)?;
                let (db, pdb) = c.alloc(c.elem, self.n)?;
                let x = &c.inputs;
                launch::ln_bwd(c.gpu, c.elem, x[0], x[1], pm, pr, x[2], pdx, pdg, pdb, self.rows, self.n)?;
                Ok(vec![dx, dg, db])
            }
        }
        let (mean, rstd) = (mean.clone(), rstd.clone());
        let rows = self.numel() / n.max(1);
        let mut outs = run_float_shaped(OP, &Bwd { rows, n, mean, rstd }, &[self, gamma, g], Access::Contiguous, &[self.shape(), &[n], &[n]])?;
        let (db, dg) = (outs.pop().unwrap(), outs.pop().unwrap());
        Ok((outs.pop().unwrap(), dg, db))
    }

    /// Rows of the `[vocab, dim]` table `self` picked by integer `ids` of any shape:
    /// the output has shape `ids.shape() + [dim]`.
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        const OP: &str = "embedding";
        if self.rank() != 2 {
            return Err(Error::BadShape { op: OP, shape: self.shape().to_vec(), why: "the table must be [vocab, dim]".into() });
        }
        let (vocab, dim) = (self.shape()[0], self.shape()[1]);
        let mut shape = ids.shape().to_vec();
        shape.push(dim);
        if ids.device() != self.device() {
            return Err(Error::DeviceMismatch { op: OP, lhs: self.device(), rhs: ids.device() });
        }
        if self.device() == Device::Cpu {
            ids.to_indices(OP)?; // validate (range checks happen in the kernel)
        } else {
            index_elem(OP, ids)?;
        }
        let k = Embedding { ids: ids.clone(), dim, vocab, backward: false };
        run_float1(OP, &k, &[self], Access::Contiguous, &shape)
    }

    /// Backward of [`Tensor::embedding`]: scatter-adds the output gradient `self`
    /// (`ids.shape() + [dim]`) into a `[vocab, dim]` table gradient.
    pub fn embedding_backward(&self, ids: &Tensor, vocab: usize) -> Result<Tensor> {
        let dim = last_dim("embedding_backward", self)?;
        let k = Embedding { ids: ids.clone(), dim, vocab, backward: true };
        run_float1("embedding_backward", &k, &[self], Access::Contiguous, &[vocab, dim])
    }

    /// Mean cross-entropy of `[rows, vocab]` logits against integer `targets: [rows]`.
    /// Returns `(loss, lse)`: a 0-d loss and the per-row log-sum-exp, both in the compute
    /// precision (f32 for half logits).
    pub fn cross_entropy(&self, targets: &Tensor) -> Result<(Tensor, Tensor)> {
        const OP: &str = "cross_entropy";
        if self.rank() != 2 || targets.shape() != [self.shape()[0]] {
            return Err(Error::ShapeMismatch { op: OP, lhs: self.shape().to_vec(), rhs: targets.shape().to_vec(), why: "expected logits [rows, vocab] and targets [rows]".into() });
        }
        if self.device() == Device::Cpu {
            targets.to_indices(OP)?;
        } else {
            index_elem(OP, targets)?;
        }
        let k = CrossEntropy { targets: targets.clone(), vocab: self.shape()[1] };
        let mut outs = run_float_shaped(OP, &k, &[self], Access::Contiguous, &[&[], &[self.shape()[0]]])?;
        let lse = outs.pop().unwrap();
        Ok((outs.pop().unwrap(), lse))
    }

    /// `dL/dlogits` for the mean cross-entropy at logits `self`, given the saved `lse` and the
    /// upstream gradient `g` of the loss (a one-element tensor, read on the device).
    pub fn cross_entropy_backward(&self, targets: &Tensor, lse: &Tensor, g: &Tensor) -> Result<Tensor> {
        const OP: &str = "cross_entropy_backward";
        if self.rank() != 2 || targets.shape() != [self.shape()[0]] || lse.shape() != [self.shape()[0]] {
            return Err(Error::ShapeMismatch { op: OP, lhs: self.shape().to_vec(), rhs: targets.shape().to_vec(), why: "expected logits [rows, vocab], targets and lse [rows]".into() });
        }
        let k = CrossEntropyBackward { targets: targets.clone(), lse: lse.clone(), g: g.reshape(&[1])?, vocab: self.shape()[1] };
        run_float1("cross_entropy_backward", &k, &[self], Access::Contiguous, self.shape())
    }

    /// The backward of `narrow(dim, start, _)`: a zero tensor of `full_shape` with `self`
    /// written into the narrowed region.
    pub fn narrow_backward(&self, dim: usize, start: usize, full_shape: &[usize]) -> Result<Tensor> {
        self.layout().check_dim("narrow_backward", dim)?;
        let out = Tensor::zeros(full_shape, self.dtype(), self.device())?;
        let region = out.layout().narrow(dim, start, self.shape()[dim])?;
        if region.shape() != self.shape() {
            return Err(Error::ShapeMismatch { op: "narrow_backward", lhs: self.shape().to_vec(), rhs: region.shape().to_vec(), why: "gradient does not fit the region".into() });
        }
        let src = self.contiguous()?;
        if let Device::Cuda(_) = self.device() {
            let (gpu, sp) = src.cuda_ptr()?;
            let (_, base) = out.cuda_base()?;
            launch::scatter_strided(&gpu, elem_of(self.dtype()), sp, base, region.shape(), region.strides(), region.offset())?;
            return Ok(out);
        }
        {
            let src_guard = src.read_storage();
            let Storage::Cpu(s) = &*src_guard else { unreachable!("device checked above") };
            let mut dst_guard = out.write_storage();
            let Storage::Cpu(d) = &mut *dst_guard else { unreachable!("device checked above") };
            let (off, len) = (src.layout().offset(), src.numel());
            macro_rules! scatter {
                ($($v:ident),*) => {
                    match (d, s) {
                        $((CpuStorage::$v(d), CpuStorage::$v(s)) => kernels::copy::scatter_strided(d, region.shape(), region.strides(), region.offset(), &s[off..off + len]),)*
                        _ => unreachable!("same dtype by construction"),
                    }
                };
            }
            scatter!(F64, F32, BF16, F16, I32, U8);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Device, Tensor};

    #[test]
    fn layer_norm_keeps_fp32_stats_for_bf16() {
        let x = Tensor::randn(&[4, 8], 0.0, 1.0, 1, DType::BF16, Device::Cpu).unwrap();
        let g = Tensor::ones(&[8], DType::BF16, Device::Cpu).unwrap();
        let b = Tensor::zeros(&[8], DType::BF16, Device::Cpu).unwrap();
        let (y, mean, rstd) = x.layer_norm(&g, &b, 1e-5).unwrap();
        assert_eq!((y.dtype(), mean.dtype(), rstd.dtype()), (DType::BF16, DType::F32, DType::F32));
        assert_eq!(mean.shape(), &[4]);
        let e = x.layer_norm(&Tensor::ones(&[7], DType::BF16, Device::Cpu).unwrap(), &b, 1e-5).unwrap_err().to_string();
        assert!(e.contains("layer_norm (gamma)") && e.contains("[7]"), "{e}");
    }

    #[test]
    fn cross_entropy_and_embedding_validate_indices() {
        let logits = Tensor::zeros(&[2, 4], DType::F32, Device::Cpu).unwrap();
        let bad = Tensor::from_vec(vec![1i32, 9], &[2], Device::Cpu).unwrap();
        assert!(logits.cross_entropy(&bad).unwrap_err().to_string().contains("cross_entropy"));
        let neg = Tensor::from_vec(vec![-1i32], &[1], Device::Cpu).unwrap();
        assert!(logits.embedding(&neg).unwrap_err().to_string().contains("negative index"));
        let (loss, _) = logits.cross_entropy(&Tensor::from_vec(vec![1u8, 3], &[2], Device::Cpu).unwrap()).unwrap();
        assert!((loss.to_scalar_f64().unwrap() - 4f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn narrow_backward_places_gradient() {
        let g = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2], Device::Cpu).unwrap();
        let full = g.narrow_backward(1, 1, &[1, 4]).unwrap();
        assert_eq!(full.to_vec::<f32>().unwrap(), vec![0., 1., 2., 0.]);
    }
}

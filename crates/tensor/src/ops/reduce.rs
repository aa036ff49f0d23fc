//! Reductions along one dimension, and `sum_to_shape`, which undoes a broadcast (the
//! backward of every broadcasting op sums the gradient over the stretched dimensions).

use super::dispatch::{run_float_shaped, run_float1, side_ptr, Access, CudaCall, FloatKernel, Out};
use crate::error::{Error, Result};
use crate::{Tensor, WithDType};
use kernels::cuda::{launch, DevBuf, Elem};
use kernels::Float;

/// `[outer, len, inner]` view of a dense shape around `dim`.
fn split(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

fn reduced_shape(shape: &[usize], dim: usize, keepdim: bool) -> Vec<usize> {
    let mut s = shape.to_vec();
    if keepdim {
        s[dim] = 1;
    } else {
        s.remove(dim);
    }
    s
}

struct Sum(usize, usize, usize);
impl FloatKernel for Sum {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        Ok(vec![Out::Data(kernels::reduce::sum_axis(x[0], self.0, self.1, self.2))])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let (out, y) = c.alloc(c.elem, self.0 * self.2)?;
        launch::sum_axis(c.gpu, c.elem, c.inputs[0], y, self.0, self.1, self.2)?;
        Ok(vec![out])
    }
}

struct Max(usize, usize, usize);
impl FloatKernel for Max {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let (m, arg) = kernels::reduce::max_axis(x[0], self.0, self.1, self.2);
        Ok(vec![Out::Data(m), Out::Index(arg.into_iter().map(|i| i as i32).collect())])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let (out, y) = c.alloc(c.elem, self.0 * self.2)?;
        let (arg, a) = c.alloc(Elem::I32, self.0 * self.2)?;
        launch::max_axis(c.gpu, c.elem, c.inputs[0], y, a, self.0, self.1, self.2)?;
        Ok(vec![out, arg])
    }
}

struct MaxBackward {
    arg: Tensor,
    dims: (usize, usize, usize),
}
impl FloatKernel for MaxBackward {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let (o, l, i) = self.dims;
        let arg = self.arg.to_indices("max_backward")?;
        Ok(vec![Out::Data(kernels::reduce::max_axis_backward(x[0], &arg, o, l, i))])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let (o, l, i) = self.dims;
        let (_arg, a) = side_ptr("max_backward", &self.arg, self.arg.device())?;
        let (out, dx) = c.alloc(c.elem, o * l * i)?;
        launch::max_backward(c.gpu, c.elem, c.inputs[0], a, dx, o, l, i)?;
        Ok(vec![out])
    }
}

impl Tensor {
    /// Sum over dimension `dim`.
    pub fn sum(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        self.layout().check_dim("sum", dim)?;
        let (o, l, i) = split(self.shape(), dim);
        run_float1("sum", &Sum(o, l, i), &[self], Access::Contiguous, &reduced_shape(self.shape(), dim, keepdim))
    }

    /// Mean over dimension `dim`.
    pub fn mean(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        let n = self.dim("mean", dim)?;
        self.sum(dim, keepdim)?.scale(1.0 / n as f64)
    }

    /// Sum of every element, as a 0-dimensional tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])?.sum(0, false)
    }

    /// Maximum over `dim` and the index (i32) of its first occurrence.
    pub fn max_with_argmax(&self, dim: usize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        let n = self.dim("max", dim)?;
        if n == 0 {
            return Err(Error::BadShape { op: "max", shape: self.shape().to_vec(), why: format!("dimension {dim} is empty") });
        }
        let (o, l, i) = split(self.shape(), dim);
        let shape = reduced_shape(self.shape(), dim, keepdim);
        let mut outs = run_float_shaped("max", &Max(o, l, i), &[self], Access::Contiguous, &[&shape, &shape])?;
        let arg = outs.pop().unwrap();
        Ok((outs.pop().unwrap(), arg))
    }

    pub fn max(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        Ok(self.max_with_argmax(dim, keepdim)?.0)
    }

    /// Backward of `max` over `dim`: `self` is the output gradient, `argmax` the saved
    /// indices; returns a tensor of `input_shape`, zero except at each arg-max.
    pub fn max_backward(&self, argmax: &Tensor, dim: usize, input_shape: &[usize]) -> Result<Tensor> {
        crate::Layout::contiguous(input_shape).check_dim("max_backward", dim)?;
        if argmax.numel() != self.numel() || self.numel() * input_shape[dim] != input_shape.iter().product::<usize>() {
            return Err(Error::ShapeMismatch { op: "max_backward", lhs: self.shape().to_vec(), rhs: input_shape.to_vec(), why: "gradient and arg-max must have the input's shape without `dim`".into() });
        }
        let (o, l, i) = split(input_shape, dim);
        if argmax.device() != self.device() || argmax.dtype() != crate::DType::I32 {
            return Err(Error::InvalidArgument { op: "max_backward", why: "the arg-max must be an i32 tensor on the gradient's device".into() });
        }
        let k = MaxBackward { arg: argmax.clone(), dims: (o, l, i) };
        run_float1("max_backward", &k, &[self], Access::Contiguous, input_shape)
    }

    /// Sums `self` down to `shape`, the inverse of broadcasting `shape` up to `self.shape()`.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        // Validates that `shape` broadcasts to ours.
        crate::Layout::contiguous(shape).broadcast_as(self.shape()).map_err(|_| Error::ShapeMismatch {
            op: "sum_to_shape",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
            why: "the target does not broadcast to the source".into(),
        })?;
        let lead = self.rank() - shape.len();
        let mut t = self.clone();
        for d in (0..self.rank()).rev() {
            if d < lead || (shape[d - lead] == 1 && self.shape()[d] != 1) {
                t = t.sum(d, true)?;
            }
        }
        t.reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Device, Tensor};

    #[test]
    fn sums_means_maxes() {
        let t = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3], Device::Cpu).unwrap();
        assert_eq!(t.sum(1, false).unwrap().to_vec::<f32>().unwrap(), vec![9., 12.]);
        assert_eq!(t.mean(0, true).unwrap().shape(), &[1, 3]);
        let (m, a) = t.max_with_argmax(1, false).unwrap();
        assert_eq!((m.to_vec::<f32>().unwrap(), a.to_vec::<i32>().unwrap()), (vec![5., 6.], vec![1, 2]));
        assert_eq!(t.sum_to_shape(&[3]).unwrap().to_vec::<f32>().unwrap(), vec![5., 7., 9.]);
        assert_eq!(t.sum_to_shape(&[2, 1]).unwrap().to_vec::<f32>().unwrap(), vec![9., 12.]);
        assert_eq!(t.sum_all().unwrap().to_scalar_f64().unwrap(), 21.0);
        assert!(t.sum(2, false).unwrap_err().to_string().contains("sum: dimension 2"));
    }
}

//! View ops: the backward of a view is the inverse view of the gradient.

use crate::error::Result;
use crate::tape::record1;
use crate::var::Var;

impl Var {
    /// `reshape` back to the input's shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var> {
        let y = self.value.reshape(shape)?;
        let input_shape = self.shape().to_vec();
        Ok(record1("reshape", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.reshape(&input_shape)?)])))
    }

    /// The backward applies the inverse permutation.
    pub fn permute(&self, dims: &[usize]) -> Result<Var> {
        let y = self.value.permute(dims)?;
        let mut inverse = vec![0; dims.len()];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        Ok(record1("permute", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.permute(&inverse)?)])))
    }

    /// A transpose is its own inverse.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Var> {
        let y = self.value.transpose(a, b)?;
        Ok(record1("transpose", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.transpose(a, b)?)])))
    }

    /// The backward writes the gradient into a zero tensor of the input's shape.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Var> {
        let y = self.value.narrow(dim, start, len)?;
        let input_shape = self.shape().to_vec();
        Ok(record1("narrow", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.narrow_backward(dim, start, &input_shape)?)])))
    }

    /// The backward sums the gradient over the stretched dimensions.
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Var> {
        let y = self.value.broadcast_as(shape)?;
        let input_shape = self.shape().to_vec();
        Ok(record1("broadcast_as", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.sum_to_shape(&input_shape)?)])))
    }

    /// A dense copy; the gradient passes through unchanged.
    pub fn contiguous(&self) -> Result<Var> {
        let y = self.value.contiguous()?;
        Ok(record1("contiguous", &[self], y, vec![], |g, _, _| Ok(vec![Some(g)])))
    }

    /// A copy in another dtype (mixed precision: fp32 parameters cast to bf16 for the
    /// forward pass). The gradient is cast back, so a parameter's gradient arrives in the
    /// parameter's own dtype. Casting to the same dtype records nothing.
    pub fn to_dtype(&self, dtype: tensor::DType) -> Result<Var> {
        if self.value.dtype() == dtype {
            return Ok(self.clone());
        }
        let y = self.value.to_dtype(dtype)?;
        let input_dtype = self.value.dtype();
        Ok(record1("to_dtype", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.to_dtype(input_dtype)?)])))
    }
}

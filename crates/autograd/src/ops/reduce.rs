//! Reductions: the gradient of a sum is the output gradient broadcast back over the summed
//! dimension; a mean divides it by the count; a max sends it to the arg-max only.

use crate::error::Result;
use crate::tape::record1;
use crate::var::Var;
use tensor::Tensor;

/// Broadcasts a reduced gradient back to `input_shape` (re-inserting `dim` if it was dropped).
fn expand(g: Tensor, dim: usize, keepdim: bool, input_shape: &[usize]) -> Result<Tensor> {
    let g = if keepdim { g } else { g.unsqueeze(dim)? };
    Ok(g.broadcast_as(input_shape)?)
}

impl Var {
    pub fn sum(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value.sum(dim, keepdim)?;
        let shape = self.shape().to_vec();
        Ok(record1("sum", &[self], y, vec![], move |g, _, _| Ok(vec![Some(expand(g, dim, keepdim, &shape)?)])))
    }

    pub fn mean(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let y = self.value.mean(dim, keepdim)?;
        let shape = self.shape().to_vec();
        let n = shape[dim] as f64;
        Ok(record1("mean", &[self], y, vec![], move |g, _, _| Ok(vec![Some(expand(g.scale(1.0 / n)?, dim, keepdim, &shape)?)])))
    }

    /// Sum of all elements (a 0-d var).
    pub fn sum_all(&self) -> Result<Var> {
        self.reshape(&[self.value.numel()])?.sum(0, false)
    }

    pub fn max(&self, dim: usize, keepdim: bool) -> Result<Var> {
        let (y, arg) = self.value.max_with_argmax(dim, keepdim)?;
        let shape = self.shape().to_vec();
        Ok(record1("max", &[self], y, vec![arg], move |g, s, _| {
            let g = if keepdim { g } else { g.unsqueeze(dim)?.contiguous()? };
            Ok(vec![Some(g.max_backward(&s[0], dim, &shape)?)])
        }))
    }
}

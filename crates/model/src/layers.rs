//! Linear, LayerNorm and Embedding.

use crate::params::{Init, Param, ParamSpec};
use crate::Result;
use autograd::Var;
use tensor::Tensor;

/// `y = x W + b` with `W: [d_in, d_out]`, `b: [d_out]`; `x: [.., d_in]`.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Param,
    pub bias: Param,
}

impl Linear {
    /// Weights `N(0, std)`, bias zero.
    pub fn new(spec: &ParamSpec, name: &str, d_in: usize, d_out: usize, std: f64) -> Result<Self> {
        Ok(Linear {
            weight: spec.make(&format!("{name}.weight"), &[d_in, d_out], if std == 0.0 { Init::Zeros } else { Init::Normal(std) })?,
            bias: spec.make(&format!("{name}.bias"), &[d_out], Init::Zeros)?,
        })
    }

    /// The parameters are cast to `x`'s dtype first (mixed precision: fp32 masters, bf16
    /// products); the cast's backward brings their gradients back to fp32.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let dt = x.value().dtype();
        Ok(x.linear(&self.weight.var.to_dtype(dt)?, &self.bias.var.to_dtype(dt)?)?)
    }

    pub fn params(&self) -> Vec<Param> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// LayerNorm over the last dimension, `gamma` ones and `beta` zeros at the start.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub gamma: Param,
    pub beta: Param,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(spec: &ParamSpec, name: &str, d: usize) -> Result<Self> {
        Ok(LayerNorm {
            gamma: spec.make(&format!("{name}.gamma"), &[d], Init::Ones)?,
            beta: spec.make(&format!("{name}.beta"), &[d], Init::Zeros)?,
            eps: 1e-5,
        })
    }

    /// Gain and shift cast to `x`'s dtype, as in [`Linear::forward`]; statistics are fp32.
    pub fn forward(&self, x: &Var) -> Result<Var> {
        let dt = x.value().dtype();
        Ok(x.layer_norm(&self.gamma.var.to_dtype(dt)?, &self.beta.var.to_dtype(dt)?, self.eps)?)
    }

    pub fn params(&self) -> Vec<Param> {
        vec![self.gamma.clone(), self.beta.clone()]
    }
}

/// A `[rows, dim]` lookup table.
#[derive(Clone, Debug)]
pub struct Embedding {
    pub table: Param,
}

impl Embedding {
    pub fn new(spec: &ParamSpec, name: &str, rows: usize, dim: usize, std: f64) -> Result<Self> {
        Ok(Embedding { table: spec.make(&format!("{name}.table"), &[rows, dim], Init::Normal(std))? })
    }

    /// `ids` of any integer shape -> `ids.shape() + [dim]`, in `dtype` (the rows are
    /// gathered from the table in its own dtype, then cast).
    pub fn forward(&self, ids: &Tensor, dtype: tensor::DType) -> Result<Var> {
        Ok(self.table.var.embedding(ids)?.to_dtype(dtype)?)
    }

    pub fn params(&self) -> Vec<Param> {
        vec![self.table.clone()]
    }
}

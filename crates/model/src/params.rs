//! Named parameters and their initialisation.

use crate::Result;
use autograd::Var;
use tensor::{DType, Device, Tensor};

/// A parameter: a stable dotted name (`blocks.3.attn.qkv.weight`) and its leaf var.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub var: Var,
}

/// A seed for the parameter `name` of a model seeded with `base`: FNV-1a of the name mixed
/// with the base seed. Independent of construction order.
pub fn seed_for(base: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    Zeros,
    Ones,
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
}

/// Everything needed to create parameters: where, in what precision, from which seed.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    pub seed: u64,
    pub dtype: DType,
    pub device: Device,
}

impl ParamSpec {
    pub fn make(&self, name: &str, shape: &[usize], init: Init) -> Result<Param> {
        let t = match init {
            Init::Zeros => Tensor::zeros(shape, self.dtype, self.device)?,
            Init::Ones => Tensor::ones(shape, self.dtype, self.device)?,
            Init::Normal(std) => Tensor::randn(shape, 0.0, std, seed_for(self.seed, name), self.dtype, self.device)?,
        };
        Ok(Param { name: name.to_string(), var: Var::leaf(t) })
    }
}

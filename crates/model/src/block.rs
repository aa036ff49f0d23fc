//! Multi-head attention, the feed-forward network, and the residual block.

use crate::layers::{LayerNorm, Linear};
use crate::params::{Param, ParamSpec};
use crate::Result;
use autograd::ops::attention::attention;
use autograd::Var;
use tensor::AttnMask;

/// Multi-head self-attention on the reference path: `x: [B, T, d] -> [B, T, d]`.
///
/// One projection makes `q`, `k` and `v` (`[d, 3d]`); each is split into `heads` heads of
/// width `d / heads`, attended with `mask`, concatenated, and projected back (`[d, d]`).
#[derive(Clone, Debug)]
pub struct Attention {
    pub qkv: Linear,
    pub proj: Linear,
    pub heads: usize,
    pub mask: AttnMask,
}

impl Attention {
    /// `proj_std` is the output projection's initial std (the paper scales it by `1/sqrt(2N)`).
    pub fn new(spec: &ParamSpec, name: &str, d: usize, heads: usize, mask: AttnMask, proj_std: f64) -> Result<Self> {
        let std = (0.125 / d as f64).sqrt();
        Ok(Attention {
            qkv: Linear::new(spec, &format!("{name}.qkv"), d, 3 * d, std)?,
            proj: Linear::new(spec, &format!("{name}.proj"), d, d, proj_std)?,
            heads,
            mask,
        })
    }

    pub fn forward(&self, x: &Var) -> Result<Var> {
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let hd = d / self.heads;
        let qkv = self.qkv.forward(x)?; // [B, T, 3d]
        // [B, T, d] -> [B, T, H, hd] -> [B, H, T, hd]
        let head = |i: usize| -> Result<Var> { Ok(qkv.narrow(2, i * d, d)?.contiguous()?.reshape(&[b, t, self.heads, hd])?.permute(&[0, 2, 1, 3])?) };
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let o = attention(&q, &k, &v, &self.mask, 1.0 / (hd as f64).sqrt())?; // [B, H, T, hd]
        let o = o.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[b, t, d])?;
        self.proj.forward(&o)
    }

    pub fn params(&self) -> Vec<Param> {
        [self.qkv.params(), self.proj.params()].concat()
    }
}

/// `ff(x) = W2 gelu(W1 x + b1) + b2`, with `W1: [d, mult d]`.
#[derive(Clone, Debug)]
pub struct FeedForward {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl FeedForward {
    pub fn new(spec: &ParamSpec, name: &str, d: usize, mult: usize, out_std: f64) -> Result<Self> {
        Ok(FeedForward {
            fc1: Linear::new(spec, &format!("{name}.fc1"), d, mult * d, (0.125 / d as f64).sqrt())?,
            fc2: Linear::new(spec, &format!("{name}.fc2"), mult * d, d, out_std)?,
        })
    }

    pub fn forward(&self, x: &Var) -> Result<Var> {
        self.fc2.forward(&self.fc1.forward(x)?.gelu()?)
    }

    pub fn params(&self) -> Vec<Param> {
        [self.fc1.params(), self.fc2.params()].concat()
    }
}

/// The pre-activation residual block:
/// `a = dropout(attn(LN1(H)))`, `b = dropout(ff(LN2(H + a)))`, `H' = H + a + b`.
#[derive(Clone, Debug)]
pub struct Block {
    pub ln1: LayerNorm,
    pub attn: Attention,
    pub ln2: LayerNorm,
    pub ff: FeedForward,
    /// Residual dropout probability (0 at evaluation).
    pub dropout: f64,
}

impl Block {
    /// `n_layers` sets the `1/sqrt(2N)` scaling of the two output projections.
    pub fn new(spec: &ParamSpec, name: &str, d: usize, heads: usize, ff_mult: usize, n_layers: usize, mask: AttnMask, dropout: f64) -> Result<Self> {
        let out_std = (0.125 / d as f64).sqrt() / (2.0 * n_layers as f64).sqrt();
        let ff_out_std = (0.125 / (ff_mult * d) as f64).sqrt() / (2.0 * n_layers as f64).sqrt();
        Ok(Block {
            ln1: LayerNorm::new(spec, &format!("{name}.ln1"), d)?,
            attn: Attention::new(spec, &format!("{name}.attn"), d, heads, mask, out_std)?,
            ln2: LayerNorm::new(spec, &format!("{name}.ln2"), d)?,
            ff: FeedForward::new(spec, &format!("{name}.ff"), d, ff_mult, ff_out_std)?,
            dropout,
        })
    }

    /// `h: [B, T, d] -> [B, T, d]`
    pub fn forward(&self, h: &Var) -> Result<Var> {
        let a = self.attn.forward(&self.ln1.forward(h)?)?.dropout(self.dropout)?;
        let ha = h.add(&a)?;
        let b = self.ff.forward(&self.ln2.forward(&ha)?)?.dropout(self.dropout)?;
        Ok(ha.add(&b)?)
    }

    pub fn params(&self) -> Vec<Param> {
        [self.ln1.params(), self.attn.params(), self.ln2.params(), self.ff.params()].concat()
    }
}

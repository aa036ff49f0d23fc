//! The whole network: embeddings, residual blocks, output head, loss.

use crate::block::Block;
use crate::layers::{Embedding, LayerNorm, Linear};
use crate::params::{Param, ParamSpec};
use crate::{Error, Result};
use autograd::{checkpoint, Var};
use tensor::{AttnMask, DType, Device, Tensor};

/// The hyper-parameters this model needs so far (the paper's full set arrives with the
/// sparse patterns).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub vocab: usize,
    pub n_ctx: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Feed-forward width as a multiple of `d_model` (4, or 2 for "half-size").
    pub ff_mult: usize,
    /// Stride `l`: positions are embedded as (row, column) of the `[n_ctx / l, l]` matrix.
    pub stride: usize,
    pub dropout: f64,
    /// Recompute each block in the backward pass instead of keeping its activations.
    pub recompute: bool,
    pub seed: u64,
}

impl Config {
    /// A model small enough to train on two CPU cores in minutes.
    pub fn tiny() -> Self {
        Config { vocab: 256, n_ctx: 64, d_model: 64, heads: 4, layers: 2, ff_mult: 4, stride: 8, dropout: 0.0, recompute: false, seed: 1 }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |key, why: String| Err(Error::Config { key, why });
        if self.heads == 0 || self.d_model % self.heads != 0 {
            return bad("heads", format!("d_model {} is not divisible by heads {}", self.d_model, self.heads));
        }
        if self.stride == 0 || self.n_ctx % self.stride != 0 {
            return bad("stride", format!("n_ctx {} is not a multiple of the stride {}", self.n_ctx, self.stride));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{} is outside [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// Token embedding + position embeddings -> blocks -> LayerNorm -> logits.
#[derive(Clone, Debug)]
pub struct Transformer {
    pub config: Config,
    pub tokens: Embedding,
    /// Position row `t / stride` and column `t % stride`.
    pub pos_row: Embedding,
    pub pos_col: Embedding,
    pub blocks: Vec<Block>,
    pub ln_f: LayerNorm,
    /// Zero-initialised, so the initial prediction is uniform.
    pub head: Linear,
    /// Row and column ids of every position, `[1, n_ctx]` i32, made once on the model's
    /// device (so a forward pass copies nothing from the host).
    pos_ids: (Tensor, Tensor),
}

impl Transformer {
    pub fn new(config: Config, dtype: DType, device: Device) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let spec = ParamSpec { seed: c.seed, dtype, device };
        let d = c.d_model;
        let blocks = (0..c.layers)
            .map(|i| Block::new(&spec, &format!("blocks.{i}"), d, c.heads, c.ff_mult, c.layers, AttnMask::Causal, c.dropout))
            .collect::<Result<_>>()?;
        let l = c.stride;
        let rows: Vec<i32> = (0..c.n_ctx).map(|i| (i / l) as i32).collect();
        let cols: Vec<i32> = (0..c.n_ctx).map(|i| (i % l) as i32).collect();
        let pos_ids = (Tensor::from_vec(rows, &[1, c.n_ctx], device)?, Tensor::from_vec(cols, &[1, c.n_ctx], device)?);
        Ok(Transformer {
            pos_ids,
            tokens: Embedding::new(&spec, "tokens", c.vocab, d, 0.125 / (d as f64).sqrt())?,
            pos_row: Embedding::new(&spec, "pos_row", c.n_ctx / c.stride, d, 0.125 / ((2 * d) as f64).sqrt())?,
            pos_col: Embedding::new(&spec, "pos_col", c.stride, d, 0.125 / ((2 * d) as f64).sqrt())?,
            blocks,
            ln_f: LayerNorm::new(&spec, "ln_f", d)?,
            head: Linear::new(&spec, "head", d, c.vocab, 0.0)?,
            config,
        })
    }

    /// Every parameter, in a stable order.
    pub fn params(&self) -> Vec<Param> {
        let mut p = [self.tokens.params(), self.pos_row.params(), self.pos_col.params()].concat();
        for b in &self.blocks {
            p.extend(b.params());
        }
        p.extend(self.ln_f.params());
        p.extend(self.head.params());
        p
    }

    /// Sets the residual dropout of every block (0 for evaluation).
    pub fn set_dropout(&mut self, p: f64) {
        for b in &mut self.blocks {
            b.dropout = p;
        }
    }

    /// `ids: [B, T]` (u8 or i32) -> logits `[B, T, vocab]`.
    pub fn forward(&self, ids: &Tensor) -> Result<Var> {
        let &[b, t] = ids.shape() else {
            return Err(Error::Tensor(tensor::Error::BadShape { op: "Transformer::forward", shape: ids.shape().to_vec(), why: "ids must be [batch, time]".into() }));
        };
        if t > self.config.n_ctx {
            return Err(Error::Config { key: "n_ctx", why: format!("sequence of {t} is longer than the context {}", self.config.n_ctx) });
        }
        let rows = self.pos_ids.0.narrow(1, 0, t)?;
        let cols = self.pos_ids.1.narrow(1, 0, t)?;
        let pos = self.pos_row.forward(&rows)?.add(&self.pos_col.forward(&cols)?)?; // [1, T, d]
        let mut h = self.tokens.forward(ids)?.add(&pos)?; // [B, T, d]
        for block in &self.blocks {
            h = if self.config.recompute {
                let block = block.clone();
                checkpoint(move |xs| Ok(vec![block.forward(&xs[0]).map_err(into_autograd)?]), &[h])?.remove(0)
            } else {
                block.forward(&h)?
            };
        }
        let logits = self.head.forward(&self.ln_f.forward(&h)?)?;
        debug_assert_eq!(logits.shape(), &[b, t, self.config.vocab]);
        Ok(logits)
    }

    /// Mean next-byte cross-entropy (nats) of `ids: [B, T+1]`: predict `ids[:, 1:]` from `ids[:, :T]`.
    pub fn loss(&self, ids: &Tensor) -> Result<Var> {
        let &[b, t1] = ids.shape() else {
            return Err(Error::Tensor(tensor::Error::BadShape { op: "Transformer::loss", shape: ids.shape().to_vec(), why: "ids must be [batch, time + 1]".into() }));
        };
        if t1 < 2 {
            return Err(Error::Tensor(tensor::Error::BadShape { op: "Transformer::loss", shape: ids.shape().to_vec(), why: "need at least two positions (an input and a target)".into() }));
        }
        let t = t1 - 1;
        let inputs = ids.narrow(1, 0, t)?.contiguous()?;
        let targets = ids.narrow(1, 1, t)?.contiguous()?.reshape(&[b * t])?;
        let logits = self.forward(&inputs)?;
        Ok(logits.reshape(&[b * t, self.config.vocab])?.cross_entropy(&targets)?)
    }
}

/// `checkpoint` closures return autograd errors; model errors inside are carried as such.
fn into_autograd(e: Error) -> autograd::Error {
    match e {
        Error::Autograd(e) => e,
        Error::Tensor(e) => autograd::Error::Tensor(e),
        other => autograd::Error::Backward { why: other.to_string() },
    }
}

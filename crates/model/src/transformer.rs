//! The whole network: embeddings, residual blocks, output head, loss.

use crate::block::Block;
use crate::config::Config;
use crate::layers::{Embedding, LayerNorm, Linear};
use crate::params::{Param, ParamSpec};
use crate::{Error, Result};
use autograd::{checkpoint, Var};
use tensor::{DType, Device, Tensor};

/// Token embedding + position embeddings -> blocks -> LayerNorm -> logits.
#[derive(Clone, Debug)]
pub struct Transformer {
    pub config: Config,
    pub tokens: Embedding,
    /// One table per position dimension (row, column, channel for images; row and column of
    /// the `[n / l, l]` matrix for text and audio).
    pub positions: Vec<Embedding>,
    pub blocks: Vec<Block>,
    pub ln_f: LayerNorm,
    /// Zero-initialised, so the initial prediction is uniform.
    pub head: Linear,
    /// For each position table, the index of every position, `[1, n_ctx]` i32, made once on
    /// the model's device (so a forward pass copies nothing from the host).
    pub(crate) pos_ids: Vec<Tensor>,
    /// The dtype of activations and products. Parameters stay in their own dtype (the
    /// masters, usually fp32) and are cast as they are used; logits come back in fp32.
    /// bf16 or f16 here is mixed-precision training.
    pub compute_dtype: DType,
}

impl Transformer {
    pub fn new(config: Config, dtype: DType, device: Device) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let spec = ParamSpec { seed: c.seed, dtype, device };
        let d = c.d_model;
        let blocks = (0..c.layers).map(|i| Block::new(&spec, c, i)).collect::<Result<_>>()?;
        let tables = c.positions.tables(c.n_ctx);
        let pos_std = 0.125 / ((d * tables.len()) as f64).sqrt();
        let names = match c.positions {
            crate::config::Positions::Image { .. } => ["pos.row", "pos.column", "pos.channel"].as_slice(),
            crate::config::Positions::Text { .. } => ["pos.row", "pos.column"].as_slice(),
        };
        let positions = tables.iter().zip(names).map(|(&rows, name)| Embedding::new(&spec, name, rows, d, pos_std)).collect::<Result<_>>()?;
        let coords: Vec<Vec<usize>> = (0..c.n_ctx).map(|t| c.positions.coords(t)).collect();
        let pos_ids = (0..tables.len())
            .map(|k| Tensor::from_vec(coords.iter().map(|xy| xy[k] as i32).collect(), &[1, c.n_ctx], device))
            .collect::<tensor::Result<_>>()?;
        Ok(Transformer {
            pos_ids,
            tokens: Embedding::new(&spec, "tokens", c.vocab, d, 0.125 / (d as f64).sqrt())?,
            positions,
            blocks,
            ln_f: LayerNorm::new(&spec, "ln_f", d)?,
            head: Linear::new(&spec, "head", d, c.vocab, 0.0)?,
            config,
            compute_dtype: dtype,
        })
    }

    /// Every parameter, in a stable order.
    pub fn params(&self) -> Vec<Param> {
        let mut p = self.tokens.params();
        for e in &self.positions {
            p.extend(e.params());
        }
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

    /// Computes in `dtype` from now on (see [`Transformer::compute_dtype`]).
    pub fn set_compute_dtype(&mut self, dtype: DType) {
        self.compute_dtype = dtype;
    }

    /// The dtype of the parameters (the masters).
    pub fn param_dtype(&self) -> DType {
        self.tokens.table.var.value().dtype()
    }

    /// `ids: [B, T]` (u8 or i32) -> logits `[B, T, vocab]`, in the parameters' dtype.
    pub fn forward(&self, ids: &Tensor) -> Result<Var> {
        let &[b, t] = ids.shape() else {
            return Err(Error::Tensor(tensor::Error::BadShape { op: "Transformer::forward", shape: ids.shape().to_vec(), why: "ids must be [batch, time]".into() }));
        };
        if t > self.config.n_ctx {
            return Err(Error::Config { key: "n_ctx", why: format!("sequence of {t} is longer than the context {}", self.config.n_ctx) });
        }
        let dt = self.compute_dtype;
        let mut h = self.tokens.forward(ids, dt)?; // [B, T, d]
        for (table, ids) in self.positions.iter().zip(&self.pos_ids) {
            h = h.add(&table.forward(&ids.narrow(1, 0, t)?, dt)?)?; // + [1, T, d]
        }
        for block in &self.blocks {
            h = if self.config.recompute {
                let block = block.clone();
                checkpoint(move |xs| Ok(vec![block.forward(&xs[0]).map_err(into_autograd)?]), &[h])?.remove(0)
            } else {
                block.forward(&h)?
            };
        }
        // The softmax and the loss see fp32 logits, whatever the compute dtype.
        let logits = self.head.forward(&self.ln_f.forward(&h)?)?.to_dtype(self.param_dtype())?;
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

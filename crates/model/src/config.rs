//! Every hyper-parameter of the Sparse Transformer, and the paper's presets.

use crate::pattern::{Factorization, Integration};
use crate::{Error, Result};

/// How positions are embedded: one learned table per position dimension, summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// Images flattened in raster order, channel last: tables for row, column and channel
    /// (`n_emb = 3`).
    Image { height: usize, width: usize, channels: usize },
    /// Text and audio: row and column of position `t` in the `[n / stride, stride]` matrix
    /// (`n_emb = 2`).
    Text { stride: usize },
}

impl Positions {
    /// Table sizes, one per position dimension.
    pub fn tables(&self, n_ctx: usize) -> Vec<usize> {
        match *self {
            Positions::Image { height, width, channels } => vec![height, width, channels],
            Positions::Text { stride } => vec![n_ctx.div_ceil(stride), stride],
        }
    }

    /// The index of position `t` in each table.
    pub fn coords(&self, t: usize) -> Vec<usize> {
        match *self {
            Positions::Image { width, channels, .. } => vec![t / (width * channels), (t / channels) % width, t % channels],
            Positions::Text { stride } => vec![t / stride, t % stride],
        }
    }
}

/// The model's hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Byte vocabulary: 256.
    pub vocab: usize,
    /// Context length `n`.
    pub n_ctx: usize,
    /// Residual width `d`.
    pub d_model: usize,
    pub heads: usize,
    /// Residual blocks `N`.
    pub layers: usize,
    /// Feed-forward width as a multiple of `d`: 4, or 2 for the paper's "half-size" network.
    pub ff_mult: usize,
    /// Total width of queries and keys over all heads: `d`, or `d / 2` for "half-size QK".
    /// Values keep width `d`.
    pub d_qk: usize,
    pub pattern: Factorization,
    pub integration: Integration,
    pub positions: Positions,
    /// Residual dropout, at the end of each branch only.
    pub dropout: f64,
    /// Recompute each block in the backward pass instead of keeping its activations.
    pub recompute: bool,
    pub seed: u64,
}

impl Config {
    /// Small enough to train on two CPU cores in minutes.
    pub fn tiny() -> Self {
        Config {
            vocab: 256,
            n_ctx: 64,
            d_model: 64,
            heads: 4,
            layers: 2,
            ff_mult: 4,
            d_qk: 64,
            pattern: Factorization::Strided { stride: 8 },
            integration: Integration::Merged,
            positions: Positions::Text { stride: 8 },
            dropout: 0.0,
            recompute: false,
            seed: 1,
        }
    }

    /// CIFAR-10: 128 layers, 2 heads, d = 256, half-size feed-forward and QK, strided
    /// attention with a stride of one image row (32 x 3), n = 3072, dropout 0.25.
    pub fn cifar10() -> Self {
        Config {
            n_ctx: 3072,
            d_model: 256,
            heads: 2,
            layers: 128,
            ff_mult: 2,
            d_qk: 128,
            pattern: Factorization::Strided { stride: 96 },
            integration: Integration::Merged,
            positions: Positions::Image { height: 32, width: 32, channels: 3 },
            dropout: 0.25,
            recompute: true,
            ..Self::tiny()
        }
    }

    /// enwik8: 30 layers, 8 heads, d = 512, fixed attention (l = 128, c = 32) with merged
    /// heads, n = 12,288, dropout 0.4.
    pub fn enwik8() -> Self {
        Config {
            n_ctx: 12288,
            d_model: 512,
            heads: 8,
            layers: 30,
            ff_mult: 4,
            d_qk: 512,
            pattern: Factorization::Fixed { block: 128, summary: 32 },
            integration: Integration::Merged,
            positions: Positions::Text { stride: 128 },
            dropout: 0.4,
            recompute: true,
            ..Self::tiny()
        }
    }

    /// ImageNet 64x64: 48 layers, 16 heads, d = 512, strided attention (l = 128), n = 12,288,
    /// dropout 0.01.
    pub fn imagenet64() -> Self {
        Config {
            n_ctx: 12288,
            d_model: 512,
            heads: 16,
            layers: 48,
            ff_mult: 4,
            d_qk: 512,
            pattern: Factorization::Strided { stride: 128 },
            integration: Integration::Merged,
            positions: Positions::Image { height: 64, width: 64, channels: 3 },
            dropout: 0.01,
            recompute: true,
            ..Self::tiny()
        }
    }

    /// Classical music, raw 12 kHz mu-law audio, strided attention with `l = sqrt(n)`.
    /// The paper gives only parameter counts (152M, 25M, 3M for n = 65,536 / 262,144 /
    /// 1,048,576, "the largest that fits 16 GB"); these depths and widths reproduce them.
    pub fn audio(n_ctx: usize) -> Self {
        let stride = (n_ctx as f64).sqrt().round() as usize;
        let (layers, d_model, heads) = match n_ctx {
            0..=65536 => (48, 512, 16),
            65537..=262144 => (8, 512, 8),
            _ => (3, 256, 4),
        };
        Config {
            n_ctx,
            d_model,
            heads,
            layers,
            ff_mult: 4,
            d_qk: d_model,
            pattern: Factorization::Strided { stride },
            integration: Integration::Merged,
            positions: Positions::Text { stride },
            dropout: 0.0,
            recompute: true,
            ..Self::tiny()
        }
    }

    /// The preset called `name`: tiny, cifar10, enwik8, imagenet64, audio65536, audio262144,
    /// audio1048576.
    pub fn preset(name: &str) -> Result<Self> {
        Ok(match name {
            "tiny" => Self::tiny(),
            "cifar10" => Self::cifar10(),
            "enwik8" => Self::enwik8(),
            "imagenet64" => Self::imagenet64(),
            "audio65536" => Self::audio(65536),
            "audio262144" => Self::audio(262144),
            "audio1048576" => Self::audio(1048576),
            other => return Err(Error::Config { key: "preset", why: format!("unknown preset {other:?}") }),
        })
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |key, why: String| Err(Error::Config { key, why });
        if self.heads == 0 || self.d_model % self.heads != 0 || self.d_qk % self.heads != 0 {
            return bad("heads", format!("d_model {} and d_qk {} must both divide into {} heads", self.d_model, self.d_qk, self.heads));
        }
        if !(1..=8).contains(&self.ff_mult) {
            return bad("ff_mult", format!("{} (the paper uses 4, or 2 for half-size)", self.ff_mult));
        }
        match self.pattern {
            Factorization::Strided { stride: 0 } => return bad("pattern", "stride 0".into()),
            Factorization::Fixed { block, summary } if summary == 0 || summary > block || block % summary != 0 => {
                return bad("pattern", format!("fixed summary c = {summary} must divide the block l = {block}"));
            }
            _ => {}
        }
        match self.positions {
            Positions::Text { stride: 0 } => return bad("positions", "stride 0".into()),
            Positions::Image { height, width, channels } if height * width * channels < self.n_ctx => {
                return bad("positions", format!("an image of {height}x{width}x{channels} is shorter than n_ctx {}", self.n_ctx));
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{} is outside [0, 1)", self.dropout));
        }
        Ok(())
    }

    /// The number of parameters, from the shapes alone (no allocation).
    /// Model FLOPs of training per token (forward + backward = 3 x forward), the numerator
    /// of MFU: `2` per multiply-add of every weight matrix, plus attention's `Q K^T` and
    /// `P V` over only the keys the pattern lets each query see, averaged over the context.
    /// Recomputation's extra forward is not counted (it is not useful work).
    pub fn train_flops_per_token(&self) -> f64 {
        let (d, n) = (self.d_model, self.n_ctx);
        let weights = d * (2 * self.d_qk + d) + d * d + 2 * self.ff_mult * d * d;
        let mut forward = 2.0 * (self.layers * weights + d * self.vocab) as f64;
        let (dqk_head, dv_head) = ((self.d_qk / self.heads) as f64, (d / self.heads) as f64);
        for layer in 0..self.layers {
            let keys: usize = self.pattern.layer(self.integration, layer, self.heads).connections(n).iter().sum();
            forward += 2.0 * (dqk_head + dv_head) * keys as f64 / n as f64;
        }
        3.0 * forward
    }

    pub fn param_count(&self) -> usize {
        let d = self.d_model;
        let qkv = d * (2 * self.d_qk + d) + 2 * self.d_qk + d;
        let proj = d * d + d;
        let ff = d * self.ff_mult * d + self.ff_mult * d + self.ff_mult * d * d + d;
        let norms = 2 * 2 * d;
        let embeddings = self.vocab * d + self.positions.tables(self.n_ctx).iter().sum::<usize>() * d;
        embeddings + self.layers * (qkv + proj + ff + norms) + 2 * d + d * self.vocab + self.vocab
    }
}

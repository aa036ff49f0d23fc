//! Multi-head attention, the feed-forward network, and the residual block.

use crate::layers::{LayerNorm, Linear};
use crate::params::{Param, ParamSpec};
use crate::pattern::{Factorization, LayerPattern};
use crate::Result;
use autograd::ops::attention::{attention, sparse_attention};
use autograd::Var;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tensor::{AttnMask, DType, Device, Tensor};

/// Multi-head self-attention: `x: [B, T, d] -> [B, T, d]`, on the fused sparse kernels on a
/// GPU in half precision, else on the reference path (explicit mask).
///
/// One projection makes queries, keys and values (`[d, 2 d_qk + d]`: half-size QK makes
/// `d_qk = d / 2`); they are split into `heads` heads (query/key width `d_qk / heads`, value
/// width `d / heads`), attended with the layer's sparse pattern, concatenated and projected
/// back (`[d, d]`). The scale is `1 / sqrt(d_qk / heads)`.
#[derive(Clone, Debug)]
pub struct Attention {
    pub qkv: Linear,
    pub proj: Linear,
    pub heads: usize,
    pub d_qk: usize,
    pub pattern: LayerPattern,
}

static REFERENCE_ATTENTION: AtomicBool = AtomicBool::new(false);

/// Makes every model use the reference attention (explicit masks, `n x n` matrices) even
/// where the fused sparse kernels apply: for checking them. `ST_REFERENCE_ATTENTION=1` in
/// the environment does the same.
pub fn set_reference_attention(on: bool) {
    REFERENCE_ATTENTION.store(on, Ordering::Relaxed);
}

/// Whether attention on `x` runs on the fused kernels: a CUDA device, bf16 or fp16
/// activations, head widths of 32, 64 or 128, and the reference path not forced.
pub fn uses_fused_kernels(x: &Tensor, dqk_head: usize, dv_head: usize) -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    let forced = REFERENCE_ATTENTION.load(Ordering::Relaxed) || *ENV.get_or_init(|| std::env::var("ST_REFERENCE_ATTENTION").is_ok_and(|v| v == "1"));
    let width_ok = |w: usize| matches!(w, 32 | 64 | 128);
    !forced && matches!(x.device(), Device::Cuda(_)) && matches!(x.dtype(), DType::BF16 | DType::F16) && width_ok(dqk_head) && width_ok(dv_head)
}

/// Masks by (pattern, length, device), shared by every layer with the same pattern.
fn mask_for(pattern: &LayerPattern, n: usize, device: Device) -> Result<AttnMask> {
    if pattern.factorization == Factorization::Dense {
        return Ok(AttnMask::Causal);
    }
    type Key = (String, usize, Device);
    static MASKS: OnceLock<Mutex<HashMap<Key, Arc<Tensor>>>> = OnceLock::new();
    let key = (format!("{pattern:?}"), n, device);
    let mut cache = MASKS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = cache.get(&key) {
        return Ok(AttnMask::Bool((**t).clone()));
    }
    let (mask, heads) = pattern.mask(n);
    let shape: Vec<usize> = if heads == 1 { vec![n, n] } else { vec![heads, n, n] };
    let t = Tensor::from_vec(mask, &shape, device)?;
    cache.insert(key, Arc::new(t.clone()));
    Ok(AttnMask::Bool(t))
}

impl Attention {
    /// `proj_std` is the output projection's initial std (the paper scales it by `1/sqrt(2N)`).
    pub fn new(spec: &ParamSpec, name: &str, d: usize, d_qk: usize, heads: usize, pattern: LayerPattern, proj_std: f64) -> Result<Self> {
        let std = (0.125 / d as f64).sqrt();
        Ok(Attention {
            qkv: Linear::new(spec, &format!("{name}.qkv"), d, 2 * d_qk + d, std)?,
            proj: Linear::new(spec, &format!("{name}.proj"), d, d, proj_std)?,
            heads,
            d_qk,
            pattern,
        })
    }

    pub fn forward(&self, x: &Var) -> Result<Var> {
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (h, dqk) = (self.heads, self.d_qk);
        let qkv = self.qkv.forward(x)?; // [B, T, 2 d_qk + d]
        // [B, T, width] -> [B, T, H, width / H] -> [B, H, T, width / H]
        let split = |start: usize, width: usize| -> Result<Var> {
            Ok(qkv.narrow(2, start, width)?.contiguous()?.reshape(&[b, t, h, width / h])?.permute(&[0, 2, 1, 3])?)
        };
        let (q, k, v) = (split(0, dqk)?, split(dqk, dqk)?, split(2 * dqk, d)?);
        let scale = 1.0 / ((dqk / h) as f64).sqrt();
        let o = if uses_fused_kernels(x.value(), dqk / h, d / h) {
            // Heads read straight out of the projection (strided views), no mask, no n x n.
            sparse_attention(&q, &k, &v, &self.pattern.kernel_parts(t), scale)?
        } else {
            let mask = mask_for(&self.pattern, t, x.value().device())?;
            attention(&q, &k, &v, &mask, scale)?
        }; // [B, H, T, d / H]
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
    /// Block `layer` of `config`; the layer count sets the `1/sqrt(2N)` scaling of the two
    /// output projections.
    pub fn new(spec: &ParamSpec, config: &crate::Config, layer: usize) -> Result<Self> {
        let (d, n_layers, ff_mult) = (config.d_model, config.layers, config.ff_mult);
        let name = format!("blocks.{layer}");
        let out_std = (0.125 / d as f64).sqrt() / (2.0 * n_layers as f64).sqrt();
        let ff_out_std = (0.125 / (ff_mult * d) as f64).sqrt() / (2.0 * n_layers as f64).sqrt();
        let pattern = config.pattern.layer(config.integration, layer, config.heads);
        let dropout = config.dropout;
        Ok(Block {
            ln1: LayerNorm::new(spec, &format!("{name}.ln1"), d)?,
            attn: Attention::new(spec, &format!("{name}.attn"), d, config.d_qk, config.heads, pattern, out_std)?,
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

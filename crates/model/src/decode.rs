//! Incremental decoding with cached keys and values, for sampling.
//!
//! Generating `n` bytes by re-running the whole model on the growing prefix costs
//! `O(n^2)` work per layer (and `O(n^3)` with dense attention). Instead, each step feeds one
//! new byte per sequence: its query, key and value are computed once, the key and value are
//! stored in a per-layer cache, and the query attends to the cached keys its pattern allows.
//!
//! The cache of a layer is one table `[n_ctx * B * H, width]` whose row `(t * B + b) * H + h`
//! holds position `t` of sequence `b`, head `h`; writing a step's `B * H` rows is one
//! contiguous copy. A step gathers only the keys the pattern lets the new query see (with the
//! embedding gather, padded to the largest head with `-inf` scores), so a step of a strided
//! or fixed layer reads `O(sqrt n)` rows, not `O(n)`: the same saving as in training.
//!
//! The result equals the full forward pass at the last position (test:
//! `decode_matches_the_full_forward`).

use crate::pattern::LayerPattern;
use crate::{Error, Result, Transformer};
use autograd::{no_grad, Var};
use std::collections::HashMap;
use tensor::{DType, Tensor};

/// Cached keys and values of every layer, for `batch` sequences of up to `n_ctx` positions.
pub struct KvCache {
    /// Per layer: `[n_ctx * B * H, d_qk / H]`.
    keys: Vec<Tensor>,
    /// Per layer: `[n_ctx * B * H, d / H]`.
    values: Vec<Tensor>,
    batch: usize,
    /// Positions filled so far.
    pub len: usize,
}

/// The keys one query position may see, for every head of one layer pattern: gather rows
/// `[B, H, K]` into the cache table and a score bias `[1, H, 1, K]` (0, or `-inf` for padding).
struct Gather {
    rows: Tensor,
    bias: Tensor,
}

fn gather_for(pattern: &LayerPattern, t: usize, batch: usize, dtype: DType, device: tensor::Device) -> Result<Gather> {
    let heads = pattern.heads.len();
    let sets: Vec<Vec<usize>> = pattern
        .heads
        .iter()
        .enumerate()
        .map(|(h, &part)| (0..=t).filter(|&j| pattern.factorization.allows(part, h, t, j)).collect())
        .collect();
    let k = sets.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut rows = vec![0i32; batch * heads * k];
    let mut bias = vec![f32::NEG_INFINITY; heads * k];
    for b in 0..batch {
        for (h, set) in sets.iter().enumerate() {
            for (slot, &j) in set.iter().enumerate() {
                rows[(b * heads + h) * k + slot] = ((j * batch + b) * heads + h) as i32;
                bias[h * k + slot] = 0.0;
            }
        }
    }
    Ok(Gather {
        rows: Tensor::from_vec(rows, &[batch, heads, k], device)?,
        bias: Tensor::from_vec(bias, &[1, heads, 1, k], device)?.to_dtype(dtype)?,
    })
}

impl Transformer {
    /// An empty cache for `batch` sequences, on the model's device, in the compute dtype.
    pub fn new_cache(&self, batch: usize) -> Result<KvCache> {
        let c = &self.config;
        let (h, n) = (c.heads, c.n_ctx);
        let device = self.tokens.table.var.value().device();
        let table = |width: usize| Tensor::zeros(&[n * batch * h, width], self.compute_dtype, device);
        Ok(KvCache {
            keys: (0..c.layers).map(|_| table(c.d_qk / h)).collect::<tensor::Result<_>>()?,
            values: (0..c.layers).map(|_| table(c.d_model / h)).collect::<tensor::Result<_>>()?,
            batch,
            len: 0,
        })
    }

    /// Feeds byte `ids: [B]` (u8 or i32, on the model's device) at position `cache.len` of
    /// each sequence and returns the next-byte logits `[B, vocab]` (fp32).
    pub fn decode_step(&self, cache: &mut KvCache, ids: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let (b, t, heads, d, dqk) = (cache.batch, cache.len, c.heads, c.d_model, c.d_qk);
        if ids.shape() != [b] {
            return Err(Error::Tensor(tensor::Error::BadShape { op: "decode_step", shape: ids.shape().to_vec(), why: format!("expected [{b}] ids, one per cached sequence") }));
        }
        if t >= c.n_ctx {
            return Err(Error::Config { key: "n_ctx", why: format!("the cache is full ({} positions)", c.n_ctx) });
        }
        let device = ids.device();
        let dt = self.compute_dtype;
        no_grad(|| {
            // h: [B, 1, d]
            let mut h = self.tokens.forward(&ids.reshape(&[b, 1])?, dt)?;
            for (table, pos) in self.positions.iter().zip(&self.pos_ids) {
                h = h.add(&table.forward(&pos.narrow(1, t, 1)?, dt)?)?;
            }
            let mut gathers: HashMap<String, Gather> = HashMap::new();
            for (layer, block) in self.blocks.iter().enumerate() {
                let a = &block.attn;
                let key = format!("{:?}", a.pattern);
                if !gathers.contains_key(&key) {
                    gathers.insert(key.clone(), gather_for(&a.pattern, t, b, dt, device)?);
                }
                let g = &gathers[&key];
                let qkv = a.qkv.forward(&block.ln1.forward(&h)?)?; // [B, 1, 2 d_qk + d]
                let head_rows = |start: usize, width: usize| -> Result<Tensor> {
                    // [B, 1, width] -> [B * H, width / H]: row b * H + h
                    Ok(qkv.value().narrow(2, start, width)?.contiguous()?.reshape(&[b * heads, width / heads])?)
                };
                cache.keys[layer].narrow(0, t * b * heads, b * heads)?.assign(&head_rows(dqk, dqk)?)?;
                cache.values[layer].narrow(0, t * b * heads, b * heads)?.assign(&head_rows(2 * dqk, d)?)?;
                let q = Var::constant(head_rows(0, dqk)?.reshape(&[b, heads, 1, dqk / heads])?);
                let keys = Var::constant(cache.keys[layer].embedding(&g.rows)?); // [B, H, K, d_qk / H]
                let values = Var::constant(cache.values[layer].embedding(&g.rows)?); // [B, H, K, d / H]
                let scores = q.matmul(&keys.transpose(2, 3)?)?.scale(1.0 / ((dqk / heads) as f64).sqrt())?; // [B, H, 1, K]
                let p = scores.add(&Var::constant(g.bias.clone()))?.softmax()?;
                let o = p.matmul(&values)?.reshape(&[b, 1, d])?; // [B, H, 1, d / H] -> [B, 1, d]
                h = h.add(&a.proj.forward(&o)?)?;
                h = h.add(&block.ff.forward(&block.ln2.forward(&h)?)?)?;
            }
            cache.len += 1;
            let logits = self.head.forward(&self.ln_f.forward(&h)?)?.to_dtype(self.param_dtype())?;
            Ok(logits.value().reshape(&[b, c.vocab])?)
        })
    }
}

//! Reference attention on vars: saves `q`, `k`, `v` and the per-row log-sum-exp, and
//! recomputes the probabilities in the backward.

use crate::error::Result;
use crate::tape::record1;
use crate::var::Var;
use tensor::{AttnMask, Tensor};

/// `softmax(scale q k^T + mask) v` for `q, k: [B, H, T, Dk]`, `v: [B, H, T, Dv]`.
pub fn attention(q: &Var, k: &Var, v: &Var, mask: &AttnMask, scale: f64) -> Result<Var> {
    let (out, lse) = Tensor::attention(&q.value, &k.value, &v.value, mask, scale)?;
    let saved = vec![q.value.clone(), k.value.clone(), v.value.clone(), lse];
    let mask = mask.clone();
    Ok(record1("attention", &[q, k, v], out, saved, move |g, s, needs| {
        let (dq, dk, dv) = Tensor::attention_backward(&s[0], &s[1], &s[2], &s[3], &g, &mask, scale)?;
        Ok(vec![needs[0].then_some(dq), needs[1].then_some(dk), needs[2].then_some(dv)])
    }))
}

/// The fused sparse attention (CUDA, bf16/fp16) over the pattern `parts`: the same result as
/// [`attention`] with the pattern's mask, without the `n x n` matrix. Saves `q`, `k`, `v`,
/// the output and the log-sum-exp; the backward recomputes the probabilities tile by tile.
pub fn sparse_attention(q: &Var, k: &Var, v: &Var, parts: &[tensor::SaPart], scale: f64) -> Result<Var> {
    let (out, lse) = Tensor::sparse_attention(&q.value, &k.value, &v.value, parts, scale)?;
    let saved = vec![q.value.clone(), k.value.clone(), v.value.clone(), out.clone(), lse];
    let parts = parts.to_vec();
    Ok(record1("sparse_attention", &[q, k, v], out, saved, move |g, s, needs| {
        let (dq, dk, dv) = Tensor::sparse_attention_backward(&s[0], &s[1], &s[2], &s[3], &s[4], &g, &parts, scale)?;
        Ok(vec![needs[0].then_some(dq), needs[1].then_some(dk), needs[2].then_some(dv)])
    }))
}

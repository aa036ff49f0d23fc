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

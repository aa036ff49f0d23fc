//! Neural-network ops: softmax, log-softmax, GELU, LayerNorm, embedding, cross-entropy,
//! dropout. The math of each backward is in the kernel it calls (`kernels::<op>`).

use crate::error::Result;
use crate::rng;
use crate::tape::record1;
use crate::var::Var;
use tensor::Tensor;

impl Var {
    /// Softmax over the last dimension; saves its output.
    pub fn softmax(&self) -> Result<Var> {
        let y = self.value.softmax()?;
        Ok(record1("softmax", &[self], y.clone(), vec![y], |g, s, _| Ok(vec![Some(s[0].softmax_backward(&g)?)])))
    }

    /// Log-softmax over the last dimension; saves its output.
    pub fn log_softmax(&self) -> Result<Var> {
        let y = self.value.log_softmax()?;
        Ok(record1("log_softmax", &[self], y.clone(), vec![y], |g, s, _| Ok(vec![Some(s[0].log_softmax_backward(&g)?)])))
    }

    /// `x * sigmoid(1.702 x)`; saves its input.
    pub fn gelu(&self) -> Result<Var> {
        let y = self.value.gelu()?;
        Ok(record1("gelu", &[self], y, vec![self.value.clone()], |g, s, _| Ok(vec![Some(s[0].gelu_backward(&g)?)])))
    }

    /// LayerNorm over the last dimension with learned `gamma` and `beta`; saves the input,
    /// `gamma` and the per-row mean and inverse deviation.
    pub fn layer_norm(&self, gamma: &Var, beta: &Var, eps: f64) -> Result<Var> {
        let (y, mean, rstd) = self.value.layer_norm(&gamma.value, &beta.value, eps)?;
        let saved = vec![self.value.clone(), gamma.value.clone(), mean, rstd];
        Ok(record1("layer_norm", &[self, gamma, beta], y, saved, |g, s, needs| {
            let (dx, dgamma, dbeta) = s[0].layer_norm_backward(&s[1], &s[2], &s[3], &g)?;
            Ok(vec![needs[0].then_some(dx), needs[1].then_some(dgamma), needs[2].then_some(dbeta)])
        }))
    }

    /// Rows of the `[vocab, dim]` table `self` picked by integer `ids`; saves the ids.
    pub fn embedding(&self, ids: &Tensor) -> Result<Var> {
        let y = self.value.embedding(ids)?;
        let vocab = self.shape()[0];
        Ok(record1("embedding", &[self], y, vec![ids.clone()], move |g, s, _| Ok(vec![Some(g.embedding_backward(&s[0], vocab)?)])))
    }

    /// Mean cross-entropy of `[rows, vocab]` logits against integer targets `[rows]`; the
    /// result is a 0-d var in the compute precision. Saves the logits, targets and per-row
    /// log-sum-exp.
    pub fn cross_entropy(&self, targets: &Tensor) -> Result<Var> {
        let (loss, lse) = self.value.cross_entropy(targets)?;
        let saved = vec![self.value.clone(), targets.clone(), lse];
        Ok(record1("cross_entropy", &[self], loss, saved, |g, s, _| {
            Ok(vec![Some(s[0].cross_entropy_backward(&s[1], &s[2], &g)?)])
        }))
    }

    /// Inverted dropout with probability `p`. Draws its seed from [`crate::rng`]; saves
    /// nothing but the seed, and regenerates the mask in the backward.
    pub fn dropout(&self, p: f64) -> Result<Var> {
        if p == 0.0 {
            return Ok(self.clone());
        }
        let seed = rng::next_seed();
        let y = self.value.dropout(p, seed)?;
        Ok(record1("dropout", &[self], y, vec![], move |g, _, _| Ok(vec![Some(g.dropout(p, seed)?)])))
    }
}

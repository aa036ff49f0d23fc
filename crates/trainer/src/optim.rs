//! Adam(W) over a model's parameters, and gradient clipping by global norm.

use crate::Result;
use autograd::Gradients;
use model::Param;
use tensor::{AdamParams, Tensor};

/// Adam(W) hyper-parameters (the paper: weight decay 0.01).
#[derive(Clone, Copy, Debug)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// Optimizer state: two moment buffers per parameter, in the parameter's (master) dtype.
pub struct AdamW {
    pub config: AdamConfig,
    pub step: u64,
    params: Vec<Param>,
    moments: Vec<(Tensor, Tensor)>,
}

impl AdamW {
    pub fn new(params: Vec<Param>, config: AdamConfig) -> Result<Self> {
        let moments = params.iter().map(|p| Ok((p.var.value().zeros_like()?, p.var.value().zeros_like()?))).collect::<Result<_>>()?;
        Ok(AdamW { config, step: 0, params, moments })
    }

    /// One update with learning rate `lr`. Weight decay applies to matrices only (not to
    /// biases, gains or embeddings' LayerNorm-like vectors), the usual practice.
    pub fn step(&mut self, grads: &Gradients, lr: f64) -> Result<()> {
        self.step += 1;
        for (p, (m, v)) in self.params.iter().zip(&self.moments) {
            let Some(g) = grads.get(&p.var) else { continue };
            let h = AdamParams {
                lr,
                beta1: self.config.beta1,
                beta2: self.config.beta2,
                eps: self.config.eps,
                weight_decay: if p.var.value().rank() >= 2 { self.config.weight_decay } else { 0.0 },
                step: self.step,
            };
            p.var.value().adam_step(g, m, v, h)?;
        }
        Ok(())
    }
}

impl AdamW {
    /// The moment buffers, named `m.<param>` and `v.<param>`, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (p, (m, v)) in self.params.iter().zip(&self.moments) {
            out.push((format!("m.{}", p.name), m.clone()));
            out.push((format!("v.{}", p.name), v.clone()));
        }
        out
    }

    /// Restores the moments (by name, into the existing buffers) and the step count.
    pub fn load_state(&mut self, tensors: &std::collections::HashMap<String, Tensor>, step: u64) -> Result<()> {
        for (p, (m, v)) in self.params.iter().zip(&self.moments) {
            for (prefix, buf) in [("m", m), ("v", v)] {
                let name = format!("{prefix}.{}", p.name);
                let t = tensors.get(&name).ok_or_else(|| crate::Error::Invalid(format!("optimizer state has no {name}")))?;
                buf.assign(&t.to_dtype(buf.dtype())?)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// The global L2 norm of all gradients, `sqrt(sum_p |g_p|^2)`. The per-tensor sums are
/// accumulated on the gradients' device (in fp32 for half gradients) and read once.
pub fn global_norm(params: &[Param], grads: &Gradients) -> Result<f64> {
    let mut total: Option<Tensor> = None;
    for p in params {
        if let Some(g) = grads.get(&p.var) {
            let g = if g.dtype() == tensor::DType::F64 { g.clone() } else { g.to_dtype(tensor::DType::F32)? };
            let sq = g.square()?.sum_all()?;
            total = Some(match total {
                Some(t) => t.add(&sq)?,
                None => sq,
            });
        }
    }
    Ok(match total {
        Some(t) => t.to_scalar_f64()?.sqrt(),
        None => 0.0,
    })
}

/// Multiplies every gradient by `factor` (1 does nothing).
pub fn scale_grads(params: &[Param], grads: &mut Gradients, factor: f64) -> Result<()> {
    if factor != 1.0 {
        for p in params {
            if let Some(g) = grads.remove(&p.var) {
                grads.insert(&p.var, g.scale(factor)?);
            }
        }
    }
    Ok(())
}

/// Scales the gradients so their global norm is at most `max_norm` (the paper: 1.0).
/// Returns the norm before clipping.
pub fn clip_grad_norm(params: &[Param], grads: &mut Gradients, max_norm: f64) -> Result<f64> {
    let norm = global_norm(params, grads)?;
    if norm > max_norm {
        scale_grads(params, grads, max_norm / (norm + 1e-6))?;
    }
    Ok(norm)
}

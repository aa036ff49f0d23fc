//! Autoregressive sampling: feed the last `n_ctx` bytes, draw the next from
//! `softmax(logits / temperature)`, append, repeat.

use crate::Result;
use autograd::no_grad;
use kernels::philox;
use model::Transformer;
use tensor::{Device, Tensor};

/// Continues `prompt` by `count` bytes.
pub fn generate(model: &Transformer, prompt: &[u8], count: usize, temperature: f64, seed: u64) -> Result<Vec<u8>> {
    let mut model = model.clone();
    model.set_dropout(0.0);
    let n = model.config.n_ctx;
    let mut out = prompt.to_vec();
    for i in 0..count {
        let ctx = &out[out.len().saturating_sub(n)..];
        let ids = Tensor::from_slice(ctx, &[1, ctx.len()], Device::Cpu)?;
        let logits = no_grad(|| model.forward(&ids))?;
        let last = logits.value().narrow(1, ctx.len() - 1, 1)?.scale(1.0 / temperature)?.softmax()?.to_vec_f64()?;
        let u = philox::uniform_at(seed, i as u64);
        let mut acc = 0.0;
        let next = last.iter().position(|&p| {
            acc += p;
            acc > u
        });
        out.push(next.unwrap_or(last.len() - 1) as u8);
    }
    Ok(out[prompt.len()..].to_vec())
}

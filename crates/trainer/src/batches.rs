//! Random training crops from a byte corpus: `batch` windows of `len` bytes at offsets drawn
//! from a Philox stream keyed by `(seed, step)`, so a run is reproducible and a resumed run
//! draws the same batches.

use crate::{Error, Result};
use kernels::philox;
use tensor::{Device, Tensor};

/// `[batch, len]` u8 crops for training step `step`.
pub fn random_crops(corpus: &[u8], batch: usize, len: usize, seed: u64, step: u64, device: Device) -> Result<Tensor> {
    if corpus.len() < len {
        return Err(Error::Invalid(format!("corpus of {} bytes is shorter than one window of {len}", corpus.len())));
    }
    let span = (corpus.len() - len + 1) as u64;
    let mut data = Vec::with_capacity(batch * len);
    for b in 0..batch as u64 {
        let words = philox::block(seed ^ 0xBA7C_4E5, step * 1024 + b);
        let r = (words[0] as u64) | ((words[1] as u64) << 32);
        let start = (r % span) as usize;
        data.extend_from_slice(&corpus[start..start + len]);
    }
    Ok(Tensor::from_vec(data, &[batch, len], device)?)
}

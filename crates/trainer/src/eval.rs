//! Bits per byte over a whole split: the split is cut into consecutive windows of
//! `n_ctx + 1` bytes (the last one shorter), each byte after a window's first is predicted
//! once, and the mean loss in nats is converted with `/ ln 2`. Deterministic: no dropout, no
//! sampling.

use crate::Result;
use autograd::no_grad;
use model::Transformer;
use tensor::{Device, Tensor};

/// Mean bits per byte of `model` on `data`, evaluating at most `max_windows` windows.
pub fn bits_per_byte(model: &Transformer, data: &[u8], max_windows: usize) -> Result<f64> {
    let n = model.config.n_ctx;
    let mut model = model.clone();
    model.set_dropout(0.0);
    let (mut nats, mut count) = (0.0, 0usize);
    for window in data.windows(n + 1).step_by(n).take(max_windows) {
        let ids = Tensor::from_slice(window, &[1, n + 1], Device::Cpu)?;
        let loss = no_grad(|| model.loss(&ids))?;
        nats += loss.value().to_scalar_f64()? * n as f64;
        count += n;
    }
    Ok(nats / count.max(1) as f64 / std::f64::consts::LN_2)
}

//! `cargo run --release -p trainer`: trains the tiny model on the embedded corpus (the
//! project's own source code) on the CPU, printing a step log and a generated sample.
//! The full CLI (configs, checkpoints, resume, GPU) is built on these same pieces.

use anyhow::Result;
use autograd::rng;
use model::{Config, Transformer};
use std::time::Instant;
use tensor::{DType, Device};
use trainer::{batches, eval, optim, sample, schedule};

fn main() -> Result<()> {
    let config = Config::tiny();
    let (steps, batch, peak_lr, warmup) = (1000u64, 16usize, 3e-3, 50u64);
    let (train, valid, _) = datasets::embedded::splits();
    let model = Transformer::new(config.clone(), DType::F32, Device::Cpu)?;
    let params = model.params();
    let n_params: usize = params.iter().map(|p| p.var.value().numel()).sum();
    println!("tiny model: {} layers, d={}, {} heads, n_ctx={}, {n_params} parameters", config.layers, config.d_model, config.heads, config.n_ctx);
    println!("embedded corpus: {} train / {} valid bytes (this project's own source)", train.len(), valid.len());
    let eval_windows = 64;
    println!("valid bits/byte at start: {:.3}", eval::bits_per_byte(&model, valid, eval_windows)?);

    let mut opt = optim::AdamW::new(params.clone(), optim::AdamConfig::default())?;
    rng::manual_seed(config.seed);
    println!("{:>5} | {:>7} | {:>6} | {:>7} | {:>8}", "step", "loss", "bpb", "ms", "tok/s");
    let t_start = Instant::now();
    for step in 0..steps {
        let t0 = Instant::now();
        let ids = batches::random_crops(train, batch, config.n_ctx + 1, config.seed, step, Device::Cpu)?;
        let loss = model.loss(&ids)?;
        let mut grads = loss.backward()?;
        optim::clip_grad_norm(&params, &mut grads, 1.0)?;
        opt.step(&grads, schedule::lr_at(step, peak_lr, warmup, steps, 0.1))?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if step % 100 == 0 || step + 1 == steps {
            let l = loss.value().to_scalar_f64()?;
            let tok_s = (batch * config.n_ctx) as f64 / (ms / 1e3);
            println!("{step:>5} | {l:>7.4} | {:>6.3} | {ms:>7.1} | {tok_s:>8.0}", l / std::f64::consts::LN_2);
        }
    }
    println!("trained {steps} steps in {:.1} s", t_start.elapsed().as_secs_f64());
    println!("valid bits/byte at end: {:.3}", eval::bits_per_byte(&model, valid, eval_windows)?);
    let prompt = b"impl Tensor {\n    pub fn ";
    let text = sample::generate(&model, prompt, 200, 0.8, 7)?;
    println!("sample:\n{}{}", String::from_utf8_lossy(prompt), String::from_utf8_lossy(&text));
    Ok(())
}

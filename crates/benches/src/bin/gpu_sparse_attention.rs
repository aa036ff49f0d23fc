//! `gpu-sparse-attention [--json FILE] [--only NAME] [--profile]`: the fused sparse attention kernels,
//! forward + backward, bf16, on the paper's shapes (the PyTorch baselines are
//! `benches/reference/sparse_attention.py`, run beside it). Prints a table and writes JSON.
//!
//! For each case: the median time of forward + backward, the attended entries (query/key
//! pairs the pattern allows, over batch and heads), and the effective TFLOP/s on those
//! entries, counted the usual way: forward `2 E (Dqk + Dv)`, backward `2 E (3 Dqk + 2 Dv)`
//! (recompute S, dP, dV, dQ, dK). Recomputing S and dP once more, as the dQ and dK/dV kernels
//! both do, is not counted. The million-position case reports the peak device memory too.
//!
//! `--profile` marks one warm forward + backward per case as the profiler's capture range:
//! `ncu --profile-from-start off --metrics gpu__time_duration.sum gpu-sparse-attention
//! --profile --only imagenet` lists the time of each kernel of one step.

use kernels::cuda::Gpu;
use model::pattern::{Factorization, Integration};
use std::time::Instant;
use tensor::{DType, Device, Tensor};

struct Case {
    name: &'static str,
    batch: usize,
    heads: usize,
    n: usize,
    dqk: usize,
    dv: usize,
    f: Factorization,
    integration: Integration,
}

fn cases() -> Vec<Case> {
    use Factorization::*;
    use Integration::Merged;
    vec![
        Case { name: "enwik8: fixed l=128 c=32 merged", batch: 4, heads: 8, n: 12288, dqk: 64, dv: 64, f: Fixed { block: 128, summary: 32 }, integration: Merged },
        Case { name: "imagenet64: strided l=128", batch: 2, heads: 16, n: 12288, dqk: 32, dv: 32, f: Strided { stride: 128 }, integration: Merged },
        Case { name: "audio: strided l=256", batch: 1, heads: 8, n: 65536, dqk: 64, dv: 64, f: Strided { stride: 256 }, integration: Merged },
        Case { name: "cifar10: strided l=96, QK 64 / V 128", batch: 16, heads: 2, n: 3072, dqk: 64, dv: 128, f: Strided { stride: 96 }, integration: Merged },
        Case { name: "dense causal (enwik8 shape)", batch: 4, heads: 8, n: 12288, dqk: 64, dv: 64, f: Dense, integration: Merged },
        Case { name: "n=1,048,576: strided l=1024", batch: 1, heads: 4, n: 1 << 20, dqk: 64, dv: 64, f: Strided { stride: 1024 }, integration: Merged },
    ]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let (json_path, only) = (arg("--json"), arg("--only"));
    let profile = args.iter().any(|a| a == "--profile");
    let gpu = Gpu::get(0)?;
    let dev = Device::Cuda(0);
    println!("device: {} ({}), bf16, forward + backward", gpu.name, gpu.arch);
    println!("{:<40} {:>10} {:>8} {:>8} {:>14} {:>9} {:>10}", "case", "fwd+bwd ms", "fwd ms", "layout", "entries", "TFLOP/s", "peak GiB");
    let mut json = Vec::new();
    for c in cases() {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        let rnd = |d: usize, seed: u64| Tensor::randn(&[c.batch, c.heads, c.n, d], 0.0, 1.0, seed, DType::F32, dev).and_then(|t| t.to_dtype(DType::BF16));
        let (q, k, v, dout) = (rnd(c.dqk, 1)?, rnd(c.dqk, 2)?, rnd(c.dv, 3)?, rnd(c.dv, 4)?);
        let pattern = c.f.layer(c.integration, 0, c.heads);
        let t_layout = Instant::now();
        let parts = pattern.kernel_parts(c.n);
        let layout_us = t_layout.elapsed().as_secs_f64() * 1e6;
        let entries: f64 = c.batch as f64 * pattern.connections(c.n).iter().sum::<usize>() as f64;
        let scale = 1.0 / (c.dqk as f64).sqrt();
        let step = || -> anyhow::Result<()> {
            let (o, lse) = Tensor::sparse_attention(&q, &k, &v, &parts, scale)?;
            Tensor::sparse_attention_backward(&q, &k, &v, &o, &lse, &dout, &parts, scale)?;
            Ok(())
        };
        step()?;
        gpu.synchronize()?;
        gpu.reset_peak_used()?;
        step()?;
        gpu.synchronize()?;
        let peak = gpu.peak_used_bytes()? as f64 / (1u64 << 30) as f64;
        if profile {
            gpu.profiled(step)??;
        }
        let iters = if c.n >= 1 << 20 { 1 } else { 5 };
        let median = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
            let mut samples = Vec::new();
            for _ in 0..7 {
                let t = Instant::now();
                for _ in 0..iters {
                    f()?;
                }
                gpu.synchronize()?;
                samples.push(t.elapsed().as_secs_f64() / iters as f64);
            }
            samples.sort_by(f64::total_cmp);
            Ok(samples[samples.len() / 2])
        };
        let secs = median(&step)?;
        let fwd_secs = median(&|| Tensor::sparse_attention(&q, &k, &v, &parts, scale).map(|_| ()).map_err(Into::into))?;
        let flops = 2.0 * entries * (c.dqk + c.dv) as f64 + 2.0 * entries * (3 * c.dqk + 2 * c.dv) as f64;
        let tflops = flops / secs / 1e12;
        println!("{:<40} {:>10.3} {:>8.3} {:>6.0}us {:>14.3e} {:>9.1} {:>10.2}", c.name, secs * 1e3, fwd_secs * 1e3, layout_us, entries, tflops, peak);
        json.push(format!(
            "  {{\"case\": \"{}\", \"batch\": {}, \"heads\": {}, \"n\": {}, \"dqk\": {}, \"dv\": {}, \"ms\": {:.4}, \"fwd_ms\": {:.4}, \"layout_us\": {:.1}, \"entries\": {}, \"tflops\": {:.2}, \"peak_gib\": {:.3}}}",
            c.name, c.batch, c.heads, c.n, c.dqk, c.dv, secs * 1e3, fwd_secs * 1e3, layout_us, entries, tflops, peak
        ));
    }
    if let Some(path) = json_path {
        std::fs::write(&path, format!("{{\"device\": \"{}\", \"results\": [\n{}\n]}}\n", gpu.name, json.join(",\n")))?;
        println!("wrote {path}");
    }
    Ok(())
}

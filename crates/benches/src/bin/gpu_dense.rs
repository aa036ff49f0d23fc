//! `gpu-dense [--json FILE]`: the engine's dense ops on the GPU, measured against the
//! device's own limits. Prints a table and writes JSON.
//!
//! - bf16 matmul at 4096^3 and 8192^3 through the engine (`Tensor::matmul`: dispatch, plan
//!   cache, cuBLASLt), in TFLOP/s; the raw-cuBLAS baseline is `torch.matmul`, run beside it
//!   (`benches/reference/dense_ops.py`).
//! - LayerNorm, softmax, GELU (bf16) and the Adam update (fp32 master weights, bf16
//!   gradients) on large tensors, as achieved bandwidth, against the device-to-device copy
//!   bandwidth measured in the same run.
//!
//! Times are wall-clock over many queued iterations between two stream synchronisations,
//! after warm-up (the host enqueues far faster than the GPU drains, so launch overhead is
//! hidden exactly as in training).

use kernels::cuda::Gpu;
use std::time::Instant;
use tensor::{AdamParams, DType, Device, Tensor};

const GPU: Device = Device::Cuda(0);

/// Host seconds to enqueue one call (no waiting), for telling host-bound from device-bound.
static mut LAST_ENQUEUE: f64 = 0.0;

/// Median seconds per call of `f` over 9 timed batches of `iters` calls.
fn time(gpu: &Gpu, iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    gpu.synchronize().unwrap();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    let enqueue = t.elapsed().as_secs_f64() / iters as f64;
    gpu.synchronize().unwrap();
    // SAFETY: single-threaded benchmark.
    unsafe { LAST_ENQUEUE = enqueue };
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            gpu.synchronize().unwrap();
            t.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let json_path = std::env::args().skip_while(|a| a != "--json").nth(1);
    let gpu = Gpu::get(0)?;
    println!("device: {} ({})", gpu.name, gpu.arch);
    let mut rows: Vec<(String, f64, String)> = Vec::new();
    let mut enqueue_us: Vec<f64> = Vec::new();
    macro_rules! record {
        ($name:expr, $value:expr, $unit:expr) => {{
            rows.push(($name, $value, $unit.into()));
            // SAFETY: single-threaded benchmark.
            enqueue_us.push(unsafe { LAST_ENQUEUE } * 1e6);
        }};
    }

    // Device-to-device copy bandwidth (read + write), 1 GiB.
    let n = 1usize << 30;
    let src = gpu.zeros(kernels::cuda::Elem::U8, n)?;
    let mut dst = gpu.zeros(kernels::cuda::Elem::U8, n)?;
    let t = time(&gpu, 10, || gpu.copy(&src, 0, &mut dst, 0, n).unwrap());
    let copy_gbs = 2.0 * n as f64 / t / 1e9;
    record!("copy_d2d_1GiB".into(), copy_gbs, "GB/s");
    drop((src, dst));

    for size in [4096usize, 8192] {
        let a = Tensor::randn(&[size, size], 0.0, 1.0, 1, DType::BF16, GPU)?;
        let b = Tensor::randn(&[size, size], 0.0, 1.0, 2, DType::BF16, GPU)?;
        let iters = if size == 4096 { 200 } else { 40 };
        let t = time(&gpu, iters, || drop(a.matmul(&b).unwrap()));
        record!(format!("matmul_bf16_{size}"), 2.0 * (size as f64).powi(3) / t / 1e12, "TFLOP/s");
    }

    // Row ops on [65536, 1024] bf16: read x, write y.
    let (r, c) = (65536usize, 1024usize);
    let x = Tensor::randn(&[r, c], 0.0, 1.0, 3, DType::BF16, GPU)?;
    let gamma = Tensor::ones(&[c], DType::BF16, GPU)?;
    let beta = Tensor::zeros(&[c], DType::BF16, GPU)?;
    let bytes = (2 * 2 * r * c) as f64;
    let t = time(&gpu, 20, || drop(x.layer_norm(&gamma, &beta, 1e-5).unwrap()));
    record!("layer_norm_bf16_65536x1024".into(), bytes / t / 1e9, "GB/s");
    let t = time(&gpu, 20, || drop(x.softmax().unwrap()));
    record!("softmax_bf16_65536x1024".into(), bytes / t / 1e9, "GB/s");
    drop(x);
    // The same at 4x the size: if throughput rises, per-call overhead was hiding the kernel.
    let r4 = 4 * r;
    let x4 = Tensor::randn(&[r4, c], 0.0, 1.0, 3, DType::BF16, GPU)?;
    let t = time(&gpu, 10, || drop(x4.layer_norm(&gamma, &beta, 1e-5).unwrap()));
    record!("layer_norm_bf16_262144x1024".into(), 4.0 * bytes / t / 1e9, "GB/s");
    let t = time(&gpu, 10, || drop(x4.softmax().unwrap()));
    record!("softmax_bf16_262144x1024".into(), 4.0 * bytes / t / 1e9, "GB/s");
    drop(x4);
    let big = Tensor::randn(&[1 << 27], 0.0, 1.0, 4, DType::BF16, GPU)?;
    let t = time(&gpu, 20, || drop(big.gelu().unwrap()));
    record!("gelu_bf16_128M".into(), (4usize << 27) as f64 / t / 1e9, "GB/s");
    drop(big);

    // Adam: 64M fp32 parameters with bf16 gradients: read p, m, v, g; write p, m, v.
    let np = 1usize << 26;
    let p = Tensor::randn(&[np], 0.0, 1.0, 5, DType::F32, GPU)?;
    let g = Tensor::randn(&[np], 0.0, 1.0, 6, DType::BF16, GPU)?;
    let (m, v) = (Tensor::zeros(&[np], DType::F32, GPU)?, Tensor::zeros(&[np], DType::F32, GPU)?);
    let mut step = 0;
    let t = time(&gpu, 20, || {
        step += 1;
        p.adam_step(&g, &m, &v, AdamParams { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.01, step }).unwrap()
    });
    record!("adam_fp32_bf16grad_64M".into(), (26 * np) as f64 / t / 1e9, "GB/s");

    println!("{:<32} {:>10}  {:<8} {:>9} {:>12}", "benchmark", "value", "unit", "of copy", "enqueue µs");
    let mut json = format!("{{\"device\": \"{}\", \"results\": [", gpu.name);
    for (i, (name, value, unit)) in rows.iter().enumerate() {
        let frac = if unit == "GB/s" && name != "copy_d2d_1GiB" { format!("{:.0}%", 100.0 * value / copy_gbs) } else { String::new() };
        println!("{name:<32} {value:>10.1}  {unit:<8} {frac:>9} {:>12.1}", enqueue_us[i]);
        json += &format!("{}{{\"name\": \"{name}\", \"value\": {value:.3}, \"unit\": \"{unit}\"}}", if i > 0 { ", " } else { "" });
    }
    json += "]}\n";
    if let Some(path) = json_path {
        std::fs::write(&path, json)?;
        println!("wrote {path}");
    }
    Ok(())
}

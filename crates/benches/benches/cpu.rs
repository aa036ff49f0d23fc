//! CPU benchmarks: matmul GFLOP/s at a few square sizes, and one training step (forward,
//! backward, AdamW) of a small model, with and without recomputation.
//!
//! `cargo bench -p benches` ; criterion's "elem/s" throughput is FLOP/s here.

use autograd::rng;
use benches::{matmul_flops, small_model, small_model_flops_per_token};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tensor::{DType, Device, Tensor};
use trainer::optim::{AdamConfig, AdamW};

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul_f32");
    for n in [128usize, 512, 1024] {
        let a = Tensor::randn(&[n, n], 0.0, 1.0, 1, DType::F32, Device::Cpu).unwrap();
        let b = Tensor::randn(&[n, n], 0.0, 1.0, 2, DType::F32, Device::Cpu).unwrap();
        g.throughput(Throughput::Elements(matmul_flops(n, n, n)));
        g.bench_function(format!("{n}x{n}x{n}"), |bench| bench.iter(|| a.matmul(&b).unwrap()));
    }
    // The shape of a linear layer in the small model: [8*128, 128] @ [128, 512].
    let x = Tensor::randn(&[8, 128, 128], 0.0, 1.0, 3, DType::F32, Device::Cpu).unwrap();
    let w = Tensor::randn(&[128, 512], 0.0, 1.0, 4, DType::F32, Device::Cpu).unwrap();
    g.throughput(Throughput::Elements(matmul_flops(8 * 128, 128, 512)));
    g.bench_function("linear [8,128,128]@[128,512]", |bench| bench.iter(|| x.matmul(&w).unwrap()));
    g.finish();
}

fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    for recompute in [false, true] {
        let (mut model, ids) = small_model();
        model.config.recompute = recompute;
        let t = ids.shape()[1] - 1;
        // forward + backward ~ 3x the forward FLOPs
        g.throughput(Throughput::Elements(3 * small_model_flops_per_token(&model, t) * (ids.shape()[0] * t) as u64));
        let mut opt = AdamW::new(model.params(), AdamConfig::default()).unwrap();
        rng::manual_seed(1);
        let name = if recompute { "small model (4x128, T=128, B=8), recompute" } else { "small model (4x128, T=128, B=8)" };
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let loss = model.loss(&ids).unwrap();
                let grads = loss.backward().unwrap();
                opt.step(&grads, 1e-4).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matmul, train_step);
criterion_main!(benches);

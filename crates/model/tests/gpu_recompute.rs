//! Recomputation on the GPU at the paper's scale: one training step (forward + backward) of
//! the enwik8 preset (30 layers, d = 512, 8 heads, fixed l = 128 c = 32 merged, dropout 0.4)
//! at n = 12,288, with and without per-block recomputation: the peak device memory of each,
//! and the gradients compared.
//!
//! Every gradient of the blocks is bit-identical. The embedding tables' gradients are
//! accumulated with fp32 atomics on the GPU (order varies run to run), so those are compared
//! to rounding.

use autograd::rng;
use kernels::cuda::Gpu;
use model::{Config, Transformer};
use tensor::{DType, Device, Tensor};

fn step(recompute: bool) -> (Vec<(String, Vec<f32>)>, u64, f64) {
    let device = Device::Cuda(0);
    let gpu = Gpu::get(0).unwrap();
    let config = Config { recompute, ..Config::enwik8() };
    let n = config.n_ctx;
    let mut model = Transformer::new(config, DType::F32, device).unwrap();
    // Random logits weights so that gradients reach every block (the paper starts them at 0).
    let spec = model::params::ParamSpec { seed: 5, dtype: DType::F32, device };
    model.head = model::layers::Linear::new(&spec, "head", 512, 256, 0.02).unwrap();
    let ids: Vec<u8> = (0..n + 1).map(|i| (i * 131 % 251) as u8).collect();
    let ids = Tensor::from_vec(ids, &[1, n + 1], device).unwrap();
    gpu.synchronize().unwrap();
    gpu.reset_peak_used().unwrap();
    rng::manual_seed(42);
    let t = std::time::Instant::now();
    let loss = model.loss(&ids).unwrap();
    let grads = loss.backward().unwrap();
    gpu.synchronize().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let peak = gpu.peak_used_bytes().unwrap();
    let g = model.params().iter().map(|p| (p.name.clone(), grads.get(&p.var).unwrap().to_vec::<f32>().unwrap())).collect();
    (g, peak, secs)
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn enwik8_preset_at_full_length_with_and_without_recomputation() {
    let _warm = step(true); // compiles kernels, builds the masks, fills the pool
    let (plain, peak_plain, t_plain) = step(false);
    let (recomputed, peak_recompute, t_recompute) = step(true);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    println!("enwik8 preset, n = 12288, batch 1, f32, reference attention:");
    println!("  without recomputation: peak {:.2} GiB, step {:.2} s", gib(peak_plain), t_plain);
    println!("  with recomputation:    peak {:.2} GiB, step {:.2} s", gib(peak_recompute), t_recompute);
    let mut worst_embedding: f64 = 0.0;
    for ((name, a), (_, b)) in plain.iter().zip(&recomputed) {
        if name.starts_with("blocks.") || name.starts_with("ln_f") || name.starts_with("head") {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} differs");
        } else {
            let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
            let den: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
            worst_embedding = worst_embedding.max((num / den.max(1e-30)).sqrt());
        }
    }
    println!("  block, final-norm and head gradients: bit-identical; embedding gradients: max rel diff {worst_embedding:.1e}");
    assert!(worst_embedding < 1e-5);
    assert!(peak_recompute < peak_plain);
}

//! Decoding with cached keys and values gives the full forward pass's logits at every
//! position: for every factorization and integration mode, half-size QK, image positions, on
//! the CPU in f32 and (ignored here, run on the GPU machine) on CUDA in f32 and bf16.

use autograd::no_grad;
use model::pattern::{Factorization, Integration};
use model::{Config, Positions, Transformer};
use tensor::{DType, Device, Tensor};

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn configs() -> Vec<(&'static str, Config)> {
    let base = Config { n_ctx: 40, layers: 3, ..Config::tiny() };
    vec![
        ("dense", Config { pattern: Factorization::Dense, ..base.clone() }),
        ("strided merged", Config { pattern: Factorization::Strided { stride: 6 }, ..base.clone() }),
        ("strided interleave, half QK", Config { pattern: Factorization::Strided { stride: 5 }, integration: Integration::Interleave, d_qk: 32, ..base.clone() }),
        ("fixed merged (distinct summaries)", Config { pattern: Factorization::Fixed { block: 8, summary: 2 }, ..base.clone() }),
        ("fixed multi-head", Config { pattern: Factorization::Fixed { block: 8, summary: 4 }, integration: Integration::MultiHead, ..base.clone() }),
        ("image positions", Config { n_ctx: 48, pattern: Factorization::Strided { stride: 12 }, positions: Positions::Image { height: 4, width: 4, channels: 3 }, ..base }),
    ]
}

/// Worst relative error over every position of a batch of 2 sequences.
fn check(config: Config, device: Device, compute: DType) -> f64 {
    let n = config.n_ctx;
    let mut model = Transformer::new(config, DType::F32, device).unwrap();
    // Random output weights (the paper starts them at zero, which would make every logit 0).
    let spec = model::params::ParamSpec { seed: 9, dtype: DType::F32, device };
    model.head = model::layers::Linear::new(&spec, "head", model.config.d_model, 256, 0.5).unwrap();
    model.set_compute_dtype(compute);
    let ids: Vec<u8> = (0..2 * n).map(|i| (i * 37 % 251) as u8).collect();
    let ids = Tensor::from_vec(ids, &[2, n], device).unwrap();
    let full = no_grad(|| model.forward(&ids)).unwrap().value().to_vec::<f32>().unwrap(); // [2, n, 256]
    let mut cache = model.new_cache(2).unwrap();
    let mut worst = 0.0f64;
    for t in 0..n {
        let step_ids = ids.narrow(1, t, 1).unwrap().contiguous().unwrap().reshape(&[2]).unwrap();
        let got = model.decode_step(&mut cache, &step_ids).unwrap().to_vec::<f32>().unwrap(); // [2, 256]
        let want: Vec<f32> = (0..2).flat_map(|b| full[(b * n + t) * 256..(b * n + t + 1) * 256].to_vec()).collect();
        worst = worst.max(rel_err(&got, &want));
    }
    assert!(model.decode_step(&mut cache, &ids.narrow(1, 0, 1).unwrap().contiguous().unwrap().reshape(&[2]).unwrap()).is_err(), "a full cache must refuse");
    worst
}

#[test]
fn decode_matches_the_full_forward() {
    for (name, config) in configs() {
        let err = check(config, Device::Cpu, DType::F32);
        println!("{name}: {err:.2e}");
        assert!(err < 1e-5, "{name}: relative error {err:e}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn decode_matches_the_full_forward_on_cuda() {
    for (name, config) in configs() {
        let f32_err = check(config.clone(), Device::Cuda(0), DType::F32);
        let bf16_err = check(config, Device::Cuda(0), DType::BF16);
        println!("{name}: f32 {f32_err:.2e}, bf16 {bf16_err:.2e}");
        assert!(f32_err < 1e-5 && bf16_err < 3e-2, "{name}: f32 {f32_err:e}, bf16 {bf16_err:e}");
    }
}

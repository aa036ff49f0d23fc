//! # benches: how fast the engine is
//!
//! - `benches/cpu.rs` (criterion): CPU matmul throughput and one full training step of a
//!   small model (`cargo bench -p benches`); results go in `benches/RESULTS.md`.
//! - GPU bench binaries (with the CUDA backend) print a table and write JSON, run on the GPU
//!   machine beside the PyTorch scripts in `benches/reference/`.
//!
//! This library holds what the benchmarks share.

use model::pattern::Factorization;
use model::{Config, Positions, Transformer};
use tensor::{DType, Device, Tensor};

/// Floating-point operations of an `m x k` by `k x n` matmul.
pub fn matmul_flops(m: usize, k: usize, n: usize) -> u64 {
    2 * (m * k * n) as u64
}

/// The small model whose training step the CPU benchmark times, and a batch for it.
pub fn small_model() -> (Transformer, Tensor) {
    let config = Config { n_ctx: 128, d_model: 128, d_qk: 128, heads: 4, layers: 4, pattern: Factorization::Strided { stride: 16 }, positions: Positions::Text { stride: 16 }, dropout: 0.1, ..Config::tiny() };
    let model = Transformer::new(config, DType::F32, Device::Cpu).expect("valid config");
    let ids: Vec<u8> = (0..8 * 129).map(|i| (i * 131 % 256) as u8).collect();
    (model, Tensor::from_vec(ids, &[8, 129], Device::Cpu).expect("shape matches"))
}

/// Forward-pass FLOPs of `small_model` per token, counting matmuls and attention
/// (`2 * params_in_matmuls + 2 * 2 * n_layers * T * d` for causal attention, halved).
pub fn small_model_flops_per_token(model: &Transformer, t: usize) -> u64 {
    let c = &model.config;
    let d = c.d_model as u64;
    let per_layer = 2 * (d * 3 * d + d * d + 2 * d * c.ff_mult as u64 * d);
    let attn = 2 * 2 * d * t as u64 / 2; // q k^T and p v over half the keys on average
    c.layers as u64 * (per_layer + attn) + 2 * d * c.vocab as u64
}

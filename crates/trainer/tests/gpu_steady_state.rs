//! After warm-up, a training step on the GPU takes no new memory from the driver: every
//! buffer comes from the device's stream-ordered pool, whose reserved size stays flat.

use autograd::rng;
use kernels::cuda::Gpu;
use model::{Config, Transformer};
use tensor::{DType, Device, Tensor};
use trainer::optim::{AdamConfig, AdamW};

#[test]
#[ignore = "needs a CUDA GPU"]
fn steady_state_steps_reserve_no_new_memory() {
    let device = Device::Cuda(0);
    let config = Config { layers: 4, d_model: 128, d_qk: 128, heads: 4, n_ctx: 256, dropout: 0.1, ..Config::tiny() };
    let model = Transformer::new(config, DType::F32, device).unwrap();
    let mut opt = AdamW::new(model.params(), AdamConfig::default()).unwrap();
    let ids: Vec<u8> = (0..8 * 257).map(|i| (i * 31 % 256) as u8).collect();
    let ids = Tensor::from_vec(ids, &[8, 257], device).unwrap();
    let gpu = Gpu::get(0).unwrap();
    rng::manual_seed(1);
    let mut step = |s: u64| {
        let loss = model.loss(&ids).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads, 1e-3).unwrap();
        if s % 5 == 0 {
            loss.value().to_scalar_f64().unwrap(); // read the loss every few steps, as the trainer does
        }
    };
    for s in 0..3 {
        step(s);
    }
    gpu.synchronize().unwrap();
    let (cur0, high0) = gpu.pool_reserved_bytes().unwrap();
    for s in 3..23 {
        step(s);
    }
    gpu.synchronize().unwrap();
    let (cur1, high1) = gpu.pool_reserved_bytes().unwrap();
    println!("pool reserved after warm-up: {cur0} B (high {high0} B); after 20 more steps: {cur1} B (high {high1} B)");
    assert_eq!(high1, high0, "the pool grew after warm-up");
}

//! A tiny Sparse Transformer learns on the CPU: on a fixed ~2 KB byte corpus (a paragraph
//! repeated with variations), 300 steps of AdamW bring the training loss from ln 256 = 5.55
//! nats (8 bits per byte) below 1.0 nat (1.44 bits per byte).

use autograd::rng;
use model::pattern::{Factorization, Integration};
use model::{Config, Positions, Transformer};
use tensor::{DType, Device};
use trainer::{batches, optim, schedule};

fn corpus() -> Vec<u8> {
    let mut text = String::new();
    for i in 0..24 {
        text.push_str(&format!(
            "Sparse attention, step {i}: the query attends to the previous {} positions and to every {}th position before them. ",
            8 + i % 3,
            4 + i % 2
        ));
    }
    text.into_bytes()
}

#[test]
fn tiny_model_loss_falls_below_one_nat_in_300_steps() {
    let config = Config {
        n_ctx: 32,
        d_model: 48,
        d_qk: 24,
        heads: 4,
        layers: 2,
        pattern: Factorization::Fixed { block: 8, summary: 2 },
        integration: Integration::Merged,
        positions: Positions::Text { stride: 8 },
        ..Config::tiny()
    };
    let data = corpus();
    let model = Transformer::new(config.clone(), DType::F32, Device::Cpu).unwrap();
    let params = model.params();
    let mut opt = optim::AdamW::new(params.clone(), optim::AdamConfig::default()).unwrap();
    rng::manual_seed(3);
    let (steps, mut last) = (300u64, Vec::new());
    for step in 0..steps {
        let ids = batches::random_crops(&data, 16, config.n_ctx + 1, 11, step, Device::Cpu).unwrap();
        let loss = model.loss(&ids).unwrap();
        let value = loss.value().to_scalar_f64().unwrap();
        if step == 0 {
            assert!((value - 256f64.ln()).abs() < 0.01, "zero-initialised logits start at ln 256, got {value}");
        }
        let mut grads = loss.backward().unwrap();
        optim::clip_grad_norm(&params, &mut grads, 1.0).unwrap();
        opt.step(&grads, schedule::lr_at(step, 5e-3, 30, steps, 0.1)).unwrap();
        if step + 10 >= steps {
            last.push(value);
        }
    }
    let mean = last.iter().sum::<f64>() / last.len() as f64;
    println!("mean loss over the last 10 steps: {mean:.3} nats ({:.3} bits per byte)", mean / std::f64::consts::LN_2);
    assert!(mean < 1.0, "loss {mean}");
}

//! `golden --device cpu|cuda --out DIR`: the engine's half of the golden check against
//! PyTorch (`benches/reference/sparse_transformer.py`).
//!
//! For every pattern and integration mode it builds a small Sparse Transformer (half-size QK,
//! three blocks so interleave uses both parts), runs one forward and backward pass in f32
//! without dropout, and writes `DIR/<case>.safetensors` with the weights (by their stable
//! names), the input bytes, the logits, the loss and every parameter gradient (`grad.<name>`);
//! the metadata holds the configuration. The PyTorch script rebuilds the same model from the
//! metadata, loads the same weights, and compares.

use model::io::save_tensors;
use model::layers::Linear;
use model::params::ParamSpec;
use model::pattern::{Factorization, Integration};
use model::{Config, Positions, Transformer};
use std::collections::HashMap;
use std::path::PathBuf;
use tensor::{DType, Device, Tensor};

fn cases() -> Vec<(&'static str, Config)> {
    let base = Config { n_ctx: 32, d_model: 32, d_qk: 16, heads: 4, layers: 3, ff_mult: 4, dropout: 0.0, ..Config::tiny() };
    let strided = Factorization::Strided { stride: 8 };
    let fixed = Factorization::Fixed { block: 8, summary: 2 };
    let mut v = vec![
        ("dense", Config { pattern: Factorization::Dense, positions: Positions::Text { stride: 8 }, ..base.clone() }),
        ("dense_image_positions", Config { pattern: Factorization::Dense, positions: Positions::Image { height: 4, width: 4, channels: 2 }, ff_mult: 2, ..base.clone() }),
    ];
    for (pname, p) in [("strided", strided), ("fixed", fixed)] {
        for (iname, i) in [("interleave", Integration::Interleave), ("merged", Integration::Merged), ("multihead", Integration::MultiHead)] {
            let name: &'static str = Box::leak(format!("{pname}_{iname}").into_boxed_str());
            v.push((name, Config { pattern: p, integration: i, positions: Positions::Text { stride: 8 }, ..base.clone() }));
        }
    }
    v
}

fn metadata(c: &Config) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("n_ctx", c.n_ctx.to_string());
    put("d_model", c.d_model.to_string());
    put("d_qk", c.d_qk.to_string());
    put("heads", c.heads.to_string());
    put("layers", c.layers.to_string());
    put("ff_mult", c.ff_mult.to_string());
    put("vocab", c.vocab.to_string());
    match c.pattern {
        Factorization::Dense => put("pattern", "dense".into()),
        Factorization::Strided { stride } => {
            put("pattern", "strided".into());
            put("stride", stride.to_string());
        }
        Factorization::Fixed { block, summary } => {
            put("pattern", "fixed".into());
            put("block", block.to_string());
            put("summary", summary.to_string());
        }
    }
    put("integration", format!("{:?}", c.integration).to_lowercase());
    match c.positions {
        Positions::Text { stride } => put("positions", format!("text:{stride}")),
        Positions::Image { height, width, channels } => put("positions", format!("image:{height}:{width}:{channels}")),
    }
    m
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let device = match arg("--device").as_deref() {
        Some("cuda") => Device::Cuda(0),
        _ => Device::Cpu,
    };
    let out = PathBuf::from(arg("--out").unwrap_or_else(|| "golden".into()));
    std::fs::create_dir_all(&out)?;
    for (name, config) in cases() {
        let mut model = Transformer::new(config.clone(), DType::F32, device)?;
        // The paper zero-initialises the logits; random ones make every gradient non-zero.
        let spec = ParamSpec { seed: 7, dtype: DType::F32, device };
        model.head = Linear::new(&spec, "head", config.d_model, config.vocab, 0.3)?;
        let ids: Vec<i32> = (0..2 * (config.n_ctx + 1)).map(|i| ((i * 89 + 17) % 256) as i32).collect();
        let ids = Tensor::from_vec(ids, &[2, config.n_ctx + 1], device)?;
        let (b, t) = (2, config.n_ctx);
        let logits = model.forward(&ids.narrow(1, 0, t)?.contiguous()?)?;
        let targets = ids.narrow(1, 1, t)?.contiguous()?.reshape(&[b * t])?;
        let loss = logits.reshape(&[b * t, config.vocab])?.cross_entropy(&targets)?;
        let grads = loss.backward()?;
        let mut tensors: Vec<(String, Tensor)> = vec![
            ("input_ids".into(), ids.clone()),
            ("logits".into(), logits.value().clone()),
            ("loss".into(), loss.value().clone()),
        ];
        for p in model.params() {
            let g = grads.get(&p.var).ok_or_else(|| anyhow::anyhow!("{name}: no gradient for {}", p.name))?.clone();
            tensors.push((format!("grad.{}", p.name), g));
            tensors.push((p.name.clone(), p.var.value().clone()));
        }
        let path = out.join(format!("{name}.safetensors"));
        save_tensors(&path, &tensors, metadata(&config))?;
        println!("{name:<24} loss {:.6}  -> {}", loss.value().to_scalar_f64()?, path.display());
    }
    Ok(())
}

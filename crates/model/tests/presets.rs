//! The presets' parameter counts, printed and checked against the paper (within 5%), and the
//! analytic count checked against a built model.

use model::pattern::{Factorization, Integration};
use model::{Config, Positions, Transformer};
use tensor::{DType, Device};

#[test]
fn preset_parameter_counts_match_the_paper() {
    let paper = [("cifar10", 59e6), ("enwik8", 95e6), ("imagenet64", 152e6), ("audio65536", 152e6), ("audio262144", 25e6), ("audio1048576", 3e6)];
    for (name, want) in paper {
        let c = Config::preset(name).unwrap();
        c.validate().unwrap();
        let got = c.param_count() as f64;
        let off = (got - want) / want;
        println!("{name:<14} {:>6.1}M parameters (paper {:>5.0}M, {:+.1}%)", got / 1e6, want / 1e6, 100.0 * off);
        assert!(off.abs() <= 0.05, "{name}: {got} vs {want}");
    }
}

#[test]
fn analytic_count_equals_the_built_model() {
    let image = Config {
        n_ctx: 48,
        d_model: 32,
        d_qk: 16,
        heads: 2,
        layers: 3,
        ff_mult: 2,
        pattern: Factorization::Fixed { block: 12, summary: 3 },
        integration: Integration::Interleave,
        positions: Positions::Image { height: 4, width: 4, channels: 3 },
        ..Config::tiny()
    };
    for c in [Config::tiny(), image] {
        let m = Transformer::new(c.clone(), DType::F32, Device::Cpu).unwrap();
        let built: usize = m.params().iter().map(|p| p.var.value().numel()).sum();
        assert_eq!(built, c.param_count());
    }
}

//! Mixed precision in the training loop, on the CPU (half-precision storage, fp32 compute):
//! bf16 follows the fp32 trajectory closely; fp16 started with an absurd loss scale skips the
//! overflowing steps, backs the scale off, and then learns.

use std::path::Path;
use tensor::Device;
use trainer::config::RunConfig;

fn config(precision: &str, extra: &str) -> RunConfig {
    let text = format!("[model]\npreset = \"tiny\"\nn_ctx = 32\n[data]\nkind = \"embedded\"\n[train]\nsteps = 40\nbatch = 8\nlr = 3e-3\nwarmup = 5\neval_every = 1000\nprecision = \"{precision}\"\n{extra}");
    RunConfig::parse(Path::new("mixed.toml"), &text, &[]).unwrap()
}

fn run(cfg: &RunConfig, name: &str) -> (Vec<f64>, String) {
    let dir = std::env::temp_dir().join(format!("trainer-mp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let losses = trainer::run::train(cfg, &dir, None, Device::Cpu, None, &mut |_| {}).unwrap();
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (losses, metrics)
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

#[test]
fn bf16_follows_fp32() {
    let (fp32, _) = run(&config("fp32", ""), "fp32");
    let (bf16, _) = run(&config("bf16", ""), "bf16");
    let (a, b) = (mean(&fp32[30..]), mean(&bf16[30..]));
    assert!(b < mean(&bf16[..5]) - 1.0, "bf16 did not learn: {bf16:?}");
    assert!((a - b).abs() / a < 0.05, "last 10 steps: fp32 {a:.4}, bf16 {b:.4}");
}

#[test]
fn fp16_skips_overflowing_steps_and_recovers() {
    let (losses, metrics) = run(&config("fp16", "loss_scale = 16777216.0"), "fp16");
    let skipped = metrics.matches("\"skipped\": true").count();
    assert!(skipped >= 1, "no step was skipped:\n{metrics}");
    assert!(skipped < 30, "too many skipped steps ({skipped}):\n{metrics}");
    let last_scale: f64 = metrics.lines().last().unwrap().split("\"loss_scale\": ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(last_scale < 16777216.0, "the scale never backed off");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(mean(&losses[35..]) < mean(&losses[..5]) - 0.5, "fp16 did not learn: {losses:?}");
}

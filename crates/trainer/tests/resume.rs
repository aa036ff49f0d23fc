//! Checkpoints: a run stopped after k steps and resumed continues exactly like an
//! uninterrupted 2k-step run (CPU, bit for bit, with dropout); SIGKILL in the middle of a
//! checkpoint write leaves the previous checkpoint intact and loadable.

use std::path::{Path, PathBuf};
use tensor::Device;
use trainer::config::RunConfig;

const CONFIG: &str = r#"
[model]
preset = "tiny"
n_ctx = 32
dropout = 0.1
[data]
kind = "embedded"
[train]
steps = 12
batch = 4
lr = 3e-3
warmup = 3
accumulate = 2
checkpoint_every = 6
"#;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn resumed_run_equals_uninterrupted_run_bit_for_bit() {
    let cfg = RunConfig::parse(Path::new("resume.toml"), CONFIG, &[]).unwrap();
    let whole = trainer::run::train(&cfg, &temp("whole"), None, Device::Cpu, None, &mut |_| {}).unwrap();
    let dir = temp("split");
    let first = trainer::run::train(&cfg, &dir, None, Device::Cpu, Some(6), &mut |_| {}).unwrap();
    let ckpt = trainer::run::latest_checkpoint(&dir).unwrap();
    assert!(ckpt.ends_with(trainer::checkpoint::name(6)));
    let second = trainer::run::train(&cfg, &dir, Some(&ckpt), Device::Cpu, None, &mut |_| {}).unwrap();
    let resumed: Vec<f64> = first.into_iter().chain(second).collect();
    assert_eq!(whole.len(), 12);
    // The final evaluation (step 12) was the best, and is recorded and kept.
    assert!(trainer::checkpoint::best(&dir).is_some_and(|b| b.ends_with(trainer::checkpoint::name(12))));
    let same = whole.iter().zip(&resumed).all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "uninterrupted {whole:?}\nresumed      {resumed:?}");
}

#[test]
fn sigkill_during_checkpoint_writes_leaves_the_previous_one_loadable() {
    use model::{Config, Transformer};
    use tensor::DType;
    for (round, delay_ms) in [(0, 37u64), (1, 113), (2, 251)] {
        let dir = temp(&format!("kill{round}"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trainer")).arg("checkpoint-stress").arg(&dir).spawn().unwrap();
        // Wait for a first complete checkpoint, then kill at some point of a later write.
        let t0 = std::time::Instant::now();
        while trainer::checkpoint::list(&dir).is_empty() {
            assert!(t0.elapsed().as_secs() < 60, "no checkpoint written");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let latest = trainer::run::latest_checkpoint(&dir).unwrap();
        let config = Config { d_model: 256, d_qk: 256, layers: 8, heads: 4, ..Config::tiny() };
        let model = Transformer::new(Config { seed: 77, ..config }, DType::F32, Device::Cpu).unwrap();
        let mut opt = trainer::optim::AdamW::new(model.params(), trainer::optim::AdamConfig::default()).unwrap();
        let state = trainer::checkpoint::load(&latest, &model, &mut opt).unwrap_or_else(|e| panic!("round {round}: {} does not load: {e}", latest.display()));
        assert!(state.step >= 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

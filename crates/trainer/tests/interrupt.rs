//! Ctrl-C (SIGINT) during training: the trainer finishes the step, writes a checkpoint of
//! exactly the last logged step, exits with status 0, and the run resumes from there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn sigint_saves_a_checkpoint_and_exits_cleanly() {
    let dir = std::env::temp_dir().join(format!("trainer-sigint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("run.toml");
    std::fs::write(&config, "[model]\npreset = \"tiny\"\nn_ctx = 32\n[data]\nkind = \"embedded\"\n[train]\nsteps = 100000\nbatch = 4\nlr = 1e-3\neval_every = 100000\ncheckpoint_every = 100000\n").unwrap();
    let run = dir.join("run");
    let trainer = env!("CARGO_BIN_EXE_trainer");
    let mut child = std::process::Command::new(trainer)
        .args(["train", "--device", "cpu", "--config"])
        .arg(&config)
        .arg("--run")
        .arg(&run)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let metrics = run.join("metrics.jsonl");
    let t0 = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |m| m.lines().count()) < 5 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no training steps logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "the trainer exited with {exit:?}");
    let last_step = std::fs::read_to_string(&metrics).unwrap().lines().last().unwrap().split("\"step\": ").nth(1).unwrap().split(',').next().unwrap().parse::<u64>().unwrap();
    let latest: PathBuf = trainer::run::latest_checkpoint(&run).unwrap();
    assert!(latest.ends_with(trainer::checkpoint::name(last_step)), "{} for last step {last_step}", latest.display());
    // And it resumes: one more step from there.
    let out = std::process::Command::new(trainer)
        .args(["train", "--device", "cpu", "--config"])
        .arg(&config)
        .arg("--resume")
        .arg(&run)
        .args(["--set", &format!("train.steps={}", last_step + 1)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(trainer::run::latest_checkpoint(&run).unwrap().ends_with(trainer::checkpoint::name(last_step + 1)));
    std::fs::remove_dir_all(dir).unwrap();
}

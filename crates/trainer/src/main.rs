//! `cargo run --release -p trainer`: with no arguments, trains the tiny model on the embedded
//! corpus (the project's own source code) on the CPU, printing a step log and a sample.
//!
//! `trainer train --config FILE [--set section.key=value]... [--run DIR] [--resume RUN_DIR]
//! [--device cpu|cuda[:N]]` trains a configured run (see `configs/`), writing checkpoints to
//! the run folder; `--resume` continues the same trajectory from the run's newest checkpoint.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use autograd::rng;
use model::{Config, Transformer};
use std::time::Instant;
use tensor::{DType, Device};
use trainer::{batches, eval, optim, sample, schedule};

#[derive(Parser)]
#[command(name = "trainer", about = "Train Sparse Transformers", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train from a configuration file.
    Train {
        #[arg(long)]
        config: PathBuf,
        /// Override a configuration value: `--set train.lr=3e-4` (repeatable).
        #[arg(long = "set")]
        set: Vec<String>,
        /// The run folder (checkpoints, logs); default runs/<config name>.
        #[arg(long)]
        run: Option<PathBuf>,
        /// Continue the run in this folder from its newest checkpoint.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Bits per byte of a checkpoint over a whole split.
    Eval {
        /// A checkpoint folder (runs/NAME/checkpoints/step-...), or a run folder (its newest).
        #[arg(long)]
        checkpoint: PathBuf,
        /// valid or test.
        #[arg(long, default_value = "valid")]
        split: String,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Check a configured dataset before a long run: open every split, report its size and
    /// draw one training batch.
    CheckData {
        #[arg(long)]
        config: PathBuf,
        #[arg(long = "set")]
        set: Vec<String>,
    },
    /// (Tests) write checkpoints of a mid-sized model to DIR forever.
    #[command(hide = true)]
    CheckpointStress { dir: PathBuf },
}

fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        _ => Device::Cuda(s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).with_context(|| format!("--device {s:?}: expected cpu, cuda or cuda:N"))?),
    })
}

fn main() -> Result<()> {
    match Cli::parse().command {
        None => default_run(),
        Some(Command::Train { config, set, run, resume, device }) => {
            let cfg = trainer::config::RunConfig::load(&config, &set)?;
            let run_dir = resume.clone().or(run).unwrap_or_else(|| PathBuf::from("runs").join(config.file_stem().unwrap_or_default()));
            let from = match &resume {
                Some(dir) => Some(trainer::run::latest_checkpoint(dir)?),
                None => None,
            };
            if let Some(f) = &from {
                println!("resuming from {}", f.display());
            }
            let device = parse_device(&device)?;
            if let Device::Cuda(i) = device {
                kernels::cuda::Gpu::get(i)?.reset_peak_used()?;
            }
            println!("{:>7} | {:>7} | {:>6} | {:>8} | {:>9} | {:>9}", "step", "loss", "bpb", "ms", "tok/s", "lr");
            trainer::run::train(&cfg, &run_dir, from.as_deref(), device, None, &mut |l| {
                println!("{:>7} | {:>7.4} | {:>6.3} | {:>8.1} | {:>9.0} | {:>9.2e}", l.step, l.loss, l.loss / std::f64::consts::LN_2, l.ms, l.tokens_per_s, l.lr);
            })?;
            if let Device::Cuda(i) = device {
                let gpu = kernels::cuda::Gpu::get(i)?;
                gpu.synchronize()?;
                println!("peak device memory {:.2} GiB on {}", gpu.peak_used_bytes()? as f64 / (1u64 << 30) as f64, gpu.name);
            }
            println!("checkpoints in {}", run_dir.join("checkpoints").display());
            Ok(())
        }
        Some(Command::Eval { checkpoint, split, device }) => {
            let dir = if checkpoint.join("state.toml").exists() { checkpoint } else { trainer::run::latest_checkpoint(&checkpoint)? };
            let cfg = trainer::config::RunConfig::load(&dir.join("config.toml"), &[])?;
            let split = match split.as_str() {
                "valid" => datasets::Split::Valid,
                "test" => datasets::Split::Test,
                other => anyhow::bail!("--split {other:?}: expected valid or test"),
            };
            let device = parse_device(&device)?;
            let model = Transformer::new(cfg.model_config(), DType::F32, device)?;
            model.load(&dir.join("model.safetensors"))?;
            let data = trainer::eval::open(&cfg, split)?;
            let t0 = std::time::Instant::now();
            let bpb = trainer::eval::bits_per_byte(&model, &data, None, device)?;
            println!("{}: {split:?} bits per byte {bpb:.4} ({:.1} s)", dir.display(), t0.elapsed().as_secs_f64());
            Ok(())
        }
        Some(Command::CheckData { config, set }) => {
            let cfg = trainer::config::RunConfig::load(&config, &set)?;
            let n = cfg.model_config().n_ctx;
            for split in [datasets::Split::Train, datasets::Split::Valid, datasets::Split::Test] {
                match trainer::eval::open(&cfg, split)? {
                    trainer::eval::EvalData::Streams(s) => {
                        let bytes: usize = s.iter().map(|x| x.len()).sum();
                        println!("{split:?}: {} stream(s), {bytes} bytes, {} windows of {}", s.len(), s.iter().map(|x| x.eval_windows(n + 1).count()).sum::<usize>(), n + 1);
                    }
                    trainer::eval::EvalData::Images(i) => println!("{split:?}: {} images of {}x{}", i.len(), i.height, i.width),
                }
            }
            let batch = trainer::run::open_training_data(&cfg)?.batch(cfg.train.batch, n, cfg.train.seed, 0, Device::Cpu)?;
            println!("a training batch: {:?} bytes; data OK", batch.shape());
            Ok(())
        }
        Some(Command::CheckpointStress { dir }) => checkpoint_stress(&dir),
    }
}

/// Saves checkpoints of a ~6M-parameter model, step after step, until killed.
fn checkpoint_stress(dir: &std::path::Path) -> Result<()> {
    let config = Config { d_model: 256, d_qk: 256, layers: 8, heads: 4, ..Config::tiny() };
    let model = Transformer::new(config, DType::F32, Device::Cpu)?;
    let opt = optim::AdamW::new(model.params(), optim::AdamConfig::default())?;
    for step in 1.. {
        let state = trainer::checkpoint::TrainerState { step, rng_seed: 1, rng_counter: step, loss_scale: 1.0, best_valid_bpb: None };
        trainer::checkpoint::save(dir, &model, &opt, &state, "")?;
        trainer::checkpoint::prune(dir, 2, None)?;
    }
    Ok(())
}

fn default_run() -> Result<()> {
    let config = Config::tiny();
    let (steps, batch, peak_lr, warmup) = (1000u64, 16usize, 3e-3, 50u64);
    let (train, valid, _) = datasets::embedded::splits();
    let model = Transformer::new(config.clone(), DType::F32, Device::Cpu)?;
    let params = model.params();
    let n_params: usize = params.iter().map(|p| p.var.value().numel()).sum();
    println!("tiny model: {} layers, d={}, {} heads, n_ctx={}, {n_params} parameters", config.layers, config.d_model, config.heads, config.n_ctx);
    println!("embedded corpus: {} train / {} valid bytes (this project's own source)", train.len(), valid.len());
    let eval_windows = 64;
    println!("valid bits/byte at start: {:.3}", eval::bits_per_byte_of(&model, valid, eval_windows)?);

    let mut opt = optim::AdamW::new(params.clone(), optim::AdamConfig::default())?;
    rng::manual_seed(config.seed);
    println!("{:>5} | {:>7} | {:>6} | {:>7} | {:>8}", "step", "loss", "bpb", "ms", "tok/s");
    let t_start = Instant::now();
    for step in 0..steps {
        let t0 = Instant::now();
        let ids = batches::random_crops(train, batch, config.n_ctx + 1, config.seed, step, Device::Cpu)?;
        let loss = model.loss(&ids)?;
        let mut grads = loss.backward()?;
        optim::clip_grad_norm(&params, &mut grads, 1.0)?;
        opt.step(&grads, schedule::lr_at(step, peak_lr, warmup, steps, 0.1))?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if step % 100 == 0 || step + 1 == steps {
            let l = loss.value().to_scalar_f64()?;
            let tok_s = (batch * config.n_ctx) as f64 / (ms / 1e3);
            println!("{step:>5} | {l:>7.4} | {:>6.3} | {ms:>7.1} | {tok_s:>8.0}", l / std::f64::consts::LN_2);
        }
    }
    println!("trained {steps} steps in {:.1} s", t_start.elapsed().as_secs_f64());
    println!("valid bits/byte at end: {:.3}", eval::bits_per_byte_of(&model, valid, eval_windows)?);
    let prompt = b"impl Tensor {\n    pub fn ";
    let text = sample::generate(&model, prompt, 200, 0.8, 7)?;
    println!("sample:\n{}{}", String::from_utf8_lossy(prompt), String::from_utf8_lossy(&text));
    Ok(())
}

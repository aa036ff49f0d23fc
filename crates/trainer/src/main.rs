//! `cargo run --release -p trainer`: with no arguments, trains the tiny preset on the embedded
//! corpus (this project's own source code) on the best device present, into a new run folder
//! under `runs/`, and prints a sample at the end.
//!
//! Subcommands:
//! - `train --config FILE [--data PATH] [--device auto|cpu|cuda[:N]] [--resume RUN_DIR]
//!   [--run DIR] [--set section.key=value]...`: a configured run (see `configs/`);
//! - `eval --checkpoint PATH --split valid|test`: bits per byte over a whole split;
//! - `sample --checkpoint PATH [--count N] [--temperature T] [--out DIR]`: text, PNG or WAV;
//! - `check-data --config FILE`: open every split of a dataset before a long run.
//!
//! Ctrl-C stops a run after the current step and writes a checkpoint (twice: quit at once).

mod progress;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use tensor::Device;
use trainer::config::RunConfig;
use trainer::sample::SampleOptions;

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
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The run folder (checkpoints, logs); default a new runs/<config name>[-N].
        #[arg(long)]
        run: Option<PathBuf>,
        /// Continue the run in this folder from its newest checkpoint.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// auto (a GPU if one works, else the CPU), cpu, cuda or cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Bits per byte of a checkpoint over a whole split.
    Eval {
        /// A checkpoint folder (runs/NAME/checkpoints/step-...), or a run folder (its best,
        /// else its newest).
        #[arg(long)]
        checkpoint: PathBuf,
        /// valid or test.
        #[arg(long, default_value = "valid")]
        split: String,
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Generate from a checkpoint: text (terminal and .txt), images (a PNG grid) or audio (WAV).
    Sample {
        /// A checkpoint folder, or a run folder (its best, else its newest).
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value_t = 4)]
        count: usize,
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        /// Where to write the samples; default CHECKPOINT/samples.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Text: the prompt (default: the start of the validation split).
        #[arg(long)]
        prompt: Option<String>,
        /// Bytes per sample for text and audio (images are always whole).
        #[arg(long)]
        length: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// Check a configured dataset before a long run: open every split, report its size and
    /// draw one training batch.
    CheckData {
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// (Tests) write checkpoints of a mid-sized model to DIR forever.
    #[command(hide = true)]
    CheckpointStress { dir: PathBuf },
}

/// A run configuration as the command line gives it.
#[derive(clap::Args)]
struct ConfigArgs {
    #[arg(long)]
    config: PathBuf,
    /// The dataset's file or folder (overrides `data.path`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Override a configuration value: `--set train.lr=3e-4` (repeatable).
    #[arg(long = "set")]
    set: Vec<String>,
}

impl ConfigArgs {
    /// The config with `--data` folded into the overrides.
    fn load(&self) -> Result<RunConfig> {
        let mut overrides = self.set.clone();
        if let Some(d) = &self.data {
            overrides.push(format!("data.path={:?}", d.display().to_string()));
        }
        Ok(RunConfig::load(&self.config, &overrides)?)
    }
}

/// `auto` picks CUDA device 0 when it works (driver, libraries, a device), else the CPU.
fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "auto" => match kernels::cuda::Gpu::get(0) {
            Ok(gpu) => {
                println!("device: cuda:0 ({})", gpu.name);
                Device::Cuda(0)
            }
            Err(e) => {
                println!("device: cpu ({e})");
                Device::Cpu
            }
        },
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        _ => Device::Cuda(s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).with_context(|| format!("--device {s:?}: expected auto, cpu, cuda or cuda:N"))?),
    })
}

/// `base` if it is free, else `base-2`, `base-3`, ...: a new run never mixes with an old one.
fn fresh_run_dir(base: PathBuf) -> PathBuf {
    let taken = |p: &Path| p.read_dir().map(|mut d| d.next().is_some()).unwrap_or(false);
    if !taken(&base) {
        return base;
    }
    (2..).map(|i| PathBuf::from(format!("{}-{i}", base.display()))).find(|p| !taken(p)).expect("some free name")
}

/// A checkpoint folder itself, or a run folder's best (else newest) checkpoint.
fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join("state.toml").exists() {
        return Ok(path.to_path_buf());
    }
    match trainer::checkpoint::best(path) {
        Some(best) => Ok(best),
        None => Ok(trainer::run::latest_checkpoint(path)?),
    }
}

fn main() -> Result<()> {
    match Cli::parse().command {
        None => default_run(),
        Some(Command::Train { cfg: args, run, resume, device }) => {
            let cfg = args.load()?;
            let name = args.config.file_stem().unwrap_or_default();
            let run_dir = match (&resume, run) {
                (Some(dir), _) => dir.clone(),
                (None, Some(dir)) => dir,
                (None, None) => fresh_run_dir(PathBuf::from("runs").join(name)),
            };
            train(&cfg, &run_dir, resume.is_some(), parse_device(&device)?)?;
            Ok(())
        }
        Some(Command::Eval { checkpoint, split, device }) => {
            let dir = resolve_checkpoint(&checkpoint)?;
            let split = match split.as_str() {
                "valid" => datasets::Split::Valid,
                "test" => datasets::Split::Test,
                other => anyhow::bail!("--split {other:?}: expected valid or test"),
            };
            let device = parse_device(&device)?;
            let (model, cfg) = trainer::sample::load_checkpoint(&dir, device)?;
            let data = trainer::eval::open(&cfg, split)?;
            let t0 = std::time::Instant::now();
            let bpb = trainer::eval::bits_per_byte(&model, &data, None, cfg.train.batch, device)?;
            println!("{}: {split:?} bits per byte {bpb:.4} ({:.1} s)", dir.display(), t0.elapsed().as_secs_f64());
            Ok(())
        }
        Some(Command::Sample { checkpoint, count, temperature, out, prompt, length, seed, device }) => {
            let dir = resolve_checkpoint(&checkpoint)?;
            let device = parse_device(&device)?;
            let (model, cfg) = trainer::sample::load_checkpoint(&dir, device)?;
            let out = out.unwrap_or_else(|| dir.join("samples"));
            let opts = SampleOptions { count, temperature, seed, length, prompt: prompt.map(String::into_bytes) };
            sample(&model, &cfg, &opts, &out)
        }
        Some(Command::CheckData { cfg: args }) => {
            let cfg = args.load()?;
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

/// Trains with the progress display; on CUDA, reports the peak memory.
fn train(cfg: &RunConfig, run_dir: &Path, resume: bool, device: Device) -> Result<()> {
    let from = if resume { Some(trainer::run::latest_checkpoint(run_dir)?) } else { None };
    if let Some(f) = &from {
        println!("resuming from {}", f.display());
    }
    // A second Ctrl-C quits at once. Copies of one signal (a process-group kill delivers the
    // same SIGINT twice) arrive within microseconds, so only one a second or more after the
    // first counts as a second request.
    static FIRST: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ctrlc::set_handler(|| {
        let first = *FIRST.get_or_init(std::time::Instant::now);
        if trainer::run::INTERRUPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
            if first.elapsed().as_secs_f64() >= 1.0 {
                eprintln!("\ninterrupted twice: quitting without a checkpoint");
                std::process::exit(130);
            }
            return;
        }
        eprintln!("\ninterrupt: finishing this step and writing a checkpoint (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")?;
    if let Device::Cuda(i) = device {
        kernels::cuda::Gpu::get(i)?.reset_peak_used()?;
    }
    let mc = cfg.model_config();
    println!(
        "model {}: {} layers, d={}, {} heads, n_ctx={}, {} parameters; {} steps of {} x {} bytes, {:?}",
        cfg.model.preset, mc.layers, mc.d_model, mc.heads, mc.n_ctx, mc.param_count(), cfg.train.steps, cfg.train.batch * cfg.train.accumulate, mc.n_ctx, cfg.train.precision
    );
    println!("run folder {}", run_dir.display());
    let mut progress = progress::Progress::new(cfg.train.steps, cfg.train.log_every);
    let t0 = std::time::Instant::now();
    trainer::run::train(cfg, run_dir, from.as_deref(), device, None, &mut |l| progress.step(l))?;
    progress.finish();
    println!("{:.1} s", t0.elapsed().as_secs_f64());
    if let Device::Cuda(i) = device {
        let gpu = kernels::cuda::Gpu::get(i)?;
        gpu.synchronize()?;
        println!("peak device memory {:.2} GiB on {}", gpu.peak_used_bytes()? as f64 / (1u64 << 30) as f64, gpu.name);
    }
    if trainer::run::INTERRUPT.load(std::sync::atomic::Ordering::SeqCst) {
        println!("stopped by Ctrl-C; continue with --resume {}", run_dir.display());
    }
    println!("checkpoints in {}", run_dir.join("checkpoints").display());
    Ok(())
}

fn sample(model: &model::Transformer, cfg: &RunConfig, opts: &SampleOptions, out: &Path) -> Result<()> {
    let t0 = std::time::Instant::now();
    let written = trainer::sample::write_samples(model, cfg, opts, out)?;
    for (i, text) in written.texts.iter().enumerate() {
        println!("--- sample {i} ---\n{text}");
    }
    println!("--- {} sample(s) in {:.1} s, written to {}", opts.count, t0.elapsed().as_secs_f64(), out.display());
    for f in &written.files {
        println!("    {}", f.display());
    }
    Ok(())
}

/// Saves checkpoints of a ~6M-parameter model, step after step, until killed.
fn checkpoint_stress(dir: &Path) -> Result<()> {
    use trainer::checkpoint::TrainerState;
    let config = model::Config { d_model: 256, d_qk: 256, layers: 8, heads: 4, ..model::Config::tiny() };
    let model = model::Transformer::new(config, tensor::DType::F32, Device::Cpu)?;
    let opt = trainer::optim::AdamW::new(model.params(), trainer::optim::AdamConfig::default())?;
    for step in 1.. {
        let state = TrainerState { step, rng_counter: step, ..TrainerState::fresh(1, 1.0) };
        trainer::checkpoint::save(dir, &model, &opt, &state, "")?;
        trainer::checkpoint::prune(dir, 2, None)?;
    }
    Ok(())
}

/// The run of `configs/tiny.toml` (built in), then a text sample from its best checkpoint.
fn default_run() -> Result<()> {
    let cfg = RunConfig::parse(Path::new("configs/tiny.toml"), include_str!("../../../configs/tiny.toml"), &[])?;
    println!("No arguments: training the tiny model on the embedded corpus (this project's own source).");
    println!("See `trainer --help` for configured runs (configs/).");
    let device = parse_device("auto")?;
    let run_dir = fresh_run_dir(PathBuf::from("runs").join("tiny"));
    train(&cfg, &run_dir, false, device)?;
    let best = resolve_checkpoint(&run_dir)?;
    let (model, cfg) = trainer::sample::load_checkpoint(&best, device)?;
    let opts = SampleOptions { count: 1, temperature: 0.8, seed: 7, length: Some(400), prompt: Some(b"impl Tensor {\n    pub fn ".to_vec()) };
    println!("sampling from {}", best.display());
    sample(&model, &cfg, &opts, &run_dir.join("samples"))
}

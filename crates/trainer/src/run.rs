//! The training loop shared by the CLI and the tests: data, model, AdamW with warm-up and
//! cosine decay, gradient accumulation and clipping, checkpoints every `checkpoint_every`
//! steps (and at the end), and exact resumption.
//!
//! A resumed run continues the same trajectory: batches are a pure function of
//! `(seed, step)`, the dropout seed stream is restored from the checkpoint, and so are the
//! weights and the Adam moments.

use crate::checkpoint::{self, TrainerState};
use crate::config::RunConfig;
use crate::optim::{clip_grad_norm, AdamConfig, AdamW};
use crate::{schedule, Error, Result};
use autograd::rng;
use datasets::audio::Tracks;
use datasets::{ByteStream, ImageSet};
use model::Transformer;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tensor::{DType, Device, Tensor};

/// Where training batches come from.
pub enum Source {
    /// Text: random crops of `n_ctx + 1` bytes.
    Stream(ByteStream),
    /// Images: a start byte (0) then the image, so that every pixel is predicted.
    Images(ImageSet),
    /// Audio: random windows of `n_ctx + 1` bytes inside one recording.
    Audio(Tracks),
}

impl Source {
    /// A `[batch, n_ctx + 1]` u8 batch for `step`.
    pub fn batch(&self, batch: usize, n_ctx: usize, seed: u64, step: u64, device: Device) -> Result<Tensor> {
        let short = |what: &str| Error::Invalid(format!("the {what} is shorter than one window of {} bytes", n_ctx + 1));
        let bytes = match self {
            Source::Stream(s) => s.random_crops(batch, n_ctx + 1, seed, step).ok_or_else(|| short("training text"))?,
            Source::Audio(t) => t.random_windows(batch, n_ctx + 1, seed, step).ok_or_else(|| short("longest recording"))?,
            Source::Images(set) => {
                if set.example_len < n_ctx {
                    return Err(Error::Invalid(format!("images of {} bytes for a context of {n_ctx}", set.example_len)));
                }
                let images = set.random_batch(batch, seed, step);
                images.chunks_exact(set.example_len).flat_map(|img| std::iter::once(0u8).chain(img[..n_ctx].iter().copied())).collect()
            }
        };
        Ok(Tensor::from_vec(bytes, &[batch, n_ctx + 1], device)?)
    }
}

/// The training source of the configured data.
pub fn open_training_data(cfg: &RunConfig) -> Result<Source> {
    let path = cfg.data.path.clone().unwrap_or_default();
    let data = |e: datasets::Error| Error::Invalid(e.to_string());
    Ok(match cfg.data.kind.as_str() {
        "embedded" => Source::Stream(ByteStream::from_vec(datasets::embedded::splits().0.to_vec())),
        "enwik8" => Source::Stream(datasets::enwik8::load(&path).map_err(data)?.train),
        "cifar10" => Source::Images(datasets::cifar::load(&path).map_err(data)?.train),
        "imagenet64" => Source::Images(datasets::imagenet::load(&path).map_err(data)?.train),
        "audio" => Source::Audio(datasets::audio::load(&path).map_err(data)?.train),
        other => return Err(Error::Invalid(format!("unknown data kind {other:?}"))),
    })
}

/// One logged step.
#[derive(Clone, Debug)]
pub struct StepLog {
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub ms: f64,
    pub tokens_per_s: f64,
}

/// Trains `cfg` in `run_dir` (created if needed) on `device`, resuming from `resume` (a
/// checkpoint folder) if given, until `cfg.train.steps` or `stop_at` steps. Returns the loss of
/// every step taken in this call.
pub fn train(cfg: &RunConfig, run_dir: &Path, resume: Option<&Path>, device: Device, stop_at: Option<u64>, on_step: &mut dyn FnMut(&StepLog)) -> Result<Vec<f64>> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::Invalid(format!("{}: {e}", run_dir.display())))?;
    let mc = cfg.model_config();
    let t = &cfg.train;
    let data = open_training_data(cfg)?;
    let model = Transformer::new(mc.clone(), DType::F32, device)?;
    let params = model.params();
    let mut opt = AdamW::new(params.clone(), AdamConfig { weight_decay: t.weight_decay, ..AdamConfig::default() })?;
    let mut state = match resume {
        Some(dir) => checkpoint::load(dir, &model, &mut opt)?,
        None => TrainerState { step: 0, rng_seed: t.seed, rng_counter: 0, loss_scale: 1.0, best_valid_bpb: None },
    };
    rng::set_state(state.rng());
    let config_toml = cfg.to_toml();
    let valid = crate::eval::open(cfg, datasets::Split::Valid)?;
    let metrics_path = run_dir.join("metrics.jsonl");
    let mut metrics = std::fs::OpenOptions::new().create(true).append(true).open(&metrics_path).map_err(|e| Error::Invalid(format!("{}: {e}", metrics_path.display())))?;
    let end = stop_at.unwrap_or(t.steps).min(t.steps);
    let mut losses = Vec::new();
    while state.step < end {
        let t0 = Instant::now();
        let step = state.step;
        let mut grads: Option<autograd::Gradients> = None;
        let mut loss_sum = 0.0;
        for micro in 0..t.accumulate as u64 {
            let ids = data.batch(t.batch, mc.n_ctx, t.seed, step * t.accumulate as u64 + micro, device)?;
            let loss = model.loss(&ids)?;
            loss_sum += loss.value().to_scalar_f64()?;
            let g = loss.scale(1.0 / t.accumulate as f64)?.backward()?;
            grads = Some(match grads {
                None => g,
                Some(mut acc) => {
                    for p in &params {
                        if let (Some(a), Some(b)) = (acc.remove(&p.var), g.get(&p.var)) {
                            acc.insert(&p.var, a.add(b)?);
                        }
                    }
                    acc
                }
            });
        }
        let mut grads = grads.expect("at least one micro-batch");
        let grad_norm = clip_grad_norm(&params, &mut grads, t.clip)?;
        let lr = schedule::lr_at(step, t.lr, t.warmup, t.steps, 0.1);
        opt.step(&grads, lr)?;
        drop(grads);
        state.step += 1;
        let loss = loss_sum / t.accumulate as f64;
        losses.push(loss);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let log = StepLog { step: state.step, loss, lr, grad_norm, ms, tokens_per_s: (t.batch * t.accumulate * mc.n_ctx) as f64 / (ms / 1e3) };
        on_step(&log);
        let mut line = format!(
            "{{\"step\": {}, \"loss\": {}, \"bpb\": {}, \"lr\": {}, \"grad_norm\": {}, \"ms\": {:.2}, \"tokens_per_s\": {:.0}",
            log.step, log.loss, log.loss / std::f64::consts::LN_2, log.lr, log.grad_norm, log.ms, log.tokens_per_s
        );
        let mut improved = false;
        if state.step % t.eval_every == 0 || state.step == t.steps {
            // Validation runs outside the seed stream, so it never changes the trajectory.
            let saved = rng::state();
            let bpb = crate::eval::bits_per_byte(&model, &valid, None, device)?;
            rng::set_state(saved);
            line += &format!(", \"valid_bpb\": {bpb}");
            improved = state.best_valid_bpb.is_none_or(|b| bpb < b);
            if improved {
                state.best_valid_bpb = Some(bpb);
            }
        }
        line += "}\n";
        use std::io::Write;
        metrics.write_all(line.as_bytes()).map_err(|e| Error::Invalid(format!("{}: {e}", metrics_path.display())))?;
        if improved || state.step % t.checkpoint_every == 0 || state.step == end {
            let st = rng::state();
            (state.rng_seed, state.rng_counter) = (st.seed, st.counter);
            let dir = checkpoint::save(run_dir, &model, &opt, &state, &config_toml)?;
            if improved {
                checkpoint::set_best(run_dir, &dir)?;
            }
            checkpoint::prune(run_dir, t.keep, checkpoint::best(run_dir).as_deref())?;
        }
    }
    Ok(losses)
}

/// The newest complete checkpoint of a run folder.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf> {
    checkpoint::list(run_dir).pop().ok_or_else(|| Error::Invalid(format!("{}: no complete checkpoint", run_dir.display())))
}

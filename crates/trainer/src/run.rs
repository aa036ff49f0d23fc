//! The training loop shared by the CLI and the tests: data, model, AdamW with warm-up and
//! cosine decay, gradient accumulation and clipping, mixed precision with dynamic loss
//! scaling, evaluation, the loss curve, checkpoints every `checkpoint_every` steps (and at
//! the end, at each new best, and on Ctrl-C), and exact resumption.
//!
//! A resumed run continues the same trajectory: batches are a pure function of
//! `(seed, step)`, the dropout seed stream is restored from the checkpoint, and so are the
//! weights and the Adam moments.

use crate::checkpoint::{self, TrainerState};
use crate::config::{Precision, RunConfig};
use crate::loss_scale::DynamicLossScaler;
use crate::optim::{global_norm, scale_grads, AdamConfig, AdamW};
use crate::{schedule, Error, Result};
use autograd::rng;
use datasets::audio::Tracks;
use datasets::{ByteStream, ImageSet};
use model::Transformer;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Set (by the binary's Ctrl-C handler) to stop a run cleanly: the loop finishes the step
/// in progress, writes a checkpoint and returns.
pub static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// One logged step.
#[derive(Clone, Debug)]
pub struct StepLog {
    pub step: u64,
    /// The run's last step.
    pub steps: u64,
    /// Mean training loss of the step's micro-batches, nats per byte.
    pub loss: f64,
    pub lr: f64,
    /// Global gradient norm before clipping (unscaled).
    pub grad_norm: f64,
    pub ms: f64,
    pub tokens_per_s: f64,
    /// Model FLOP utilisation, on a GPU whose peak is known.
    pub mfu: Option<f64>,
    pub loss_scale: f64,
    /// The gradients overflowed: no update was made.
    pub skipped: bool,
    /// Validation bits per byte, on evaluation steps.
    pub valid_bpb: Option<f64>,
}

/// Dense peak FLOP/s of the cards we know, for MFU: NVIDIA's figures for H100/H200 SXM and
/// A100 (tensor cores for bf16/fp16; plain fp32 without TF32, which is off by default).
pub fn peak_flops(device: Device, dtype: DType) -> Option<f64> {
    let Device::Cuda(i) = device else { return None };
    let name = kernels::cuda::Gpu::get(i).ok()?.name.clone();
    let half = dtype != DType::F32;
    if name.contains("H100") || name.contains("H200") {
        Some(if half { 989.4e12 } else { 66.9e12 })
    } else if name.contains("A100") {
        Some(if half { 312e12 } else { 19.5e12 })
    } else {
        None
    }
}

/// A number for JSON: `null` for inf and NaN (an overflowing fp16 step), which JSON lacks.
fn json_num(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        "null".into()
    }
}

/// (step, bits per byte) points.
type Curve = Vec<(u64, f64)>;

/// The (step, bits per byte) series of a run's `metrics.jsonl` up to `step`: training and
/// validation. The file is rewritten without any later lines (those of a run that died after
/// its last checkpoint), so a resumed run's log continues where its state does.
fn history(path: &Path, upto: u64) -> Result<(Curve, Curve)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(&format!("\"{key}\": "))? + key.len() + 4..];
        rest[..rest.find([',', '}'])?].trim().parse().ok()
    };
    let (mut train, mut valid, mut kept) = (Vec::new(), Vec::new(), String::new());
    for line in text.lines() {
        let Some(step) = field(line, "step").map(|s| s as u64) else { continue };
        if step > upto {
            continue;
        }
        kept += line;
        kept.push('\n');
        if let Some(bpb) = field(line, "bpb") {
            train.push((step, bpb));
        }
        if let Some(bpb) = field(line, "valid_bpb") {
            valid.push((step, bpb));
        }
    }
    if kept.len() != text.len() {
        let tmp = path.with_extension("jsonl.partial");
        std::fs::write(&tmp, kept).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    }
    Ok((train, valid))
}

/// Trains `cfg` in `run_dir` (created if needed) on `device`, resuming from `resume` (a
/// checkpoint folder) if given, until `cfg.train.steps` or `stop_at` steps, or until
/// [`INTERRUPT`] is set. Returns the loss of every step taken in this call.
///
/// Each step: `accumulate` micro-batches, each `loss * scale / accumulate` back-propagated
/// (in the compute dtype, gradients arriving in fp32 on the master weights); the global norm
/// of the summed gradients, read once; if it is not finite the step is skipped and the loss
/// scale backs off, else the gradients are multiplied by `1/scale` (and the clipping factor)
/// and AdamW updates the masters. Writes `metrics.jsonl` every step, and `loss.png` and a
/// checkpoint at each evaluation.
pub fn train(cfg: &RunConfig, run_dir: &Path, resume: Option<&Path>, device: Device, stop_at: Option<u64>, on_step: &mut dyn FnMut(&StepLog)) -> Result<Vec<f64>> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::Invalid(format!("{}: {e}", run_dir.display())))?;
    let mc = cfg.model_config();
    let t = &cfg.train;
    let data = open_training_data(cfg)?;
    let mut model = Transformer::new(mc.clone(), DType::F32, device)?;
    model.set_compute_dtype(t.precision.dtype());
    let params = model.params();
    let mut opt = AdamW::new(params.clone(), AdamConfig { weight_decay: t.weight_decay, ..AdamConfig::default() })?;
    let fp16 = t.precision == Precision::Fp16;
    let mut state = match resume {
        Some(dir) => checkpoint::load(dir, &model, &mut opt)?,
        None => TrainerState::fresh(t.seed, if fp16 { t.loss_scale } else { 1.0 }),
    };
    let mut scaler = if fp16 { DynamicLossScaler::default() } else { DynamicLossScaler::fixed() };
    (scaler.scale, scaler.good_steps) = (state.loss_scale, state.loss_scale_good_steps);
    rng::set_state(state.rng());
    let config_toml = cfg.to_toml();
    let valid = crate::eval::open(cfg, datasets::Split::Valid)?;
    let metrics_path = run_dir.join("metrics.jsonl");
    if resume.is_none() {
        // A fresh run starts a fresh log.
        let _ = std::fs::remove_file(&metrics_path);
    }
    let (mut train_curve, mut valid_curve) = history(&metrics_path, state.step)?;
    let mut metrics = std::fs::OpenOptions::new().create(true).append(true).open(&metrics_path).map_err(|e| Error::Invalid(format!("{}: {e}", metrics_path.display())))?;
    let flops_per_token = mc.train_flops_per_token();
    let peak = peak_flops(device, t.precision.dtype());
    let title = format!("{} model ({:.1}M parameters) on {} data", cfg.model.preset, mc.param_count() as f64 / 1e6, cfg.data.kind);
    let end = stop_at.unwrap_or(t.steps).min(t.steps);
    // Validation runs outside the seed stream, so it never changes the trajectory.
    let validate = |model: &Transformer| -> Result<f64> {
        let saved = rng::state();
        let bpb = crate::eval::bits_per_byte(model, &valid, None, t.batch, device);
        rng::set_state(saved);
        bpb
    };
    if state.step == 0 {
        // Where the run starts from: the untrained model's validation score.
        let bpb = validate(&model)?;
        valid_curve = vec![(0, bpb)];
        let line = format!("{{\"step\": 0, \"valid_bpb\": {bpb}}}\n");
        std::io::Write::write_all(&mut metrics, line.as_bytes()).map_err(|e| Error::Invalid(format!("{}: {e}", metrics_path.display())))?;
        let log = StepLog { step: 0, steps: t.steps, loss: f64::NAN, lr: 0.0, grad_norm: 0.0, ms: 0.0, tokens_per_s: 0.0, mfu: None, loss_scale: scaler.scale, skipped: false, valid_bpb: Some(bpb) };
        on_step(&log);
    }
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
            let g = loss.scale(scaler.scale / t.accumulate as f64)?.backward()?;
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
        let grad_norm = global_norm(&params, &grads)? / scaler.scale;
        let lr = schedule::lr_at(step, t.lr, t.warmup, t.steps, 0.1);
        let scale_used = scaler.scale;
        let take = scaler.update(grad_norm.is_finite());
        if take {
            let clip = if grad_norm > t.clip { t.clip / (grad_norm + 1e-6) } else { 1.0 };
            scale_grads(&params, &mut grads, clip / scale_used)?;
            opt.step(&grads, lr)?;
        } else {
            state.skipped_steps += 1;
        }
        drop(grads);
        state.step += 1;
        (state.loss_scale, state.loss_scale_good_steps) = (scaler.scale, scaler.good_steps);
        let loss = loss_sum / t.accumulate as f64;
        losses.push(loss);
        let bpb = loss / std::f64::consts::LN_2;
        train_curve.push((state.step, bpb));
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let tokens_per_s = (t.batch * t.accumulate * mc.n_ctx) as f64 / (ms / 1e3);
        let mut log = StepLog {
            step: state.step,
            steps: t.steps,
            loss,
            lr,
            grad_norm,
            ms,
            tokens_per_s,
            mfu: peak.map(|p| tokens_per_s * flops_per_token / p),
            loss_scale: scale_used,
            skipped: !take,
            valid_bpb: None,
        };
        let mut line = format!(
            "{{\"step\": {}, \"loss\": {}, \"bpb\": {}, \"lr\": {}, \"grad_norm\": {}, \"ms\": {:.2}, \"tokens_per_s\": {:.0}",
            log.step,
            json_num(log.loss),
            json_num(bpb),
            log.lr,
            json_num(log.grad_norm),
            log.ms,
            log.tokens_per_s
        );
        if let Some(m) = log.mfu {
            line += &format!(", \"mfu\": {m:.4}");
        }
        if fp16 {
            line += &format!(", \"loss_scale\": {scale_used}, \"skipped\": {}", !take);
        }
        let interrupted = INTERRUPT.load(Ordering::Relaxed);
        let mut improved = false;
        if state.step % t.eval_every == 0 || state.step == t.steps {
            let bpb = validate(&model)?;
            line += &format!(", \"valid_bpb\": {bpb}");
            log.valid_bpb = Some(bpb);
            valid_curve.push((state.step, bpb));
            improved = state.best_valid_bpb.is_none_or(|b| bpb < b);
            if improved {
                state.best_valid_bpb = Some(bpb);
            }
            crate::plot::loss_curve(&run_dir.join("loss.png"), &title, &train_curve, &valid_curve)?;
        }
        line += "}\n";
        use std::io::Write;
        metrics.write_all(line.as_bytes()).map_err(|e| Error::Invalid(format!("{}: {e}", metrics_path.display())))?;
        on_step(&log);
        if improved || interrupted || state.step % t.checkpoint_every == 0 || state.step == end {
            let st = rng::state();
            (state.rng_seed, state.rng_counter) = (st.seed, st.counter);
            let dir = checkpoint::save(run_dir, &model, &opt, &state, &config_toml)?;
            if improved {
                checkpoint::set_best(run_dir, &dir)?;
            }
            checkpoint::prune(run_dir, t.keep, checkpoint::best(run_dir).as_deref())?;
        }
        if interrupted {
            break;
        }
    }
    Ok(losses)
}

/// The newest complete checkpoint of a run folder.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf> {
    checkpoint::list(run_dir).pop().ok_or_else(|| Error::Invalid(format!("{}: no complete checkpoint", run_dir.display())))
}

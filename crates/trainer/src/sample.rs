//! Sampling: autoregressive generation with cached keys and values
//! ([`model::decode`]), and writing the samples in their medium: text to the terminal and
//! `.txt` files, images to a PNG grid, audio to 16-bit WAV files.
//!
//! `count` sequences are generated together, as one batch. Each step feeds one byte per
//! sequence and draws the next from `softmax(logits / temperature)` (temperature 0: the
//! most likely byte) with a counter-based random stream, so a seed gives the same samples on
//! any device. A text longer than the context continues from the last half of its window.

use crate::config::RunConfig;
use crate::{Error, Result};
use kernels::philox;
use model::{Positions, Transformer};
use std::path::{Path, PathBuf};
use tensor::{Device, Tensor};

/// How to sample.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    pub count: usize,
    pub temperature: f64,
    pub seed: u64,
    /// Bytes to generate per sample (text and audio; images are always whole).
    pub length: Option<usize>,
    /// Text: what each sample starts from (default: the start of the validation split).
    pub prompt: Option<Vec<u8>>,
}

/// Draws a byte from `logits` at `temperature` with uniform `u` in [0, 1).
fn draw(logits: &[f32], temperature: f64, u: f64) -> u8 {
    if temperature <= 0.0 {
        return logits.iter().enumerate().fold((0, f32::MIN), |best, (i, &l)| if l > best.1 { (i, l) } else { best }).0 as u8;
    }
    let max = logits.iter().copied().fold(f32::MIN, f32::max) as f64;
    let weights: Vec<f64> = logits.iter().map(|&l| ((l as f64 - max) / temperature).exp()).collect();
    let target = u * weights.iter().sum::<f64>();
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if acc > target {
            return i as u8;
        }
    }
    (weights.len() - 1) as u8
}

/// Continues each of `prompts` (equal lengths, at least one byte) by `length` bytes.
pub fn generate(model: &Transformer, prompts: &[Vec<u8>], length: usize, temperature: f64, seed: u64) -> Result<Vec<Vec<u8>>> {
    let b = prompts.len();
    let p = prompts.first().map_or(0, Vec::len);
    if b == 0 || p == 0 || prompts.iter().any(|x| x.len() != p) {
        return Err(Error::Invalid("sampling needs one or more prompts of the same non-zero length".into()));
    }
    let n = model.config.n_ctx;
    let device = model.tokens.table.var.value().device();
    let mut seqs: Vec<Vec<u8>> = prompts.to_vec();
    let mut cache = model.new_cache(b)?;
    // Feeds positions `from..to` of every sequence; returns the logits after the last one.
    let feed = |cache: &mut model::decode::KvCache, seqs: &[Vec<u8>], from: usize, to: usize| -> Result<Vec<f32>> {
        let mut logits = Vec::new();
        for t in from..to {
            let ids = Tensor::from_vec(seqs.iter().map(|s| s[t]).collect::<Vec<u8>>(), &[b], device)?;
            logits = model.decode_step(cache, &ids)?.to_vec::<f32>()?;
        }
        Ok(logits)
    };
    // The cache holds positions window_start.. of the sequences.
    let mut window_start = p.saturating_sub(n);
    let mut logits = feed(&mut cache, &seqs, window_start, p)?;
    for i in 0..length {
        for (row, s) in seqs.iter_mut().enumerate() {
            let u = philox::uniform_at(seed, (i * b + row) as u64);
            s.push(draw(&logits[row * 256..(row + 1) * 256], temperature, u));
        }
        if i + 1 == length {
            break;
        }
        let len = seqs[0].len();
        if len - window_start > n {
            // The context is full: start again from the last half of the window.
            window_start = len - n / 2;
            cache = model.new_cache(b)?;
            logits = feed(&mut cache, &seqs, window_start, len)?;
        } else {
            logits = feed(&mut cache, &seqs, len - 1, len)?;
        }
    }
    Ok(seqs.into_iter().map(|s| s[p..].to_vec()).collect())
}

/// What [`write_samples`] produced.
pub struct Written {
    pub files: Vec<PathBuf>,
    /// Text samples (for printing).
    pub texts: Vec<String>,
}

/// Samples from `model` (trained with `cfg`) and writes them under `out`.
pub fn write_samples(model: &Transformer, cfg: &RunConfig, opts: &SampleOptions, out: &Path) -> Result<Written> {
    std::fs::create_dir_all(out).map_err(|e| Error::Invalid(format!("{}: {e}", out.display())))?;
    let mut model = model.clone();
    model.set_dropout(0.0);
    let n = model.config.n_ctx;
    let io = |p: &Path, e: &dyn std::fmt::Display| Error::Invalid(format!("{}: {e}", p.display()));
    let mut written = Written { files: Vec::new(), texts: Vec::new() };
    match (cfg.data.kind.as_str(), model.config.positions) {
        ("cifar10" | "imagenet64", Positions::Image { height, width, channels }) => {
            // A start byte (0), then every byte of the image in raster order, channel last.
            let bytes = generate(&model, &vec![vec![0u8]; opts.count], n, opts.temperature, opts.seed)?;
            let size = height * width * channels;
            let images: Vec<Vec<u8>> = bytes.into_iter().map(|mut img| {
                img.resize(size, 128);
                img
            }).collect();
            let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
            let path = out.join("samples.png");
            let cols = (opts.count as f64).sqrt().ceil() as usize;
            datasets::images::write_grid(&path, &refs, height, width, cols).map_err(|e| Error::Invalid(e.to_string()))?;
            written.files.push(path);
        }
        ("audio", _) => {
            // From a moment of silence (mu-law 0), `length` samples at 12 kHz.
            let silence = datasets::audio::mulaw_encode(&[0.0; 16]);
            let length = opts.length.unwrap_or(n - silence.len());
            for (i, clip) in generate(&model, &vec![silence; opts.count], length, opts.temperature, opts.seed)?.iter().enumerate() {
                let path = out.join(format!("sample-{i}.wav"));
                datasets::audio::write_wav16(&path, clip).map_err(|e| Error::Invalid(e.to_string()))?;
                written.files.push(path);
            }
        }
        _ => {
            let prompt = match &opts.prompt {
                Some(p) if !p.is_empty() => p.clone(),
                _ => default_prompt(cfg)?,
            };
            let length = opts.length.unwrap_or(512);
            for (i, text) in generate(&model, &vec![prompt.clone(); opts.count], length, opts.temperature, opts.seed)?.iter().enumerate() {
                let path = out.join(format!("sample-{i}.txt"));
                let whole = [prompt.as_slice(), text].concat();
                std::fs::write(&path, &whole).map_err(|e| io(&path, &e))?;
                written.texts.push(String::from_utf8_lossy(&whole).into_owned());
                written.files.push(path);
            }
        }
    }
    Ok(written)
}

/// The first line or so (at most 64 bytes, ending at a line break when there is one) of the
/// validation text.
fn default_prompt(cfg: &RunConfig) -> Result<Vec<u8>> {
    let bytes = match crate::eval::open(cfg, datasets::Split::Valid)? {
        crate::eval::EvalData::Streams(s) => s.first().and_then(|s| s.eval_windows(65).next().map(<[u8]>::to_vec)).unwrap_or_default(),
        crate::eval::EvalData::Images(_) => Vec::new(),
    };
    let cut = bytes.iter().position(|&c| c == b'\n').map_or(bytes.len().min(64), |i| i + 1);
    Ok(if cut == 0 { b"\n".to_vec() } else { bytes[..cut].to_vec() })
}

/// Loads a checkpoint folder's model (on `device`).
pub fn load_checkpoint(dir: &Path, device: Device) -> Result<(Transformer, RunConfig)> {
    let cfg = RunConfig::load_saved(&dir.join("config.toml")).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut model = Transformer::new(cfg.model_config(), tensor::DType::F32, device)?;
    model.set_compute_dtype(cfg.train.precision.dtype());
    model.load(&dir.join("model.safetensors"))?;
    Ok((model, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_distribution_and_temperature_zero_is_argmax() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY, 0.0];
        assert_eq!(draw(&logits, 0.0, 0.5), 1);
        let mut counts = [0usize; 4];
        for i in 0..10_000 {
            counts[draw(&logits, 1.0, philox::uniform_at(3, i)) as usize] += 1;
        }
        // Probabilities 0.2, 0.6, 0, 0.2.
        assert_eq!(counts[2], 0);
        assert!((counts[1] as f64 / 1e4 - 0.6).abs() < 0.02, "{counts:?}");
    }
}

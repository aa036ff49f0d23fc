//! Raw audio: WAV files to 12 kHz 8-bit mu-law bytes, and back.
//!
//! The pipeline for each file: decode (8, 16, 24 or 32-bit integer PCM or 32-bit float, any
//! number of channels, any sample rate), average the channels to mono, resample to 12 kHz with
//! a windowed-sinc low-pass filter, and encode each sample as one mu-law byte (mu = 255).
//! Already encoded `.ulaw` files (raw mu-law bytes at 12 kHz) are read as they are.
//!
//! **Resampling.** Output sample `k` sits at input position `p = k * from / to`; it is
//! `sum_j x[j] h(p - j)` with `h(u) = 2 f sinc(2 f u) w(u / W)`: a low-pass at `f` cycles per
//! input sample (95% of the lower Nyquist frequency: `0.475 * min(1, to / from)`), cut to
//! `W = 16 / (2 f)` input samples on each side by a Blackman window `w`. Downsampling 44.1 kHz
//! to 12 kHz so removes everything above ~5.7 kHz instead of folding it back as aliasing.
//!
//! **Mu-law.** `y = sign(x) ln(1 + mu |x|) / ln(1 + mu)` for `x` in `[-1, 1]`, then `y` is
//! quantised to 256 levels: `q = round((y + 1) / 2 * 255)`. Quiet passages get fine steps,
//! loud ones coarse, as the ear hears them. [`mulaw_decode`] inverts it.
//!
//! **Splits** are by file: a file belongs to train, valid or test according to a stable hash
//! of its name (FNV-1a, 90 / 5 / 5), so no recording leaks across splits.

use crate::error::{bad, Result};
use crate::sequences::draw;
use std::path::{Path, PathBuf};

pub const SAMPLE_RATE: u32 = 12_000;
const MU: f64 = 255.0;

/// Decodes a WAV file to mono samples in `[-1, 1]` and its sample rate.
pub fn read_wav(path: &Path) -> Result<(Vec<f32>, u32)> {
    let reader = hound::WavReader::open(path).map_err(|e| bad(path, format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect::<std::result::Result<_, _>>().map_err(|e| bad(path, format!("corrupt sample data: {e}")))?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<std::result::Result<_, _>>().map_err(|e| bad(path, format!("corrupt sample data: {e}")))?
        }
        (format, bits) => return Err(bad(path, format!("unsupported WAV encoding: {bits}-bit {format:?} (supported: 8/16/24/32-bit integer PCM, 32-bit float)"))),
    };
    if interleaved.is_empty() {
        return Err(bad(path, "no samples"));
    }
    let mono = interleaved.chunks(channels).map(|frame| frame.iter().sum::<f32>() / frame.len() as f32).collect();
    Ok((mono, spec.sample_rate))
}

fn blackman(t: f64) -> f64 {
    // t in [-1, 1]
    let x = std::f64::consts::PI * (t + 1.0);
    0.42 - 0.5 * x.cos() + 0.08 * (2.0 * x).cos()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Resamples `x` from `from` Hz to `to` Hz with a windowed-sinc low-pass (see the module doc).
///
/// Output `k` sits at input position `p = k * from / to`. Its fractional part takes only
/// `to / gcd(from, to)` values (40 for 44.1 kHz to 12 kHz), so the filter taps are computed
/// once per such *phase* and reused: the work per output sample is one dot product.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() {
        return x.to_vec();
    }
    let g = gcd(from as u64, to as u64);
    let (up, down) = (to as u64 / g, from as u64 / g); // p = k * down / up
    let ratio = to as f64 / from as f64;
    let f = 0.475 * ratio.min(1.0); // cut-off, cycles per input sample
    let half = (16.0 / (2.0 * f)).ceil(); // window half-width, input samples
    let tap = |u: f64| -> f64 {
        let arg = 2.0 * f * u;
        let sinc = if arg.abs() < 1e-12 { 1.0 } else { (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg) };
        2.0 * f * sinc * blackman((u / half).clamp(-1.0, 1.0))
    };
    // For phase r (p = i0 + r / up), taps at j = i0 + d for d in first..=last.
    let phases = up.min(1 << 16);
    let exact = phases == up;
    let table: Vec<(i64, Vec<f32>)> = if exact {
        (0..up)
            .map(|r| {
                let frac = r as f64 / up as f64;
                let (first, last) = ((frac - half).ceil() as i64, (frac + half).floor() as i64);
                (first, (first..=last).map(|d| tap(frac - d as f64) as f32).collect())
            })
            .collect()
    } else {
        Vec::new()
    };
    let n_out = (x.len() as f64 * ratio).floor() as usize;
    (0..n_out)
        .map(|k| {
            let num = k as u64 * down;
            let i0 = (num / up) as i64;
            if exact {
                let (first, weights) = &table[(num % up) as usize];
                let start = i0 + first;
                let mut acc = 0.0f32;
                for (t, &w) in weights.iter().enumerate() {
                    let j = start + t as i64;
                    if j >= 0 && (j as usize) < x.len() {
                        acc += x[j as usize] * w;
                    }
                }
                acc
            } else {
                // Rates with no small common period: taps computed per sample.
                let p = num as f64 / up as f64;
                let (lo, hi) = ((p - half).ceil().max(0.0) as usize, ((p + half).floor() as usize).min(x.len() - 1));
                (lo..=hi).map(|j| x[j] as f64 * tap(p - j as f64)).sum::<f64>() as f32
            }
        })
        .collect()
}

/// Mu-law encodes samples in `[-1, 1]` (clamped) to bytes.
pub fn mulaw_encode(x: &[f32]) -> Vec<u8> {
    x.iter()
        .map(|&s| {
            let s = (s as f64).clamp(-1.0, 1.0);
            let y = s.signum() * (1.0 + MU * s.abs()).ln() / (1.0 + MU).ln();
            ((y + 1.0) / 2.0 * 255.0).round() as u8
        })
        .collect()
}

/// The inverse of [`mulaw_encode`] (up to quantisation).
pub fn mulaw_decode(q: &[u8]) -> Vec<f32> {
    q.iter()
        .map(|&b| {
            let y = 2.0 * b as f64 / 255.0 - 1.0;
            (y.signum() * ((1.0 + MU).powf(y.abs()) - 1.0) / MU) as f32
        })
        .collect()
}

/// A WAV file as 12 kHz mu-law bytes.
pub fn encode_file(path: &Path) -> Result<Vec<u8>> {
    let (mono, rate) = read_wav(path)?;
    Ok(mulaw_encode(&resample(&mono, rate, SAMPLE_RATE)))
}

/// Writes mu-law bytes (12 kHz) as a 16-bit mono WAV: the inverse transform for samples.
pub fn write_wav16(path: &Path, mulaw: &[u8]) -> Result<()> {
    let spec = hound::WavSpec { channels: 1, sample_rate: SAMPLE_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| bad(path, e))?;
    for s in mulaw_decode(mulaw) {
        w.write_sample((s * 32767.0).round() as i16).map_err(|e| bad(path, e))?;
    }
    w.finalize().map_err(|e| bad(path, e))
}

/// One recording, encoded.
#[derive(Clone)]
pub struct Track {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The recordings of one split.
#[derive(Clone, Default)]
pub struct Tracks(pub Vec<Track>);

impl Tracks {
    pub fn total_bytes(&self) -> usize {
        self.0.iter().map(|t| t.bytes.len()).sum()
    }

    /// `batch` random windows of `len` bytes (never crossing a file boundary), concatenated;
    /// a pure function of `(seed, step)`. `None` if no track is that long.
    pub fn random_windows(&self, batch: usize, len: usize, seed: u64, step: u64) -> Option<Vec<u8>> {
        // Every valid start position across the eligible tracks is equally likely.
        let starts: Vec<usize> = self.0.iter().map(|t| (t.bytes.len() + 1).saturating_sub(len)).collect();
        let total: usize = starts.iter().sum();
        if total == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(batch * len);
        for b in 0..batch {
            let mut r = draw(seed, step, b as u64, total);
            let k = starts.iter().position(|&s| if r < s { true } else { r -= s; false }).expect("r < total");
            out.extend_from_slice(&self.0[k].bytes[r..r + len]);
        }
        Some(out)
    }
}

pub struct Audio {
    pub train: Tracks,
    pub valid: Tracks,
    pub test: Tracks,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

/// Which split a file of this name belongs to: 90 / 5 / 5 by a stable hash.
pub fn split_of(name: &str) -> crate::Split {
    match fnv1a(name) % 100 {
        0..=89 => crate::Split::Train,
        90..=94 => crate::Split::Valid,
        _ => crate::Split::Test,
    }
}

/// Loads every `.wav` (converted) and `.ulaw` (as is) file of `dir`, split by file.
pub fn load(dir: &Path) -> Result<Audio> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav") || e.eq_ignore_ascii_case("ulaw")))
        .collect();
    if files.is_empty() {
        return Err(bad(dir, "no .wav or .ulaw files in this folder"));
    }
    files.sort();
    let mut audio = Audio { train: Tracks::default(), valid: Tracks::default(), test: Tracks::default() };
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = if f.extension().is_some_and(|e| e.eq_ignore_ascii_case("ulaw")) { std::fs::read(&f).map_err(|e| bad(&f, e))? } else { encode_file(&f)? };
        let split = match split_of(&name) {
            crate::Split::Train => &mut audio.train,
            crate::Split::Valid => &mut audio.valid,
            crate::Split::Test => &mut audio.test,
        };
        split.0.push(Track { name, bytes });
    }
    Ok(audio)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_round_trips_within_quantisation() {
        let x: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.9).collect();
        let y = mulaw_decode(&mulaw_encode(&x));
        let err = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 0.03, "{err}");
        assert_eq!(mulaw_encode(&[0.0]), vec![128]);
    }

    #[test]
    fn resampling_keeps_a_low_tone_and_removes_a_high_one() {
        let tone = |freq: f64, rate: u32| -> Vec<f32> { (0..rate as usize).map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32).collect() };
        let rms = |v: &[f32]| (v[1000..v.len() - 1000].iter().map(|x| (x * x) as f64).sum::<f64>() / (v.len() - 2000) as f64).sqrt();
        let low = resample(&tone(440.0, 44_100), 44_100, 12_000);
        assert_eq!(low.len(), 12_000);
        assert!((rms(&low) - 0.7071).abs() < 0.01, "440 Hz passes: rms {}", rms(&low));
        let high = resample(&tone(9_000.0, 44_100), 44_100, 12_000);
        assert!(rms(&high) < 0.01, "9 kHz (above the new Nyquist) is removed: rms {}", rms(&high));
    }
}

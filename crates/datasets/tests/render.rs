//! A rendered clip is real piano audio: not silent, not clipped, its energy in the piano's
//! range. Uses the General MIDI SoundFont from Debian's `timgm6mb-soundfont` (path in
//! `$ST_SOUNDFONT`, or its installed location); `.ci/run` fetches it.

use datasets::audio::{mulaw_decode, SAMPLE_RATE};
use datasets::render::{load_soundfont, midi_to_mulaw, scale_midi};
use std::path::{Path, PathBuf};

/// `$ST_SOUNDFONT`, else Debian's installed location, else where `.ci/run` or `prepare` unpack it.
fn soundfont() -> PathBuf {
    if let Ok(p) = std::env::var("ST_SOUNDFONT") {
        return PathBuf::from(p);
    }
    let inner = "usr/share/sounds/sf2/TimGM6mb.sf2";
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [
        PathBuf::from("/").join(inner),
        PathBuf::from(&home).join(".cache/sparse-transformer/soundfont").join(inner),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/cache/soundfont").join(inner),
    ];
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| candidates[0].clone())
}

/// Energy of `x` between `lo` and `hi` Hz over all energy (DC excluded), by a direct DFT of
/// 4096-sample frames.
fn band_fraction(x: &[f32], lo: f64, hi: f64) -> f64 {
    let n = 4096;
    let (mut band, mut total) = (0.0, 0.0);
    for frame in x.chunks_exact(n).step_by(2) {
        for k in 1..n / 2 {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (t, &v) in frame.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                re += v as f64 * a.cos();
                im += v as f64 * a.sin();
            }
            let e = re * re + im * im;
            let f = k as f64 * SAMPLE_RATE as f64 / n as f64;
            total += e;
            if (lo..=hi).contains(&f) {
                band += e;
            }
        }
    }
    band / total
}

#[test]
fn a_rendered_piano_clip_is_neither_silent_nor_clipped_and_sits_in_the_piano_range() {
    let sf2 = soundfont();
    assert!(sf2.exists(), "SoundFont not found at {} (install Debian's timgm6mb-soundfont, run .ci/run or prepare once, or set ST_SOUNDFONT)", sf2.display());
    let font = load_soundfont(&sf2).unwrap();
    // C major scale from middle C, two octaves, eighth notes.
    let notes: Vec<u8> = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16, 17, 19, 21, 23, 24].iter().map(|d| 60 + d).collect();
    let q = midi_to_mulaw(&font, &scale_midi(&notes, 240), Path::new("scale.mid")).unwrap();
    let x = mulaw_decode(&q);
    let secs = x.len() as f64 / SAMPLE_RATE as f64;
    let rms = (x.iter().map(|v| (v * v) as f64).sum::<f64>() / x.len() as f64).sqrt();
    let clipped = x.iter().filter(|v| v.abs() > 0.99).count() as f64 / x.len() as f64;
    let piano = band_fraction(&x[..x.len().min(8 * 4096)], 27.5, 4186.0);
    println!("rendered {secs:.2} s: rms {rms:.3}, clipped {:.3}%, energy in 27.5-4186 Hz {:.1}%", 100.0 * clipped, 100.0 * piano);
    assert!((4.0..6.0).contains(&secs), "15 eighth notes at 120 bpm plus a second of release: {secs} s");
    assert!(rms > 0.02, "silent: rms {rms}");
    assert!(clipped < 1e-3, "clipped: {clipped}");
    assert!(piano > 0.9, "energy outside the piano's range: {piano}");
}

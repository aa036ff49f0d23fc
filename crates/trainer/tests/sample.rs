//! Sampling writes each medium: text (with a prompt, longer than the context, so the window
//! restarts), a PNG grid of images and WAV files; the same seed gives the same samples.

use model::Transformer;
use std::path::{Path, PathBuf};
use tensor::{DType, Device};
use trainer::config::RunConfig;
use trainer::sample::{write_samples, SampleOptions};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trainer-sample-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn setup(kind: &str, model: &str, dir: &Path) -> (Transformer, RunConfig) {
    let text = format!("[model]\n{model}\n[data]\nkind = \"{kind}\"\npath = {:?}\n[train]\nsteps = 1\nbatch = 1\nlr = 1e-3\n", dir.display().to_string());
    let cfg = RunConfig::parse(Path::new("sample.toml"), &text, &[]).unwrap();
    let mut m = Transformer::new(cfg.model_config(), DType::F32, Device::Cpu).unwrap();
    // Random output weights, so the samples are not uniform noise from a zero head.
    let spec = model::params::ParamSpec { seed: 3, dtype: DType::F32, device: Device::Cpu };
    m.head = model::layers::Linear::new(&spec, "head", m.config.d_model, 256, 0.3).unwrap();
    (m, cfg)
}

fn opts(count: usize, length: Option<usize>, prompt: Option<&[u8]>) -> SampleOptions {
    SampleOptions { count, temperature: 1.0, seed: 5, length, prompt: prompt.map(<[u8]>::to_vec) }
}

#[test]
fn text_samples_continue_the_prompt_past_the_context() {
    let dir = temp("text");
    let (model, cfg) = setup("embedded", "preset = \"tiny\"\nn_ctx = 24", &dir);
    let o = opts(2, Some(70), Some(b"fn main() {"));
    let a = write_samples(&model, &cfg, &o, &dir.join("a")).unwrap();
    let b = write_samples(&model, &cfg, &o, &dir.join("b")).unwrap();
    assert_eq!(a.texts, b.texts, "same seed, same samples");
    assert_eq!(a.files.len(), 2);
    for f in &a.files {
        let bytes = std::fs::read(f).unwrap();
        assert!(bytes.starts_with(b"fn main() {") && bytes.len() == 11 + 70, "{}", f.display());
    }
    assert_ne!(std::fs::read(&a.files[0]).unwrap(), std::fs::read(&a.files[1]).unwrap(), "two different samples");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn image_samples_make_a_png_grid() {
    let dir = temp("images");
    let (model, cfg) = setup("cifar10", "preset = \"cifar10\"\nlayers = 1\nd_model = 32\nheads = 2", &dir);
    let w = write_samples(&model, &cfg, &opts(3, None, None), &dir.join("out")).unwrap();
    assert_eq!(w.files.len(), 1);
    let (rgb, h, wd) = datasets::images::decode_png(&w.files[0]).unwrap();
    assert!(h >= 64 && wd >= 64 && rgb.len() == h * wd * 3, "a 2 x 2 grid of 32 x 32 images: {h} x {wd}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn audio_samples_are_wav_files() {
    let dir = temp("audio");
    let (model, cfg) = setup("audio", "preset = \"audio65536\"\nlayers = 1\nd_model = 32\nheads = 2\nn_ctx = 256", &dir);
    let w = write_samples(&model, &cfg, &opts(2, None, None), &dir.join("out")).unwrap();
    assert_eq!(w.files.len(), 2);
    for f in &w.files {
        let (samples, rate) = datasets::audio::read_wav(f).unwrap();
        assert_eq!((samples.len(), rate), (256 - 16, 12_000), "{}", f.display());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

//! Writers for small files in the official formats, shared by the round-trip, bad-input and
//! fuzz tests.
#![allow(dead_code)]

use npyz::WriterBuilder;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("datasets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic pseudo-random bytes.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    (0..n as u64).map(|i| (kernels::philox::block(seed, i)[0] >> 24) as u8).collect()
}

/// `n` raster-order 32x32 images and labels.
pub fn cifar_images(n: usize, seed: u64) -> (Vec<u8>, Vec<u16>) {
    (bytes(n * datasets::cifar::IMAGE, seed), (0..n).map(|i| (i % 10) as u16).collect())
}

/// Writes the six CIFAR-10 batch files (`per_batch` images each) into `dir`; returns the
/// raster images of the five training batches in order, then the test batch's.
pub fn write_cifar(dir: &Path, per_batch: usize) -> (Vec<u8>, Vec<u8>) {
    let mut train = Vec::new();
    for k in 1..=5 {
        let (x, y) = cifar_images(per_batch, k);
        std::fs::write(dir.join(format!("data_batch_{k}.bin")), datasets::cifar::encode_batch(&x, &y)).unwrap();
        train.extend(x);
    }
    let (x, y) = cifar_images(per_batch, 99);
    std::fs::write(dir.join("test_batch.bin"), datasets::cifar::encode_batch(&x, &y)).unwrap();
    (train, x)
}

/// Packs the files of `dir` into `cifar-10-batches-bin/` inside a `.tar.gz` at `out`.
pub fn tar_gz(dir: &Path, out: &Path) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(out).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = format!("cifar-10-batches-bin/{}", e.file_name().to_string_lossy());
        tar.append_path_with_name(e.path(), name).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// A zip at `out` holding `entries` (name, bytes), deflated.
pub fn zip(out: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    for (name, data) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

/// A `.npy` file's bytes for a u8 array of `shape`.
pub fn npy_u8(shape: &[u64], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }
    out
}

/// A `.npy` file's bytes for an i64 vector.
pub fn npy_i64(data: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&[data.len() as u64]).writer(&mut out).begin_nd().unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }
    out
}

/// An ImageNet npz batch of `n` images; returns the channel-major rows written.
pub fn write_npz(path: &Path, n: usize, seed: u64) -> Vec<u8> {
    let rows = bytes(n * datasets::imagenet::IMAGE, seed);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 1000 + 1).collect();
    zip(path, &[("data.npy", &npy_u8(&[n as u64, datasets::imagenet::IMAGE as u64], &rows)), ("labels.npy", &npy_i64(&labels))]);
    rows
}

/// Channel-major planes to raster order (the conversion the loader must do).
pub fn planes_to_raster(rows: &[u8]) -> Vec<u8> {
    let plane = 64 * 64;
    rows.chunks_exact(3 * plane).flat_map(|r| (0..plane).flat_map(move |p| [r[p], r[plane + p], r[2 * plane + p]])).collect()
}

/// A WAV file of a 440 Hz sine, 0.5 s, in the given encoding.
pub fn write_wav(path: &Path, rate: u32, channels: u16, bits: u16, float: bool) {
    let spec = hound::WavSpec { channels, sample_rate: rate, bits_per_sample: bits, sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int } };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..rate / 2 {
        let s = 0.5 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate as f64).sin();
        for _ in 0..channels {
            if float {
                w.write_sample(s as f32).unwrap();
            } else {
                w.write_sample((s * ((1i64 << (bits - 1)) - 1) as f64).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

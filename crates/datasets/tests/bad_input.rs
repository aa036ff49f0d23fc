//! Bad input is a clear error naming the file and the problem, never a panic.

mod common;
use common::*;
use datasets::{audio, cifar, enwik8, imagenet, images};
use std::path::Path;

/// Asserts `r` failed with a message naming `file` and containing every one of `words`.
fn fails<T>(r: datasets::Result<T>, file: &str, words: &[&str]) {
    let msg = match r {
        Ok(_) => panic!("expected an error about {file}"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains(file), "{msg:?} should name {file}");
    for w in words {
        assert!(msg.contains(w), "{msg:?} should say {w:?}");
    }
}

#[test]
fn cifar_bad_files() {
    let dir = temp_dir("bad-cifar");
    write_cifar(&dir, 4);
    let good = std::fs::read(dir.join("data_batch_2.bin")).unwrap();
    std::fs::write(dir.join("data_batch_2.bin"), &good[..good.len() - 100]).unwrap();
    fails(cifar::load(&dir), "data_batch_2.bin", &["not a whole number of 3073-byte records"]);
    let mut bad_label = good.clone();
    bad_label[cifar::RECORD] = 17;
    std::fs::write(dir.join("data_batch_2.bin"), &bad_label).unwrap();
    fails(cifar::load(&dir), "data_batch_2.bin", &["record 1 has label 17"]);
    std::fs::remove_file(dir.join("data_batch_2.bin")).unwrap();
    fails(cifar::load(&dir), "data_batch_2.bin", &["cannot read"]);
    let junk = dir.join("cifar-10-binary.tar.gz");
    std::fs::write(&junk, b"this is not gzip").unwrap();
    fails(cifar::load(&junk), "cifar-10-binary.tar.gz", &["archive"]);
    // An archive without the test batch.
    let partial = temp_dir("bad-cifar-partial");
    write_cifar(&partial, 2);
    std::fs::remove_file(partial.join("test_batch.bin")).unwrap();
    let tgz = temp_dir("bad-cifar-tgz").join("c.tar.gz");
    tar_gz(&partial, &tgz);
    fails(cifar::load(&tgz), "c.tar.gz", &["no test_batch.bin"]);
}

#[test]
fn enwik8_bad_files() {
    let dir = temp_dir("bad-enwik8");
    std::fs::write(dir.join("empty"), b"").unwrap();
    fails(enwik8::load(&dir.join("empty")), "empty", &["empty file"]);
    std::fs::write(dir.join("enwik8.zip"), b"PK\x03\x04 not really a zip").unwrap();
    fails(enwik8::load(&dir.join("enwik8.zip")), "enwik8.zip", &["not a valid zip"]);
    zip(&dir.join("other.zip"), &[("readme.txt", b"hello")]);
    fails(enwik8::load(&dir.join("other.zip")), "other.zip", &["no enwik8 entry"]);
    // Complete length, wrong content: the MD5 check catches it.
    std::fs::write(dir.join("enwik8"), vec![b'x'; enwik8::LEN]).unwrap();
    fails(enwik8::load(&dir.join("enwik8")), "enwik8", &["MD5", enwik8::MD5]);
    fails(enwik8::load(&dir.join("missing")), "missing", &[]);
}

#[test]
fn imagenet_bad_files() {
    let dir = temp_dir("bad-npz");
    let p = dir.join("val_data.npz");
    zip(&p, &[("pixels.npy", &npy_u8(&[1, 12288], &[0; 12288]))]);
    fails(imagenet::parse_npz(&p), "val_data.npz", &["no array named `data`"]);
    zip(&p, &[("data.npy", &npy_u8(&[2, 100], &[0; 200]))]);
    fails(imagenet::parse_npz(&p), "val_data.npz", &["shape [2, 100]", "(N, 12288)"]);
    let floats = {
        use npyz::WriterBuilder;
        let mut out = Vec::new();
        let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(&[1, 12288]).writer(&mut out).begin_nd().unwrap();
        w.extend(std::iter::repeat_n(0.5f32, 12288)).unwrap();
        w.finish().unwrap();
        out
    };
    zip(&p, &[("data.npy", &floats)]);
    fails(imagenet::parse_npz(&p), "val_data.npz", &["dtype", "uint8"]);
    zip(&p, &[("data.npy", &npy_u8(&[2, 12288], &[0; 2 * 12288])), ("labels.npy", &npy_i64(&[1, 2, 3]))]);
    fails(imagenet::parse_npz(&p), "val_data.npz", &["3 labels for 2 images"]);
    std::fs::write(&p, b"garbage").unwrap();
    fails(imagenet::parse_npz(&p), "val_data.npz", &["not a valid npz"]);
    zip(&p, &[("data.npy", b"\x93NUMPY garbage")]);
    fails(imagenet::parse_npz(&p), "val_data.npz", &["not a valid .npy"]);

    let dir = temp_dir("bad-png");
    std::fs::create_dir_all(dir.join("train_64x64")).unwrap();
    std::fs::create_dir_all(dir.join("valid_64x64")).unwrap();
    fails(imagenet::load(&dir), "train_64x64", &["no PNG images"]);
    images::encode_png(&dir.join("train_64x64/a.png"), &[0; 32 * 32 * 3], 32, 32).unwrap();
    fails(imagenet::load(&dir), "a.png", &["32x32 image, expected 64x64"]);
    std::fs::write(dir.join("train_64x64/a.png"), b"\x89PNG\r\n\x1a\n broken").unwrap();
    fails(imagenet::load(&dir), "a.png", &["not a valid PNG"]);
    write_gray_png(&dir.join("train_64x64/a.png"));
    fails(imagenet::load(&dir), "a.png", &["expected 8-bit RGB"]);
    fails(imagenet::load(&temp_dir("bad-empty")), "bad-empty", &["neither npz batches"]);
}

fn write_gray_png(path: &Path) {
    let mut enc = png::Encoder::new(std::fs::File::create(path).unwrap(), 64, 64);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(&[0; 64 * 64]).unwrap();
}

#[test]
fn audio_bad_files() {
    let dir = temp_dir("bad-audio");
    fails(audio::load(&dir), "bad-audio", &["no .wav or .ulaw files"]);
    // A-law (format code 6): a valid RIFF/WAVE header with an encoding we do not read.
    let mut alaw = Vec::new();
    alaw.extend(b"RIFF");
    alaw.extend(&(36u32 + 8).to_le_bytes());
    alaw.extend(b"WAVEfmt ");
    alaw.extend(&16u32.to_le_bytes());
    alaw.extend(&6u16.to_le_bytes()); // A-law
    alaw.extend(&1u16.to_le_bytes());
    alaw.extend(&8000u32.to_le_bytes());
    alaw.extend(&8000u32.to_le_bytes());
    alaw.extend(&1u16.to_le_bytes());
    alaw.extend(&8u16.to_le_bytes());
    alaw.extend(b"data");
    alaw.extend(&8u32.to_le_bytes());
    alaw.extend(&[0u8; 8]);
    std::fs::write(dir.join("alaw.wav"), &alaw).unwrap();
    fails(audio::load(&dir), "alaw.wav", &["WAV"]);
    std::fs::remove_file(dir.join("alaw.wav")).unwrap();
    write_wav(&dir.join("cut.wav"), 8_000, 1, 16, false);
    let b = std::fs::read(dir.join("cut.wav")).unwrap();
    std::fs::write(dir.join("cut.wav"), &b[..30]).unwrap();
    fails(audio::load(&dir), "cut.wav", &["WAV"]);
}

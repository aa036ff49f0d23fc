//! CIFAR-10, binary version.
//!
//! Each batch file (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`; 10,000 records
//! in the official files) is a sequence of 3,073-byte records: one label byte (0..9), then the
//! 1,024 red, 1,024 green and 1,024 blue values of a 32x32 image, each plane row-major. The
//! loader turns each image into the paper's raster order, channel last:
//! `out[(row * 32 + col) * 3 + channel]`.
//!
//! Splits: test = `test_batch.bin` (10,000). The 50,000 training images (batches 1 to 5, in
//! order) are split 48,000 / 2,000: image `i` is in validation when `i mod 25 == 24` (every
//! 25th, so all batches and classes are represented), in train otherwise.
//!
//! Input: a folder holding the six `.bin` files (directly or in `cifar-10-batches-bin/`), or
//! the official `cifar-10-binary.tar.gz`.

use crate::error::{bad, Result};
use crate::sequences::ImageSet;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

pub const SIDE: usize = 32;
pub const IMAGE: usize = SIDE * SIDE * 3;
pub const RECORD: usize = 1 + IMAGE;
const TRAIN_FILES: [&str; 5] = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
const TEST_FILE: &str = "test_batch.bin";

/// The three splits.
pub struct Cifar10 {
    pub train: ImageSet,
    pub valid: ImageSet,
    pub test: ImageSet,
}

/// Parses one batch file's bytes into raster-order images and labels.
pub fn parse_batch(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u16>)> {
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(bad(path, format!("{} bytes is not a whole number of {RECORD}-byte records (label + 3 x 32 x 32); truncated or not a CIFAR-10 binary batch", bytes.len())));
    }
    let n = bytes.len() / RECORD;
    let mut images = vec![0u8; n * IMAGE];
    let mut labels = Vec::with_capacity(n);
    for (k, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(bad(path, format!("record {k} has label {}, CIFAR-10 labels are 0..9", rec[0])));
        }
        labels.push(rec[0] as u16);
        let out = &mut images[k * IMAGE..(k + 1) * IMAGE];
        for ch in 0..3 {
            let plane = &rec[1 + ch * SIDE * SIDE..1 + (ch + 1) * SIDE * SIDE];
            for (p, &v) in plane.iter().enumerate() {
                out[p * 3 + ch] = v;
            }
        }
    }
    Ok((images, labels))
}

/// The official record layout for raster-order images: the inverse of [`parse_batch`] (used to
/// write stand-in data and test files).
pub fn encode_batch(images: &[u8], labels: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * RECORD);
    for (img, &label) in images.chunks_exact(IMAGE).zip(labels) {
        out.push(label as u8);
        for ch in 0..3 {
            out.extend((0..SIDE * SIDE).map(|p| img[p * 3 + ch]));
        }
    }
    out
}

fn image_set(data: Vec<u8>, labels: Vec<u16>) -> ImageSet {
    ImageSet { data, labels, example_len: IMAGE, height: SIDE, width: SIDE }
}

/// Reads the six batch files from `path` (a folder or the `.tar.gz` archive).
fn read_files(path: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let wanted: Vec<&str> = TRAIN_FILES.iter().copied().chain([TEST_FILE]).collect();
    let mut files = HashMap::new();
    if path.is_dir() {
        let dir = if path.join("cifar-10-batches-bin").is_dir() { path.join("cifar-10-batches-bin") } else { path.to_path_buf() };
        for name in &wanted {
            let p = dir.join(name);
            let bytes = std::fs::read(&p).map_err(|e| bad(&p, format!("cannot read CIFAR-10 batch: {e}")))?;
            files.insert(name.to_string(), bytes);
        }
        return Ok(files);
    }
    let file = std::fs::File::open(path).map_err(|e| bad(path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive.entries().map_err(|e| bad(path, format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(path, format!("corrupt archive: {e}")))?;
        let name = entry.path().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
        if wanted.contains(&name.as_str()) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| bad(path, format!("corrupt archive entry {name}: {e}")))?;
            files.insert(name, bytes);
        }
    }
    if let Some(missing) = wanted.iter().find(|n| !files.contains_key(**n)) {
        return Err(bad(path, format!("archive has no {missing}")));
    }
    Ok(files)
}

/// Loads CIFAR-10 from a folder of batch files or the official archive.
pub fn load(path: &Path) -> Result<Cifar10> {
    let files = read_files(path)?;
    let (mut train_x, mut train_y, mut valid_x, mut valid_y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut index = 0usize;
    for name in TRAIN_FILES {
        let (x, y) = parse_batch(&path.join(name), &files[name])?;
        for (img, label) in x.chunks_exact(IMAGE).zip(y) {
            if index % 25 == 24 {
                valid_x.extend_from_slice(img);
                valid_y.push(label);
            } else {
                train_x.extend_from_slice(img);
                train_y.push(label);
            }
            index += 1;
        }
    }
    let (test_x, test_y) = parse_batch(&path.join(TEST_FILE), &files[TEST_FILE])?;
    Ok(Cifar10 { train: image_set(train_x, train_y), valid: image_set(valid_x, valid_y), test: image_set(test_x, test_y) })
}

//! Downsampled ImageNet 64x64, in both published forms.
//!
//! - **npz batches**: `train_data_batch_1.npz` .. `train_data_batch_10.npz` and `val_data.npz`,
//!   each a zip of NumPy arrays: `data`, shape `(N, 12288)`, uint8, each row the red, green
//!   and blue 64x64 planes one after the other (channel-major); `labels`, shape `(N,)`
//!   (integers; optional here).
//! - **PNG folders**: `train_64x64/` and `valid_64x64/`, one 64x64 8-bit RGB PNG per image,
//!   read in file-name order.
//!
//! Images are returned in raster order, channel last. Splits: test = the published validation
//! set; validation = the training images with index `i mod 256 == 255` (about 5,000); train =
//! the rest.

use crate::error::{bad, Result};
use crate::images::decode_png;
use crate::sequences::ImageSet;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const SIDE: usize = 64;
pub const IMAGE: usize = SIDE * SIDE * 3;

pub struct ImageNet64 {
    pub train: ImageSet,
    pub valid: ImageSet,
    pub test: ImageSet,
}

fn image_set(data: Vec<u8>, labels: Vec<u16>) -> ImageSet {
    ImageSet { data, labels, example_len: IMAGE, height: SIDE, width: SIDE }
}

/// Channel-major planes to raster order, channel last.
fn planes_to_raster(row: &[u8], out: &mut Vec<u8>) {
    let plane = SIDE * SIDE;
    out.extend((0..plane).flat_map(|p| [row[p], row[plane + p], row[2 * plane + p]]));
}

/// Reads the array `name` of an npz file: `(shape, dtype descriptor, raw npy bytes)`.
fn npz_array(path: &Path, zip: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Result<Option<npyz::NpyFile<std::io::Cursor<Vec<u8>>>>> {
    let mut entry = match zip.by_name(&format!("{name}.npy")) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(bad(path, format!("corrupt npz: {e}"))),
    };
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| bad(path, format!("corrupt npz entry {name}.npy: {e}")))?;
    let npy = npyz::NpyFile::new(std::io::Cursor::new(bytes)).map_err(|e| bad(path, format!("{name}.npy is not a valid .npy array: {e}")))?;
    Ok(Some(npy))
}

/// Parses one npz batch into raster-order images and labels.
pub fn parse_npz(path: &Path) -> Result<(Vec<u8>, Vec<u16>)> {
    let file = std::fs::File::open(path).map_err(|e| bad(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a valid npz (zip) file: {e}")))?;
    let data = npz_array(path, &mut zip, "data")?.ok_or_else(|| bad(path, "no array named `data`"))?;
    let shape = data.shape().to_vec();
    if shape.len() != 2 || shape[1] != IMAGE as u64 {
        return Err(bad(path, format!("`data` has shape {shape:?}, expected (N, {IMAGE})")));
    }
    let dtype = data.dtype().descr();
    if dtype != "'|u1'" && dtype != "'<u1'" && dtype != "'>u1'" {
        return Err(bad(path, format!("`data` has dtype {dtype}, expected uint8")));
    }
    let rows = data.into_vec::<u8>().map_err(|e| bad(path, format!("`data` could not be read: {e}")))?;
    let mut images = Vec::with_capacity(rows.len());
    for row in rows.chunks_exact(IMAGE) {
        planes_to_raster(row, &mut images);
    }
    let n = shape[0] as usize;
    let labels = match npz_array(path, &mut zip, "labels")? {
        None => vec![0; n],
        Some(l) => {
            let v: Vec<i64> = l.into_vec::<i64>().map_err(|e| bad(path, format!("`labels` must be integers: {e}")))?;
            if v.len() != n {
                return Err(bad(path, format!("{} labels for {n} images", v.len())));
            }
            v.into_iter().map(|x| x.clamp(0, u16::MAX as i64) as u16).collect()
        }
    };
    Ok((images, labels))
}

/// The PNG files of `dir`, sorted by name; an error if there are none.
fn png_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    if files.is_empty() {
        return Err(bad(dir, "no PNG images in this folder"));
    }
    files.sort();
    Ok(files)
}

/// Reads a folder of 64x64 RGB PNGs.
pub fn read_png_folder(dir: &Path) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    for f in png_files(dir)? {
        let (rgb, h, w) = decode_png(&f)?;
        if (h, w) != (SIDE, SIDE) {
            return Err(bad(&f, format!("{h}x{w} image, expected {SIDE}x{SIDE}")));
        }
        data.extend_from_slice(&rgb);
    }
    Ok(data)
}

fn split_train(images: Vec<u8>, labels: Vec<u16>, test: (Vec<u8>, Vec<u16>)) -> ImageNet64 {
    let (mut tx, mut ty, mut vx, mut vy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (img, l)) in images.chunks_exact(IMAGE).zip(labels).enumerate() {
        if i % 256 == 255 {
            vx.extend_from_slice(img);
            vy.push(l);
        } else {
            tx.extend_from_slice(img);
            ty.push(l);
        }
    }
    ImageNet64 { train: image_set(tx, ty), valid: image_set(vx, vy), test: image_set(test.0, test.1) }
}

/// Loads ImageNet 64x64 from `dir`: npz batches if `val_data.npz` is there, else the PNG
/// folders `train_64x64/` and `valid_64x64/`.
pub fn load(dir: &Path) -> Result<ImageNet64> {
    if dir.join("val_data.npz").exists() {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut batches = 0;
        for k in 1..=10 {
            let p = dir.join(format!("train_data_batch_{k}.npz"));
            if p.exists() {
                let (bx, by) = parse_npz(&p)?;
                x.extend(bx);
                y.extend(by);
                batches += 1;
            }
        }
        if batches == 0 {
            return Err(bad(dir, "val_data.npz but no train_data_batch_*.npz"));
        }
        return Ok(split_train(x, y, parse_npz(&dir.join("val_data.npz"))?));
    }
    let (train, valid) = (dir.join("train_64x64"), dir.join("valid_64x64"));
    if !train.is_dir() || !valid.is_dir() {
        return Err(bad(dir, "neither npz batches (val_data.npz, train_data_batch_*.npz) nor PNG folders (train_64x64/, valid_64x64/)"));
    }
    let x = read_png_folder(&train)?;
    let n = x.len() / IMAGE;
    let t = read_png_folder(&valid)?;
    let nt = t.len() / IMAGE;
    Ok(split_train(x, vec![0; n], (t, vec![0; nt])))
}

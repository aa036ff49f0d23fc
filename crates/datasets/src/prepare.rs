//! Building real stand-in corpora from registry packages (the official datasets cannot be
//! downloaded on the project's machines). Used by the `prepare` binary.
//!
//! Every input is a pinned package version fetched with `pip download`; every file taken from
//! it is checked against a pinned SHA-256 before use. Outputs are written in the official
//! formats (so the real loaders read them) into a git-ignored `data/` folder, atomically.

use crate::error::{bad, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A file inside a pinned PyPI package.
pub struct Member {
    pub package: &'static str,
    pub path: &'static str,
    pub sha256: &'static str,
}

/// The English Wikipedia XML excerpt gensim ships as test data (6,089,746 bytes unpacked).
pub const WIKI: Member = Member {
    package: "gensim==4.4.0",
    path: "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    sha256: "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
};
pub const WIKI_LEN: usize = 6_089_746;

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads `package` (a pinned `name==version`) into `cache` with pip, unless there.
pub fn fetch_package(package: &str, cache: &Path) -> Result<PathBuf> {
    let (name, version) = package.split_once("==").expect("pinned");
    let find = || -> Option<PathBuf> {
        let norm = name.replace('-', "_").to_lowercase();
        std::fs::read_dir(cache).ok()?.flatten().map(|e| e.path()).find(|p| {
            let f = p.file_name().map(|f| f.to_string_lossy().to_lowercase()).unwrap_or_default();
            f.starts_with(&format!("{norm}-{version}")) && (f.ends_with(".whl") || f.ends_with(".tar.gz"))
        })
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    std::fs::create_dir_all(cache).map_err(|e| bad(cache, e))?;
    let status = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:", "-d"])
        .arg(cache)
        .arg(package)
        .status()
        .map_err(|e| bad(cache, format!("cannot run `python3 -m pip download {package}`: {e}")))?;
    if !status.success() {
        return Err(bad(cache, format!("`pip download {package}` failed ({status})")));
    }
    find().ok_or_else(|| bad(cache, format!("pip downloaded no wheel for {package}")))
}

/// Reads member `path` of a wheel (a zip).
pub fn read_member(wheel: &Path, path: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(wheel).map_err(|e| bad(wheel, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(wheel, format!("not a valid wheel: {e}")))?;
    let mut entry = zip.by_name(path).map_err(|e| bad(wheel, format!("has no {path}: {e}")))?;
    let mut v = Vec::new();
    entry.read_to_end(&mut v).map_err(|e| bad(wheel, format!("corrupt member {path}: {e}")))?;
    Ok(v)
}

/// Every member of a wheel whose path starts with `prefix` and ends with `suffix`, sorted.
pub fn members(wheel: &Path, prefix: &str, suffix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let file = std::fs::File::open(wheel).map_err(|e| bad(wheel, e))?;
    let zip = zip::ZipArchive::new(file).map_err(|e| bad(wheel, format!("not a valid wheel: {e}")))?;
    let mut names: Vec<String> = zip.file_names().flatten().filter(|n| n.starts_with(prefix) && n.ends_with(suffix)).map(|n| n.into_owned()).collect();
    names.sort();
    names.into_iter().map(|n| Ok((n.clone(), read_member(wheel, &n)?))).collect()
}

/// Fetches `m`'s package and returns the member, checked against its SHA-256.
pub fn checked_member(m: &Member, cache: &Path) -> Result<Vec<u8>> {
    let wheel = fetch_package(m.package, cache)?;
    let bytes = read_member(&wheel, m.path)?;
    let got = sha256_hex(&bytes);
    if got != m.sha256 {
        return Err(bad(&wheel, format!("{} has SHA-256 {got}, pinned {}", m.path, m.sha256)));
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| bad(d, e))?;
    }
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).map_err(|e| bad(&tmp, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| bad(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| bad(path, e))
}

/// Decodes any 8-bit PNG (gray, RGB, RGBA, palette) to RGB: `(rgb, height, width)`.
pub fn decode_any_png(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, usize, usize)> {
    let path = Path::new(name);
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(path, format!("not a valid PNG: {e}")))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| bad(path, "image too large"))?];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(path, format!("corrupt PNG: {e}")))?;
    let (h, w) = (info.height as usize, info.width as usize);
    let ch = info.color_type.samples();
    let rgb = buf[..h * w * ch]
        .chunks_exact(ch)
        .flat_map(|p| match ch {
            1 | 2 => [p[0], p[0], p[0]],
            _ => [p[0], p[1], p[2]],
        })
        .collect();
    Ok((rgb, h, w))
}

/// Box-downsamples an RGB image by an integer `factor`.
pub fn box_downsample(rgb: &[u8], h: usize, w: usize, factor: usize) -> (Vec<u8>, usize, usize) {
    let (oh, ow) = (h / factor, w / factor);
    let mut out = vec![0u8; oh * ow * 3];
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..3 {
                let mut s = 0u32;
                for dy in 0..factor {
                    for dx in 0..factor {
                        s += rgb[((y * factor + dy) * w + x * factor + dx) * 3 + c] as u32;
                    }
                }
                out[(y * ow + x) * 3 + c] = ((s + (factor * factor / 2) as u32) / (factor * factor) as u32) as u8;
            }
        }
    }
    (out, oh, ow)
}

/// `side x side` tiles of an RGB image, `stride` pixels apart, at box-downsampling factors
/// 1..=4, in raster order of tiles.
pub fn tiles(rgb: &[u8], h: usize, w: usize, side: usize, stride: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for factor in 1..=4 {
        let (img, ih, iw) = box_downsample(rgb, h, w, factor);
        if ih < side || iw < side {
            continue;
        }
        for y0 in (0..=ih - side).step_by(stride) {
            for x0 in (0..=iw - side).step_by(stride) {
                let mut t = Vec::with_capacity(side * side * 3);
                for r in 0..side {
                    let start = ((y0 + r) * iw + x0) * 3;
                    t.extend_from_slice(&img[start..start + side * 3]);
                }
                out.push(t);
            }
        }
    }
    out
}

/// Interleaves `valid` examples into `train` at every `period`-th position (index
/// `i mod period == period - 1`), the rule by which the loaders take validation examples out
/// of the training files: so whole held-out photos end up in validation.
pub fn interleave_validation(train: Vec<Vec<u8>>, valid: Vec<Vec<u8>>, period: usize) -> Vec<Vec<u8>> {
    let (mut t, mut v) = (train.into_iter(), valid.into_iter());
    let mut out = Vec::new();
    loop {
        let next = if out.len() % period == period - 1 { v.next() } else { t.next() };
        match next {
            Some(x) => out.push(x),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_downsampling_and_validation_interleave() {
        // A 4x4 image: box-downsampling by 2 averages each 2x2 block.
        let rgb: Vec<u8> = (0..16u8).flat_map(|p| [p * 10, 0, 255]).collect();
        let (small, h, w) = box_downsample(&rgb, 4, 4, 2);
        assert_eq!((h, w), (2, 2));
        assert_eq!(small[0], ((0 + 10 + 40 + 50) as f64 / 4.0).round() as u8);
        // 2x2 tiles with stride 2 at factor 1 (4 tiles) and 2 (1 tile); none at 3 or 4.
        assert_eq!(tiles(&rgb, 4, 4, 2, 2).len(), 5);
        // Validation examples land exactly where the loaders take them (i mod 3 == 2).
        let t: Vec<Vec<u8>> = (0..6).map(|i| vec![i]).collect();
        let v: Vec<Vec<u8>> = (100..110).map(|i| vec![i]).collect();
        let s = interleave_validation(t, v, 3);
        let firsts: Vec<u8> = s.iter().map(|x| x[0]).collect();
        assert_eq!(firsts, vec![0, 1, 100, 2, 3, 101, 4, 5, 102]);
    }
}

//! `prepare [--data DIR] [--only text|images|audio] [--max-works N]`: builds real stand-in corpora from pinned
//! registry packages, in the official formats, under `DIR` (default `data/`, git-ignored).
//!
//! - text: the English Wikipedia XML excerpt in PyPI `gensim==4.4.0` (6,089,746 bytes) as
//!   `DIR/enwik8/enwik8`, split like enwik8 (90 / 5 / 5) by the loader.
//! - images: the 20 real CIFAR-10 test images in PyPI `foolbox==3.3.4`, and 32x32 / 64x64
//!   box-downsampled, overlapping (stride 16) tiles of the photos in PyPI `scikit-image==0.26.0`, written as CIFAR-10
//!   batches (`DIR/cifar10/`) and ImageNet npz batches (`DIR/imagenet64/`). Whole photos are
//!   held out: chelsea for validation, coffee for test. Photo tiles are labelled 0: they are
//!   stand-ins for the pixel statistics, not for the classes.
//!
//! - audio: classical scores from the corpus of PyPI `music21==10.5.1` exported to MIDI
//!   (`scripts/corpus_to_midi.py`), rendered on the piano of the General MIDI SoundFont in
//!   Debian's `timgm6mb-soundfont` with `rustysynth`, low-passed and resampled to 12 kHz and
//!   mu-law encoded: `DIR/audio/*.ulaw`, split by file by the loader.
//!
//! Each file taken from a package is checked against a pinned SHA-256; outputs are written
//! atomically, and a `MANIFEST.txt` lists their sizes and SHA-256 sums.

use anyhow::{bail, Context, Result};
use datasets::prepare::{checked_member, decode_any_png, fetch_package, interleave_validation, members, sha256_hex, tiles, write_atomic, WIKI, WIKI_LEN};
use datasets::{cifar, imagenet};
use npyz::WriterBuilder;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

const FOOLBOX: &str = "foolbox==3.3.4";
/// SHA-256 of the 20 `foolbox/data/cifar10_*.png` files concatenated in name order.
const FOOLBOX_CIFAR_SHA256: &str = "43cf17f53f8817b58c2d157181a0cc1cdf6a0f1f2f368d7bab27ddc24167221d";
const SKIMAGE: &str = "scikit-image==0.26.0";
/// The RGB photos of `skimage/data/` used, with their SHA-256.
const PHOTOS: [(&str, &str); 7] = [
    ("astronaut", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    ("chelsea", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    ("coffee", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    ("motorcycle_left", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    ("motorcycle_right", "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
    ("ihc", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    ("color", "7d2df993de2b4fa2a78e04e5df8050f49a9c511aa75e59ab3bd56ac9c98aef7e"),
];
const VALID_PHOTO: &str = "chelsea";
const TEST_PHOTO: &str = "coffee";

struct Out {
    files: Vec<(PathBuf, usize, String)>,
}

impl Out {
    fn write(&mut self, path: PathBuf, bytes: &[u8]) -> Result<()> {
        write_atomic(&path, bytes)?;
        println!("  {} ({} bytes)", path.display(), bytes.len());
        self.files.push((path, bytes.len(), sha256_hex(bytes)));
        Ok(())
    }
}

fn text(data: &Path, cache: &Path, out: &mut Out) -> Result<()> {
    println!("text: {} {}", WIKI.package, WIKI.path);
    let packed = checked_member(&WIKI, cache)?;
    let mut xml = Vec::with_capacity(WIKI_LEN);
    bzip2::read::BzDecoder::new(&packed[..]).read_to_end(&mut xml).context("decompressing the Wikipedia excerpt")?;
    if xml.len() != WIKI_LEN {
        bail!("the Wikipedia excerpt unpacked to {} bytes, expected {WIKI_LEN}", xml.len());
    }
    out.write(data.join("enwik8/enwik8"), &xml)
}

fn images(data: &Path, cache: &Path, out: &mut Out) -> Result<()> {
    println!("images: {FOOLBOX} cifar10_*.png, {SKIMAGE} skimage/data photos");
    // The 20 real CIFAR-10 test images, labels in their names (cifar10_<k>_<label>.png).
    let wheel = fetch_package(FOOLBOX, cache)?;
    let pngs = members(&wheel, "foolbox/data/cifar10_", ".png")?;
    let mut all = Vec::new();
    for (_, b) in &pngs {
        all.extend_from_slice(b);
    }
    if pngs.len() != 20 || sha256_hex(&all) != FOOLBOX_CIFAR_SHA256 {
        bail!("{}: the cifar10_*.png files do not match the pinned SHA-256", wheel.display());
    }
    let (mut real, mut real_labels) = (Vec::new(), Vec::new());
    for (name, b) in &pngs {
        let (rgb, h, w) = decode_any_png(name, b)?;
        if (h, w) != (32, 32) {
            bail!("{name}: {h}x{w}, expected 32x32");
        }
        real.extend(rgb);
        let label = name.trim_end_matches(".png").rsplit('_').next().and_then(|l| l.parse::<u16>().ok()).context("label in file name")?;
        real_labels.push(label);
    }
    // Photo tiles.
    let wheel = fetch_package(SKIMAGE, cache)?;
    let (mut train32, mut valid32, mut test32) = (Vec::new(), Vec::new(), Vec::new());
    let (mut train64, mut valid64, mut test64) = (Vec::new(), Vec::new(), Vec::new());
    for (name, sha) in PHOTOS {
        let path = format!("skimage/data/{name}.png");
        let bytes = datasets::prepare::read_member(&wheel, &path)?;
        if sha256_hex(&bytes) != sha {
            bail!("{}: {path} does not match its pinned SHA-256", wheel.display());
        }
        let (rgb, h, w) = decode_any_png(&path, &bytes)?;
        let (t32, t64) = (tiles(&rgb, h, w, 32, 16), tiles(&rgb, h, w, 64, 16));
        println!("  {name}: {w}x{h}, {} tiles of 32x32, {} of 64x64", t32.len(), t64.len());
        match name {
            VALID_PHOTO => (valid32.extend(t32), valid64.extend(t64)),
            TEST_PHOTO => (test32.extend(t32), test64.extend(t64)),
            _ => (train32.extend(t32), train64.extend(t64)),
        };
    }
    // CIFAR-10 layout: validation tiles where the loader takes validation (every 25th image).
    let stream = interleave_validation(train32, valid32, 25);
    let per = stream.len().div_ceil(5);
    for (k, chunk) in stream.chunks(per).enumerate() {
        let x: Vec<u8> = chunk.concat();
        out.write(data.join(format!("cifar10/data_batch_{}.bin", k + 1)), &cifar::encode_batch(&x, &vec![0; chunk.len()]))?;
    }
    let mut tx = real.clone();
    let mut ty = real_labels.clone();
    for t in &test32 {
        tx.extend_from_slice(t);
        ty.push(0);
    }
    out.write(data.join("cifar10/test_batch.bin"), &cifar::encode_batch(&tx, &ty))?;
    // ImageNet 64 layout: npz batches, validation every 256th training image.
    let stream = interleave_validation(train64, valid64, 256);
    out.write(data.join("imagenet64/train_data_batch_1.npz"), &npz(&stream)?)?;
    out.write(data.join("imagenet64/val_data.npz"), &npz(&test64)?)?;
    Ok(())
}

/// An ImageNet-style npz (channel-major `data`, `labels` all 1) of raster-order tiles.
fn npz(tiles: &[Vec<u8>]) -> Result<Vec<u8>> {
    let plane = 64 * 64;
    let rows: Vec<u8> = tiles.iter().flat_map(|t| (0..3).flat_map(move |c| (0..plane).map(move |p| t[p * 3 + c]))).collect();
    let mut data = Vec::new();
    {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&[tiles.len() as u64, imagenet::IMAGE as u64]).writer(&mut data).begin_nd()?;
        w.extend(rows)?;
        w.finish()?;
    }
    let mut labels = Vec::new();
    {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&[tiles.len() as u64]).writer(&mut labels).begin_nd()?;
        w.extend(std::iter::repeat_n(1i64, tiles.len()))?;
        w.finish()?;
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, bytes) in [("data.npy", &data), ("labels.npy", &labels)] {
            z.start_file(name, zip::write::SimpleFileOptions::default())?;
            z.write_all(bytes)?;
        }
        z.finish()?;
    }
    Ok(buf.into_inner())
}

const MUSIC21: &str = "music21==10.5.1";
const SOUNDFONT_DEB: &str = "timgm6mb-soundfont";
const SOUNDFONT_PATH: &str = "usr/share/sounds/sf2/TimGM6mb.sf2";
const SOUNDFONT_SHA256: &str = "c5378b62028c920cb11e4803327983fee2f2cdff5dc89c708e39da417e51c854";
const CORPUS_TO_MIDI: &str = include_str!("../../scripts/corpus_to_midi.py");

fn run(cmd: &mut std::process::Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The SoundFont from Debian's package, fetched with `apt-get download` and unpacked.
fn soundfont(cache: &Path) -> Result<PathBuf> {
    let dir = cache.join("soundfont");
    let sf2 = dir.join(SOUNDFONT_PATH);
    if !sf2.exists() {
        std::fs::create_dir_all(&dir)?;
        let download = |dir: &Path| std::process::Command::new("apt-get").args(["download", "-q", SOUNDFONT_DEB]).current_dir(dir).status();
        if !download(&dir).is_ok_and(|s| s.success()) {
            run(std::process::Command::new("apt-get").args(["update", "-qq"]), "apt-get update")?;
            run(std::process::Command::new("apt-get").args(["download", "-q", SOUNDFONT_DEB]).current_dir(&dir), "apt-get download timgm6mb-soundfont")?;
        }
        let deb = std::fs::read_dir(&dir)?.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "deb")).context("no .deb downloaded")?;
        run(std::process::Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir), "dpkg-deb -x")?;
    }
    let got = sha256_hex(&std::fs::read(&sf2).with_context(|| sf2.display().to_string())?);
    if got != SOUNDFONT_SHA256 {
        bail!("{}: SHA-256 {got}, pinned {SOUNDFONT_SHA256}", sf2.display());
    }
    Ok(sf2)
}

fn audio(data: &Path, cache: &Path, max_works: usize, out: &mut Out) -> Result<()> {
    println!("audio: {MUSIC21} corpus -> MIDI -> {SOUNDFONT_DEB} piano -> 12 kHz mu-law");
    let sf2 = soundfont(cache)?;
    let python = cache.join("python");
    if !python.join("music21").exists() {
        run(std::process::Command::new("python3").args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]).arg(&python).arg(MUSIC21), "pip install music21")?;
    }
    let script = cache.join("corpus_to_midi.py");
    std::fs::write(&script, CORPUS_TO_MIDI)?;
    let midi_dir = cache.join("midi");
    run(std::process::Command::new("python3").arg(&script).arg(&midi_dir).arg(max_works.to_string()).env("PYTHONPATH", &python), "corpus_to_midi.py")?;
    let font = datasets::render::load_soundfont(&sf2)?;
    let mut mids: Vec<PathBuf> = std::fs::read_dir(&midi_dir)?.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "mid")).collect();
    mids.sort();
    let mut seconds = 0.0;
    for (k, mid) in mids.iter().enumerate() {
        let q = datasets::render::midi_to_mulaw(&font, &std::fs::read(mid)?, mid)?;
        seconds += q.len() as f64 / datasets::audio::SAMPLE_RATE as f64;
        let name = mid.file_stem().unwrap().to_string_lossy().into_owned();
        if k == 0 {
            let preview = data.join("audio-preview.wav");
            datasets::audio::write_wav16(&preview, &q[..q.len().min(20 * 12_000)])?;
            println!("  preview {}", preview.display());
        }
        out.write(data.join(format!("audio/{name}.ulaw")), &q)?;
    }
    println!("  {} pieces, {:.1} minutes of audio", mids.len(), seconds / 60.0);
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let data = PathBuf::from(arg("--data").unwrap_or_else(|| "data".into()));
    let only = arg("--only");
    if let Some(o) = &only {
        if !["text", "images", "audio"].contains(&o.as_str()) {
            bail!("--only takes text, images or audio, not {o:?}");
        }
    }
    let cache = data.join("cache");
    let mut out = Out { files: Vec::new() };
    let t0 = Instant::now();
    if only.as_deref().is_none_or(|o| o == "text") {
        text(&data, &cache, &mut out)?;
    }
    if only.as_deref().is_none_or(|o| o == "images") {
        images(&data, &cache, &mut out)?;
    }
    if only.as_deref().is_none_or(|o| o == "audio") {
        let max_works = arg("--max-works").map(|v| v.parse()).transpose().context("--max-works takes a number")?.unwrap_or(100);
        audio(&data, &cache, max_works, &mut out)?;
    }
    let mut manifest = String::from("# written by `prepare`: size in bytes, SHA-256, path\n");
    for (p, n, sha) in &out.files {
        manifest += &format!("{n} {sha} {}\n", p.display());
    }
    write_atomic(&data.join("MANIFEST.txt"), manifest.as_bytes())?;
    // Read everything back with the real loaders.
    if only.as_deref().is_none_or(|o| o == "text") {
        let t = datasets::enwik8::load(&data.join("enwik8/enwik8"))?;
        println!("check: text {} / {} / {} bytes", t.train.len(), t.valid.len(), t.test.len());
    }
    if only.as_deref().is_none_or(|o| o == "images") {
        let c = cifar::load(&data.join("cifar10"))?;
        println!("check: cifar10 {} / {} / {} images", c.train.len(), c.valid.len(), c.test.len());
        let i = imagenet::load(&data.join("imagenet64"))?;
        println!("check: imagenet64 {} / {} / {} images", i.train.len(), i.valid.len(), i.test.len());
        // Previews: the first test images (the 20 real CIFAR-10 ones first) and training tiles.
        let grid = |set: &datasets::ImageSet, step: usize, path: PathBuf| -> Result<()> {
            let picks: Vec<&[u8]> = (0..32).map(|k| set.get((k * step) % set.len())).collect();
            datasets::images::write_grid(&path, &picks, set.height, set.width, 8)?;
            println!("  preview {}", path.display());
            Ok(())
        };
        grid(&c.test, 1, data.join("cifar10-test-preview.png"))?;
        grid(&i.train, 97, data.join("imagenet64-train-preview.png"))?;
    }
    if only.as_deref().is_none_or(|o| o == "audio") {
        let a = datasets::audio::load(&data.join("audio"))?;
        println!("check: audio {} / {} / {} bytes", a.train.total_bytes(), a.valid.total_bytes(), a.test.total_bytes());
    }
    println!("prepared in {:.1} s; manifest {}", t0.elapsed().as_secs_f64(), data.join("MANIFEST.txt").display());
    Ok(())
}

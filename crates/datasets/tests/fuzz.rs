//! A short fuzz run of every parser: valid files are mutated (bytes flipped, truncated,
//! extended) and parsed again; each parse must return `Ok` or `Err`, never panic.

mod common;
use common::*;
use datasets::{audio, cifar, enwik8, imagenet, images};
use std::path::Path;

/// Mutation `k` of `base`, deterministic.
fn mutate(base: &[u8], k: u64) -> Vec<u8> {
    let r = |i: u64| kernels::philox::block(0xF022, k * 16 + i)[0] as usize;
    let mut v = base.to_vec();
    match k % 4 {
        0 => v.truncate(r(0) % (base.len() + 1)),
        1 => {
            for i in 0..1 + r(1) % 8 {
                let n = v.len().max(1);
                let p = r(2 + i as u64) % n;
                if p < v.len() {
                    v[p] ^= 1 << (r(10) % 8);
                }
            }
        }
        2 => v.extend((0..r(3) % 64).map(|i| r(20 + i as u64) as u8)),
        _ => {
            let n = v.len().max(1);
            let (a, b) = (r(4) % n, r(5) % n);
            let (a, b) = (a.min(b), a.max(b));
            v.drain(a..b.min(v.len()));
        }
    }
    v
}

/// Parses `mutations` variants of the file at `path` with `parse`, catching panics.
fn fuzz(path: &Path, mutations: u64, parse: impl Fn(&Path) -> bool) {
    let base = std::fs::read(path).unwrap();
    for k in 0..mutations {
        std::fs::write(path, mutate(&base, k)).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(path)));
        assert!(outcome.is_ok(), "{} panicked on mutation {k}", path.display());
    }
    std::fs::write(path, base).unwrap();
}

#[test]
fn parsers_never_panic_on_mutated_files() {
    let dir = temp_dir("fuzz");
    let cifar_dir = dir.join("cifar");
    std::fs::create_dir_all(&cifar_dir).unwrap();
    write_cifar(&cifar_dir, 3);
    let tgz = dir.join("c.tar.gz");
    tar_gz(&cifar_dir, &tgz);
    fuzz(&cifar_dir.join("data_batch_1.bin"), 200, |p| cifar::parse_batch(p, &std::fs::read(p).unwrap()).is_ok());
    fuzz(&tgz, 200, |p| cifar::load(p).is_ok());

    let z = dir.join("enwik8.zip");
    zip(&z, &[("enwik8", &bytes(5_000, 1))]);
    fuzz(&z, 200, |p| enwik8::load(p).is_ok());

    let npz = dir.join("val_data.npz");
    write_npz(&npz, 3, 2);
    fuzz(&npz, 200, |p| imagenet::parse_npz(p).is_ok());

    let png = dir.join("a.png");
    images::encode_png(&png, &bytes(64 * 64 * 3, 3), 64, 64).unwrap();
    fuzz(&png, 200, |p| images::decode_png(p).is_ok());

    let wav = dir.join("a.wav");
    write_wav(&wav, 8_000, 2, 16, false);
    fuzz(&wav, 200, |p| audio::encode_file(p).is_ok());
}

//! Loader throughput: random training batches, in bytes per second, for text (crops of
//! n_ctx + 1 from a 100 MB stream), images (whole 32x32x3 and 64x64x3 examples) and audio
//! (windows of 65,537 mu-law bytes across tracks encoded at prepare time).
//!
//! `cargo bench -p benches --bench loaders`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datasets::audio::{Track, Tracks};
use datasets::{ByteStream, ImageSet};

fn pseudo_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

fn loaders(c: &mut Criterion) {
    let mut g = c.benchmark_group("loaders");
    let text = ByteStream::from_vec(pseudo_bytes(100_000_000));
    let (batch, len) = (16, 12_289);
    g.throughput(Throughput::Bytes((batch * len) as u64));
    let mut step = 0;
    g.bench_function("text crops 16 x 12289 (enwik8)", |b| {
        b.iter(|| {
            step += 1;
            text.random_crops(batch, len, 1, step).unwrap()
        })
    });
    for (name, side) in [("images 16 x 3072 (CIFAR-10)", 32), ("images 16 x 12288 (ImageNet 64)", 64)] {
        let example_len = side * side * 3;
        let set = ImageSet { data: pseudo_bytes(2_000 * example_len), labels: vec![0; 2_000], example_len, height: side, width: side };
        g.throughput(Throughput::Bytes((16 * example_len) as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                step += 1;
                set.random_batch(16, 2, step)
            })
        });
    }
    let tracks = Tracks((0..50).map(|k| Track { name: format!("t{k}"), bytes: pseudo_bytes(1_000_000 + k * 10_000) }).collect());
    g.throughput(Throughput::Bytes(4 * 65_537));
    g.bench_function("audio windows 4 x 65537", |b| {
        b.iter(|| {
            step += 1;
            tracks.random_windows(4, 65_537, 3, step).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, loaders);
criterion_main!(benches);

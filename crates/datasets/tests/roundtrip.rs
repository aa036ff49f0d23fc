//! Every official format, written small by the test and read back exactly: CIFAR-10 batch
//! files and the tar.gz archive, enwik8 raw and zipped, ImageNet npz batches and PNG folders,
//! WAV in every supported encoding and raw .ulaw, and the inverse transforms.

mod common;
use common::*;
use datasets::{audio, cifar, enwik8, imagenet, images};

#[test]
fn cifar_folder_and_tar_gz() {
    let dir = temp_dir("cifar");
    let (train, test) = write_cifar(&dir, 50);
    let archive = temp_dir("cifar-tgz").join("cifar-10-binary.tar.gz");
    tar_gz(&dir, &archive);
    for source in [dir.clone(), archive] {
        let c = cifar::load(&source).unwrap();
        assert_eq!((c.train.len(), c.valid.len(), c.test.len()), (240, 10, 50));
        assert_eq!(c.test.data, test);
        // Image 24 of the training stream is the first validation image; 0..24 are train.
        assert_eq!(c.valid.get(0), &train[24 * cifar::IMAGE..25 * cifar::IMAGE]);
        assert_eq!(c.train.get(24), &train[25 * cifar::IMAGE..26 * cifar::IMAGE]);
        assert_eq!(c.train.labels[3], 3);
    }
    // Raster order, channel last: pixel (row 0, col 1), green = plane G, index 1.
    let (x, y) = cifar_images(1, 5);
    let rec = cifar::encode_batch(&x, &y);
    assert_eq!(rec[1 + 1024 + 1], x[3 + 1]);
}

#[test]
fn enwik8_raw_and_zip() {
    let dir = temp_dir("enwik8");
    let text = bytes(20_000, 3);
    std::fs::write(dir.join("enwik8"), &text).unwrap();
    zip(&dir.join("enwik8.zip"), &[("enwik8", &text)]);
    for f in ["enwik8", "enwik8.zip"] {
        let t = enwik8::load(&dir.join(f)).unwrap();
        assert_eq!((t.train.len(), t.valid.len(), t.test.len()), (18_000, 1_000, 1_000));
        assert_eq!(t.train.as_slice(), &text[..18_000]);
        assert_eq!(t.test.as_slice(), &text[19_000..]);
    }
}

#[test]
fn imagenet_npz_and_png_folders() {
    let dir = temp_dir("imagenet-npz");
    let mut train_rows = Vec::new();
    for k in 1..=2 {
        train_rows.extend(write_npz(&dir.join(format!("train_data_batch_{k}.npz")), 200, k));
    }
    let val = write_npz(&dir.join("val_data.npz"), 30, 9);
    let d = imagenet::load(&dir).unwrap();
    assert_eq!((d.train.len(), d.valid.len(), d.test.len()), (399, 1, 30));
    assert_eq!(d.test.data, planes_to_raster(&val));
    let raster = planes_to_raster(&train_rows);
    assert_eq!(d.valid.get(0), &raster[255 * imagenet::IMAGE..256 * imagenet::IMAGE]);
    assert_eq!(d.test.labels[0], 1);

    let dir = temp_dir("imagenet-png");
    for (folder, n) in [("train_64x64", 5), ("valid_64x64", 3)] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        for i in 0..n {
            images::encode_png(&dir.join(folder).join(format!("{i:05}.png")), &bytes(imagenet::IMAGE, i as u64), 64, 64).unwrap();
        }
    }
    let d = imagenet::load(&dir).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (5, 3));
    assert_eq!(d.train.get(2), &bytes(imagenet::IMAGE, 2)[..]);
}

#[test]
fn wav_encodings_and_ulaw_and_inverse() {
    let dir = temp_dir("audio");
    let encodings = [(44_100, 2, 16, false), (22_050, 1, 8, false), (48_000, 1, 24, false), (16_000, 2, 32, true), (12_000, 1, 32, false)];
    for (k, &(rate, ch, bits, float)) in encodings.iter().enumerate() {
        let p = dir.join(format!("piece{k}.wav"));
        write_wav(&p, rate, ch, bits, float);
        let q = audio::encode_file(&p).unwrap();
        assert_eq!(q.len(), 6_000, "{rate} Hz {bits}-bit: 0.5 s at 12 kHz");
        // The decoded signal is the 0.5-amplitude 440 Hz tone: rms 0.354, ~440 crossings/s.
        let x = audio::mulaw_decode(&q[500..5_500]);
        let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        let crossings = x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f32 / (5_000.0 / 12_000.0) / 2.0;
        assert!((rms - 0.354).abs() < 0.02 && (crossings - 440.0).abs() < 10.0, "{rate} Hz {bits}-bit: rms {rms}, {crossings} Hz");
    }
    std::fs::write(dir.join("raw.ulaw"), bytes(3_000, 1)).unwrap();
    let a = audio::load(&dir).unwrap();
    let total = a.train.total_bytes() + a.valid.total_bytes() + a.test.total_bytes();
    assert_eq!(total, 5 * 6_000 + 3_000);
    // Inverse: mu-law -> 16-bit WAV -> mu-law is the identity.
    let q = audio::encode_file(&dir.join("piece0.wav")).unwrap();
    let out = dir.join("out.wav");
    audio::write_wav16(&out, &q).unwrap();
    assert_eq!(audio::encode_file(&out).unwrap(), q);
}

#[test]
fn image_inverse_transform_round_trips() {
    let dir = temp_dir("png");
    let img = bytes(32 * 32 * 3, 4);
    images::encode_png(&dir.join("a.png"), &img, 32, 32).unwrap();
    let (back, h, w) = images::decode_png(&dir.join("a.png")).unwrap();
    assert_eq!((back, h, w), (img.clone(), 32, 32));
    images::write_grid(&dir.join("grid.png"), &[&img, &img, &img], 32, 32, 2).unwrap();
    let (_, gh, gw) = images::decode_png(&dir.join("grid.png")).unwrap();
    assert_eq!((gh, gw), (2 * 34 + 2, 2 * 34 + 2));
}

//! Bits per byte over a whole split, deterministically: no dropout, fixed windows.
//!
//! - text: consecutive windows of `n_ctx + 1` bytes overlapping by one, so every byte after
//!   the first is predicted exactly once;
//! - images: each image after a start byte, so every byte of every image is predicted;
//! - audio: the windows of each recording, as for text.
//!
//! The mean loss in nats per predicted byte, divided by ln 2.

use crate::config::RunConfig;
use crate::{Error, Result};
use autograd::no_grad;
use datasets::{ByteStream, ImageSet, Split};
use model::Transformer;
use tensor::{Device, Tensor};

/// What an evaluation reads.
pub enum EvalData {
    Streams(Vec<ByteStream>),
    Images(ImageSet),
}

/// The `split` of the configured data.
pub fn open(cfg: &RunConfig, split: Split) -> Result<EvalData> {
    let path = cfg.data.path.clone().unwrap_or_default();
    let e = |e: datasets::Error| Error::Invalid(e.to_string());
    let pick = |t: datasets::enwik8::Text| t.split(split).clone();
    Ok(match cfg.data.kind.as_str() {
        "embedded" => {
            let (train, valid, test) = datasets::embedded::splits();
            let bytes = match split {
                Split::Train => train,
                Split::Valid => valid,
                Split::Test => test,
            };
            EvalData::Streams(vec![ByteStream::from_vec(bytes.to_vec())])
        }
        "enwik8" => EvalData::Streams(vec![pick(datasets::enwik8::load(&path).map_err(e)?)]),
        "cifar10" | "imagenet64" => {
            let (train, valid, test) = if cfg.data.kind == "cifar10" {
                let c = datasets::cifar::load(&path).map_err(e)?;
                (c.train, c.valid, c.test)
            } else {
                let i = datasets::imagenet::load(&path).map_err(e)?;
                (i.train, i.valid, i.test)
            };
            EvalData::Images(match split {
                Split::Train => train,
                Split::Valid => valid,
                Split::Test => test,
            })
        }
        "audio" => {
            let a = datasets::audio::load(&path).map_err(e)?;
            let tracks = match split {
                Split::Train => a.train,
                Split::Valid => a.valid,
                Split::Test => a.test,
            };
            EvalData::Streams(tracks.0.into_iter().map(|t| ByteStream::from_vec(t.bytes)).collect())
        }
        other => return Err(Error::Invalid(format!("unknown data kind {other:?}"))),
    })
}

/// Mean bits per byte of `model` on `data`; at most `max_windows` windows if given. Windows
/// of equal length are scored `batch` at a time (the sum is the same; only the speed differs).
pub fn bits_per_byte(model: &Transformer, data: &EvalData, max_windows: Option<usize>, batch: usize, device: Device) -> Result<f64> {
    let n = model.config.n_ctx;
    let mut model = model.clone();
    model.set_dropout(0.0);
    let (mut nats, mut count) = (0.0, 0usize);
    // Scores a group of windows of one length: [rows, len].
    let mut score = |flat: &[u8], rows: usize| -> Result<()> {
        let len = flat.len() / rows;
        let ids = Tensor::from_slice(flat, &[rows, len], device)?;
        let loss = no_grad(|| model.loss(&ids))?;
        nats += loss.value().to_scalar_f64()? * (rows * (len - 1)) as f64;
        count += rows * (len - 1);
        Ok(())
    };
    let limit = max_windows.unwrap_or(usize::MAX);
    let windows: Box<dyn Iterator<Item = std::borrow::Cow<[u8]>>> = match data {
        EvalData::Streams(streams) => Box::new(streams.iter().flat_map(|s| s.eval_windows(n + 1)).filter(|w| w.len() >= 2).take(limit).map(std::borrow::Cow::Borrowed)),
        EvalData::Images(set) => Box::new((0..set.len().min(limit)).map(|i| {
            let img = set.get(i);
            let mut w = Vec::with_capacity(img.len().min(n) + 1);
            w.push(0);
            w.extend_from_slice(&img[..img.len().min(n)]);
            std::borrow::Cow::Owned(w)
        })),
    };
    let mut group: Vec<u8> = Vec::new();
    let mut rows = 0;
    for w in windows {
        if rows > 0 && (rows == batch.max(1) || group.len() / rows != w.len()) {
            score(&group, rows)?;
            (group, rows) = (Vec::new(), 0);
        }
        group.extend_from_slice(&w);
        rows += 1;
    }
    if rows > 0 {
        score(&group, rows)?;
    }
    Ok(nats / count.max(1) as f64 / std::f64::consts::LN_2)
}

/// Mean bits per byte over the first `max_windows` windows of a byte slice.
pub fn bits_per_byte_of(model: &Transformer, bytes: &[u8], max_windows: usize) -> Result<f64> {
    bits_per_byte(model, &EvalData::Streams(vec![ByteStream::from_vec(bytes.to_vec())]), Some(max_windows), 8, Device::Cpu)
}

//! What the loaders produce: long byte streams (text, audio) to crop windows from, and sets of
//! fixed-length examples (images).

use kernels::philox;
use std::sync::Arc;

/// The three splits of every benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Valid,
    Test,
}

/// Bytes held in memory or memory-mapped from a file.
#[derive(Clone)]
pub enum Bytes {
    Owned(Arc<Vec<u8>>),
    Mapped(Arc<memmap2::Mmap>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

/// A contiguous stream of bytes (a slice of a larger buffer).
#[derive(Clone)]
pub struct ByteStream {
    bytes: Bytes,
    start: usize,
    len: usize,
}

/// A deterministic random number in `[0, n)` for draw `k` of `(seed, step)`.
pub(crate) fn draw(seed: u64, step: u64, k: u64, n: usize) -> usize {
    let w = philox::block(seed ^ 0x5EED_DA7A, step.wrapping_mul(1 << 20).wrapping_add(k));
    (((w[0] as u64) | ((w[1] as u64) << 32)) % n.max(1) as u64) as usize
}

impl ByteStream {
    pub fn new(bytes: Bytes, start: usize, len: usize) -> Self {
        assert!(start + len <= bytes.len(), "stream range inside its buffer");
        ByteStream { bytes, start, len }
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        let len = v.len();
        ByteStream { bytes: Bytes::Owned(Arc::new(v)), start: 0, len }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `batch` random windows of `len` bytes (`n_ctx + 1` for training), concatenated; the
    /// offsets are a pure function of `(seed, step)`, so a resumed run sees the same batches.
    pub fn random_crops(&self, batch: usize, len: usize, seed: u64, step: u64) -> Option<Vec<u8>> {
        if self.len < len {
            return None;
        }
        let data = self.as_slice();
        let mut out = Vec::with_capacity(batch * len);
        for b in 0..batch {
            let s = draw(seed, step, b as u64, self.len - len + 1);
            out.extend_from_slice(&data[s..s + len]);
        }
        Some(out)
    }

    /// Windows of `len` bytes covering the stream so that every byte after the first is
    /// predicted exactly once: window `k` starts at `k (len - 1)`; the last may be shorter.
    pub fn eval_windows(&self, len: usize) -> impl Iterator<Item = &[u8]> {
        let data = self.as_slice();
        let stride = len.saturating_sub(1).max(1);
        (0..data.len().saturating_sub(1)).step_by(stride).map(move |s| &data[s..(s + len).min(data.len())])
    }
}

/// A set of fixed-length examples (flattened images), with their labels if any.
#[derive(Clone)]
pub struct ImageSet {
    pub data: Vec<u8>,
    pub labels: Vec<u16>,
    /// Bytes per example (`height * width * channels`).
    pub example_len: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.data.len() / self.example_len.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[i * self.example_len..(i + 1) * self.example_len]
    }

    /// `batch` random examples, concatenated, keyed like [`ByteStream::random_crops`].
    pub fn random_batch(&self, batch: usize, seed: u64, step: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(batch * self.example_len);
        for b in 0..batch {
            out.extend_from_slice(self.get(draw(seed, step, b as u64, self.len())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_windows_predict_every_byte_once() {
        let s = ByteStream::from_vec((0..=255u8).cycle().take(1000).collect());
        let predicted: usize = s.eval_windows(65).map(|w| w.len() - 1).sum();
        assert_eq!(predicted, 999);
        let crops = s.random_crops(4, 65, 1, 7).unwrap();
        assert_eq!(crops, s.random_crops(4, 65, 1, 7).unwrap());
        assert!(s.random_crops(1, 1001, 1, 0).is_none());
    }
}

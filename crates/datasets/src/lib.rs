//! # datasets: bytes from files
//!
//! The paper models byte sequences, so every benchmark ends as `u8` sequences of a fixed
//! length per split:
//! - [`cifar`]: CIFAR-10, binary version (`data_batch_{1..5}.bin`, `test_batch.bin`, or the
//!   `cifar-10-binary.tar.gz` archive), 32x32x3 images;
//! - [`enwik8`]: the first 10^8 bytes of English Wikipedia (raw file or `enwik8.zip`);
//! - [`imagenet`]: downsampled ImageNet 64x64, as npz batches or PNG folders;
//! - [`audio`]: classical music from WAV files (or already encoded `.ulaw`), mono, 12 kHz,
//!   8-bit mu-law;
//! - [`embedded`]: the default corpus built into the binary (this project's own source).
//!
//! Images are flattened in raster order, channel last (row, column, channel), as in the paper.
//! [`images`] and [`audio`] also hold the inverse transforms (bytes to PNG, mu-law to WAV) for
//! samples. Every parser is strict: a truncated file, a wrong record size, a wrong npz key,
//! shape or dtype, a corrupt archive, an empty folder or an unsupported encoding is an
//! [`Error`] naming the file and the problem, never a panic.
//!
//! ```text
//! datasets -> trainer
//! ```

pub mod audio;
pub mod cifar;
pub mod embedded;
pub mod enwik8;
mod error;
pub mod images;
pub mod imagenet;
pub mod prepare;
pub mod render;
pub mod sequences;

pub use error::{Error, Result};
pub use sequences::{ByteStream, ImageSet, Split};

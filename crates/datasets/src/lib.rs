//! # datasets: bytes from files
//!
//! The paper models byte sequences, so every dataset here ends as `u8` sequences of a fixed
//! length per split. This crate will read the four benchmarks in their official formats
//! (CIFAR-10 binary, enwik8, ImageNet 64x64, raw audio); for now it provides the embedded
//! default corpus that lets the trainer run with no set-up at all.
//!
//! ```text
//! datasets -> trainer
//! ```

pub mod embedded;

//! # trainer: turning a model and bytes into a trained model
//!
//! The pieces of a training run, each small and separately testable:
//! - [`config`]: TOML run configurations with `--set` overrides and errors naming file and key;
//! - [`run`]: the training loop (accumulation, clipping, mixed precision with dynamic loss
//!   scaling, evaluation, checkpoints, exact resume, Ctrl-C);
//! - [`optim`]: Adam(W) over named parameters, with global-norm gradient clipping;
//! - [`schedule`]: linear warm-up then cosine decay of the learning rate;
//! - [`batches`]: seeded random crops of `n_ctx + 1` bytes from a corpus;
//! - [`eval`]: bits per byte over a whole split, deterministically;
//! - [`loss_scale`]: dynamic loss scaling for half-precision gradients;
//! - [`checkpoint`]: atomic checkpoint folders, the best one, pruning;
//! - [`sample`]: generation with cached keys and values, written as text, PNG or WAV;
//! - [`plot`]: the loss curve as a PNG.
//!
//! The binary (`cargo run --release -p trainer`) wires them together.

pub mod batches;
pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod loss_scale;
pub mod optim;
pub mod plot;
pub mod run;
pub mod sample;
pub mod schedule;

/// Errors of the training loop's library parts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] model::Error),
    #[error(transparent)]
    Autograd(#[from] autograd::Error),
    #[error(transparent)]
    Tensor(#[from] tensor::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

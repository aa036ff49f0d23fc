//! # model: the Sparse Transformer's building blocks
//!
//! Modules with named parameters, built from `autograd` ops:
//! - [`layers`]: `Linear`, `LayerNorm`, `Embedding`;
//! - [`block`]: multi-head attention, the feed-forward network, and the pre-activation
//!   residual block of the paper: `a = dropout(attn(LN(H)))`, `b = dropout(ff(LN(H + a)))`,
//!   `H' = H + a + b`, with dropout only at the end of each residual branch;
//! - [`transformer`]: token embedding plus factorized position embeddings, `N` blocks, a
//!   final LayerNorm and the output projection, with a per-block recomputation knob;
//! - [`decode`]: one position at a time with cached keys and values, for sampling.
//!
//! Parameters are created from a seed and their name, so a model is reproducible and a
//! parameter's initial value does not depend on the order in which modules are built.
//!
//! ```text
//! kernels -> tensor -> autograd -> model -> trainer
//! ```

pub mod block;
pub mod config;
pub mod decode;
mod error;
pub mod io;
pub mod layers;
pub mod params;
pub mod pattern;
pub mod transformer;

pub use error::{Error, Result};
pub use params::Param;
pub use config::{Config, Positions};
pub use transformer::Transformer;

//! # autograd: reverse-mode differentiation on a tape
//!
//! A [`Var`] is a tensor that takes part in differentiation. Every op on `Var`s computes its
//! result with a `tensor` op and, when some input needs a gradient, appends one node to the
//! current thread's **tape**: the ids of its inputs and outputs, the tensors the backward
//! will need (*saved* tensors), and a backward closure written right beside the forward
//! (see [`ops`]). [`Var::backward`] walks the tape once, last node first:
//!
//! 1. take (and so free) the gradients of the node's outputs; skip the node if none exist;
//! 2. call its backward closure, which consumes the saved tensors (freeing them) and returns
//!    one gradient per input, computing nothing for inputs that need none;
//! 3. add each into that input's gradient (the first contribution is stored as is).
//!
//! Leaves (parameters, and inputs made with [`Var::leaf`]) keep their gradients; they are
//! what [`Gradients`] holds afterwards.
//!
//! [`no_grad`] runs code without recording. [`checkpoint`] runs a function unrecorded and
//! records a single node that re-runs it on a fresh sub-tape during the backward pass:
//! activations inside the function are never kept, at the price of a second forward.
//! Random ops draw their seeds from a per-thread stream ([`rng`]) that `checkpoint` rewinds,
//! so a recomputed dropout mask is the same mask.
//!
//! [`memory`] counts the bytes held by saved tensors, which is what recomputation saves.
//! [`gradcheck`] compares every op's backward with central finite differences in f64.

mod checkpoint;
mod error;
pub mod gradcheck;
pub mod memory;
pub mod ops;
pub mod rng;
mod tape;
mod var;

pub use checkpoint::checkpoint;
pub use error::{Error, Result};
pub use tape::{is_grad_enabled, no_grad, record, record1, BackwardArgs, Gradients};
pub use var::{Var, VarId};

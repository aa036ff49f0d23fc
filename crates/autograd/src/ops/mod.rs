//! Differentiable ops on [`Var`](crate::Var)s. Each function computes its forward with a
//! `tensor` op and, right beside it, records the backward: what it saves and how it turns
//! output gradients into input gradients.

pub mod attention;
pub mod elementwise;
pub mod matmul;
pub mod nn;
pub mod reduce;
pub mod views;

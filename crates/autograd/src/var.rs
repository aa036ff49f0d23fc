//! `Var`: a tensor with an identity on the tape.

use crate::tape::record1;
use std::sync::atomic::{AtomicU64, Ordering};
use tensor::Tensor;

/// A process-unique identity for a [`Var`]; gradients are keyed by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(u64);

impl VarId {
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        VarId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A tensor taking part in differentiation. Cloning is cheap and keeps the identity.
#[derive(Clone, Debug)]
pub struct Var {
    pub(crate) id: VarId,
    pub(crate) value: Tensor,
    pub(crate) requires_grad: bool,
    pub(crate) leaf: bool,
}

impl Var {
    /// A leaf that collects a gradient: a parameter, or an input we differentiate against.
    pub fn leaf(value: Tensor) -> Var {
        Var { id: VarId::fresh(), value, requires_grad: true, leaf: true }
    }

    /// A value that needs no gradient (data, targets, masks).
    pub fn constant(value: Tensor) -> Var {
        Var { id: VarId::fresh(), value, requires_grad: false, leaf: true }
    }

    pub(crate) fn new(value: Tensor, requires_grad: bool, leaf: bool) -> Var {
        Var { id: VarId::fresh(), value, requires_grad, leaf }
    }

    pub fn id(&self) -> VarId {
        self.id
    }
    pub fn value(&self) -> &Tensor {
        &self.value
    }
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }
    pub fn is_leaf(&self) -> bool {
        self.leaf
    }
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The same value, cut off from the graph.
    pub fn detach(&self) -> Var {
        Var::constant(self.value.clone())
    }

    /// Identity op: a new non-leaf var that passes its gradient straight through. Useful to
    /// give a value a fresh identity on the tape.
    pub fn identity(&self) -> Var {
        record1("identity", &[self], self.value.clone(), vec![], |g, _, _| Ok(vec![Some(g)]))
    }
}

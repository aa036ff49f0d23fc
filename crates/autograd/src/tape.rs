//! The tape: nodes recorded during the forward pass, replayed backwards.

use crate::error::{Error, Result};
use crate::memory;
use crate::var::{Var, VarId};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use tensor::Tensor;

/// What a backward closure receives.
pub struct BackwardArgs {
    /// The gradient of each output (`None` where nothing flowed back).
    pub grads: Vec<Option<Tensor>>,
    /// The tensors saved at record time, handed back (and freed once the closure returns).
    pub saved: Vec<Tensor>,
    /// Whether each input needs a gradient; compute nothing for those that do not.
    pub needs: Vec<bool>,
}

type BackwardFn = Box<dyn FnOnce(BackwardArgs) -> Result<Vec<Option<Tensor>>>>;

/// One recorded op.
pub(crate) struct Node {
    op: &'static str,
    /// Each input's id and whether it needs a gradient.
    inputs: Vec<(VarId, bool)>,
    outputs: Vec<VarId>,
    saved: Vec<Tensor>,
    held: Vec<usize>,
    backward: Option<BackwardFn>,
}

impl Drop for Node {
    fn drop(&mut self) {
        memory::release(&self.held);
    }
}

/// An ordered list of nodes.
#[derive(Default)]
pub(crate) struct Tape {
    nodes: Vec<Node>,
}

thread_local! {
    /// A stack: `checkpoint` pushes a fresh tape for its recomputation.
    static TAPES: RefCell<Vec<Tape>> = RefCell::new(vec![Tape::default()]);
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    /// While `checkpoint` runs its function unrecorded, the leaves it touches are noted here.
    static LEAF_COLLECTOR: RefCell<Option<Vec<Var>>> = const { RefCell::new(None) };
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Sets grad mode and returns the previous one.
pub(crate) fn set_grad_enabled(on: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(on))
}

/// Runs `f` without recording anything on the tape.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let prev = set_grad_enabled(false);
    let out = f();
    set_grad_enabled(prev);
    out
}

pub(crate) fn push_tape() {
    TAPES.with(|t| t.borrow_mut().push(Tape::default()));
}

pub(crate) fn pop_tape() -> Tape {
    TAPES.with(|t| t.borrow_mut().pop().expect("the root tape is never popped"))
}

/// Takes every node off the current tape.
fn take_current() -> Tape {
    TAPES.with(|t| std::mem::take(t.borrow_mut().last_mut().expect("a tape is always present")))
}

/// Starts collecting leaves touched by ops; returns the previous collector.
pub(crate) fn start_leaf_collection() -> Option<Vec<Var>> {
    LEAF_COLLECTOR.with(|c| c.replace(Some(Vec::new())))
}

/// Stops collecting, restores `prev`, and returns what was collected.
pub(crate) fn finish_leaf_collection(prev: Option<Vec<Var>>) -> Vec<Var> {
    LEAF_COLLECTOR.with(|c| c.replace(prev)).unwrap_or_default()
}

/// Records an op with any number of inputs and outputs; returns the output vars.
///
/// `saved` are the tensors the backward needs; they come back in [`BackwardArgs::saved`].
/// The backward returns one gradient per input, in order (`None` for inputs that need none).
/// Nothing is recorded, and `saved` is dropped at once, when no input needs a gradient or
/// grad mode is off.
pub fn record(
    op: &'static str,
    inputs: &[&Var],
    outputs: Vec<Tensor>,
    saved: Vec<Tensor>,
    backward: impl FnOnce(BackwardArgs) -> Result<Vec<Option<Tensor>>> + 'static,
) -> Vec<Var> {
    LEAF_COLLECTOR.with(|c| {
        if let Some(leaves) = c.borrow_mut().as_mut() {
            for v in inputs.iter().filter(|v| v.leaf && v.requires_grad) {
                if !leaves.iter().any(|l| l.id == v.id) {
                    leaves.push((*v).clone());
                }
            }
        }
    });
    let track = is_grad_enabled() && inputs.iter().any(|v| v.requires_grad);
    let vars: Vec<Var> = outputs.into_iter().map(|t| Var::new(t, track, false)).collect();
    if track {
        let held = memory::hold(&saved);
        let node = Node {
            op,
            inputs: inputs.iter().map(|v| (v.id, v.requires_grad)).collect(),
            outputs: vars.iter().map(|v| v.id).collect(),
            saved,
            held,
            backward: Some(Box::new(backward)),
        };
        TAPES.with(|t| t.borrow_mut().last_mut().expect("a tape is always present").nodes.push(node));
    }
    vars
}

/// [`record`] for the common case of one output: the backward gets its gradient directly.
pub fn record1(
    op: &'static str,
    inputs: &[&Var],
    output: Tensor,
    saved: Vec<Tensor>,
    backward: impl FnOnce(Tensor, Vec<Tensor>, &[bool]) -> Result<Vec<Option<Tensor>>> + 'static,
) -> Var {
    record(op, inputs, vec![output], saved, move |mut a| {
        let g = a.grads.pop().flatten().expect("record1 nodes run only with a gradient");
        backward(g, a.saved, &a.needs)
    })
    .remove(0)
}

/// Adds `g` into the gradient of `id`.
fn accumulate(grads: &mut HashMap<VarId, Tensor>, id: VarId, g: Tensor) -> Result<()> {
    match grads.remove(&id) {
        None => grads.insert(id, g),
        Some(prev) => grads.insert(id, prev.add(&g)?),
    };
    Ok(())
}

/// Runs the nodes of `tape` backwards from the seed gradients; returns what is left: the
/// gradients of vars no node of this tape produced (leaves, and inputs of the tape).
pub(crate) fn run_backward(tape: Tape, seeds: Vec<(VarId, Tensor)>) -> Result<HashMap<VarId, Tensor>> {
    let mut grads: HashMap<VarId, Tensor> = HashMap::new();
    for (id, g) in seeds {
        accumulate(&mut grads, id, g)?;
    }
    let mut nodes = tape.nodes;
    while let Some(mut node) = nodes.pop() {
        let out_grads: Vec<Option<Tensor>> = node.outputs.iter().map(|id| grads.remove(id)).collect();
        if out_grads.iter().all(Option::is_none) {
            continue; // nothing flows through this node; dropping it frees its saved tensors
        }
        let args = BackwardArgs {
            grads: out_grads,
            saved: std::mem::take(&mut node.saved),
            needs: node.inputs.iter().map(|&(_, need)| need).collect(),
        };
        let backward = node.backward.take().expect("each node runs once");
        let in_grads = backward(args)?;
        if in_grads.len() != node.inputs.len() {
            return Err(Error::Backward { why: format!("`{}` returned {} gradients for {} inputs", node.op, in_grads.len(), node.inputs.len()) });
        }
        let inputs = std::mem::take(&mut node.inputs);
        drop(node);
        for ((id, need), g) in inputs.into_iter().zip(in_grads) {
            if let (true, Some(g)) = (need, g) {
                accumulate(&mut grads, id, g)?;
            }
        }
    }
    Ok(grads)
}

/// Gradients of the leaves, after a backward pass.
#[derive(Debug, Default)]
pub struct Gradients(HashMap<VarId, Tensor>);

impl Gradients {
    /// The gradient of `v`, if any flowed to it.
    pub fn get(&self, v: &Var) -> Option<&Tensor> {
        self.0.get(&v.id)
    }
    pub fn remove(&mut self, v: &Var) -> Option<Tensor> {
        self.0.remove(&v.id)
    }
    /// Replaces the gradient of `v` (gradient clipping, loss-scale unscaling).
    pub fn insert(&mut self, v: &Var, g: Tensor) {
        self.0.insert(v.id, g);
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Var {
    /// Back-propagates from this scalar (one-element) var through everything recorded on the
    /// current tape, and clears the tape.
    pub fn backward(&self) -> Result<Gradients> {
        if self.value.numel() != 1 {
            return Err(Error::Backward { why: format!("backward() needs a one-element output, got shape {:?}; use backward_with", self.shape()) });
        }
        let one = tensor::Tensor::ones(self.shape(), self.value.dtype(), self.value.device())?;
        self.backward_with(one)
    }

    /// Back-propagates `grad` (shaped like this var) through the current tape, and clears it.
    pub fn backward_with(&self, grad: Tensor) -> Result<Gradients> {
        grad.expect_shape("backward", self.shape())?;
        if !self.requires_grad {
            return Err(Error::Backward { why: "this value does not depend on anything that requires a gradient".into() });
        }
        let grads = run_backward(take_current(), vec![(self.id, grad)])?;
        Ok(Gradients(grads))
    }
}

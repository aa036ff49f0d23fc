//! Gradient checkpointing (recomputation).
//!
//! `checkpoint(f, inputs)` runs `f` with recording off, so none of the activations inside
//! `f` are saved, and records one node that saves only `inputs`. When the backward pass
//! reaches that node it:
//! 1. rewinds the seed stream to where it was before the forward (same dropout masks),
//! 2. re-runs `f` on fresh leaf copies of the inputs, recording on a new sub-tape,
//! 3. back-propagates the incoming output gradients through the sub-tape,
//! 4. hands back the gradients of the inputs and of every parameter `f` used.
//!
//! Parameters are found without being passed: while `f` runs the first time, every leaf that
//! needs a gradient and is touched by an op is noted, and becomes an input of the node.
//! Because every kernel is deterministic, the gradients are bit-identical to an ordinary
//! backward pass.

use crate::error::Result;
use crate::rng;
use crate::tape::{self, record, run_backward};
use crate::var::Var;

/// Runs `f(inputs)` without keeping its activations; see the module doc.
pub fn checkpoint<F>(f: F, inputs: &[Var]) -> Result<Vec<Var>>
where
    F: Fn(&[Var]) -> Result<Vec<Var>> + 'static,
{
    if !tape::is_grad_enabled() {
        return f(inputs);
    }
    let rng_before = rng::state();
    let prev_collector = tape::start_leaf_collection();
    let prev_grad = tape::set_grad_enabled(false);
    let outputs = f(inputs);
    tape::set_grad_enabled(prev_grad);
    let leaves: Vec<Var> = tape::finish_leaf_collection(prev_collector).into_iter().filter(|l| !inputs.iter().any(|i| i.id == l.id)).collect();
    let outputs = outputs?;

    let leaf_ids: Vec<_> = leaves.iter().map(|l| l.id).collect();
    let n_inputs = inputs.len();
    let mut node_inputs: Vec<&Var> = inputs.iter().collect();
    node_inputs.extend(leaves.iter());
    let saved = inputs.iter().map(|v| v.value.clone()).collect();
    let values = outputs.into_iter().map(|v| v.value).collect();

    Ok(record("checkpoint", &node_inputs, values, saved, move |args| {
        // 1-2: replay the forward on a sub-tape with the original seed stream.
        let fresh: Vec<Var> = args.saved.into_iter().zip(&args.needs).map(|(t, &need)| Var::new(t, need, true)).collect();
        let rng_now = rng::state();
        rng::set_state(rng_before);
        tape::push_tape();
        let prev_grad = tape::set_grad_enabled(true);
        let replay = f(&fresh);
        tape::set_grad_enabled(prev_grad);
        let sub = tape::pop_tape();
        rng::set_state(rng_now);
        let replay = replay?;
        // 3: back-propagate through it.
        let seeds = replay.iter().zip(args.grads).filter_map(|(v, g)| g.filter(|_| v.requires_grad).map(|g| (v.id, g))).collect();
        drop(replay);
        let mut grads = run_backward(sub, seeds)?;
        // 4: gradients for the explicit inputs, then for the parameters.
        let mut out: Vec<_> = fresh.iter().map(|v| grads.remove(&v.id)).collect();
        out.extend(leaf_ids.iter().map(|id| grads.remove(id)));
        debug_assert_eq!(out.len(), n_inputs + leaf_ids.len());
        Ok(out)
    }))
}

//! Bytes held by saved tensors: the memory that gradient checkpointing trades for compute.
//!
//! Every node that saves tensors for its backward registers them here, per thread; views of
//! one buffer count once, as long as any live node holds one of them. The count drops as the
//! backward pass consumes nodes. [`peak_saved_bytes`] is the high-water mark since the last
//! [`reset_peak`].

use std::cell::RefCell;
use std::collections::HashMap;
use tensor::Tensor;

#[derive(Default)]
struct Ledger {
    /// storage id -> (number of live references from nodes, bytes)
    refs: HashMap<usize, (usize, usize)>,
    live: usize,
    peak: usize,
}

thread_local! {
    static LEDGER: RefCell<Ledger> = RefCell::new(Ledger::default());
}

/// Registers `saved` as held by a node; returns the keys to release later.
pub(crate) fn hold(saved: &[Tensor]) -> Vec<usize> {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        saved
            .iter()
            .map(|t| {
                let id = t.storage_id();
                let entry = l.refs.entry(id).or_insert((0, 0));
                entry.0 += 1;
                let newly = entry.0 == 1;
                if newly {
                    entry.1 = t.storage_bytes();
                    let bytes = entry.1;
                    l.live += bytes;
                    l.peak = l.peak.max(l.live);
                }
                id
            })
            .collect()
    })
}

/// Releases what [`hold`] registered.
pub(crate) fn release(keys: &[usize]) {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        for id in keys {
            if let Some(entry) = l.refs.get_mut(id) {
                entry.0 -= 1;
                if entry.0 == 0 {
                    let bytes = entry.1;
                    l.refs.remove(id);
                    l.live -= bytes;
                }
            }
        }
    })
}

/// Bytes of saved tensors held right now on this thread.
pub fn live_saved_bytes() -> usize {
    LEDGER.with(|l| l.borrow().live)
}

/// The most bytes of saved tensors held at once since the last [`reset_peak`].
pub fn peak_saved_bytes() -> usize {
    LEDGER.with(|l| l.borrow().peak)
}

/// Starts a new high-water mark at the current level.
pub fn reset_peak() {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        l.peak = l.live;
    })
}

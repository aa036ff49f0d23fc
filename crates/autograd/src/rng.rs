//! The per-thread stream of seeds that random ops (dropout) draw from.
//!
//! Each draw returns a fresh 64-bit seed, derived from `(base seed, counter)` with Philox,
//! and advances the counter. The whole state is two integers, so [`crate::checkpoint`] can
//! save it before a forward and restore it for the recomputation: the recomputed dropout
//! masks are then the original ones.

use std::cell::Cell;

/// The state of the seed stream: a base seed and how many seeds were drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngState {
    pub seed: u64,
    pub counter: u64,
}

thread_local! {
    static STATE: Cell<RngState> = const { Cell::new(RngState { seed: 0x5eed, counter: 0 }) };
}

/// Restarts this thread's stream from `seed`.
pub fn manual_seed(seed: u64) {
    STATE.with(|s| s.set(RngState { seed, counter: 0 }));
}

pub fn state() -> RngState {
    STATE.with(|s| s.get())
}

pub fn set_state(state: RngState) {
    STATE.with(|s| s.set(state));
}

/// Draws the next seed.
pub fn next_seed() -> u64 {
    STATE.with(|s| {
        let st = s.get();
        s.set(RngState { counter: st.counter + 1, ..st });
        let b = kernels::philox::block(st.seed, st.counter);
        (b[0] as u64) | ((b[1] as u64) << 32)
    })
}

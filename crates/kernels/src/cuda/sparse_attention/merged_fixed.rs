//! The merged fixed pattern (`A1 ∪ A2`: own blocks, then the earlier blocks' summary keys) as
//! one problem: which part pairs qualify, and the kernel argument that carries the own blocks
//! into the summary part's forward launch (versions 21 and 23; the launches are in the parent
//! module's `forward_v9` and `backward_v8`).

use super::{tuning, version_number, wgmma_kernels, SaDims, TILE};
use crate::cuda::tensor_map::{query_shape, TileMaps};
use crate::cuda::Gpu;
use crate::sparse_attention::SaPart;
use cudarc::driver::DeviceRepr;

/// Version 23: whether the backward of `[own, summary]` keeps the summary keys' dK and dV in
/// compact buffers that the own-block part, run last, adds (`compact_key` in
/// `sparse_attention_ends.cuh`): the merged fixed pattern (`own_block_after`) over every head,
/// on the wgmma kernels. The summary part's keys must be whole groups of rows one apart
/// (`k_step` 1, as `compact_key` inverts them).
pub(super) fn compact_summary(gpu: &Gpu, d: &SaDims, own: &SaPart, summary: &SaPart) -> bool {
    version_number() >= 23 && wgmma_kernels(gpu, d) && own_block_after(own, summary) && own.covers_every_query(d.heads) && summary.k_step == 1 && summary.k_gstride >= summary.k_group
}

/// Version 24: whether the backward of `[own, summary]` runs as one launch of
/// `sa_backward_dkdv_pair_tma_wg` (the summary part's key tiles, then the own blocks', in one
/// grid; `settle_key_rows` in `sparse_attention_ends.cuh`): version 23's pattern, with the
/// queries of both parts on one tensor map (the caller checks that the views can be mapped).
/// `ST_SA_DEFINES=SA_NO_PAIR=1` keeps version 23's two launches, for measurements.
pub(super) fn paired_backward(gpu: &Gpu, d: &SaDims, own: &SaPart, summary: &SaPart) -> bool {
    version_number() >= 24 && compact_summary(gpu, d, own, summary) && query_shape(own, d.n) == query_shape(summary, d.n) && tuning("SA_NO_PAIR") != Some(1)
}

/// `OwnBlocks` in C (version 21): the own-block part that rides along a summary part's forward
/// launch, with the map of its key and value rows.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub(super) struct OwnBlocks {
    pub maps: TileMaps,
    pub part: SaPart,
    pub e1: i32,
}
// SAFETY: the layout of the C struct `OwnBlocks { TileMaps maps; Part P; int e1; }` (maps at
// 0, 64-byte aligned; the part's 29 four-byte fields at 256; e1 at 372; 384 bytes in all).
unsafe impl DeviceRepr for OwnBlocks {}

/// Version 21: whether `[own, summary]` is the fixed pattern's merged `A1 ∪ A2`, own blocks
/// of a multiple of 64 rows and the summary keys of the earlier blocks over the same heads,
/// which one launch of `sa_forward_own_tma_wg` computes in one softmax (the summary tiles,
/// then the own block's, for each 64-row query tile).
pub(super) fn own_block_after(own: &SaPart, summary: &SaPart) -> bool {
    let l = own.q_len as usize;
    let same_heads = (own.head_start, own.head_step, own.heads) == (summary.head_start, summary.head_step, summary.heads);
    let whole_rows = summary.n_seq == 1 && summary.q_len == summary.n && summary.q_seq == 0 && summary.q_step == 1 && summary.q_group == i32::MAX;
    l > 0
        && l.is_multiple_of(TILE)
        && same_heads
        && whole_rows
        && *own == SaPart::own_block(own.n as usize, l, 1).for_heads(own.head_start as usize, own.head_step as usize, own.heads as usize).with_reciprocals()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 21's fused forward takes exactly the merged fixed pattern's two parts (own
    /// blocks of a multiple of 64 rows first, then the earlier blocks' summary keys, over the
    /// same heads), as the launcher sees them (with reciprocals).
    #[test]
    fn own_block_after_takes_the_merged_fixed_pattern_only() {
        let r = |p: SaPart| p.with_reciprocals();
        let (n, h) = (12288, 8);
        assert!(own_block_after(&r(SaPart::own_block(n, 128, h)), &r(SaPart::summary(n, 128, 32, true, h))));
        assert!(own_block_after(&r(SaPart::own_block(1536, 64, 4).for_heads(1, 2, 2)), &r(SaPart::summary(1536, 64, 16, true, 4).for_heads(1, 2, 2))));
        // blocks that are not whole tiles, other heads, or parts of other kinds
        assert!(!own_block_after(&r(SaPart::own_block(n, 96, h)), &r(SaPart::summary(n, 96, 32, true, h))));
        assert!(!own_block_after(&r(SaPart::own_block(n, 128, h).for_heads(0, 2, 4)), &r(SaPart::summary(n, 128, 32, true, h))));
        assert!(!own_block_after(&r(SaPart::local(n, 128, h)), &r(SaPart::column(n, 128, false, h))));
        assert!(!own_block_after(&r(SaPart::own_block(n, 128, h)), &r(SaPart::column(n, 128, false, h).packed_columns(TILE))));
    }
}

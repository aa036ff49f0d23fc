//! Version 27: how many 64-key tiles a block of the TMA dK/dV kernel takes. Two
//! (`sa_backward_dkdv_tma2_wg`: 128 keys, two blocks an SM) halve the dQ stagings, barriers
//! and bulk reductions per key and load each Q / dO tile once for both, but a block then
//! walks the union of its two key tiles' query bands, computing a key tile masked whole on
//! the query tiles outside its own band. That pays on long bands only (H200: dense causal
//! 6.36 -> 5.97 ms, n = 1,048,576 27.2 -> 23.6; audio's windows of 256 1.384 -> 1.398;
//! `benches/RESULTS.md`).

use super::{tuning, version_number, wgmma_dkdv_shared_bytes, TILE};
use crate::cuda::Elem;
use crate::sparse_attention::SaPart;

/// The key tiles a block takes for `part`: two when its sequences have 1,024 queries or more
/// and it has no window or one of 512 or more (a block's two key tiles then share nearly all
/// their query tiles), else one; always one before version 27. `ST_SA_DEFINES=SA_DKDV_KT=1`
/// (or `2`) forces the choice, for measurements.
pub(super) fn tma_dkdv_key_tiles(part: &SaPart) -> usize {
    match tuning("SA_DKDV_KT") {
        _ if version_number() < 27 => 1,
        Some(kt @ (1 | 2)) => kt,
        _ if part.q_len >= 1024 && (part.window == 0 || part.window >= 512) => 2,
        _ => 1,
    }
}

/// The dynamic shared memory of a TMA dK/dV block of `kt` key tiles: version 26's, and K, V
/// and dS^T one 64 x 64 tile more each for a second key tile.
pub(super) fn tma_dkdv_shared_bytes(e: Elem, kt: usize) -> usize {
    wgmma_dkdv_shared_bytes(e, version_number()) + 3 * (kt - 1) * TILE * TILE * e.size()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's shapes: two key tiles for the dense case and n = 1,048,576's parts (window
    /// and columns of 1,024), one for audio's windows and columns of 256 and for short parts.
    #[test]
    fn two_key_tiles_for_long_bands_only() {
        if std::env::var("ST_SA_VERSION").is_ok_and(|v| v.parse::<u32>().map_or(true, |n| n < 27)) {
            return; // (another version selected: always one)
        }
        assert_eq!(tma_dkdv_key_tiles(&SaPart::causal(12288, 8)), 2);
        assert_eq!(tma_dkdv_key_tiles(&SaPart::local(1 << 20, 1024, 4)), 2);
        assert_eq!(tma_dkdv_key_tiles(&SaPart::column(1 << 20, 1024, false, 4)), 2);
        assert_eq!(tma_dkdv_key_tiles(&SaPart::local(65536, 256, 8)), 1);
        assert_eq!(tma_dkdv_key_tiles(&SaPart::column(65536, 256, false, 8)), 1);
        assert_eq!(tma_dkdv_key_tiles(&SaPart::causal(1000, 2)), 1);
        let bf16 = 2 * 64 * 64;
        assert_eq!(tma_dkdv_shared_bytes(Elem::BF16, 2), tma_dkdv_shared_bytes(Elem::BF16, 1) + 3 * bf16);
    }
}

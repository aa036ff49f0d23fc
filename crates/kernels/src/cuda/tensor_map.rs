//! Tensor maps of the tensor memory accelerator (TMA) for the fused sparse attention's wgmma
//! kernels: what `cuTensorMapEncodeTiled` needs to know of a tensor for one instruction to copy
//! (or add) a whole tile between global and shared memory.
//!
//! - [`dq_tensor_map`] (kernel version 15): the fp32 dQ accumulator, to which the dK/dV kernel
//!   adds its 64 x 64 dQ tiles by tensor reductions (`dq_add_tensor`).
//! - [`tile_maps`] (version 16): the tiles a block streams (keys and values in the forward,
//!   queries and output gradients in the dK/dV kernel), loaded by TMA instead of `cp.async`
//!   where the part's rows allow (`sparse_attention_tma.cuh` says why and how).
//!
//! Every map here uses the 128-byte swizzle, the layout of the kernels' shared tiles.

use super::{cuda_err, Elem};
use crate::cuda::sparse_attention::{SaDims, View};
use crate::error::Result;
use crate::sparse_attention::SaPart;
use cudarc::driver::{sys, DeviceRepr};

/// A tensor map (`TensorMap` in sparse_attention_wgmma.cuh): 128 opaque bytes, passed by value.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct TensorMap([u64; 16]);
// SAFETY: 128 plain bytes with CUtensorMap's size and alignment, passed by value.
unsafe impl DeviceRepr for TensorMap {}

/// The two maps of a launch's streamed tiles (`TileMaps` in C).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct TileMaps([TensorMap; 2]);
// SAFETY: two tensor maps, the layout of the C struct `TileMaps { TensorMap a, b; }`.
unsafe impl DeviceRepr for TileMaps {}

/// The rows per group of a launch's maps (`TileRows` in C: a row r is at coordinates
/// (r % e1, r / e1)).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TileRows {
    pub e1: i32,
}
// SAFETY: one i32, the layout of the C struct `TileRows { int e1; }`.
unsafe impl DeviceRepr for TileRows {}

/// How the rows of one 64-row tile lie in a `[B, H, n, 64]` tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowShape {
    /// 64 consecutive rows (the keys of dense, windows and own blocks; the queries of every
    /// part but the strided columns).
    Contiguous,
    /// `64 / g` runs of `g` consecutive rows, one in each block of `block` rows, at the same
    /// place in each: the fixed pattern's summary keys (c rows of every block of l), or, with
    /// g = 1, the strided columns' keys and queries (one row of every block of l).
    Grouped { g: usize, block: usize },
}

const TILE: usize = 64;

/// The shape of a part's key tiles, if a map can describe it: a key m sits at row
/// s k_seq + (m / k_group) k_gstride + (m % k_group) k_step + off(h), and a tile holds keys
/// t0 .. t0 + 63 with t0 a multiple of 64.
pub fn key_shape(part: &SaPart, n: usize) -> Option<RowShape> {
    let (g, gs, step) = (part.k_group as usize, part.k_gstride as usize, part.k_step);
    let offs = (0..part.off_mod.max(1)).map(|h| part.off_base - part.off_mult * h);
    let (lo, hi) = offs.fold((i32::MAX, i32::MIN), |(lo, hi), o| (lo.min(o), hi.max(o)));
    if g == 1 {
        // one key a group, rows k_gstride apart: 1 (dense, windows, own blocks), or l (the
        // strided columns: one row of every block of l)
        return match gs {
            1 => Some(RowShape::Contiguous),
            _ => (n.is_multiple_of(gs) && lo >= 0).then_some(RowShape::Grouped { g: 1, block: gs }),
        };
    }
    if step != 1 {
        return None;
    }
    if part.k_group >= part.k_len || g % TILE == 0 {
        return Some(RowShape::Contiguous); // a tile never crosses a group
    }
    let fits = lo >= 0 && hi as usize + g <= gs;
    let aligned = n.is_multiple_of(gs) && (part.n_seq == 1 || (part.k_seq as usize).is_multiple_of(gs));
    (TILE.is_multiple_of(g) && fits && aligned).then_some(RowShape::Grouped { g, block: gs })
}

/// The shape of a part's query tiles (query p of sequence s at row s q_seq + p q_step, unless
/// packed): contiguous when the step is one, else one row of every block of q_step (the
/// strided columns) when such blocks tile the sequence.
pub fn query_shape(part: &SaPart, n: usize) -> Option<RowShape> {
    let step = part.q_step as usize;
    match (part.q_group == i32::MAX, step) {
        (false, _) => None,
        (true, 1) => Some(RowShape::Contiguous),
        (true, _) => n.is_multiple_of(step).then_some(RowShape::Grouped { g: 1, block: step }),
    }
}

/// Maps of two `[B, H, n, 64]` views (`a`, `b`) whose tiles have rows of `shape`, and the
/// `TileRows` the kernel needs; `None` if the views cannot be mapped (a base address or a
/// stride that is not a multiple of 16 bytes).
pub fn tile_maps(e: Elem, d: &SaDims, a: &View, b: &View, shape: RowShape) -> Result<Option<(TileMaps, TileRows)>> {
    let (g, block) = match shape {
        RowShape::Contiguous => (TILE, d.n),
        RowShape::Grouped { g, block } => (g, block),
    };
    let (Some(ma), Some(mb)) = (tile_map(e, d, a, g, block)?, tile_map(e, d, b, g, block)?) else {
        return Ok(None);
    };
    Ok(Some((TileMaps([ma, mb]), TileRows { e1: block as i32 })))
}

/// One view's 5-D map: (element, row in block, block, head, batch), boxes of 64 elements x g
/// rows x 64 / g blocks, so that one box is one 64-row tile.
fn tile_map(e: Elem, d: &SaDims, view: &View, g: usize, block: usize) -> Result<Option<TensorMap>> {
    let es = e.size() as u64;
    let (st, sh, sb) = (view.strides.t as u64 * es, view.strides.h as u64 * es, view.strides.b as u64 * es);
    let strides = [st, st * block as u64, sh, sb];
    if !view.ptr.is_multiple_of(16) || strides.iter().any(|s| !s.is_multiple_of(16) || *s >= 1 << 40) {
        return Ok(None);
    }
    let dims = [64u64, block as u64, (d.n / block) as u64, d.heads as u64, d.batch as u64];
    let boxes = [64u32, g as u32, (TILE / g) as u32, 1, 1];
    let dtype = match e {
        Elem::F16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
        _ => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
    };
    encode(dtype, view.ptr, &dims, &strides, &boxes, "tensor map of a streamed tile").map(Some)
}

/// Version 15's map of the fp32 dQ accumulator `[rows, 64]` for `dq_add_tensor`: boxes of 64
/// rows x 32 columns (128 bytes a row), staged in shared memory in the 128-byte swizzle.
pub fn dq_tensor_map(dq: u64, rows: usize) -> Result<TensorMap> {
    encode(sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT32, dq, &[64, rows as u64], &[64 * 4], &[32, 64], "tensor map of dQ")
}

/// `cuTensorMapEncodeTiled` of rank `dims.len()`, elements unstrided, 128-byte swizzle, zeros
/// outside the tensor.
fn encode(dtype: sys::CUtensorMapDataType, ptr: u64, dims: &[u64], strides: &[u64], boxes: &[u32], what: &str) -> Result<TensorMap> {
    assert!(dims.len() == boxes.len() && strides.len() + 1 == dims.len() && dims.len() <= 5);
    let mut map = TensorMap([0; 16]);
    let steps = [1u32; 5];
    // SAFETY: `map` is 128 bytes, 64-byte aligned, as CUtensorMap; `dims`, `boxes` and `steps`
    // hold rank entries and `strides` rank - 1 (checked above); `ptr` addresses the tensor the
    // dimensions and strides describe.
    unsafe {
        sys::cuTensorMapEncodeTiled(
            &mut map as *mut TensorMap as *mut sys::CUtensorMap,
            dtype,
            dims.len() as u32,
            ptr as *mut std::ffi::c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            boxes.as_ptr(),
            steps.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_NONE,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
        .result()
    }
    .map_err(cuda_err(what))?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows one box brings for the tile of keys (or queries) t0 .., by the kernel's
    /// coordinates (r0 % e1, r0 / e1) and the map's extents; `None`: outside the tensor (zeros).
    fn box_rows(shape: RowShape, n: usize, r0: usize) -> Vec<Option<usize>> {
        let (g, e1) = match shape {
            RowShape::Contiguous => (TILE, n),
            RowShape::Grouped { g, block } => (g, block),
        };
        let (c1, c2, e2) = (r0 % e1, r0 / e1, n / e1);
        (0..TILE).map(|i| (c1 + i % g, c2 + i / g)).map(|(a, b)| (a < e1 && b < e2).then_some(b * e1 + a)).collect()
    }

    /// For every pattern part the kernels run (odd lengths too): where `key_shape` /
    /// `query_shape` offer a map, each tile's box holds the row the kernels' `k_row` / `q_row`
    /// give each key / query of the tile, or zeros where that row is outside the tensor (as
    /// cp.async does), for every head.
    #[test]
    fn tile_maps_fetch_the_rows_the_parts_list() {
        let mut mapped = (0, 0);
        for n in [256, 384, 200, 1000] {
            let parts = [
                SaPart::causal(n, 4),
                SaPart::local(n, 64, 4),
                SaPart::column(n, 64, true, 4),
                SaPart::own_block(n, 128, 4),
                SaPart::own_block(n, 32, 4),
                SaPart::summary(n, 128, 32, true, 4),
                SaPart::summary(n, 128, 32, false, 4),
                SaPart::summary(n, 64, 16, true, 4),
                SaPart::summary(n, 96, 24, true, 4),
            ];
            let inside = |row: i64| (0..n as i64).contains(&row).then_some(row as usize);
            for p in parts {
                for h in 0..4 {
                    let off = (p.off_base - p.off_mult * (h % p.off_mod)) as i64;
                    for s in 0..p.n_seq as i64 {
                        let k_row = |m: i64| s * p.k_seq as i64 + (m / p.k_group as i64) * p.k_gstride as i64 + (m % p.k_group as i64) * p.k_step as i64 + off;
                        let q_row = |i: i64| s * p.q_seq as i64 + i * p.q_step as i64;
                        for t0 in (0..p.k_len as i64).step_by(TILE) {
                            let Some(shape) = key_shape(&p, n) else { break };
                            mapped.0 += 1;
                            let got = box_rows(shape, n, k_row(t0) as usize);
                            for m in t0..(t0 + TILE as i64).min(p.k_len as i64) {
                                assert_eq!(got[(m - t0) as usize], inside(k_row(m)), "{p:?} head {h} key {m}");
                            }
                        }
                        for t0 in (0..p.q_len as i64).step_by(TILE) {
                            let Some(shape) = query_shape(&p, n) else { break };
                            if q_row(t0) >= n as i64 {
                                break;
                            }
                            mapped.1 += 1;
                            let got = box_rows(shape, n, q_row(t0) as usize);
                            for i in t0..(t0 + TILE as i64).min(p.q_len as i64) {
                                assert_eq!(got[(i - t0) as usize], inside(q_row(i)), "{p:?} head {h} query {i}");
                            }
                        }
                    }
                }
            }
        }
        assert!(mapped.0 > 0 && mapped.1 > 0);
    }

    /// Which parts get maps: every part of the paper's patterns (strided columns when the
    /// columns are whole), none of the packed short columns.
    #[test]
    fn maps_cover_the_patterns_parts() {
        let n = 12_288;
        assert_eq!(key_shape(&SaPart::causal(n, 8), n), Some(RowShape::Contiguous));
        assert_eq!(key_shape(&SaPart::local(n, 128, 8), n), Some(RowShape::Contiguous));
        assert_eq!(key_shape(&SaPart::own_block(n, 128, 8), n), Some(RowShape::Contiguous));
        assert_eq!(key_shape(&SaPart::summary(n, 128, 32, true, 8), n), Some(RowShape::Grouped { g: 32, block: 128 }));
        assert_eq!(key_shape(&SaPart::column(n, 128, false, 8), n), Some(RowShape::Grouped { g: 1, block: 128 }));
        assert_eq!(key_shape(&SaPart::column(n + 1, 128, false, 8), n + 1), None);
        assert_eq!(query_shape(&SaPart::summary(n, 128, 32, true, 8), n), Some(RowShape::Contiguous));
        assert_eq!(query_shape(&SaPart::column(n, 128, false, 8), n), Some(RowShape::Grouped { g: 1, block: 128 }));
        let packed = SaPart::column(3072, 96, false, 2).packed_columns(64);
        assert!(packed.q_group != i32::MAX && query_shape(&packed, 3072).is_none() && key_shape(&packed, 3072).is_none());
    }
}

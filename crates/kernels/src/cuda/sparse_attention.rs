//! Launchers of the fused sparse attention (`cuda/sparse_attention*.cu`): the forward over a
//! pattern's parts with their combination, and the backward (`D = rowsum(dO * O)`, then dQ
//! and dK/dV per part into fp32 accumulators, then one cast each).
//!
//! Shapes: `q: [B, H, n, DQK]`, `k: [B, H, n, DQK]`, `v: [B, H, n, DV]`, any strides whose
//! last dimension is contiguous and whose others are multiples of 8 elements (16-byte rows).
//! Outputs are contiguous `[B, H, n, ..]`.

use super::{cuda_err, early_launch, DevBuf, Elem, Gpu};
use crate::error::{Error, Result};
use crate::sparse_attention::SaPart;
use super::tensor_map::{dq_tensor_map, key_shape, query_shape, tile_maps, RowShape, TileMaps, TileRows};
use cudarc::driver::{sys::CUfunction_attribute_enum, DeviceRepr, LaunchConfig, PushKernelArg};

mod key_tiles;
mod merged_fixed;
mod row_dot;
use key_tiles::{tma_dkdv_key_tiles, tma_dkdv_shared_bytes};
use merged_fixed::{compact_summary, own_block_after, paired_backward, OwnBlocks};

// SAFETY: `SaPart` is `#[repr(C)]` with only i32 fields, the layout of the C struct `Part`.
unsafe impl DeviceRepr for SaPart {}

/// Element strides of a `[B, H, T, D]` view in batch, head and time (`Str3` in C).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str3 {
    pub b: i64,
    pub h: i64,
    pub t: i64,
}
// SAFETY: plain old data with the layout of the C struct `Str3 { long long b, h, t; }`.
unsafe impl DeviceRepr for Str3 {}

/// Where the last part of a version-9 forward writes (`Final` in C): the output in the
/// input's type with its strides, the final log-sum-exp, and the part's merge mode.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Final {
    out: u64,
    so: Str3,
    lse: u64,
    mode: i32,
}
// SAFETY: plain old data with the layout of the C struct `Final { elem* out; Str3 so; float*
// lse; int mode; }` (8 + 24 + 8 + 4 bytes, padded to 48 on both sides).
unsafe impl DeviceRepr for Final {}

/// A device view of one of q, k, v, dO.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub ptr: u64,
    pub strides: Str3,
}

/// The problem size.
#[derive(Clone, Copy, Debug)]
pub struct SaDims {
    pub batch: usize,
    pub heads: usize,
    pub n: usize,
    pub dqk: usize,
    pub dv: usize,
}

const THREADS: u32 = 128;
const TILE: usize = 64;

fn width(d: usize) -> Result<&'static str> {
    match d {
        32 => Ok("32"),
        64 => Ok("64"),
        128 => Ok("128"),
        _ => Err(Error::Launch(format!("sparse attention supports head widths 32, 64 and 128, not {d}"))),
    }
}

#[doc = include_str!("sparse_attention/versions.md")]
pub fn version() -> &'static str {
    static V: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let asked = std::env::var("ST_SA_VERSION").unwrap_or_default();
        VERSIONS.iter().copied().find(|v| *v == asked).unwrap_or(DEFAULT_VERSION)
    })
}

/// Every kernel version, oldest first (each compiled by `compile::all_variants`).
pub const VERSIONS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "34", "35"];

/// The version that runs unless `ST_SA_VERSION` names another: the newest one measured and
/// checked on a GPU.
pub const DEFAULT_VERSION: &str = "35";

fn version_number() -> u32 {
    version().parse().expect("every entry of VERSIONS is a number")
}

/// The source file of kernel version `version` (also what `compile::all_variants` compiles).
pub fn source_file(version: u32) -> &'static str {
    if version >= 14 {
        "sparse_attention_wgmma.cu"
    } else if version >= 3 {
        "sparse_attention_v3.cu"
    } else {
        "sparse_attention.cu"
    }
}

/// The source file of the selected version.
fn file() -> &'static str {
    source_file(version_number())
}

/// Whether the forward and dK/dV kernels are the wgmma ones of versions 14+ (`sa_forward[_narrow]_wg`,
/// `sa_backward_dkdv_wg`): 64-wide heads on a Hopper GPU (sm_90: wgmma exists there only).
fn wgmma_kernels(gpu: &Gpu, d: &SaDims) -> bool {
    version_number() >= 14 && gpu.arch == "sm_90" && d.dqk == 64 && d.dv == 64
}

/// Version 34: whether the forward (`kernel` = `WG32_FORWARD`) or the dK/dV kernel
/// (`WG32_DKDV`) is `sa_forward_wg32` / `sa_backward_dkdv_wg32`: 32-wide heads on a Hopper GPU.
/// `ST_SA_DEFINES=SA_NO_WG32=N` keeps the mma.sync kernel of each bit set in N, for comparisons
/// (3: both).
fn wgmma32_kernels(gpu: &Gpu, d: &SaDims, kernel: usize) -> bool {
    version_number() >= 34 && gpu.arch == "sm_90" && d.dqk == 32 && d.dv == 32 && tuning("SA_NO_WG32").unwrap_or(0) & kernel == 0
}
const WG32_FORWARD: usize = 1;
const WG32_DKDV: usize = 2;

/// `sa_forward_wg32`'s dynamic shared memory: the 1 KiB tile of ones, five 64 x 32 tiles (Q,
/// two stages of K and V), and up to 1 KiB to align them to 1024 bytes.
fn wgmma32_forward_shared_bytes(e: Elem) -> usize {
    5 * TILE * 32 * e.size() + 2048
}

/// `sa_backward_dkdv_wg32`'s dynamic shared memory: the 64 x 64 dS^T tile, six 64 x 32 tiles
/// (K, V, two stages of Q and dO), and up to 1 KiB to align them to 1024 bytes.
fn wgmma32_dkdv_shared_bytes(e: Elem) -> usize {
    (TILE * TILE + 6 * TILE * 32) * e.size() + 1024
}

/// `sa_backward_dkdv_wg`'s dynamic shared memory: seven 64 x 64 tiles (K, V, two stages of Q
/// and dO, dS^T) unpadded, from version 15 the fp32 dQ tile, plus up to 1 KiB to align them to
/// 1024 bytes (three blocks fill the 228 KiB of an H100 / H200 SM exactly).
fn wgmma_dkdv_shared_bytes(e: Elem, version: u32) -> usize {
    7 * TILE * TILE * e.size() + if version >= 15 { TILE * TILE * 4 } else { 0 } + 1024
}

/// Version 16: the tensor maps of a launch's two streamed views (`[k, v]` in the forward,
/// `[q, dout]` in the dK/dV kernel) when their tiles' rows have a `shape` a map describes and
/// the wgmma kernels run (`ST_SA_DEFINES=SA_NO_TMA=1` keeps cp.async, for comparisons).
fn streamed_maps(gpu: &Gpu, e: Elem, d: &SaDims, [a, b]: [&View; 2], shape: Option<RowShape>) -> Result<Option<(TileMaps, TileRows)>> {
    match shape {
        Some(shape) if version_number() >= 16 && wgmma_kernels(gpu, d) && tuning("SA_NO_TMA") != Some(1) => tile_maps(e, d, a, b, shape),
        _ => Ok(None),
    }
}

/// `sa_forward[_narrow]_wg`'s dynamic shared memory with query tiles of `q_rows` rows: the Q
/// tile and two stages of K and V, unpadded, plus up to 1 KiB of alignment (from version 30
/// and 1 KiB more: the tile of ones whose products give the row sums).
fn wgmma_forward_shared_bytes(e: Elem, q_rows: usize) -> usize {
    (q_rows + 4 * TILE) * TILE * e.size() + if version_number() >= 30 { 2048 } else { 1024 }
}
/// Dynamic shared memory (bytes) of the backward's tile kernels: (dQ, dK/dV). From version 3
/// they keep two stages of the tiles they stream; from 4 the dK/dV kernel adds the dS^T tile.
fn backward_shared_bytes(e: Elem, d: &SaDims) -> (usize, usize) {
    let (q, v) = (TILE * (d.dqk + 8), TILE * (d.dv + 8));
    let stages = if version_number() >= 3 { 2 } else { 1 };
    let ds = if version_number() >= 4 { TILE * (TILE + 8) } else { 0 };
    ((q + v + stages * (q + v)) * e.size(), (q + v + stages * (q + v) + ds) * e.size())
}

/// The forward's dynamic shared memory with query tiles of `q_rows` rows.
fn forward_shared_bytes(e: Elem, d: &SaDims, q_rows: usize) -> usize {
    let stages = if version_number() >= 3 { 2 } else { 1 };
    (q_rows * (d.dqk + 8) + stages * TILE * (d.dqk + 8 + d.dv + 8)) * e.size()
}

/// Query rows per forward block: 128 from version 7 when both head widths are at most 64 (two
/// 16-row m-tiles per warp; `FMT` in `sparse_attention_v3.cu`), else 64.
fn forward_rows(d: &SaDims) -> usize {
    if version_number() >= 7 && d.dqk <= 64 && d.dv <= 64 {
        2 * TILE
    } else {
        TILE
    }
}

/// Extra `-D` defines for tuning experiments, from `ST_SA_DEFINES="NAME=VALUE,..."` (e.g.
/// `FWD_V7_BLOCKS=2`; the knobs are the `#ifndef` defaults of the kernel files). Unset in
/// normal use.
fn tuning_defines() -> &'static [(&'static str, &'static str)] {
    static D: std::sync::OnceLock<Vec<(&'static str, &'static str)>> = std::sync::OnceLock::new();
    D.get_or_init(|| {
        let text: &'static str = Box::leak(std::env::var("ST_SA_DEFINES").unwrap_or_default().into_boxed_str());
        text.split(',').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect()
    })
}

/// A numeric tuning knob of `ST_SA_DEFINES` read by the host.
fn tuning(name: &str) -> Option<usize> {
    tuning_defines().iter().find(|(k, _)| *k == name).and_then(|(_, v)| v.parse().ok())
}

fn defines(e: Elem, d: &SaDims) -> Result<Vec<(&'static str, &'static str)>> {
    if !matches!(e, Elem::BF16 | Elem::F16) {
        return Err(Error::Launch(format!("sparse attention runs in bf16 or fp16, not {e:?}")));
    }
    let mut defs = vec![("ELEM_TYPE", e.c_type()), ("DQK", width(d.dqk)?), ("DV", width(d.dv)?), ("SA_VERSION", version())];
    defs.extend_from_slice(tuning_defines());
    Ok(defs)
}

/// Launches `$name` on `$grid` blocks of 128 threads with `$smem` bytes of dynamic shared
/// memory and the listed arguments; with `$early` (version 29, `launch_early`) allowed to
/// start before the launch ahead of it has finished (`early_launch`; each kernel waits where
/// it first needs that launch's writes).
macro_rules! tiles {
    ($gpu:expr, $defs:expr, $name:expr, $grid:expr, $smem:expr, $early:expr, [$($arg:expr),* $(,)?]) => {{
        let func = $gpu.function(file(), $defs, $name)?;
        func.set_attribute(CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, $smem as i32).map_err(cuda_err("shared memory attribute"))?;
        let mut args = early_launch::Args::new();
        $( args.arg($arg); )*
        let cfg = LaunchConfig { grid_dim: $grid, block_dim: (THREADS, 1, 1), shared_mem_bytes: $smem as u32 };
        // SAFETY: the arguments match the kernel's signature; every pointer addresses a live
        // buffer of the sizes described by `SaDims` and the part; the kernels of version 29
        // wait for the launch before them where they first need its writes.
        unsafe { early_launch::launch($gpu, &func, cfg, $early, &mut args, $name) }?;
    }};
}

/// Version 29: whether the launches after the first of a forward or backward may start early
/// (programmatic dependent launch, `early_launch`; compute capability 9.0 on).
fn launch_early(gpu: &Gpu) -> bool {
    version_number() >= 29 && early_launch::supported(gpu)
}

/// The grid of a tile kernel: `tiles` query or key tiles of `n_seq` sub-sequences for `z`
/// (batch, head) pairs; from version 10 ordered (z, n_seq, tiles) so that the heaviest tiles
/// start first (`tile_of` in `sparse_attention_steps.cuh`); from version 12 only parts
/// without a window, whose tiles differ in weight.
fn tile_grid(tiles: usize, part: &SaPart, z: usize) -> (u32, u32, u32) {
    let n_seq = part.n_seq;
    let by_weight = match version_number() {
        12.. => part.window == 0,
        10.. => true,
        _ => false,
    };
    if by_weight {
        (z as u32, n_seq as u32, tiles as u32)
    } else {
        (tiles as u32, n_seq as u32, z as u32)
    }
}

/// The parts as the selected version launches them: from version 11, short strided columns
/// packed into full tiles; with the reciprocals of their divisors (read from version 18).
fn pack(parts: &[SaPart]) -> Vec<SaPart> {
    parts.iter().map(|p| if version_number() >= 11 { p.packed_columns(TILE) } else { *p }.with_reciprocals()).collect()
}

/// One part's forward launch: kernel, grid and dynamic shared memory. From version 7, parts
/// with a window keep 64-row query tiles (`sa_forward_narrow`); from 13, so do parts of at
/// most `NARROW_Q_LEN` queries a sequence (256: ImageNet's packed columns of 192 rows fill
/// three 64-row tiles but only one and a half of 128 rows; short sequences gain more from
/// more, lighter blocks: H200, ImageNet 0.814 -> 0.763 ms, audio 2.30 -> 2.26); the others
/// take `forward_rows`. Version 14 on wgmma (`wgmma_kernels`) keeps that split with
/// `sa_forward_narrow_wg` and `sa_forward_wg` (128 rows: H200, enwik8 forward 0.94 -> 0.81 ms,
/// dense 3.12 -> 2.45, although at 3 blocks per SM the compiler serialises its products for
/// want of registers). Version 17 runs every part on 64-row tiles (`WG_FWD_ROWS=128` brings
/// back the 128-row kernel for the others).
fn forward_launch(gpu: &Gpu, e: Elem, d: &SaDims, part: &SaPart) -> (&'static str, (u32, u32, u32), usize) {
    let short = tuning("NARROW_Q_LEN").unwrap_or(256);
    let narrow = version_number() >= 7 && part.window > 0 || version_number() >= 13 && part.q_len as usize <= short;
    if wgmma_kernels(gpu, d) {
        let rows = tuning("WG_FWD_ROWS").unwrap_or(if version_number() >= 17 { TILE } else { 2 * TILE });
        let q_rows = if narrow || rows == TILE { TILE } else { 2 * TILE };
        let grid = tile_grid((part.q_len as usize).div_ceil(q_rows), part, d.batch * part.heads as usize);
        let name = if q_rows == TILE { "sa_forward_narrow_wg" } else { "sa_forward_wg" };
        return (name, grid, wgmma_forward_shared_bytes(e, q_rows));
    }
    if wgmma32_kernels(gpu, d, WG32_FORWARD) {
        // version 34: 64-row tiles on wgmma for 32-wide heads
        let grid = tile_grid((part.q_len as usize).div_ceil(TILE), part, d.batch * part.heads as usize);
        return ("sa_forward_wg32", grid, wgmma32_forward_shared_bytes(e));
    }
    let q_rows = if narrow { TILE } else { forward_rows(d) };
    let grid = tile_grid((part.q_len as usize).div_ceil(q_rows), part, d.batch * part.heads as usize);
    (if narrow { "sa_forward_narrow" } else { "sa_forward" }, grid, forward_shared_bytes(e, d, q_rows))
}

/// `sa_combine`: merges `n_parts` fp32 (output, lse) pairs of every row (`o`, `lse_parts`)
/// into the output `out` (contiguous `[B, H, n, DV]`, type e) and the final lse.
#[allow(clippy::too_many_arguments)]
fn combine(gpu: &Gpu, defs: &[(&str, &str)], d: &SaDims, o: u64, lse_parts: u64, n_parts: usize, out: u64, lse: u64) -> Result<()> {
    let rows = d.batch * d.heads * d.n;
    let so = output_strides(d);
    let func = gpu.function(file(), defs, "sa_combine")?;
    let mut b = gpu.stream.launch_builder(&func);
    let (np, rows_i, h, n_i) = (n_parts as i32, rows as i64, d.heads as i32, d.n as i32);
    b.arg(&o).arg(&lse_parts).arg(&np).arg(&rows_i).arg(&h).arg(&n_i).arg(&out).arg(&so).arg(&lse);
    // SAFETY: matches `sa_combine`; the caller's buffers hold `n_parts` x `rows` rows and `rows`
    // output rows.
    unsafe { b.launch(warp_rows(rows)) }.map_err(cuda_err("launch of sa_combine"))?;
    Ok(())
}

/// Strides of the contiguous `[B, H, n, DV]` output.
fn output_strides(d: &SaDims) -> Str3 {
    Str3 { b: (d.heads * d.n * d.dv) as i64, h: (d.n * d.dv) as i64, t: d.dv as i64 }
}

fn warp_rows(rows: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (rows.div_ceil(8) as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

fn check_parts(d: &SaDims, parts: &[SaPart]) -> Result<()> {
    if parts.is_empty() || parts.iter().any(|p| p.n as usize != d.n || p.head_list().iter().any(|&h| h >= d.heads)) {
        return Err(Error::Launch(format!("sparse attention parts do not describe a sequence of {} with {} heads", d.n, d.heads)));
    }
    Ok(())
}

/// Forward: `(out [B, H, n, DV] in e, lse [B, H, n] fp32)`.
#[allow(clippy::too_many_arguments)]
pub fn forward(gpu: &Gpu, e: Elem, d: SaDims, q: View, k: View, v: View, parts: &[SaPart], scale: f32) -> Result<(DevBuf, DevBuf)> {
    check_parts(&d, parts)?;
    let packed = pack(parts);
    let parts = &packed[..];
    if version_number() >= 9 {
        return forward_v9(gpu, e, d, [q, k, v], parts, scale);
    }
    let defs = defines(e, &d)?;
    let rows = d.batch * d.heads * d.n;
    let o_parts = gpu.alloc(Elem::F32, parts.len() * rows * d.dv)?;
    let lse_parts = gpu.alloc(Elem::F32, parts.len() * rows)?;
    super::launch::fill(gpu, Elem::F32, lse_parts.ptr(gpu), parts.len() * rows, f32::NEG_INFINITY)?;
    let h = d.heads as i32;
    for (i, part) in parts.iter().enumerate() {
        let (op, lp) = (o_parts.ptr_at(gpu, i * rows * d.dv), lse_parts.ptr_at(gpu, i * rows));
        let (name, grid, smem) = forward_launch(gpu, e, &d, part);
        tiles!(gpu, &defs, name, grid, smem, false, [&q.ptr, &k.ptr, &v.ptr, &q.strides, &k.strides, &v.strides, &op, &lp, part, &h, &scale]);
    }
    let out = gpu.alloc(e, rows * d.dv)?;
    let lse = gpu.alloc(Elem::F32, rows)?;
    combine(gpu, &defs, &d, o_parts.ptr(gpu), lse_parts.ptr(gpu), parts.len(), out.ptr(gpu), lse.ptr(gpu))?;
    Ok((out, lse))
}

/// Backward: `(dq, dk, dv)`, contiguous, in e. `out` and `lse` are the forward's outputs.
#[allow(clippy::too_many_arguments)]
pub fn backward(gpu: &Gpu, e: Elem, d: SaDims, q: View, k: View, v: View, out: View, lse: u64, dout: View, parts: &[SaPart], scale: f32) -> Result<(DevBuf, DevBuf, DevBuf)> {
    check_parts(&d, parts)?;
    let packed = pack(parts);
    let parts = &packed[..];
    let defs = defines(e, &d)?;
    let rows = d.batch * d.heads * d.n;
    let h = d.heads as i32;
    if version_number() >= 8 {
        return backward_v8(gpu, e, d, [q, k, v, dout, out], lse, parts, scale);
    }
    let (dsum, _, _) = row_dot::row_dot(gpu, &defs, &d, &dout, &out, 0, None)?;  // D = rowsum(dO * O)
    let dq = gpu.zeros(Elem::F32, rows * d.dqk)?;
    let dk = gpu.zeros(Elem::F32, rows * d.dqk)?;
    let dv = gpu.zeros(Elem::F32, rows * d.dv)?;
    let (smem_dq, smem_dkdv) = backward_shared_bytes(e, &d);
    let (dqp, dkp, dvp, dsp) = (dq.ptr(gpu), dk.ptr(gpu), dv.ptr(gpu), dsum.ptr(gpu));
    for part in parts {
        let z = d.batch * part.heads as usize;
        let grid_q = tile_grid((part.q_len as usize).div_ceil(TILE), part, z);
        let grid_k = tile_grid((part.k_len as usize).div_ceil(TILE), part, z);
        match version_number() {
            1 | 2 => {
                tiles!(gpu, &defs, "sa_backward_dq", grid_q, smem_dq, false, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dqp, part, &h, &scale]);
                tiles!(gpu, &defs, "sa_backward_dkdv", grid_k, smem_dkdv, false, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dkp, &dvp, part, &h, &scale]);
            }
            3 => {
                tiles!(gpu, &defs, "sa_backward_dq", grid_q, smem_dq, false, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dqp, part, &h, &scale]);
                tiles!(gpu, &defs, "sa_backward_dkdv", grid_k, smem_dkdv, false, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dkp, &dvp, &dqp, part, &h, &scale]);
            }
            _ => {
                // dQ comes from the dK/dV kernel.
                tiles!(gpu, &defs, "sa_backward_dkdv", grid_k, smem_dkdv, false, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dkp, &dvp, &dqp, part, &h, &scale]);
            }
        }
    }
    let cast = |acc: &DevBuf, len: usize| -> Result<DevBuf> {
        let o = gpu.alloc(e, len)?;
        super::launch::cast(gpu, Elem::F32, e, acc.ptr(gpu), o.ptr(gpu), len)?;
        Ok(o)
    };
    Ok((cast(&dq, rows * d.dqk)?, cast(&dk, rows * d.dqk)?, cast(&dv, rows * d.dv)?))
}

/// The `mode` bits of part `i` of `n` in the in-place merges (forward from version 9, dK/dV
/// from 8): bit 0, the first part writes without reading, when it covers every row; bit 1,
/// the last part writes the final half-precision result, when it covers every row.
fn merge_mode(i: usize, n: usize, first_covers: bool, last_covers: bool) -> i32 {
    i32::from(i == 0 && first_covers) | (i32::from(i == n - 1 && last_covers) << 1)
}

/// The backward from version 8: the row-dot D = rowsum(dO * O), then the tile kernels, dQ
/// from the dK/dV kernel (fp32 atomics into a zeroed accumulator, then a cast); dK and dV
/// stored by the first part and written in half precision by the last when those parts cover
/// every key row (`SaPart::covers_every_key`), so the zero fill and the cast of dK and dV are
/// needed only for the parts that do not. Every buffer is allocated (and zeroed) before the
/// row-dot, so that from version 29 each launch after it follows a kernel of this backward
/// directly and may start early (`launch_early`).
#[allow(clippy::too_many_arguments)]
fn backward_v8(gpu: &Gpu, e: Elem, d: SaDims, [q, k, v, dout, out]: [View; 5], lse: u64, parts: &[SaPart], scale: f32) -> Result<(DevBuf, DevBuf, DevBuf)> {
    let defs = defines(e, &d)?;
    let rows = d.batch * d.heads * d.n;
    let h = d.heads as i32;
    let early = launch_early(gpu);
    let (dk_out, dv_out, dq_out) = (gpu.alloc(e, rows * d.dqk)?, gpu.alloc(e, rows * d.dv)?, gpu.alloc(e, rows * d.dqk)?);
    // Each launch: (part, merge mode, the summary part whose compact rows a version-23
    // own-block part adds); `cast_dk_dv`: whether dK and dV end in fp32 accumulators.
    let mut launches = Vec::new();
    let (dk, dv, cast_dk_dv);
    // Version 24's single launch: the query maps both parts share (`paired_backward` checks
    // that their query rows have one shape), if the views can be mapped.
    let pair_maps = match parts {
        [own, summary] if paired_backward(gpu, &d, own, summary) => streamed_maps(gpu, e, &d, [&q, &dout], query_shape(summary, d.n))?,
        _ => None,
    };
    let pair = pair_maps.is_some();
    let (mut arrivals, mut arrival_keys) = (None, 0);
    match parts {
        [own, summary] if pair || compact_summary(gpu, &d, own, summary) => {
            // Versions 23 and 24: the summary keys' sums in compact buffers.
            let keys = d.batch * d.heads * summary.k_len as usize;
            (dk, dv) = (gpu.alloc(Elem::F32, keys * d.dqk)?, gpu.alloc(Elem::F32, keys * d.dv)?);
            if pair {
                // Version 24: both parts in one launch, each summary key's two shares settled
                // by an arrival count (i32, zero bits; `settle_key_rows`); from version 29
                // zeroed by the row-dot launch, after dQ's accumulator.
                arrival_keys = keys;
                if version_number() < 29 {
                    arrivals = Some(gpu.zeros(Elem::F32, keys)?);
                }
                launches.push((*own, 0, *summary));
            } else {
                // Version 23: the summary part first, the own blocks last.
                launches.push((*summary, 1 | 4, *summary));
                launches.push((*own, 2 | 8, *summary));
            }
            cast_dk_dv = false;
        }
        _ => {
            let (first_covers, last_covers) = (parts[0].covers_every_key(d.heads), parts[parts.len() - 1].covers_every_key(d.heads));
            let acc = |width: usize| -> Result<DevBuf> {
                match (parts.len(), first_covers) {
                    (1, true) if last_covers => gpu.alloc(Elem::F32, 0), // written straight to the output
                    (_, true) => gpu.alloc(Elem::F32, rows * width),
                    (_, false) => gpu.zeros(Elem::F32, rows * width),
                }
            };
            (dk, dv) = (acc(d.dqk)?, acc(d.dv)?);
            launches.extend(parts.iter().enumerate().map(|(i, p)| (*p, merge_mode(i, parts.len(), first_covers, last_covers), *p)));
            cast_dk_dv = !last_covers;
        }
    }
    // D = rowsum(dO * O); from version 28 the same launch zeroes dQ's fp32 accumulator (from
    // 29 with the arrival counts after it)
    let zeroed_after_dq = if version_number() >= 29 { arrival_keys } else { 0 };
    // (version 31: with lse in the units the dK/dV kernels use, which they then read instead)
    let (dsum, dq_zeroed, lse2) = row_dot::row_dot(gpu, &defs, &d, &dout, &out, zeroed_after_dq, (version_number() >= 31).then_some((lse, scale)))?;
    let lse = lse2.as_ref().map_or(lse, |b| b.ptr(gpu));
    let dq = match dq_zeroed {
        Some(dq) => dq,
        None => gpu.zeros(Elem::F32, rows * d.dqk)?,
    };
    let (name, smem) = if wgmma_kernels(gpu, &d) {
        ("sa_backward_dkdv_wg", wgmma_dkdv_shared_bytes(e, version_number()))
    } else if wgmma32_kernels(gpu, &d, WG32_DKDV) {
        ("sa_backward_dkdv_wg32", wgmma32_dkdv_shared_bytes(e))
    } else {
        ("sa_backward_dkdv", backward_shared_bytes(e, &d).1)
    };
    let (dqp, dkp, dvp, dsp, dko, dvo) = (dq.ptr(gpu), dk.ptr(gpu), dv.ptr(gpu), dsum.ptr(gpu), dk_out.ptr(gpu), dv_out.ptr(gpu));
    let dq_map = if wgmma_kernels(gpu, &d) && version_number() >= 15 { Some(dq_tensor_map(dqp, rows)?) } else { None };
    let arp = match &arrivals {
        Some(a) => a.ptr(gpu),
        None if zeroed_after_dq > 0 => dq.ptr_at(gpu, rows * d.dqk),
        None => 0,
    };
    for (i, (part, mode, summary)) in launches.iter().enumerate() {
        // Version 29: a later part waits for the parts before it only where it adds to their
        // dK and dV rows (mode bit 32), the first for the row-dot before its first statistics.
        let mode = &if i > 0 && early { mode | 32 } else { *mode };
        let streamed = match (&pair_maps, &dq_map) {
            (Some(maps), _) => Some(*maps),
            (None, Some(_)) => streamed_maps(gpu, e, &d, [&q, &dout], query_shape(part, d.n))?,
            (None, None) => None,
        };
        // key tiles a block: two in version 27's `sa_backward_dkdv_tma2_wg`
        let kt = if streamed.is_some() && dq_map.is_some() && !pair { tma_dkdv_key_tiles(part) } else { 1 };
        let mut grid = tile_grid((part.k_len as usize).div_ceil(TILE * kt), part, d.batch * part.heads as usize);
        if pair {
            // (batch x heads, 1, the summary's key tiles, then the own blocks')
            grid = (grid.0, 1, (summary.k_len as usize).div_ceil(TILE) as u32 + grid.1 * grid.2);
        }
        // The launch's arguments: from version 23 the summary part follows the mode, from 24
        // the arrival counts follow it.
        macro_rules! dkdv {
            ($name:expr, $smem:expr, [$($tail:expr),*]) => {
                if version_number() >= 24 {
                    tiles!(gpu, &defs, $name, grid, $smem, early, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dkp, &dvp, &dqp, part, &h, &scale, &dko, &dvo, mode, summary, &arp $(, $tail)*]);
                } else if version_number() >= 23 {
                    tiles!(gpu, &defs, $name, grid, $smem, early, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dkp, &dvp, &dqp, part, &h, &scale, &dko, &dvo, mode, summary $(, $tail)*]);
                } else {
                    tiles!(gpu, &defs, $name, grid, $smem, early, [&q.ptr, &k.ptr, &v.ptr, &dout.ptr, &q.strides, &k.strides, &v.strides, &dout.strides, &lse, &dsp, &dkp, &dvp, &dqp, part, &h, &scale, &dko, &dvo, mode $(, $tail)*]);
                }
            };
        }
        if let (Some(map), Some((maps, rows))) = (&dq_map, &streamed) {
            // (the kernel's two mbarriers take 16 bytes of static shared memory from the alignment slack)
            let name = match (pair, kt) {
                (true, _) => "sa_backward_dkdv_pair_tma_wg",
                (false, 2) => "sa_backward_dkdv_tma2_wg",
                _ => "sa_backward_dkdv_tma_wg",
            };
            dkdv!(name, tma_dkdv_shared_bytes(e, kt) - 16, [map, maps, rows]);
        } else if let Some(map) = &dq_map {
            dkdv!(name, smem, [map]);
        } else {
            dkdv!(name, smem, []);
        }
    }
    let cast = |acc: &DevBuf, out: &DevBuf, len: usize| super::launch::cast_early(gpu, Elem::F32, e, acc.ptr(gpu), out.ptr(gpu), len, early);
    if cast_dk_dv {
        cast(&dk, &dk_out, rows * d.dqk)?;
        cast(&dv, &dv_out, rows * d.dv)?;
    }
    cast(&dq, &dq_out, rows * d.dqk)?;
    Ok((dq_out, dk_out, dv_out))
}

/// The forward from version 9: the parts merge into one running (output, lse) pair in place
/// (`Final` in `sparse_attention_v3.cu`); a first part covering every query row writes it
/// without reading, a last one writes the final output, else a one-part combine finishes.
fn forward_v9(gpu: &Gpu, e: Elem, d: SaDims, [q, k, v]: [View; 3], parts: &[SaPart], scale: f32) -> Result<(DevBuf, DevBuf)> {
    let defs = defines(e, &d)?;
    let rows = d.batch * d.heads * d.n;
    let h = d.heads as i32;
    if let [own, summary] = parts {
        if version_number() >= 21 && own_block_after(own, summary) && summary.covers_every_query(d.heads) && tuning("WG_FWD_ROWS").unwrap_or(TILE) == TILE {
            let summary_maps = streamed_maps(gpu, e, &d, [&k, &v], key_shape(summary, d.n))?;
            let own_maps = streamed_maps(gpu, e, &d, [&k, &v], key_shape(own, d.n))?;
            if let (Some((maps, rows_s)), Some((own_maps, own_rows))) = (summary_maps, own_maps) {
                let (out, lse) = (gpu.alloc(e, rows * d.dv)?, gpu.alloc(Elem::F32, rows)?);
                let fin = Final { out: out.ptr(gpu), so: output_strides(&d), lse: lse.ptr(gpu), mode: 3 };
                let own = OwnBlocks { maps: own_maps, part: *own, e1: own_rows.e1 };
                let (_, grid, smem) = forward_launch(gpu, e, &d, summary);
                let none = 0u64;
                tiles!(gpu, &defs, "sa_forward_own_tma_wg", grid, smem, false, [&q.ptr, &k.ptr, &v.ptr, &q.strides, &k.strides, &v.strides, &none, &none, summary, &h, &scale, &fin, &maps, &rows_s, &own]);
                return Ok((out, lse));
            }
        }
    }
    let (first_covers, last_covers) = (parts[0].covers_every_query(d.heads), parts[parts.len() - 1].covers_every_query(d.heads));
    let running = if parts.len() == 1 && first_covers { 0 } else { rows };
    let (o_run, lse_run) = (gpu.alloc(Elem::F32, running * d.dv)?, gpu.alloc(Elem::F32, running)?);
    if !first_covers {
        super::launch::fill(gpu, Elem::F32, lse_run.ptr(gpu), rows, f32::NEG_INFINITY)?;
    }
    let out = gpu.alloc(e, rows * d.dv)?;
    let lse = gpu.alloc(Elem::F32, rows)?;
    let so = output_strides(&d);
    let (op, lp) = (o_run.ptr(gpu), lse_run.ptr(gpu));
    for (i, part) in parts.iter().enumerate() {
        // (version 29: a later part starts early; it waits for the earlier ones before its merge)
        let early = i > 0 && launch_early(gpu);
        let mode = merge_mode(i, parts.len(), first_covers, last_covers);
        let fin = Final { out: out.ptr(gpu), so, lse: lse.ptr(gpu), mode };
        let (name, grid, smem) = forward_launch(gpu, e, &d, part);
        if let Some((maps, rows)) = streamed_maps(gpu, e, &d, [&k, &v], key_shape(part, d.n))? {
            let name = if name == "sa_forward_wg" { "sa_forward_tma_wg" } else { "sa_forward_narrow_tma_wg" };
            tiles!(gpu, &defs, name, grid, smem, early, [&q.ptr, &k.ptr, &v.ptr, &q.strides, &k.strides, &v.strides, &op, &lp, part, &h, &scale, &fin, &maps, &rows]);
        } else {
            tiles!(gpu, &defs, name, grid, smem, early, [&q.ptr, &k.ptr, &v.ptr, &q.strides, &k.strides, &v.strides, &op, &lp, part, &h, &scale, &fin]);
        }
    }
    if !last_covers {
        combine(gpu, &defs, &d, op, lp, 1, out.ptr(gpu), lse.ptr(gpu))?;
    }
    Ok((out, lse))
}


//! One Rust launcher per CUDA kernel. Each takes device addresses (from [`super::DevBuf`]),
//! sizes, and the element type that selects the compiled specialisation; each queues work on
//! the GPU's stream and returns without waiting. The CUDA source of each is in
//! `kernels/cuda/<file>.cu`; the CPU reference is named there.

use super::{cuda_err, early_launch, Dims8, Elem, Gpu};
use crate::error::Result;
use cudarc::driver::{LaunchConfig, PushKernelArg};

const THREADS: u32 = 256;

/// A grid-stride launch over `n` elements.
fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, 1 << 16) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 }
}

/// A grid-stride launch over `n` elements handled in 16-byte packs of `e`.
fn packed(n: usize, e: Elem) -> LaunchConfig {
    elementwise(n.div_ceil((16 / e.size()).max(1)))
}

/// One warp per row, 8 rows per block.
fn warp_per_row(rows: usize) -> LaunchConfig {
    let blocks = rows.div_ceil(8).clamp(1, 1 << 20) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

/// One block per row (grid-stride over rows), wider blocks for longer rows.
fn per_row(rows: usize, n: usize) -> LaunchConfig {
    let threads = if n >= 4096 { 1024 } else if n >= 1024 { 512 } else { 256 };
    LaunchConfig { grid_dim: (rows.clamp(1, 1 << 16) as u32, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 }
}

/// Launches kernel `name` of `file` (specialised by `defines`) with the arguments pushed by
/// `args`.
macro_rules! launch {
    ($gpu:expr, $file:expr, $defines:expr, $name:expr, $cfg:expr, [$($arg:expr),* $(,)?]) => {{
        let func = $gpu.function($file, $defines, $name)?;
        let mut b = $gpu.stream.launch_builder(&func);
        $( let arg = $arg; b.arg(&arg); )*
        // SAFETY: every pointer argument addresses a live buffer of the sizes passed beside it;
        // the argument list matches the kernel's signature in the named source file.
        unsafe { b.launch($cfg) }.map_err(cuda_err(concat!("launch of ", $name)))?;
        Ok(())
    }};
}

fn el(e: Elem) -> [(&'static str, &'static str); 1] {
    [("ELEM_TYPE", e.c_type())]
}

fn el_idx(e: Elem, idx: Elem) -> [(&'static str, &'static str); 2] {
    [("ELEM_TYPE", e.c_type()), ("IDX_TYPE", idx.c_type())]
}

// ------------------------------------------------------------------ elementwise.cu

pub fn unary(gpu: &Gpu, e: Elem, x: u64, y: u64, n: usize, op: i32, a: f32, b: f32) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "unary", packed(n, e), [x, y, n as i64, op, a, b])
}

/// `out = op(a, b)` for dense operands of one shape.
pub fn binary_same(gpu: &Gpu, e: Elem, a: u64, b: u64, out: u64, n: usize, op: i32) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "binary_same", packed(n, e), [a, b, out, n as i64, op])
}

#[allow(clippy::too_many_arguments)]
pub fn binary(gpu: &Gpu, e: Elem, a: u64, b: u64, out: u64, shape: &[usize], sa: &[usize], oa: usize, sb: &[usize], ob: usize, op: i32) -> Result<()> {
    let n: usize = shape.iter().product();
    let (d, da, db) = (Dims8::new(shape)?, Dims8::new(sa)?, Dims8::new(sb)?);
    launch!(gpu, "elementwise.cu", &el(e), "binary", elementwise(n), [a, b, out, n as i64, d, da, oa as i64, db, ob as i64, shape.len() as i32, op])
}

/// `dst` (dense) = the view `(shape, strides, offset)` of `src`.
pub fn gather_strided(gpu: &Gpu, e: Elem, src: u64, dst: u64, shape: &[usize], strides: &[usize], offset: usize) -> Result<()> {
    let n: usize = shape.iter().product();
    let (d, s) = (Dims8::new(shape)?, Dims8::new(strides)?);
    launch!(gpu, "elementwise.cu", &el(e), "gather_strided", elementwise(n), [src, dst, n as i64, d, s, offset as i64, shape.len() as i32])
}

/// The view `(shape, strides, offset)` of `dst` = `src` (dense).
pub fn scatter_strided(gpu: &Gpu, e: Elem, src: u64, dst: u64, shape: &[usize], strides: &[usize], offset: usize) -> Result<()> {
    let n: usize = shape.iter().product();
    let (d, s) = (Dims8::new(shape)?, Dims8::new(strides)?);
    launch!(gpu, "elementwise.cu", &el(e), "scatter_strided", elementwise(n), [src, dst, n as i64, d, s, offset as i64, shape.len() as i32])
}

pub fn fill(gpu: &Gpu, e: Elem, y: u64, n: usize, value: f32) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "fill", elementwise(n), [y, n as i64, value])
}

/// Normal(`a`, `b`) when `normal`, else uniform `[a, b)`; element `i` from Philox `(seed, i)`.
pub fn random(gpu: &Gpu, e: Elem, y: u64, n: usize, seed: u64, a: f32, b: f32, normal: bool) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "fill_random", elementwise(n), [y, n as i64, seed, a, b, normal as i32])
}

pub fn dropout(gpu: &Gpu, e: Elem, x: u64, y: u64, n: usize, p: f64, seed: u64) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "dropout", packed(n, e), [x, y, n as i64, p, seed])
}

pub fn gelu_fwd(gpu: &Gpu, e: Elem, x: u64, y: u64, n: usize) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "gelu_fwd", packed(n, e), [x, y, n as i64])
}

pub fn gelu_bwd(gpu: &Gpu, e: Elem, x: u64, g: u64, dx: u64, n: usize) -> Result<()> {
    launch!(gpu, "elementwise.cu", &el(e), "gelu_bwd", packed(n, e), [x, g, dx, n as i64])
}

// ------------------------------------------------------------------ cast.cu

pub fn cast(gpu: &Gpu, from: Elem, to: Elem, x: u64, y: u64, n: usize) -> Result<()> {
    cast_early(gpu, from, to, x, y, n, false)
}

/// [`cast`], with `early` allowed to start before the kernel ahead of it has finished
/// (`early_launch`: the kernel waits for it before its first load).
pub fn cast_early(gpu: &Gpu, from: Elem, to: Elem, x: u64, y: u64, n: usize, early: bool) -> Result<()> {
    let d = [("SRC_TYPE", from.c_type()), ("ELEM_TYPE", to.c_type())];
    let func = gpu.function("cast.cu", &d, "cast")?;
    let n = n as i64;
    let mut args = early_launch::Args::new();
    args.arg(&x).arg(&y).arg(&n);
    // SAFETY: x holds n elements of `from`, y room for n of `to`; `cast` calls
    // `after_previous_grid` before it reads.
    unsafe { early_launch::launch(gpu, &func, elementwise((n as usize).div_ceil(4)), early, &mut args, "cast") }
}

// ------------------------------------------------------------------ reduce.cu

/// `y[o, i] = sum_j x[o, j, i]`.
pub fn sum_axis(gpu: &Gpu, e: Elem, x: u64, y: u64, outer: usize, len: usize, inner: usize) -> Result<()> {
    if inner == 1 {
        launch!(gpu, "reduce.cu", &el(e), "sum_rows", per_row(outer, len), [x, y, outer as i64, len as i64])
    } else {
        launch!(gpu, "reduce.cu", &el(e), "sum_axis", elementwise(outer * inner), [x, y, outer as i64, len as i64, inner as i64])
    }
}

/// `y[o, i] = max_j x[o, j, i]`, `arg` (i32) the first arg-max.
pub fn max_axis(gpu: &Gpu, e: Elem, x: u64, y: u64, arg: u64, outer: usize, len: usize, inner: usize) -> Result<()> {
    launch!(gpu, "reduce.cu", &el(e), "max_axis", elementwise(outer * inner), [x, y, arg, outer as i64, len as i64, inner as i64])
}

pub fn max_backward(gpu: &Gpu, e: Elem, dy: u64, arg: u64, dx: u64, outer: usize, len: usize, inner: usize) -> Result<()> {
    launch!(gpu, "reduce.cu", &el(e), "max_backward", elementwise(outer * len * inner), [dy, arg, dx, outer as i64, len as i64, inner as i64])
}

// ------------------------------------------------------------------ softmax.cu

/// The `ROW_PACKS` define for rows of `n` elements: the smallest of 1, 2, 4, 8 packs per lane
/// that holds a row (longer rows use the streaming path, compiled with 8).
fn row_packs(e: Elem, n: usize) -> &'static str {
    let packs = n.div_ceil(32 * (16 / e.size()).max(1));
    match packs {
        0..=1 => "1",
        2 => "2",
        3..=4 => "4",
        _ => "8",
    }
}

fn el_rows(e: Elem, n: usize) -> [(&'static str, &'static str); 2] {
    [("ELEM_TYPE", e.c_type()), ("ROW_PACKS", row_packs(e, n))]
}

pub fn softmax_fwd(gpu: &Gpu, e: Elem, x: u64, y: u64, rows: usize, n: usize, log: bool) -> Result<()> {
    launch!(gpu, "softmax.cu", &el_rows(e, n), "softmax_fwd", warp_per_row(rows), [x, y, rows as i64, n as i64, log as i32])
}

pub fn softmax_bwd(gpu: &Gpu, e: Elem, y: u64, g: u64, dx: u64, rows: usize, n: usize, log: bool) -> Result<()> {
    launch!(gpu, "softmax.cu", &el(e), "softmax_bwd", warp_per_row(rows), [y, g, dx, rows as i64, n as i64, log as i32])
}

/// Masked softmax of attention scores `[bh * tq, tk]`: `kind` 0 none, 1 causal, 2 boolean
/// `mask` (u8 `[heads, tq, tk]`). Writes probabilities `p` and fp32 `lse`.
#[allow(clippy::too_many_arguments)]
pub fn attn_softmax(gpu: &Gpu, e: Elem, s: u64, p: u64, lse: u64, bh: usize, tq: usize, tk: usize, heads: usize, scale: f32, kind: i32, mask: u64) -> Result<()> {
    let rows = bh * tq;
    launch!(gpu, "softmax.cu", &el(e), "attn_softmax", per_row(rows, tk), [s, p, lse, rows as i64, tq as i64, tk as i64, heads as i64, scale, kind, mask])
}

// ------------------------------------------------------------------ layer_norm.cu

/// `mean`, `rstd`: fp32 `[rows]`.
#[allow(clippy::too_many_arguments)]
pub fn ln_fwd(gpu: &Gpu, e: Elem, x: u64, gamma: u64, beta: u64, y: u64, mean: u64, rstd: u64, rows: usize, n: usize, eps: f32) -> Result<()> {
    launch!(gpu, "layer_norm.cu", &el_rows(e, n), "ln_fwd", warp_per_row(rows), [x, gamma, beta, y, mean, rstd, rows as i64, n as i64, eps])
}

/// `dx` per row, then `dgamma`, `dbeta` as deterministic two-stage column sums.
#[allow(clippy::too_many_arguments)]
pub fn ln_bwd(gpu: &Gpu, e: Elem, x: u64, gamma: u64, mean: u64, rstd: u64, g: u64, dx: u64, dgamma: u64, dbeta: u64, rows: usize, n: usize) -> Result<()> {
    // A fixed number of rows per block (not a function of the device) keeps sums reproducible.
    let rows_per_block = 32usize;
    let blocks = rows.div_ceil(rows_per_block).max(1);
    let part_g = gpu.alloc(Elem::F32, blocks * n)?;
    let part_b = gpu.alloc(Elem::F32, blocks * n)?;
    let (pg, pb) = (part_g.ptr(gpu), part_b.ptr(gpu));
    let threads = if n >= 1024 { 512 } else { 256 };
    let cfg = LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 };
    launch!(gpu, "layer_norm.cu", &el(e), "ln_bwd", cfg, [x, gamma, mean, rstd, g, dx, pg, pb, rows as i64, n as i64, rows_per_block as i64])?;
    launch!(gpu, "layer_norm.cu", &el(e), "sum_partials", elementwise(n), [pg, dgamma, blocks as i64, n as i64])?;
    launch!(gpu, "layer_norm.cu", &el(e), "sum_partials", elementwise(n), [pb, dbeta, blocks as i64, n as i64])
}

// ------------------------------------------------------------------ embedding.cu

#[allow(clippy::too_many_arguments)]
pub fn embedding_fwd(gpu: &Gpu, e: Elem, idx: Elem, table: u64, ids: u64, out: u64, nids: usize, dim: usize, vocab: usize) -> Result<()> {
    launch!(gpu, "embedding.cu", &el_idx(e, idx), "embedding_fwd", elementwise(nids * dim), [table, ids, out, nids as i64, dim as i64, vocab as i64])
}

/// `dtable` (`e`, `[vocab, dim]`) from fp32 atomics then a cast.
#[allow(clippy::too_many_arguments)]
pub fn embedding_bwd(gpu: &Gpu, e: Elem, idx: Elem, dout: u64, ids: u64, dtable: u64, nids: usize, dim: usize, vocab: usize) -> Result<()> {
    let acc = gpu.zeros(Elem::F32, vocab * dim)?;
    let a = acc.ptr(gpu);
    launch!(gpu, "embedding.cu", &el_idx(e, idx), "embedding_bwd", elementwise(nids * dim), [dout, ids, a, nids as i64, dim as i64, vocab as i64])?;
    cast(gpu, Elem::F32, e, a, dtable, vocab * dim)
}

// ------------------------------------------------------------------ cross_entropy.cu

/// `loss`: fp32 scalar, `lse`: fp32 `[rows]`.
#[allow(clippy::too_many_arguments)]
pub fn ce_fwd(gpu: &Gpu, e: Elem, idx: Elem, logits: u64, targets: u64, loss: u64, lse: u64, rows: usize, vocab: usize) -> Result<()> {
    let row_loss = gpu.alloc(Elem::F32, rows)?;
    let rl = row_loss.ptr(gpu);
    launch!(gpu, "cross_entropy.cu", &el_idx(e, idx), "ce_fwd", per_row(rows, vocab), [logits, targets, rl, lse, rows as i64, vocab as i64])?;
    let one = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1024, 1, 1), shared_mem_bytes: 0 };
    launch!(gpu, "cross_entropy.cu", &el_idx(e, idx), "mean_of", one, [rl, loss, rows as i64])
}

/// `g`: the loss gradient, an fp32 scalar on the device (no host round trip).
#[allow(clippy::too_many_arguments)]
pub fn ce_bwd(gpu: &Gpu, e: Elem, idx: Elem, logits: u64, targets: u64, lse: u64, g: u64, d: u64, rows: usize, vocab: usize) -> Result<()> {
    launch!(gpu, "cross_entropy.cu", &el_idx(e, idx), "ce_bwd", elementwise(rows * vocab), [logits, targets, lse, g, d, rows as i64, vocab as i64])
}

// ------------------------------------------------------------------ adam.cu

/// In place on fp32 `p`, `m`, `v`; `g` of type `grad`.
#[allow(clippy::too_many_arguments)]
pub fn adam(gpu: &Gpu, grad: Elem, p: u64, g: u64, m: u64, v: u64, n: usize, h: crate::adam::AdamParams) -> Result<()> {
    let inv_bc1 = (1.0 / (1.0 - h.beta1.powi(h.step as i32))) as f32;
    let inv_bc2 = (1.0 / (1.0 - h.beta2.powi(h.step as i32))) as f32;
    let (lr, b1, b2, eps, wd) = (h.lr as f32, h.beta1 as f32, h.beta2 as f32, h.eps as f32, h.weight_decay as f32);
    launch!(gpu, "adam.cu", &el(grad), "adam", elementwise(n), [p, g, m, v, n as i64, lr, b1, b2, eps, wd, inv_bc1, inv_bc2])
}

/// Sets the i32 at `flag` to 1 if any of the `n` elements at `x` is inf or NaN.
pub fn nonfinite_flag(gpu: &Gpu, e: Elem, x: u64, n: usize, flag: u64) -> Result<()> {
    launch!(gpu, "adam.cu", &el(e), "nonfinite_flag", elementwise(n), [x, n as i64, flag])
}

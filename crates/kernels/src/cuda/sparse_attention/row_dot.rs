//! The backward's first launch: D = rowsum(dO * O) per query row (fp32), the term of the
//! softmax gradient dS = P (dP - D) that every dK/dV step reads (`lse` and D per query tile);
//! from version 28 the same launch also zeroes dQ's fp32 accumulator, which the dK/dV
//! kernels then add their shares into (`sa_rowdot_zero` in `sparse_attention_rows.cuh`).

use super::{file, launch_early, version_number, warp_rows, SaDims, View};
use crate::cuda::{cuda_err, early_launch, DevBuf, Elem, Gpu};
use crate::error::Result;
use cudarc::driver::{LaunchConfig, PushKernelArg};

/// `unary`'s op code of y = a x + b (`elementwise.cu`).
const AFFINE: i32 = 12;

/// Launches the row-dot for `d`'s rows: `(D, dQ's accumulator zeroed, from version 28)`; that
/// buffer has `after_dq` more zeroed 4-byte words after dQ's `rows x DQK` (version 29: the
/// arrival counts of the merged fixed pattern). Version 13's kernel takes DV / 8 threads a row
/// with 16-byte loads; earlier ones a warp. Version 29 launches it early (`launch_early`): it
/// waits for the kernels before it at once.
/// Version 31 (`lse`: the forward's log-sum-exp and the softmax scale): the launch also writes
/// each row's lse as the dK/dV kernels use it (`sa_rowdot_zero_lse`), the third buffer.
pub(super) fn row_dot(gpu: &Gpu, defs: &[(&'static str, &'static str)], d: &SaDims, dout: &View, out: &View, after_dq: usize, lse: Option<(u64, f32)>) -> Result<(DevBuf, Option<DevBuf>, Option<DevBuf>)> {
    let rows = d.batch * d.heads * d.n;
    let h = d.heads as i32;
    let dsum = gpu.alloc(Elem::F32, rows)?;
    let threads = rows * d.dv / 8;
    if version_number() >= 13 && threads <= i32::MAX as usize {
        let count = rows * d.dqk + after_dq;
        let dq = if version_number() >= 28 { Some(gpu.alloc(Elem::F32, count)?) } else { None };
        let lse2 = match (&dq, lse) {
            (Some(_), Some(_)) => Some(gpu.alloc(Elem::F32, rows)?),
            _ => None,
        };
        let name = match (&dq, &lse2) {
            (Some(_), Some(_)) => "sa_rowdot_zero_lse",
            (Some(_), None) => "sa_rowdot_zero",
            (None, _) => "sa_rowdot_packed",
        };
        let func = gpu.function(file(), defs, name)?;
        let mut args = early_launch::Args::new();
        let (rows_i, n_i, dp) = (rows as i32, d.n as i32, dsum.ptr(gpu));
        args.arg(&dout.ptr).arg(&dout.strides).arg(&out.ptr).arg(&out.strides).arg(&rows_i).arg(&h).arg(&n_i).arg(&dp);
        let (zp, count) = (dq.as_ref().map(|z| z.ptr(gpu)), count as i64);
        let lse2p = lse2.as_ref().map(|b| b.ptr(gpu));
        if let Some(zp) = &zp {
            args.arg(zp).arg(&count);
        }
        if let (Some((lse, scale)), Some(p)) = (&lse, &lse2p) {
            args.arg(lse).arg(scale).arg(p);
        }
        let cfg = LaunchConfig { grid_dim: (threads.div_ceil(256) as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: matches `sa_rowdot_packed` (or `sa_rowdot_zero`, whose `zero` buffer has
        // `count` floats and, as every allocation, is 16-byte aligned); dsum has `rows` floats;
        // every row of dO and O starts 16-byte aligned (head widths are multiples of 8, views
        // of aligned buffers); lse and lse2 have `rows` floats (version 31). Version 29's kernel
        // waits for the grids before it at once.
        unsafe { early_launch::launch(gpu, &func, cfg, launch_early(gpu), &mut args, name) }?;
        Ok((dsum, dq, lse2))
    } else {
        let func = gpu.function(file(), defs, "sa_rowdot")?;
        let mut b = gpu.stream.launch_builder(&func);
        let (rows_i, n_i, dp) = (rows as i64, d.n as i32, dsum.ptr(gpu));
        b.arg(&dout.ptr).arg(&dout.strides).arg(&out.ptr).arg(&out.strides).arg(&rows_i).arg(&h).arg(&n_i).arg(&dp);
        // SAFETY: matches `sa_rowdot`; dsum has `rows` floats.
        unsafe { b.launch(warp_rows(rows)) }.map_err(cuda_err("launch of sa_rowdot"))?;
        // (so large that the packed kernel's 32-bit thread indices overflow: lse2 on its own)
        let lse2 = match lse {
            Some((lse, scale)) => {
                let lse2 = gpu.alloc(Elem::F32, rows)?;
                crate::cuda::launch::unary(gpu, Elem::F32, lse, lse2.ptr(gpu), rows, AFFINE, std::f32::consts::LOG2_E, -scale.log2())?;
                Some(lse2)
            }
            None => None,
        };
        Ok((dsum, None, lse2))
    }
}

//! Reference attention: exact, masked, one query row at a time. This is the path every fast
//! kernel is checked against, and the path the model uses on the CPU.
//!
//! Shapes (dense, row-major), with `BH = batch * heads`:
//! `q: [BH, Tq, Dk]`, `k: [BH, Tk, Dk]`, `v: [BH, Tk, Dv]` -> `out: [BH, Tq, Dv]`, `lse: [BH, Tq]`.
//!
//! Forward, for query `i` over its allowed keys `A(i)`:
//! `s_ij = scale * q_i . k_j`, `lse_i = log sum_{j in A(i)} exp(s_ij)`,
//! `p_ij = exp(s_ij - lse_i)`, `out_i = sum_j p_ij v_j`.
//! A row with no allowed key outputs zeros and `lse = -inf`.
//!
//! Backward, given `dout`, recomputing `p` from `q`, `k` and the saved `lse` (the n x n
//! matrix is never stored, the same trade FlashAttention makes):
//! `dv_j = sum_i p_ij dout_i`, `dp_ij = dout_i . v_j`, `D_i = sum_j p_ij dp_ij`,
//! `ds_ij = p_ij (dp_ij - D_i)`, `dq_i = scale sum_j ds_ij k_j`, `dk_j = scale sum_i ds_ij q_i`.

use crate::Float;
use rayon::prelude::*;

/// Which keys each query may see.
#[derive(Clone, Copy, Debug)]
pub enum Mask<'a> {
    /// Every key.
    None,
    /// Key `j` is visible to query `i` when `j <= i + (Tk - Tq)`: queries are aligned with the
    /// last `Tq` keys, which is plain causal attention when `Tq == Tk` and decoding with a
    /// key/value cache when `Tq < Tk`.
    Causal,
    /// `allowed[h, i, j] != 0`, shape `[heads, Tq, Tk]`; head `h = bh % heads`
    /// (`heads == 1` shares one mask across heads).
    Bool { allowed: &'a [u8], heads: usize },
}

/// The sizes of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnDims {
    pub bh: usize,
    pub tq: usize,
    pub tk: usize,
    pub dk: usize,
    pub dv: usize,
}

impl Mask<'_> {
    #[inline]
    fn allows(&self, d: &AttnDims, bh: usize, i: usize, j: usize) -> bool {
        match *self {
            Mask::None => true,
            Mask::Causal => j + d.tq <= i + d.tk,
            Mask::Bool { allowed, heads } => allowed[((bh % heads) * d.tq + i) * d.tk + j] != 0,
        }
    }
}

#[inline]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// Returns `(out, lse)`.
pub fn attention<T: Float>(q: &[T], k: &[T], v: &[T], d: AttnDims, mask: Mask, scale: f64) -> (Vec<T>, Vec<T>) {
    let scale = T::from_f64(scale);
    let mut out = vec![T::ZERO; d.bh * d.tq * d.dv];
    let mut lse = vec![T::NEG_INFINITY; d.bh * d.tq];
    out.par_chunks_mut(d.dv.max(1)).zip(lse.par_iter_mut()).enumerate().for_each(|(row, (o, l))| {
        let (bh, i) = (row / d.tq, row % d.tq);
        let qi = &q[row * d.dk..(row + 1) * d.dk];
        let kb = &k[bh * d.tk * d.dk..(bh + 1) * d.tk * d.dk];
        let vb = &v[bh * d.tk * d.dv..(bh + 1) * d.tk * d.dv];
        let scores: Vec<(usize, T)> = (0..d.tk)
            .filter(|&j| mask.allows(&d, bh, i, j))
            .map(|j| (j, scale * dot(qi, &kb[j * d.dk..(j + 1) * d.dk])))
            .collect();
        if scores.is_empty() {
            return;
        }
        let m = scores.iter().fold(T::NEG_INFINITY, |m, &(_, s)| m.max(s));
        let sum: T = scores.iter().map(|&(_, s)| (s - m).exp()).sum();
        let lse_i = m + sum.ln();
        for &(j, s) in &scores {
            let p = (s - lse_i).exp();
            for (oc, &vc) in o.iter_mut().zip(&vb[j * d.dv..(j + 1) * d.dv]) {
                *oc += p * vc;
            }
        }
        *l = lse_i;
    });
    (out, lse)
}

/// Returns `(dq, dk, dv)`. Parallel over `bh`; within one, queries are visited in order, so
/// the accumulation into `dk` and `dv` is deterministic.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: Float>(
    q: &[T],
    k: &[T],
    v: &[T],
    lse: &[T],
    dout: &[T],
    d: AttnDims,
    mask: Mask,
    scale: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let scale = T::from_f64(scale);
    let mut dq = vec![T::ZERO; d.bh * d.tq * d.dk];
    let mut dk = vec![T::ZERO; d.bh * d.tk * d.dk];
    let mut dv = vec![T::ZERO; d.bh * d.tk * d.dv];
    let (qs, ks, vs) = (d.tq * d.dk, d.tk * d.dk, d.tk * d.dv);
    dq.par_chunks_mut(qs.max(1))
        .zip(dk.par_chunks_mut(ks.max(1)).zip(dv.par_chunks_mut(vs.max(1))))
        .enumerate()
        .for_each(|(bh, (dqb, (dkb, dvb)))| {
            let kb = &k[bh * ks..(bh + 1) * ks];
            let vb = &v[bh * vs..(bh + 1) * vs];
            let mut p_row: Vec<(usize, T, T)> = Vec::with_capacity(d.tk); // (j, p_ij, dp_ij)
            for i in 0..d.tq {
                let row = bh * d.tq + i;
                let l = lse[row];
                if l == T::NEG_INFINITY {
                    continue; // no allowed key: no gradient
                }
                let qi = &q[row * d.dk..(row + 1) * d.dk];
                let doi = &dout[row * d.dv..(row + 1) * d.dv];
                p_row.clear();
                let mut big_d = T::ZERO;
                for j in (0..d.tk).filter(|&j| mask.allows(&d, bh, i, j)) {
                    let p = (scale * dot(qi, &kb[j * d.dk..(j + 1) * d.dk]) - l).exp();
                    let dp = dot(doi, &vb[j * d.dv..(j + 1) * d.dv]);
                    big_d += p * dp;
                    p_row.push((j, p, dp));
                }
                let dqi = &mut dqb[i * d.dk..(i + 1) * d.dk];
                for &(j, p, dp) in &p_row {
                    for (dvc, &g) in dvb[j * d.dv..(j + 1) * d.dv].iter_mut().zip(doi) {
                        *dvc += p * g;
                    }
                    let ds = scale * p * (dp - big_d);
                    for ((dqc, dkc), (&kc, &qc)) in dqi
                        .iter_mut()
                        .zip(dkb[j * d.dk..(j + 1) * d.dk].iter_mut())
                        .zip(kb[j * d.dk..(j + 1) * d.dk].iter().zip(qi))
                    {
                        *dqc += ds * kc;
                        *dkc += ds * qc;
                    }
                }
            }
        });
    (dq, dk, dv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_first_row_copies_first_value() {
        let d = AttnDims { bh: 1, tq: 2, tk: 2, dk: 1, dv: 2 };
        let (o, lse) = attention(&[1.0f64, 1.0], &[0.5, -0.5], &[1.0, 2.0, 3.0, 4.0], d, Mask::Causal, 1.0);
        assert_eq!(&o[..2], &[1.0, 2.0]);
        approx::assert_abs_diff_eq!(lse[0], 0.5, epsilon = 1e-12);
        let p0 = 0.5f64.exp() / (0.5f64.exp() + (-0.5f64).exp());
        approx::assert_abs_diff_eq!(o[2], p0 * 1.0 + (1.0 - p0) * 3.0, epsilon = 1e-12);
    }

    #[test]
    fn fully_masked_rows_are_zero() {
        let d = AttnDims { bh: 1, tq: 1, tk: 2, dk: 1, dv: 1 };
        let (o, lse) = attention(&[1.0f32], &[1.0, 1.0], &[5.0, 5.0], d, Mask::Bool { allowed: &[0, 0], heads: 1 }, 1.0);
        assert_eq!(o, vec![0.0]);
        assert_eq!(lse[0], f32::NEG_INFINITY);
    }
}

//! LayerNorm over the last axis of a dense `[rows, n]` buffer, statistics in the compute type.
//!
//! Forward, per row: `mean = sum x / n`, `var = sum (x - mean)^2 / n`,
//! `rstd = 1 / sqrt(var + eps)`, `xhat = (x - mean) * rstd`, `y = xhat * gamma + beta`.
//! `mean` and `rstd` are returned so the backward need not recompute them.
//!
//! Backward, per row, with `g = dL/dy` and `gx = g * gamma`:
//! `dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat))`;
//! `dgamma = sum_rows g * xhat`, `dbeta = sum_rows g`.
//! The column sums are taken in fixed blocks of rows and the block sums added in order,
//! so the result does not depend on the thread schedule.

use crate::{Float, ROWS_PER_TASK};
use rayon::prelude::*;

/// Returns `(y, mean, rstd)`: `y` is `[rows, n]`, the statistics `[rows]`.
pub fn layer_norm<T: Float>(x: &[T], gamma: &[T], beta: &[T], n: usize, eps: f64) -> (Vec<T>, Vec<T>, Vec<T>) {
    let rows = if n == 0 { 0 } else { x.len() / n };
    let mut y = vec![T::ZERO; x.len()];
    let mut mean = vec![T::ZERO; rows];
    let mut rstd = vec![T::ZERO; rows];
    let inv_n = T::from_f64(1.0 / n as f64);
    y.par_chunks_mut(n.max(1))
        .zip(x.par_chunks(n.max(1)))
        .zip(mean.par_iter_mut().zip(rstd.par_iter_mut()))
        .for_each(|((y, x), (mu, rs))| {
            let m = x.iter().copied().sum::<T>() * inv_n;
            let var = x.iter().map(|&v| (v - m) * (v - m)).sum::<T>() * inv_n;
            let r = T::ONE / (var + T::from_f64(eps)).sqrt();
            for (((o, &v), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
                *o = (v - m) * r * g + b;
            }
            *mu = m;
            *rs = r;
        });
    (y, mean, rstd)
}

/// Returns `(dx, dgamma, dbeta)`.
pub fn layer_norm_backward<T: Float>(
    x: &[T],
    gamma: &[T],
    mean: &[T],
    rstd: &[T],
    g: &[T],
    n: usize,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let mut dx = vec![T::ZERO; x.len()];
    let inv_n = T::from_f64(1.0 / n.max(1) as f64);
    let block = ROWS_PER_TASK * n.max(1);
    // Each task handles ROWS_PER_TASK rows and returns its partial (dgamma, dbeta).
    let partials: Vec<(Vec<T>, Vec<T>)> = dx
        .par_chunks_mut(block)
        .zip(x.par_chunks(block).zip(g.par_chunks(block)))
        .enumerate()
        .map(|(t, (dx, (x, g)))| {
            let mut dgamma = vec![T::ZERO; n];
            let mut dbeta = vec![T::ZERO; n];
            for (r, ((dx, x), g)) in dx.chunks_mut(n).zip(x.chunks(n)).zip(g.chunks(n)).enumerate() {
                let row = t * ROWS_PER_TASK + r;
                let (m, rs) = (mean[row], rstd[row]);
                let mut mean_gx = T::ZERO;
                let mut mean_gx_xhat = T::ZERO;
                for i in 0..n {
                    let xhat = (x[i] - m) * rs;
                    let gx = g[i] * gamma[i];
                    mean_gx += gx;
                    mean_gx_xhat += gx * xhat;
                    dgamma[i] += g[i] * xhat;
                    dbeta[i] += g[i];
                }
                mean_gx *= inv_n;
                mean_gx_xhat *= inv_n;
                for i in 0..n {
                    let xhat = (x[i] - m) * rs;
                    dx[i] = rs * (g[i] * gamma[i] - mean_gx - xhat * mean_gx_xhat);
                }
            }
            (dgamma, dbeta)
        })
        .collect();
    let mut dgamma = vec![T::ZERO; n];
    let mut dbeta = vec![T::ZERO; n];
    for (pg, pb) in partials {
        for i in 0..n {
            dgamma[i] += pg[i];
            dbeta[i] += pb[i];
        }
    }
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_each_row() {
        let x = [1.0f64, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0];
        let (y, mean, rstd) = layer_norm(&x, &[1.0; 4], &[0.0; 4], 4, 1e-5);
        approx::assert_abs_diff_eq!(mean[0], 2.5, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(y[..4].iter().sum::<f64>(), 0.0, epsilon = 1e-9);
        approx::assert_abs_diff_eq!(y[..4].iter().map(|v| v * v).sum::<f64>() / 4.0, 1.0, epsilon = 1e-4);
        assert!(y[4..].iter().all(|v| v.abs() < 1e-9) && rstd[1] > 100.0);
    }
}

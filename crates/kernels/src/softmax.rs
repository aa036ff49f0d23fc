//! Softmax and log-softmax over the last axis of a dense `[rows, n]` buffer.
//!
//! Forward, per row: `m = max x`, `s = sum exp(x - m)`, `y = exp(x - m) / s`
//! (or `log y = x - m - ln s`). Subtracting the max keeps `exp` from overflowing.
//!
//! Backward, per row, with `g = dL/dy`:
//! - softmax: `dx = y * (g - sum(g * y))`
//! - log-softmax: `dx = g - exp(y) * sum(g)` (here `y` is the log-probability)

use crate::Float;
use rayon::prelude::*;

fn row_max<T: Float>(x: &[T]) -> T {
    x.iter().fold(T::NEG_INFINITY, |m, &v| m.max(v))
}

/// `y = softmax(x)` row by row.
pub fn softmax<T: Float>(x: &[T], n: usize) -> Vec<T> {
    let mut y = vec![T::ZERO; x.len()];
    y.par_chunks_mut(n.max(1)).zip(x.par_chunks(n.max(1))).for_each(|(y, x)| {
        let m = row_max(x);
        let mut s = T::ZERO;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = (v - m).exp();
            s += *o;
        }
        let inv = T::ONE / s;
        y.iter_mut().for_each(|o| *o *= inv);
    });
    y
}

/// `dx = y * (g - <g, y>)` row by row.
pub fn softmax_backward<T: Float>(y: &[T], g: &[T], n: usize) -> Vec<T> {
    let mut dx = vec![T::ZERO; y.len()];
    dx.par_chunks_mut(n.max(1)).zip(y.par_chunks(n.max(1)).zip(g.par_chunks(n.max(1)))).for_each(|(dx, (y, g))| {
        let dot: T = y.iter().zip(g).map(|(&a, &b)| a * b).sum();
        for ((d, &yv), &gv) in dx.iter_mut().zip(y).zip(g) {
            *d = yv * (gv - dot);
        }
    });
    dx
}

/// `y = log_softmax(x)` row by row.
pub fn log_softmax<T: Float>(x: &[T], n: usize) -> Vec<T> {
    let mut y = vec![T::ZERO; x.len()];
    y.par_chunks_mut(n.max(1)).zip(x.par_chunks(n.max(1))).for_each(|(y, x)| {
        let m = row_max(x);
        let lse = m + x.iter().map(|&v| (v - m).exp()).sum::<T>().ln();
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v - lse;
        }
    });
    y
}

/// `dx = g - exp(y) * sum(g)` row by row, `y` being the log-softmax output.
pub fn log_softmax_backward<T: Float>(y: &[T], g: &[T], n: usize) -> Vec<T> {
    let mut dx = vec![T::ZERO; y.len()];
    dx.par_chunks_mut(n.max(1)).zip(y.par_chunks(n.max(1)).zip(g.par_chunks(n.max(1)))).for_each(|(dx, (y, g))| {
        let sum: T = g.iter().copied().sum();
        for ((d, &yv), &gv) in dx.iter_mut().zip(y).zip(g) {
            *d = gv - yv.exp() * sum;
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one_and_logs_agree() {
        let x = [1.0f64, 2.0, 3.0, -1.0, 0.0, 1000.0];
        let y = softmax(&x, 3);
        approx::assert_abs_diff_eq!(y[0] + y[1] + y[2], 1.0, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(y[5], 1.0, epsilon = 1e-12);
        let ly = log_softmax(&x, 3);
        for (a, b) in y.iter().zip(&ly).take(3) {
            approx::assert_abs_diff_eq!(a.ln(), *b, epsilon = 1e-9);
        }
    }
}

//! Reductions along one axis. The input is dense and viewed as `[outer, len, inner]`
//! (everything before the axis, the axis, everything after); the output is `[outer, inner]`.

use crate::Float;
use rayon::prelude::*;

/// `out[o, i] = sum_j x[o, j, i]`, summed in order of `j` (deterministic).
pub fn sum_axis<T: Float>(x: &[T], outer: usize, len: usize, inner: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; outer * inner];
    if inner == 0 {
        return out;
    }
    out.par_chunks_mut(inner).enumerate().for_each(|(o, dst)| {
        let base = o * len * inner;
        for j in 0..len {
            let row = &x[base + j * inner..base + (j + 1) * inner];
            for (d, &v) in dst.iter_mut().zip(row) {
                *d += v;
            }
        }
    });
    out
}

/// `out[o, i] = max_j x[o, j, i]` and the first `j` attaining it. `len` must be > 0.
pub fn max_axis<T: Float>(x: &[T], outer: usize, len: usize, inner: usize) -> (Vec<T>, Vec<u32>) {
    let mut out = vec![T::NEG_INFINITY; outer * inner];
    let mut arg = vec![0u32; outer * inner];
    if inner == 0 {
        return (out, arg);
    }
    out.par_chunks_mut(inner).zip(arg.par_chunks_mut(inner)).enumerate().for_each(|(o, (dst, idx))| {
        let base = o * len * inner;
        for j in 0..len {
            for i in 0..inner {
                let v = x[base + j * inner + i];
                if v > dst[i] || j == 0 {
                    dst[i] = v;
                    idx[i] = j as u32;
                }
            }
        }
    });
    (out, arg)
}

/// Backward of [`max_axis`]: the gradient flows to the arg-max only.
/// `dx[o, j, i] = dy[o, i] if j == arg[o, i] else 0`.
pub fn max_axis_backward<T: Float>(dy: &[T], arg: &[u32], outer: usize, len: usize, inner: usize) -> Vec<T> {
    let mut dx = vec![T::ZERO; outer * len * inner];
    if inner == 0 || len == 0 {
        return dx;
    }
    dx.par_chunks_mut(len * inner).enumerate().for_each(|(o, dst)| {
        for i in 0..inner {
            let j = arg[o * inner + i] as usize;
            dst[j * inner + i] = dy[o * inner + i];
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_maxes_the_middle_axis() {
        // x: [2, 3, 2]
        let x: Vec<f64> = vec![1., 2., 3., 4., 5., 0., 6., 1., 0., 9., 2., 3.];
        assert_eq!(sum_axis(&x, 2, 3, 2), vec![9., 6., 8., 13.]);
        let (m, a) = max_axis(&x, 2, 3, 2);
        assert_eq!(m, vec![5., 4., 6., 9.]);
        assert_eq!(a, vec![2, 1, 0, 1]);
        let dx = max_axis_backward(&[1., 2., 3., 4.], &a, 2, 3, 2);
        assert_eq!(dx, vec![0., 0., 0., 2., 1., 0., 3., 0., 0., 4., 0., 0.]);
    }
}

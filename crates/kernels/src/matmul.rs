//! Batched matrix multiplication `C[b] = A[b] @ B[b]` on the CPU through the `gemm` crate.
//!
//! Every operand is described by strides, so transposed views (the `A^T` and `B^T` of a
//! matmul's backward pass) are multiplied in place without a copy: `gemm` takes a row
//! stride and a column stride for each matrix. Each batch entry has its own start offset,
//! so any batch layout works, broadcast ones (the same offset repeated) included.
//!
//! Parallelism: one large matrix uses gemm's own rayon threads; many small ones (attention
//! heads) are spread over rayon tasks, one single-threaded gemm each.

use crate::Float;
use gemm::Parallelism;
use rayon::prelude::*;

/// A batch of matrix operands: matrix `b` has element `(r, c)` at
/// `data[offsets[b] + r*row_stride + c*col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub offsets: &'a [usize],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<T> MatRef<'_, T> {
    /// True when every matrix of `rows x cols` lies inside `data`: checked before raw
    /// pointers go to gemm.
    fn in_bounds(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let span = (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        self.offsets.iter().all(|&o| o + span < self.data.len())
    }
}

/// `out[b] (m x n, dense row-major) = a[b] (m x k) @ b[b] (k x n)` for `b in 0..batch`.
///
/// Panics only on out-of-bounds operands, which the `tensor` layer rules out beforehand.
pub fn matmul<T: Float>(batch: usize, m: usize, k: usize, n: usize, a: MatRef<T>, b: MatRef<T>) -> Vec<T> {
    let mut out = vec![T::ZERO; batch * m * n];
    if out.is_empty() {
        return out;
    }
    assert!(a.offsets.len() == batch && b.offsets.len() == batch, "matmul: one offset per batch entry");
    if k > 0 {
        assert!(a.in_bounds(m, k), "matmul: lhs view out of bounds");
        assert!(b.in_bounds(k, n), "matmul: rhs view out of bounds");
    }
    let one_gemm = |dst: &mut [T], i: usize, par: Parallelism| {
        if k == 0 {
            return; // empty sum: zeros
        }
        // SAFETY: the asserts above bound every index gemm reads; `dst` is exactly m*n.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.data.as_ptr().add(a.offsets[i]),
                a.col_stride as isize,
                a.row_stride as isize,
                b.data.as_ptr().add(b.offsets[i]),
                b.col_stride as isize,
                b.row_stride as isize,
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                par,
            )
        }
    };
    let flops_each = m * n * k;
    if batch == 1 || flops_each >= 1 << 21 {
        let threads = if flops_each >= 1 << 15 { rayon::current_num_threads() } else { 1 };
        let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
        for (i, dst) in out.chunks_mut(m * n).enumerate() {
            one_gemm(dst, i, par);
        }
    } else {
        out.par_chunks_mut(m * n).enumerate().for_each(|(i, dst)| one_gemm(dst, i, Parallelism::None));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_and_handles_transposed_views() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64).cos()).collect();
        let want = naive(m, k, n, &a, &b);
        let dense = |d, rs| MatRef { data: d, offsets: &[0], row_stride: rs, col_stride: 1 };
        let got = matmul(1, m, k, n, dense(&a, k), dense(&b, n));
        for (x, y) in got.iter().zip(&want) {
            approx::assert_abs_diff_eq!(x, y, epsilon = 1e-12);
        }
        // b stored transposed ([n, k] row-major) and read through strides.
        let mut bt = vec![0.0; k * n];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = b[p * n + j];
            }
        }
        let bt_view = MatRef { data: &bt, offsets: &[0], row_stride: 1, col_stride: k };
        let got_t = matmul(1, m, k, n, dense(&a, k), bt_view);
        for (x, y) in got.iter().zip(&got_t) {
            approx::assert_abs_diff_eq!(x, y, epsilon = 1e-12);
        }
    }
}

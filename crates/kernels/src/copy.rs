//! Strided copies: turning a view (shape + strides + offset into a buffer) into a dense
//! row-major buffer, and the reverse (writing a dense buffer into a strided region).
//!
//! A view's element at multi-index `(i0, i1, ..)` lives at `offset + sum_k i_k * strides[k]`.
//! Broadcast dimensions have stride 0. Both functions walk the view one innermost row at a
//! time, so the inner loop is a plain strided loop the compiler can vectorise when the
//! innermost stride is 1.

use rayon::prelude::*;

/// Offset of the start of the `row`-th innermost row of a view (all dims but the last).
#[inline]
pub fn row_offset(row: usize, shape: &[usize], strides: &[usize], offset: usize) -> usize {
    let nd = shape.len();
    let mut rest = row;
    let mut off = offset;
    for d in (0..nd.saturating_sub(1)).rev() {
        let i = rest % shape[d];
        rest /= shape[d];
        off += i * strides[d];
    }
    off
}

/// Gathers the view `(shape, strides, offset)` of `src` into a new dense row-major buffer.
pub fn gather_strided<T: Copy + Send + Sync + Default>(
    src: &[T],
    shape: &[usize],
    strides: &[usize],
    offset: usize,
) -> Vec<T> {
    let numel: usize = shape.iter().product();
    if numel == 0 {
        return Vec::new();
    }
    let inner = *shape.last().unwrap_or(&1);
    let inner_stride = *strides.last().unwrap_or(&1);
    let mut out = vec![T::default(); numel];
    out.par_chunks_mut(inner.max(1)).enumerate().for_each(|(row, dst)| {
        let base = if shape.is_empty() { offset } else { row_offset(row, shape, strides, offset) };
        if inner_stride == 1 {
            dst.copy_from_slice(&src[base..base + dst.len()]);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = src[base + j * inner_stride];
            }
        }
    });
    out
}

/// Writes the dense buffer `src` into the strided region `(shape, strides, offset)` of `dst`.
/// The region must not overlap itself (no zero strides), which every caller guarantees.
pub fn scatter_strided<T: Copy>(dst: &mut [T], shape: &[usize], strides: &[usize], offset: usize, src: &[T]) {
    let inner = (*shape.last().unwrap_or(&1)).max(1);
    let inner_stride = *strides.last().unwrap_or(&1);
    for (row, chunk) in src.chunks(inner).enumerate() {
        let base = if shape.is_empty() { offset } else { row_offset(row, shape, strides, offset) };
        for (j, &s) in chunk.iter().enumerate() {
            dst[base + j * inner_stride] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_gathers_columns() {
        // [[0,1,2],[3,4,5]] viewed transposed: shape [3,2], strides [1,3]
        let src: Vec<i32> = (0..6).collect();
        assert_eq!(gather_strided(&src, &[3, 2], &[1, 3], 0), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn scatter_is_inverse_of_gather() {
        let mut dst = vec![0i32; 6];
        scatter_strided(&mut dst, &[3, 2], &[1, 3], 0, &[0, 3, 1, 4, 2, 5]);
        assert_eq!(dst, (0..6).collect::<Vec<_>>());
    }
}

//! Elementwise binary ops with broadcasting: `out[idx] = op(a[idx_a], b[idx_b])`.
//!
//! Broadcasting is done with strides, never by materialising the smaller operand: the
//! `tensor` layer expands both inputs to the output shape with stride 0 on broadcast
//! dimensions, and this kernel walks the output one innermost row at a time. For a bias
//! add `[B, T, C] + [C]` that is `B*T` rows, each a vectorisable loop over `C`.

use crate::copy::row_offset;
use crate::Float;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    /// `1` where `a >= b`, else `0`
    Ge,
    /// `1` where `a <= b`, else `0`
    Le,
}

impl BinaryOp {
    #[inline]
    pub fn apply<T: Float>(self, a: T, b: T) -> T {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Maximum => a.max(b),
            BinaryOp::Minimum => a.min(b),
            BinaryOp::Ge => {
                if a >= b {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            BinaryOp::Le => {
                if a <= b {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
        }
    }
}

/// One operand: a buffer plus the strides (already broadcast to the output shape) and
/// offset at which the output's multi-index finds its element.
#[derive(Clone, Copy)]
pub struct StridedSrc<'a, T> {
    pub data: &'a [T],
    pub strides: &'a [usize],
    pub offset: usize,
}

/// `out = op(a, b)` over the dense output shape `shape`.
pub fn binary<T: Float>(op: BinaryOp, shape: &[usize], a: StridedSrc<T>, b: StridedSrc<T>) -> Vec<T> {
    let numel: usize = shape.iter().product();
    let mut out = vec![T::ZERO; numel];
    if numel == 0 {
        return out;
    }
    let inner = (*shape.last().unwrap_or(&1)).max(1);
    let (sa, sb) = (*a.strides.last().unwrap_or(&0), *b.strides.last().unwrap_or(&0));
    let rows_per_task = (4096 / inner).max(1);
    out.par_chunks_mut(inner).enumerate().with_min_len(rows_per_task).for_each(|(row, dst)| {
        let (oa, ob) = if shape.is_empty() {
            (a.offset, b.offset)
        } else {
            (row_offset(row, shape, a.strides, a.offset), row_offset(row, shape, b.strides, b.offset))
        };
        match (sa, sb) {
            (1, 1) => {
                for ((d, &x), &y) in dst.iter_mut().zip(&a.data[oa..oa + inner]).zip(&b.data[ob..ob + inner]) {
                    *d = op.apply(x, y);
                }
            }
            (1, 0) => {
                let y = b.data[ob];
                for (d, &x) in dst.iter_mut().zip(&a.data[oa..oa + inner]) {
                    *d = op.apply(x, y);
                }
            }
            _ => {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = op.apply(a.data[oa + j * sa], b.data[ob + j * sb]);
                }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_add_broadcasts_over_rows() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2, 3]
        let b = [10.0f32, 20.0, 30.0]; // [3] broadcast to [2, 3] with strides [0, 1]
        let out = binary(
            BinaryOp::Add,
            &[2, 3],
            StridedSrc { data: &a, strides: &[3, 1], offset: 0 },
            StridedSrc { data: &b, strides: &[0, 1], offset: 0 },
        );
        assert_eq!(out, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
    }

    #[test]
    fn column_broadcast_uses_stride_zero_inner() {
        let a = [1.0f64, 2.0, 3.0, 4.0]; // [2, 2]
        let b = [10.0f64, 100.0]; // [2, 1] broadcast: strides [1, 0]
        let out = binary(
            BinaryOp::Mul,
            &[2, 2],
            StridedSrc { data: &a, strides: &[2, 1], offset: 0 },
            StridedSrc { data: &b, strides: &[1, 0], offset: 0 },
        );
        assert_eq!(out, vec![10.0, 20.0, 300.0, 400.0]);
    }
}

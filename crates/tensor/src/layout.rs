//! Shape, strides and offset: which elements of a buffer a tensor sees.
//!
//! Element `(i0, .., i_{r-1})` of a tensor lives at `offset + sum_k i_k * strides[k]` in its
//! storage. A fresh tensor is *contiguous* (row-major): `strides[k] = prod(shape[k+1..])`.
//! Every view op below returns a new layout over the same storage and never copies:
//! - `permute` reorders shape and strides together;
//! - `narrow` moves the offset and shrinks one dimension;
//! - `broadcast_as` gives new or size-1 dimensions stride 0, so one element is read many times;
//! - `reshape` is a view only when the layout is contiguous (otherwise `Tensor::reshape` copies first).

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major strides for `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    strides
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }

    pub fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        Layout { shape, strides, offset }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the elements are dense and in row-major order (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&n, &s) in self.shape.iter().zip(&self.strides).rev() {
            if n != 1 && s != expected {
                return false;
            }
            expected *= n;
        }
        true
    }

    /// One past the largest buffer index this layout reads (0 when empty).
    pub fn span_end(&self) -> usize {
        if self.numel() == 0 {
            return self.offset;
        }
        self.offset + self.shape.iter().zip(&self.strides).map(|(&n, &s)| (n - 1) * s).sum::<usize>() + 1
    }

    pub fn check_dim(&self, op: &'static str, dim: usize) -> Result<()> {
        if dim < self.rank() {
            Ok(())
        } else {
            Err(Error::DimOutOfRange { op, dim, rank: self.rank() })
        }
    }

    pub fn permute(&self, dims: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.rank()];
        let valid = dims.len() == self.rank()
            && dims.iter().all(|&d| d < self.rank() && !std::mem::replace(&mut seen[d], true));
        if !valid {
            return Err(Error::BadShape {
                op: "permute",
                shape: self.shape.clone(),
                why: format!("{dims:?} is not a permutation of 0..{}", self.rank()),
            });
        }
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        self.check_dim("narrow", dim)?;
        if start + len > self.shape[dim] {
            return Err(Error::BadShape {
                op: "narrow",
                shape: self.shape.clone(),
                why: format!("range {start}..{} exceeds dimension {dim} of size {}", start + len, self.shape[dim]),
            });
        }
        let mut shape = self.shape.clone();
        shape[dim] = len;
        Ok(Layout { shape, strides: self.strides.clone(), offset: self.offset + start * self.strides[dim] })
    }

    /// Numpy broadcasting: align trailing dimensions; a size-1 or missing dimension stretches.
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Self> {
        let err = || Error::ShapeMismatch {
            op: "broadcast_as",
            lhs: self.shape.clone(),
            rhs: shape.to_vec(),
            why: "a dimension differs and is not 1".into(),
        };
        if shape.len() < self.rank() {
            return Err(err());
        }
        let lead = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for k in 0..self.rank() {
            match (self.shape[k], shape[lead + k]) {
                (a, b) if a == b => strides[lead + k] = self.strides[k],
                (1, _) => strides[lead + k] = 0,
                _ => return Err(err()),
            }
        }
        Ok(Layout { shape: shape.to_vec(), strides, offset: self.offset })
    }

    /// The same elements under a new shape; only for contiguous layouts.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape.clone(),
                rhs: shape.to_vec(),
                why: "element counts differ".into(),
            });
        }
        debug_assert!(self.is_contiguous());
        Ok(Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: self.offset })
    }
}

/// The shape two operands broadcast to, or an error naming `op`.
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for k in 0..rank {
        let da = if k + a.len() >= rank { a[k + a.len() - rank] } else { 1 };
        let db = if k + b.len() >= rank { b[k + b.len() - rank] } else { 1 };
        out[k] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    why: format!("dimension {k} is {da} against {db}, and neither is 1"),
                })
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_compose() {
        let l = Layout::contiguous(&[2, 3, 4]);
        assert_eq!(l.strides(), &[12, 4, 1]);
        let t = l.permute(&[2, 0, 1]).unwrap();
        assert_eq!((t.shape(), t.strides()), (&[4, 2, 3][..], &[1, 12, 4][..]));
        assert!(!t.is_contiguous());
        let n = l.narrow(1, 1, 2).unwrap();
        assert_eq!((n.offset(), n.span_end()), (4, 24));
        let b = Layout::contiguous(&[3, 1]).broadcast_as(&[2, 3, 5]).unwrap();
        assert_eq!(b.strides(), &[0, 1, 0]);
        assert!(Layout::contiguous(&[3]).broadcast_as(&[4]).is_err());
        assert_eq!(broadcast_shape("t", &[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
    }
}

//! Offsets of the matrices in a batch described by strides.

/// Start offset of each batch entry, in row-major order of `shape`.
pub(crate) fn batch_offsets(shape: &[usize], strides: &[usize], offset: usize) -> Vec<usize> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|mut i| {
            let mut off = offset;
            for d in (0..shape.len()).rev() {
                off += (i % shape[d]) * strides[d];
                i /= shape[d];
            }
            off
        })
        .collect()
}

//! Embedding lookup: `out[i, :] = table[ids[i], :]` for a `[vocab, dim]` table, and its
//! backward, a scatter-add of the output gradient into the rows that were read:
//! `dtable[ids[i], :] += dout[i, :]`. Rows are visited in order of `i`, so repeated ids
//! accumulate deterministically.

use crate::error::{Error, Result};
use crate::Float;
use rayon::prelude::*;

fn check_ids(ids: &[u32], vocab: usize) -> Result<()> {
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(&bad) => Err(Error::IndexOutOfRange { kernel: "embedding", index: bad as usize, len: vocab }),
        None => Ok(()),
    }
}

/// `out: [ids.len(), dim]`
pub fn embedding<T: Float>(table: &[T], dim: usize, ids: &[u32]) -> Result<Vec<T>> {
    check_ids(ids, table.len() / dim.max(1))?;
    let mut out = vec![T::ZERO; ids.len() * dim];
    out.par_chunks_mut(dim.max(1)).zip(ids.par_iter()).for_each(|(row, &id)| {
        let id = id as usize;
        row.copy_from_slice(&table[id * dim..(id + 1) * dim]);
    });
    Ok(out)
}

/// `dtable: [vocab, dim]`, zero except at the rows named by `ids`.
pub fn embedding_backward<T: Float>(dout: &[T], dim: usize, ids: &[u32], vocab: usize) -> Result<Vec<T>> {
    check_ids(ids, vocab)?;
    let mut dtable = vec![T::ZERO; vocab * dim];
    for (row, &id) in dout.chunks(dim.max(1)).zip(ids) {
        let dst = &mut dtable[id as usize * dim..(id as usize + 1) * dim];
        for (d, &g) in dst.iter_mut().zip(row) {
            *d += g;
        }
    }
    Ok(dtable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_and_scatters_repeated_ids() {
        let table = [0.0f32, 1.0, 10.0, 11.0, 20.0, 21.0];
        assert_eq!(embedding(&table, 2, &[2, 0, 2]).unwrap(), vec![20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
        let d = embedding_backward(&[1.0f32, 1.0, 2.0, 2.0, 3.0, 3.0], 2, &[2, 0, 2], 3).unwrap();
        assert_eq!(d, vec![2.0, 2.0, 0.0, 0.0, 4.0, 4.0]);
        assert!(embedding(&table, 2, &[3]).is_err());
    }
}

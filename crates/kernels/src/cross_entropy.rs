//! Cross-entropy from logits, averaged over rows: for `logits: [rows, vocab]` and integer
//! `targets: [rows]`, `loss = mean_r (lse_r - logits[r, t_r])` with
//! `lse_r = log sum_v exp(logits[r, v])` (the log-partition, computed with the max trick).
//!
//! Backward: `dlogits[r, v] = g / rows * (softmax(logits)[r, v] - [v == t_r])`,
//! recomputing the softmax from the saved `lse` rather than storing `rows x vocab` probabilities.

use crate::error::{Error, Result};
use crate::Float;
use rayon::prelude::*;

fn check_targets(targets: &[u32], vocab: usize) -> Result<()> {
    match targets.iter().find(|&&t| t as usize >= vocab) {
        Some(&bad) => Err(Error::IndexOutOfRange { kernel: "cross_entropy", index: bad as usize, len: vocab }),
        None => Ok(()),
    }
}

/// Returns `(mean loss, lse per row)`.
pub fn cross_entropy<T: Float>(logits: &[T], targets: &[u32], vocab: usize) -> Result<(T, Vec<T>)> {
    check_targets(targets, vocab)?;
    let rows = targets.len();
    let lse: Vec<T> = logits
        .par_chunks(vocab.max(1))
        .map(|row| {
            let m = row.iter().fold(T::NEG_INFINITY, |m, &v| m.max(v));
            m + row.iter().map(|&v| (v - m).exp()).sum::<T>().ln()
        })
        .collect();
    // Summed in row order so the loss is reproducible.
    let total: T = (0..rows).map(|r| lse[r] - logits[r * vocab + targets[r] as usize]).sum();
    Ok((total / T::from_f64(rows.max(1) as f64), lse))
}

/// `dlogits: [rows, vocab]` for an upstream gradient `g` of the mean loss.
pub fn cross_entropy_backward<T: Float>(logits: &[T], targets: &[u32], lse: &[T], vocab: usize, g: T) -> Vec<T> {
    let scale = g / T::from_f64(targets.len().max(1) as f64);
    let mut d = vec![T::ZERO; logits.len()];
    d.par_chunks_mut(vocab.max(1)).enumerate().for_each(|(r, row)| {
        let x = &logits[r * vocab..(r + 1) * vocab];
        for (v, o) in row.iter_mut().enumerate() {
            *o = (x[v] - lse[r]).exp() * scale;
        }
        row[targets[r] as usize] -= scale;
    });
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_log_vocab() {
        let (loss, _) = cross_entropy(&[0.0f64; 8], &[1, 3], 4).unwrap();
        approx::assert_abs_diff_eq!(loss, 4f64.ln(), epsilon = 1e-12);
        assert!(cross_entropy(&[0.0f64; 4], &[4], 4).is_err());
    }
}

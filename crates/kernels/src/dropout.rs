//! Inverted dropout with a mask regenerated from a seed.
//!
//! Element `i` is kept when `uniform(seed, i) >= p`; kept elements are scaled by `1/(1-p)`
//! so the expected value is unchanged and evaluation needs no rescaling. The backward is the
//! same map applied to the gradient: `dx = dy * keep / (1 - p)`. Because the mask is a pure
//! function of `(seed, i)` (see [`crate::philox`]), nothing but the seed is stored.

use crate::{philox, Float};
use rayon::prelude::*;

/// `y[i] = x[i] * keep(seed, i) / (1 - p)`. Used for the forward and, on `dy`, the backward.
pub fn dropout<T: Float>(x: &[T], p: f64, seed: u64) -> Vec<T> {
    let scale = T::from_f64(1.0 / (1.0 - p));
    x.par_iter()
        .enumerate()
        .with_min_len(4096)
        .map(|(i, &v)| if philox::uniform_at(seed, i as u64) >= p { v * scale } else { T::ZERO })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_p_and_regenerates_exactly() {
        let x = vec![1.0f32; 20_000];
        let y = dropout(&x, 0.25, 42);
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / x.len() as f64;
        assert!((dropped - 0.25).abs() < 0.02, "dropped {dropped}");
        assert_eq!(y, dropout(&x, 0.25, 42));
        assert_ne!(y, dropout(&x, 0.25, 43));
    }
}

//! GELU, in the form the Sparse Transformer's reference code uses: `gelu(x) = x * sigmoid(1.702 x)`.
//!
//! Derivative: with `s = sigmoid(1.702 x)`, `d/dx [x s] = s + 1.702 x s (1 - s)`.

use crate::Float;
use rayon::prelude::*;

/// The constant in the sigmoid approximation of GELU.
pub const GELU_ALPHA: f64 = 1.702;

#[inline]
fn sigmoid<T: Float>(z: T) -> T {
    T::ONE / (T::ONE + (-z).exp())
}

/// `y = x * sigmoid(1.702 x)`
pub fn gelu<T: Float>(x: &[T]) -> Vec<T> {
    let a = T::from_f64(GELU_ALPHA);
    x.par_iter().with_min_len(4096).map(|&v| v * sigmoid(a * v)).collect()
}

/// `dx = g * (s + 1.702 x s (1 - s))`
pub fn gelu_backward<T: Float>(x: &[T], g: &[T]) -> Vec<T> {
    let a = T::from_f64(GELU_ALPHA);
    x.par_iter()
        .zip(g.par_iter())
        .with_min_len(4096)
        .map(|(&v, &gv)| {
            let s = sigmoid(a * v);
            gv * (s + a * v * s * (T::ONE - s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_is_near_identity_for_large_x_and_zero_for_very_negative() {
        let y = gelu(&[10.0f64, -10.0, 0.0]);
        approx::assert_abs_diff_eq!(y[0], 10.0, epsilon = 1e-6);
        approx::assert_abs_diff_eq!(y[1], 0.0, epsilon = 1e-6);
        assert_eq!(y[2], 0.0);
    }
}

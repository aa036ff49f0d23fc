//! Elementwise unary maps `y = f(x)` on dense buffers. Their derivatives are expressed by
//! the autograd layer with other tensor ops (e.g. `d exp(x) = exp(x) dx`), so only the
//! forward map lives here.

use crate::Float;
use rayon::prelude::*;

/// Which elementwise function to apply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Recip,
    Tanh,
    Sigmoid,
    Relu,
    Abs,
    Square,
    /// `1` where `x > 0`, else `0` (the derivative of relu)
    Step,
    /// `-1`, `0` or `1` (the derivative of abs)
    Sign,
    /// `x * scale + shift`
    Affine { scale: f64, shift: f64 },
    /// `x ^ p`
    Powf(f64),
}

impl UnaryOp {
    #[inline]
    pub fn apply<T: Float>(self, x: T) -> T {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Recip => T::ONE / x,
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Sigmoid => T::ONE / (T::ONE + (-x).exp()),
            UnaryOp::Relu => x.max(T::ZERO),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Square => x * x,
            UnaryOp::Step => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            UnaryOp::Sign => {
                if x > T::ZERO {
                    T::ONE
                } else if x < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                }
            }
            UnaryOp::Affine { scale, shift } => x * T::from_f64(scale) + T::from_f64(shift),
            UnaryOp::Powf(p) => x.powf(T::from_f64(p)),
        }
    }
}

/// `y[i] = op(x[i])`
pub fn unary<T: Float>(op: UnaryOp, x: &[T]) -> Vec<T> {
    x.par_iter().with_min_len(4096).map(|&v| op.apply(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_element() {
        assert_eq!(unary(UnaryOp::Square, &[1.0f64, -2.0, 3.0]), vec![1.0, 4.0, 9.0]);
        assert_eq!(unary(UnaryOp::Affine { scale: 2.0, shift: 1.0 }, &[1.0f32, 2.0]), vec![3.0, 5.0]);
        assert_eq!(unary(UnaryOp::Relu, &[-1.0f32, 2.0]), vec![0.0, 2.0]);
    }
}

//! The Adam(W) update (Kingma & Ba 2015; decoupled weight decay, Loshchilov & Hutter 2019),
//! in place on the master weights and the two moment buffers:
//!
//! ```text
//! m = b1 m + (1 - b1) g
//! v = b2 v + (1 - b2) g^2
//! p = p - lr * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd * p )
//! ```

use crate::Float;
use rayon::prelude::*;

/// Hyper-parameters of one Adam(W) step. `step` counts from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub step: u64,
}

/// Updates `param`, `m` and `v` in place from `grad`.
pub fn adam_step<T: Float>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], h: AdamParams) {
    let bc1 = 1.0 - h.beta1.powi(h.step as i32);
    let bc2 = 1.0 - h.beta2.powi(h.step as i32);
    let (b1, b2) = (T::from_f64(h.beta1), T::from_f64(h.beta2));
    let (lr, eps, wd) = (T::from_f64(h.lr), T::from_f64(h.eps), T::from_f64(h.weight_decay));
    let (inv_bc1, inv_bc2) = (T::from_f64(1.0 / bc1), T::from_f64(1.0 / bc2));
    param.par_iter_mut().zip(grad.par_iter()).zip(m.par_iter_mut().zip(v.par_iter_mut())).with_min_len(4096).for_each(
        |((p, &g), (m, v))| {
            *m = b1 * *m + (T::ONE - b1) * g;
            *v = b2 * *v + (T::ONE - b2) * g * g;
            let mhat = *m * inv_bc1;
            let vhat = *v * inv_bc2;
            *p -= lr * (mhat / (vhat.sqrt() + eps) + wd * *p);
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_in_sign_of_gradient() {
        let (mut p, mut m, mut v) = (vec![1.0f64, 1.0], vec![0.0; 2], vec![0.0; 2]);
        let h = AdamParams { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-12, weight_decay: 0.0, step: 1 };
        adam_step(&mut p, &[2.0, -3.0], &mut m, &mut v, h);
        approx::assert_abs_diff_eq!(p[0], 0.9, epsilon = 1e-9);
        approx::assert_abs_diff_eq!(p[1], 1.1, epsilon = 1e-9);
    }
}

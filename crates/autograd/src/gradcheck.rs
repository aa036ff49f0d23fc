//! Finite-difference gradient checks, in f64.
//!
//! For a function `f` of some inputs, the check builds a scalar `L = sum(f(x) * r)` with a
//! fixed random `r` (so every output element carries a different weight and a wrong
//! broadcast or transposition cannot cancel out), gets `dL/dx` from the tape, and compares
//! each element with the central difference
//! `(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)`, whose error is `O(eps^2)`.
//! The seed stream is rewound before every evaluation so random ops (dropout) draw the same
//! masks each time.

use crate::error::{Error, Result};
use crate::rng;
use crate::tape::no_grad;
use crate::var::Var;
use tensor::{DType, Device, Tensor};

/// Tolerances: an element passes when `|analytic - numeric| <= atol + rtol * |numeric|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { eps: 1e-6, atol: 1e-7, rtol: 1e-5 }
    }
}

/// `sum(out * r)` as a plain number.
fn weighted_sum(out: &Tensor, r: &Tensor) -> Result<f64> {
    Ok(out.to_dtype(DType::F64)?.mul(r)?.sum_all()?.to_scalar_f64()?)
}

/// Checks the gradients of `f` at `inputs` (f64 tensors). `name` labels errors. Returns the
/// largest absolute difference seen.
pub fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Var]) -> Result<Var>, tol: Tolerance) -> Result<f64> {
    let rng0 = rng::state();
    let leaves: Vec<Var> = inputs.iter().map(|t| Var::leaf(t.clone())).collect();
    let out = f(&leaves)?;
    let r = Tensor::randn(out.shape(), 0.0, 1.0, 0xC0FFEE, DType::F64, Device::Cpu)?;
    let loss = out.mul(&Var::constant(r.clone()))?.sum_all()?;
    let grads = loss.backward()?;

    let eval = |xs: &[Tensor]| -> Result<f64> {
        rng::set_state(rng0);
        let vars: Vec<Var> = xs.iter().map(|t| Var::constant(t.clone())).collect();
        let out = no_grad(|| f(&vars))?;
        weighted_sum(out.value(), &r)
    };
    let mut worst: f64 = 0.0;
    for (i, x) in inputs.iter().enumerate() {
        let analytic = match grads.get(&leaves[i]) {
            Some(g) => g.to_vec_f64()?,
            None => vec![0.0; x.numel()],
        };
        let base = x.to_vec_f64()?;
        for j in 0..base.len() {
            let shifted = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut xs = inputs.to_vec();
                xs[i] = Tensor::from_vec(v, x.shape(), Device::Cpu)?;
                eval(&xs)
            };
            let numeric = (shifted(tol.eps)? - shifted(-tol.eps)?) / (2.0 * tol.eps);
            let diff = (analytic[j] - numeric).abs();
            worst = worst.max(diff);
            if diff > tol.atol + tol.rtol * numeric.abs() {
                rng::set_state(rng0);
                return Err(Error::GradCheck { op: name.to_string(), input: i, index: j, analytic: analytic[j], numeric });
            }
        }
    }
    rng::set_state(rng0);
    Ok(worst)
}

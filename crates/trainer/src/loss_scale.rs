//! Dynamic loss scaling for half-precision gradients (Micikevicius et al., "Mixed Precision
//! Training", 2018; the paper trains this way).
//!
//! fp16 gradients underflow to zero below ~6e-8. Multiplying the loss by a large `scale`
//! before the backward pass multiplies every gradient by it too, lifting them into range; the
//! gradients are divided by `scale` again before the optimizer sees them. If the scale is too
//! large, some gradient overflows to inf/NaN: that step is skipped and the scale halved. After
//! `growth_interval` clean steps it is doubled again, so it tracks the largest safe value.
//!
//! The inf/NaN check queues one small kernel per gradient into a single device flag and reads
//! that flag once per step: one synchronisation, not one per tensor.

use crate::Result;
use autograd::{Gradients, Var};
use model::Param;
use tensor::Tensor;

#[derive(Clone, Debug)]
pub struct DynamicLossScaler {
    pub scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: u64,
    /// Clean steps since the last change of scale.
    pub good_steps: u64,
}

impl Default for DynamicLossScaler {
    fn default() -> Self {
        DynamicLossScaler { scale: 65536.0, growth_factor: 2.0, backoff_factor: 0.5, growth_interval: 2000, good_steps: 0 }
    }
}

impl DynamicLossScaler {
    /// `loss * scale`, to back-propagate from.
    pub fn scale_loss(&self, loss: &Var) -> Result<Var> {
        Ok(loss.scale(self.scale)?)
    }

    /// Divides every parameter gradient by the scale, in `grads`, and returns whether they are
    /// all finite (the one host read of the step).
    pub fn unscale(&self, params: &[Param], grads: &mut Gradients) -> Result<bool> {
        let mut unscaled = Vec::new();
        for p in params {
            if let Some(g) = grads.remove(&p.var) {
                let g = g.scale(1.0 / self.scale)?;
                grads.insert(&p.var, g.clone());
                unscaled.push(g);
            }
        }
        let refs: Vec<&Tensor> = unscaled.iter().collect();
        let flag = Tensor::any_nonfinite(&refs)?;
        Ok(flag.to_scalar_f64()? == 0.0)
    }

    /// Adjusts the scale after a step: back off on overflow, grow after a clean interval.
    /// Returns whether the optimizer step should be taken.
    pub fn update(&mut self, finite: bool) -> bool {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= self.growth_interval {
                self.scale *= self.growth_factor;
                self.good_steps = 0;
            }
        } else {
            self.scale *= self.backoff_factor;
            self.good_steps = 0;
        }
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor::{DType, Device};

    #[test]
    fn skips_and_backs_off_on_overflow_then_grows() {
        let w = Param { name: "w".into(), var: Var::leaf(Tensor::ones(&[3], DType::F32, Device::Cpu).unwrap()) };
        let mut s = DynamicLossScaler { scale: 1024.0, growth_interval: 2, ..Default::default() };
        // A finite step: gradient 2 * scale comes back as 2.
        let loss = w.var.square().unwrap().sum_all().unwrap();
        let mut grads = s.scale_loss(&loss).unwrap().backward().unwrap();
        assert!(s.unscale(std::slice::from_ref(&w), &mut grads).unwrap());
        assert_eq!(grads.get(&w.var).unwrap().to_vec::<f32>().unwrap(), vec![2.0; 3]);
        assert!(s.update(true));
        // An overflowing step: skipped, scale halved.
        let mut grads = Gradients::default();
        grads.insert(&w.var, Tensor::full(f64::INFINITY, &[3], DType::F32, Device::Cpu).unwrap());
        assert!(!s.unscale(std::slice::from_ref(&w), &mut grads).unwrap());
        assert!(!s.update(false));
        assert_eq!(s.scale, 512.0);
        // Two clean steps: doubled.
        s.update(true);
        s.update(true);
        assert_eq!(s.scale, 1024.0);
    }
}

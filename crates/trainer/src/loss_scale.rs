//! Dynamic loss scaling for half-precision gradients (Micikevicius et al., "Mixed Precision
//! Training", 2018; the paper trains this way).
//!
//! fp16 gradients underflow to zero below ~6e-8. Multiplying the loss by a large `scale`
//! before the backward pass multiplies every gradient by it too, lifting them into range; the
//! gradients are divided by `scale` again before the optimizer sees them. If the scale is too
//! large, some gradient overflows to inf/NaN: that step is skipped and the scale halved. After
//! `growth_interval` clean steps it is doubled again, so it tracks the largest safe value.
//!
//! The inf/NaN check needs no pass of its own: the training loop computes the global gradient
//! norm anyway (for clipping, accumulated on the device and read once), and that norm is
//! finite exactly when every gradient is. Unscaling and clipping are then one multiplication.

use crate::Result;
use autograd::Var;

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
    /// A scale of 1 that never changes (fp32 and bf16, whose range needs no scaling); a
    /// non-finite step is still skipped.
    pub fn fixed() -> Self {
        DynamicLossScaler { scale: 1.0, growth_factor: 1.0, backoff_factor: 1.0, growth_interval: u64::MAX, good_steps: 0 }
    }

    /// `loss * scale`, to back-propagate from.
    pub fn scale_loss(&self, loss: &Var) -> Result<Var> {
        Ok(loss.scale(self.scale)?)
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

    #[test]
    fn skips_and_backs_off_on_overflow_then_grows() {
        let mut s = DynamicLossScaler { scale: 1024.0, growth_interval: 2, ..Default::default() };
        assert!(!s.update(false), "an overflowing step is skipped");
        assert_eq!(s.scale, 512.0);
        assert!(s.update(true));
        assert_eq!(s.scale, 512.0);
        assert!(s.update(true));
        assert_eq!(s.scale, 1024.0, "doubled after two clean steps");
        let mut f = DynamicLossScaler::fixed();
        assert!(!f.update(false) && f.update(true));
        assert_eq!(f.scale, 1.0);
    }
}

//! Learning-rate schedule: linear warm-up from 0 to `peak` over `warmup` steps, then cosine
//! decay to `peak * final_frac` at `total` steps.

/// The learning rate at `step` (0-based).
pub fn lr_at(step: u64, peak: f64, warmup: u64, total: u64, final_frac: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let t = ((step - warmup) as f64 / span).min(1.0);
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
    peak * (final_frac + (1.0 - final_frac) * cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays() {
        assert!((lr_at(0, 1.0, 10, 100, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 1.0, 10, 100, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(100, 1.0, 10, 100, 0.1) - 0.1).abs() < 1e-12);
        assert!(lr_at(50, 1.0, 10, 100, 0.1) < 1.0);
    }
}

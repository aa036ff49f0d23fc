//! Philox-4x32-10, a counter-based random number generator (Salmon et al., "Parallel Random
//! Numbers: As Easy as 1, 2, 3", SC 2011).
//!
//! A counter-based generator is a pure function `bits = philox(key, counter)`: element `i` of
//! a random tensor is computed from `(seed, i)` alone, in any order, on any thread or GPU
//! thread, with no state to carry. That is what lets dropout keep only its seed and
//! regenerate the exact mask in the backward pass or in a recomputed (checkpointed) forward,
//! and lets the CUDA kernels produce the same numbers as these CPU ones.
//!
//! Element `i` uses counter block `i / 4` (as a 64-bit number in the first two words) and
//! lane `i % 4` of the four 32-bit words the block produces.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Ten rounds of Philox-4x32 on `counter` under `key`.
#[inline]
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The four 32-bit words of counter block `block` under `seed`.
#[inline]
pub fn block(seed: u64, block: u64) -> [u32; 4] {
    philox4x32([block as u32, (block >> 32) as u32, 0, 0], [seed as u32, (seed >> 32) as u32])
}

/// Uniform in `[0, 1)` with 24 random bits (exactly representable in f32).
#[inline]
pub fn to_unit(bits: u32) -> f64 {
    (bits >> 8) as f64 * (1.0 / 16_777_216.0)
}

/// The uniform `[0, 1)` number of element `i`.
#[inline]
pub fn uniform_at(seed: u64, i: u64) -> f64 {
    to_unit(block(seed, i / 4)[(i % 4) as usize])
}

/// The standard normal number of element `i`: Box-Muller on lanes (0, 1) gives the normals
/// of lanes 0 and 1, lanes (2, 3) those of lanes 2 and 3.
#[inline]
pub fn normal_at(seed: u64, i: u64) -> f64 {
    let b = block(seed, i / 4);
    let lane = (i % 4) as usize;
    let pair = lane & !1;
    let u1 = to_unit(b[pair]) + 1.0 / 16_777_216.0; // (0, 1]: ln is finite
    let u2 = to_unit(b[pair + 1]);
    let r = (-2.0 * u1.ln()).sqrt();
    let theta = 2.0 * std::f64::consts::PI * u2;
    if lane & 1 == 0 {
        r * theta.cos()
    } else {
        r * theta.sin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // Known-answer vector from the Random123 distribution for philox4x32-10:
        // counter and key all zero.
        assert_eq!(philox4x32([0; 4], [0; 2]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    }

    #[test]
    fn normals_have_unit_moments() {
        let n = 100_000u64;
        let xs: Vec<f64> = (0..n).map(|i| normal_at(7, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {mean} var {var}");
    }
}

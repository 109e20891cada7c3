//! The training proxy for rounding the latents.
//!
//! Rounding has no useful gradient, so training replaces it by a differentiable stand-in. The
//! v1 recipe used `y + U(-½, ½)` for the synthesis input and the rate, and hard rounding for
//! the entropy model's contexts; C3 and Cool-chic ≥ 3.0 use one value everywhere,
//! `softround(softround(y, T) + n, T)`, with the temperature `T` and the noise `n` annealed so
//! the proxy slides from "nearly the identity plus noise" to "nearly rounding". Cool-chic 3.0
//! credits that change with most of its −19.8 % rate over v2. The same value feeds the
//! synthesis, the rate and the contexts, so the rate the model learns is the rate of values
//! that sit near integers, where the coder will put them.

use crate::simd::{exp2, round_latent};

/// `tanh`, branch-free so it vectorizes (relative error ≈ 1e-6).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let x = x.clamp(-9.0, 9.0);
    let e = exp2(x * (2.0 * std::f32::consts::LOG2_E));
    (e - 1.0) / (e + 1.0)
}

/// `floor`, branch-free for the latents' range (`|x| < 2^22`).
#[inline(always)]
pub fn floor(x: f32) -> f32 {
    let r = round_latent(x);
    if r > x {
        r - 1.0
    } else {
        r
    }
}

/// Soft rounding at one temperature (Agustsson & Theis 2020, §4.1):
/// `floor(x) + ½ + ½·tanh(Δ/T) / tanh(1/(2T))` with `Δ = x − floor(x) − ½`. `T → 0` is
/// rounding, large `T` the identity; it maps integers to themselves at every `T`.
#[derive(Debug, Clone, Copy)]
pub struct SoftRound {
    inv_t: f32,
    /// `½ / tanh(1/(2T))`.
    k: f32,
}

impl SoftRound {
    pub fn new(t: f32) -> SoftRound {
        let t = t.max(1e-3);
        SoftRound {
            inv_t: 1.0 / t,
            k: 0.5 / (0.5 / t).tanh(),
        }
    }

    /// The soft-rounded value and its derivative.
    #[inline(always)]
    pub fn apply(&self, x: f32) -> (f32, f32) {
        let f = floor(x);
        let th = tanh((x - f - 0.5) * self.inv_t);
        (f + 0.5 + self.k * th, self.k * self.inv_t * (1.0 - th * th))
    }
}

/// Kumaraswamy noise on `(-½, ½)` with its mode at 0 (C3): shape `a = 1` is uniform, larger
/// `a` concentrates it. Sampled by inverse CDF from a table built once per step (one `powf`
/// per entry instead of two per latent).
#[derive(Debug, Clone)]
pub struct NoiseTable {
    /// Inverse CDF at `u = i / N`, `i = 0..=N`.
    inv: [f32; NoiseTable::N + 1],
}

impl NoiseTable {
    const N: usize = 256;

    pub fn kumaraswamy(a: f32) -> NoiseTable {
        let a = a.max(1.0);
        // b chosen so the mode stays at ½ (Cool-chic's parameterization).
        let b = ((2f32).powf(a) * (a - 1.0) + 1.0) / a;
        let mut inv = [0f32; Self::N + 1];
        for (i, v) in inv.iter_mut().enumerate() {
            let u = i as f32 / Self::N as f32;
            *v = (1.0 - (1.0 - u).powf(1.0 / b)).powf(1.0 / a) - 0.5;
        }
        NoiseTable { inv }
    }

    /// The noise for a uniform `u` in `[-½, ½)` (what [`crate::simd::noise`] gives).
    #[inline(always)]
    pub fn sample(&self, u: f32) -> f32 {
        let s = (u + 0.5) * Self::N as f32;
        let i = (s as usize).min(Self::N - 1);
        let f = s - i as f32;
        self.inv[i] + (self.inv[i + 1] - self.inv[i]) * f
    }
}

/// How one step turns latents into the values the synthesis, the rate and the contexts see.
#[derive(Debug, Clone)]
pub enum StepQuant {
    /// v1 noise phase: `y + u` for synthesis and rate, rounded contexts.
    Uniform,
    /// `softround(softround(y, T) + n, T)` everywhere, with its derivative.
    Soft {
        sr: SoftRound,
        /// `None`: uniform noise (shape 1), which needs no table and vectorizes.
        noise: Option<Box<NoiseTable>>,
        /// The noise's amplitude (1: `n` in ±½).
        amp: f32,
    },
    /// Straight-through rounding for the synthesis and contexts, `y + u` for the rate (rounding
    /// the rate's value makes the real rate grow: NEURAL-NOTES).
    Hard,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softround_limits_and_derivative() {
        let hot = SoftRound::new(100.0);
        let cold = SoftRound::new(0.01);
        for i in -400..400 {
            let x = i as f32 * 0.013 + 0.001;
            assert!((hot.apply(x).0 - x).abs() < 1e-3, "{x}");
            if (x - x.round()).abs() < 0.45 {
                assert!((cold.apply(x).0 - x.round()).abs() < 1e-3, "{x}");
            }
            // Central differences of the value match the derivative (away from the jump at
            // integers, where `floor` changes, the function is smooth).
            for t in [0.1f32, 0.3, 1.0] {
                let s = SoftRound::new(t);
                let h = 1e-3;
                let (lo, hi) = (s.apply(x - h).0, s.apply(x + h).0);
                if floor(x - h) == floor(x + h) {
                    let fd = (hi - lo) / (2.0 * h);
                    let d = s.apply(x).1;
                    assert!(
                        (fd - d).abs() <= 2e-2 * d.abs().max(1.0),
                        "T {t} x {x}: {fd} vs {d}"
                    );
                }
            }
        }
        // Integers are fixed points, and the function is continuous across them.
        let s = SoftRound::new(0.3);
        for k in -5..5 {
            let k = k as f32;
            assert!((s.apply(k).0 - k).abs() < 1e-5);
            assert!((s.apply(k - 1e-4).0 - k).abs() < 1e-3);
        }
    }

    #[test]
    fn tanh_matches_std() {
        for i in -2000..2000 {
            let x = i as f32 * 0.006;
            assert!((tanh(x) - x.tanh()).abs() < 2e-6, "{x}");
        }
    }

    #[test]
    fn kumaraswamy_noise_is_bounded_uniform_at_one_and_concentrated_above() {
        let uni = NoiseTable::kumaraswamy(1.0);
        let pointy = NoiseTable::kumaraswamy(2.0);
        let mut spread = [0f32; 2];
        for i in 0..1000 {
            let u = i as f32 / 1000.0 - 0.5;
            assert!((uni.sample(u) - u).abs() < 1e-5, "{u}");
            for (s, t) in spread.iter_mut().zip([&uni, &pointy]) {
                let n = t.sample(u);
                assert!((-0.5..=0.5).contains(&n));
                *s += n * n;
            }
        }
        assert!(spread[1] < spread[0] * 0.8, "{spread:?}");
    }
}

//! The entropy model a training starts from: one trained on a public-domain photograph, in
//! place of small random weights.
//!
//! Why: the entropy model learns what latents of every image share — how the distribution of
//! a latent depends on its neighbours — and at the fast budget its first hundreds of steps go
//! to that rather than to the image. The synthesis is the image's own (a synthesis trained on
//! another photo helped some photos by 11 % and cost others 30 %, docs/neural-rd.md), the
//! entropy model much less so. Only these 178 numbers are stored; the payload format is the
//! same. `yoz-train --no-arm-prior` starts from the random initialisation.
//!
//! `ARM` is `yoz-train --print-arm-prior` of the payload that
//! `yoz-train --preset fast --quality 70 --seed 0 -j 2 --no-arm-prior` writes for
//! `astronaut.png` of scikit-image 0.26.0 (`skimage/data`, 512x512, NASA, public domain).

#[rustfmt::skip]
pub const ARM: [f32; 178] = [
    -0.421875, -0.40625, 0.421875, -1.078125, 0.78125, -0.015625, -0.0625, -0.5,
    0.5, -0.703125, -0.203125, -0.09375, -0.265625, -0.125, -0.078125, -0.125,
    -1.203125, -0.6875, -0.921875, 0.421875, 0.53125, 0.109375, 0.59375, 0.125,
    0.03125, -0.296875, 0.15625, -1.359375, 0.078125, -0.296875, 0.359375, 0.140625,
    0.296875, 0.40625, 0.015625, -0.359375, -1.140625, -0.296875, 0.0, -0.046875,
    -0.046875, -0.265625, 0.453125, -0.21875, -0.3125, -0.84375, 0.1875, 0.046875,
    -0.84375, 0.75, 1.09375, -0.65625, -0.75, 0.140625, -0.703125, 0.015625,
    0.984375, -1.4375, 0.28125, -0.359375, -0.390625, -0.421875, 0.4375, -0.21875,
    -0.015625, 1.125, 0.234375, 1.46875, 0.796875, 1.453125, 0.0625, 0.03125,
    -0.84375, 0.828125, -0.9375, 0.1875, -0.859375, -0.640625, 0.453125, 0.125,
    -0.265625, -0.375, -0.203125, 0.09375, -0.203125, 0.875, -0.421875, -0.625,
    -0.046875, -0.546875, -0.875, -0.015625, -0.078125, 0.453125, -0.40625, -0.09375,
    -0.375, -0.890625, -0.6875, 0.5, -0.40625, 0.375, -0.859375, -0.546875,
    -1.03125, -0.890625, -0.796875, 0.53125, -0.671875, 0.578125, -0.6875, -0.6875,
    -0.6875, -0.34375, -0.890625, 0.234375, 0.15625, 0.203125, -0.78125, -0.796875,
    0.484375, -1.234375, 0.515625, -0.5625, 0.0, 0.28125, -0.515625, 0.65625,
    0.015625, 0.21875, 0.234375, -0.53125, -0.875, 0.875, -0.546875, -0.984375,
    0.09375, 0.375, 0.90625, 0.21875, 0.1875, 0.625, 0.40625, 0.5625,
    0.20703125, 0.32421875, 0.15625, 0.03125, 0.04296875, -0.04296875, 0.109375, 0.1015625,
    0.08984375, 0.2109375, -0.1640625, 0.02734375, -0.02734375, -0.07421875, -0.0625, -0.06640625,
    1.0390625, -0.09765625, 0.0859375, -0.03515625, -0.02734375, 0.0703125, -0.27734375, 0.2421875,
    0.06640625, -0.33203125, -0.44140625, -0.55859375, -0.47265625, -0.46484375, 0.25, 0.546875,
    -0.078125, -0.25,
];

/// Rust source of [`ARM`] (what `--print-arm-prior` writes).
pub fn source(arm: &[f32]) -> String {
    let mut s = format!(
        "#[rustfmt::skip]\npub const ARM: [f32; {}] = [\n",
        arm.len()
    );
    for chunk in arm.chunks(8) {
        let items: Vec<String> = chunk.iter().map(|x| format!("{x:?}")).collect();
        s.push_str(&format!("    {},\n", items.join(", ")));
    }
    s.push_str("];\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{init_params, Config, Trainer};
    use yoz::neural::arch::{ARM2_PARAMS, ARM_FRAC_BITS};

    #[test]
    fn the_prior_is_a_coded_entropy_model() {
        assert_eq!(ARM.len(), ARM2_PARAMS);
        // Q8 values, as a payload codes them, within the coder's range.
        let q = (1u32 << ARM_FRAC_BITS) as f32;
        for &v in &ARM {
            assert_eq!((v * q).round(), v * q);
            assert!((v * q).abs() <= 32767.0);
        }
        assert!(ARM.iter().any(|&v| v != 0.0));
        // The block above is exactly what `--print-arm-prior` writes for these numbers.
        assert!(include_str!("prior.rs").contains(&source(&ARM)));
    }

    #[test]
    fn a_trainer_starts_from_it_unless_told_not_to() {
        let (w, h) = (24, 16);
        for c in [1, 3] {
            let px: Vec<u8> = (0..w * h * c).map(|i| (i * 7 % 251) as u8).collect();
            let cfg = Config::v2(1e-3, 100);
            let t = Trainer::new(w, h, c, &px, cfg.clone());
            assert_eq!(t.arm, ARM);
            let t = Trainer::new(
                w,
                h,
                c,
                &px,
                Config {
                    arm_prior: false,
                    ..cfg.clone()
                },
            );
            assert_eq!(t.arm, init_params(24, c, cfg.seed).1);
            // The synthesis is the random initialisation's either way.
            assert_eq!(t.syn, init_params(24, c, cfg.seed).0);
        }
        // The first release's recipe keeps its own start.
        let px = vec![128u8; w * h * 3];
        let t = Trainer::new(w, h, 3, &px, Config::new(1e-3, 100));
        assert_eq!(t.arm, init_params(24, 3, 0).1);
    }
}

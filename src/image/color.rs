//! RGB ↔ YCbCr (JFIF / BT.601 full range) in 16-bit fixed point (spec/codec-dct.md §6).
//!
//! The inverse is normative: decoders must produce exactly these integers. The forward
//! transform is the encoder's business, but it uses the same fixed-point style so results do
//! not depend on the platform's floating point.

/// Fixed-point fraction bits of the colour constants.
pub const COLOR_BITS: u32 = 16;
const HALF: i32 = 1 << (COLOR_BITS - 1);

/// round(1.402 * 2^16): Cr → R.
pub const CR_R: i32 = 91881;
/// round(0.344136 * 2^16): Cb → G.
pub const CB_G: i32 = 22554;
/// round(0.714136 * 2^16): Cr → G.
pub const CR_G: i32 = 46802;
/// round(1.772 * 2^16): Cb → B.
pub const CB_B: i32 = 116130;

#[inline]
fn clamp8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// RGB → (Y, Cb, Cr), rounded to nearest, each in 0..=255.
#[inline]
pub fn rgb_to_ycbcr(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    // 0.299, 0.587, 0.114 | -0.168736, -0.331264, 0.5 | 0.5, -0.418688, -0.081312 (× 2^16)
    let y = (19595 * r + 38470 * g + 7471 * b + HALF) >> COLOR_BITS;
    let cb = (-11059 * r - 21709 * g + 32768 * b + (128 << COLOR_BITS) + HALF) >> COLOR_BITS;
    let cr = (32768 * r - 27439 * g - 5329 * b + (128 << COLOR_BITS) + HALF) >> COLOR_BITS;
    (clamp8(y), clamp8(cb), clamp8(cr))
}

/// (Y, Cb, Cr) → RGB, normative (spec §6.2). `>>` is an arithmetic (flooring) shift.
#[inline]
pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let y = i32::from(y);
    let cb = i32::from(cb) - 128;
    let cr = i32::from(cr) - 128;
    let r = y + ((CR_R * cr + HALF) >> COLOR_BITS);
    let g = y + ((-CB_G * cb - CR_G * cr + HALF) >> COLOR_BITS);
    let b = y + ((CB_B * cb + HALF) >> COLOR_BITS);
    [clamp8(r), clamp8(g), clamp8(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_error_is_small() {
        let mut worst = 0;
        for r in (0..256).step_by(5) {
            for g in (0..256).step_by(7) {
                for b in (0..256).step_by(3) {
                    let (y, cb, cr) = rgb_to_ycbcr(r as u8, g as u8, b as u8);
                    let [r2, g2, b2] = ycbcr_to_rgb(y, cb, cr);
                    worst = worst
                        .max((r - i32::from(r2)).abs())
                        .max((g - i32::from(g2)).abs())
                        .max((b - i32::from(b2)).abs());
                }
            }
        }
        assert!(worst <= 3, "worst {worst}");
    }

    #[test]
    fn grays_stay_gray() {
        for v in 0..=255u8 {
            assert_eq!(rgb_to_ycbcr(v, v, v), (v, 128, 128));
            assert_eq!(ycbcr_to_rgb(v, 128, 128), [v, v, v]);
        }
    }
}

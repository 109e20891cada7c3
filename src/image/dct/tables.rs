//! Constant tables and the transforms (spec/codec-dct.md §4–5): zigzag order, base
//! quantization matrices and their quality scaling, the normative integer inverse DCT, and the
//! encoder's floating-point forward DCT.

/// Zigzag scan: `ZIGZAG[k]` is the natural (row-major) index of the k-th coefficient.
pub const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Table set 0: ITU-T T.81 Annex K luminance matrix (natural order).
const ANNEX_K_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// Table set 0: ITU-T T.81 Annex K chrominance matrix (natural order).
const ANNEX_K_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// Table set 1 ("psnr"): the Annex K luminance matrix flattened toward its DC entry,
/// round(16·√(b/16)). Flatter matrices are closer to MSE-optimal (uniform) quantization: they
/// win on PSNR at the cost of JPEG's perceptual weighting of high frequencies.
const PSNR_LUMA: [u16; 64] = [
    16, 13, 13, 16, 20, 25, 29, 31, 14, 14, 15, 17, 20, 30, 31, 30, 15, 14, 16, 20, 25, 30, 33, 30,
    15, 16, 19, 22, 29, 37, 36, 31, 17, 19, 24, 30, 33, 42, 41, 35, 20, 24, 30, 32, 36, 41, 43, 38,
    28, 32, 35, 37, 41, 44, 44, 40, 34, 38, 39, 40, 42, 40, 41, 40,
];

/// Table set 1: the Annex K chrominance matrix flattened the same way, round(17·√(b/17)).
const PSNR_CHROMA: [u16; 64] = [
    17, 17, 20, 28, 41, 41, 41, 41, 17, 19, 21, 33, 41, 41, 41, 41, 20, 21, 31, 41, 41, 41, 41, 41,
    28, 33, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41,
    41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41,
];

/// Number of defined base-table sets: 0 = Annex K (as libjpeg), 1 = PSNR-oriented.
pub const TABLE_SETS: u8 = 2;

/// The quantization matrix of `class` (0 = luma/gray, 1 = chroma) for `quality` 1..=100, with
/// libjpeg's scaling: scale = 5000/q below 50, 200 − 2q from 50; entry =
/// clamp((base·scale + 50) / 100, 1, 255) (spec §4.2).
pub fn quant_matrix(set: u8, class: usize, quality: u8) -> [u16; 64] {
    // The header check rejects sets ≥ TABLE_SETS before we get here.
    let base = match (set, class) {
        (1, 0) => &PSNR_LUMA,
        (1, _) => &PSNR_CHROMA,
        (_, 0) => &ANNEX_K_LUMA,
        _ => &ANNEX_K_CHROMA,
    };
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let mut out = [0u16; 64];
    for (o, &b) in out.iter_mut().zip(base.iter()) {
        *o = ((u32::from(b) * scale + 50) / 100).clamp(1, 255) as u16;
    }
    out
}

/// IDCT basis in 2^13 fixed point: `IDCT_M[n][u] = round(s(u)·cos((2n+1)uπ/16)·8192)`,
/// s(0) = 1/√8, s(u) = 1/2 (spec §5.1).
pub const IDCT_M: [[i32; 8]; 8] = [
    [2896, 4017, 3784, 3406, 2896, 2276, 1567, 799],
    [2896, 3406, 1567, -799, -2896, -4017, -3784, -2276],
    [2896, 2276, -1567, -4017, -2896, 799, 3784, 3406],
    [2896, 799, -3784, -2276, 2896, 3406, -1567, -4017],
    [2896, -799, -3784, 2276, 2896, -3406, -1567, 4017],
    [2896, -2276, -1567, 4017, -2896, -799, 3784, -3406],
    [2896, -3406, 1567, 799, -2896, 4017, -3784, 2276],
    [2896, -4017, 3784, -3406, 2896, -2276, 1567, -799],
];

/// Dequantized coefficients are clamped to this magnitude range before the IDCT (spec §5.1);
/// valid 8-bit data never comes near it, and it keeps every sum inside i32.
pub const DEQUANT_MIN: i32 = -8192;
/// See [`DEQUANT_MIN`].
pub const DEQUANT_MAX: i32 = 8191;
const PASS1_SHIFT: u32 = 10;
const PASS1_CLAMP: i32 = 32767;
const PASS2_SHIFT: u32 = 16;

/// The normative inverse DCT (spec §5.1): dequantize, clamp, columns then rows, level shift,
/// clamp to 0..=255. `out` receives the 8x8 samples row by row with `stride`.
pub fn idct_block(coefs: &[i16; 64], q: &[u16; 64], out: &mut [u8], stride: usize) {
    let mut d = [0i32; 64];
    let (mut umax, mut vmax) = (0usize, 0usize);
    for i in 0..64 {
        if coefs[i] != 0 {
            d[i] = (i32::from(coefs[i]) * i32::from(q[i])).clamp(DEQUANT_MIN, DEQUANT_MAX);
            umax = umax.max(i / 8 + 1);
            vmax = vmax.max(i % 8 + 1);
        }
    }
    // Pass 1 (vertical): t[n][v] = clamp((Σ_u M[n][u]·d[u][v] + 2^9) >> 10). Terms with a
    // zero coefficient contribute nothing, so the loops stop at the last nonzero row/column.
    let mut t = [0i32; 64];
    for v in 0..vmax {
        for n in 0..8 {
            let mut s = 0i32;
            for u in 0..umax {
                s += IDCT_M[n][u] * d[u * 8 + v];
            }
            t[n * 8 + v] = ((s + (1 << (PASS1_SHIFT - 1))) >> PASS1_SHIFT)
                .clamp(-PASS1_CLAMP - 1, PASS1_CLAMP);
        }
    }
    // Pass 2 (horizontal): x[n][m] = clamp(((Σ_v M[m][v]·t[n][v] + 2^15) >> 16) + 128).
    for n in 0..8 {
        let row = &t[n * 8..n * 8 + 8];
        let o = &mut out[n * stride..n * stride + 8];
        for (m, px) in o.iter_mut().enumerate() {
            let mut s = 0i32;
            for v in 0..vmax {
                s += IDCT_M[m][v] * row[v];
            }
            *px = (((s + (1 << (PASS2_SHIFT - 1))) >> PASS2_SHIFT) + 128).clamp(0, 255) as u8;
        }
    }
}

/// Orthonormal forward DCT of one 8x8 block of samples (level-shifted by −128), in floating
/// point: the encoder is free to compute it any way it likes. Each 8-point pass folds the
/// input into sums and differences (`C[7−n][u] = (−1)^u·C[n][u]`), halving the multiplies.
pub fn fdct_block(px: &[f32; 64], out: &mut [f32; 64]) {
    #[inline]
    fn dct8(x: [f32; 8]) -> [f32; 8] {
        let s: [f32; 4] = std::array::from_fn(|k| x[k] + x[7 - k]);
        let d: [f32; 4] = std::array::from_fn(|k| x[k] - x[7 - k]);
        std::array::from_fn(|u| {
            let v = if u % 2 == 0 { &s } else { &d };
            v[0] * FDCT_C[0][u] + v[1] * FDCT_C[1][u] + v[2] * FDCT_C[2][u] + v[3] * FDCT_C[3][u]
        })
    }
    let mut t = [0f32; 64];
    for n in 0..8 {
        let row = dct8(std::array::from_fn(|m| px[n * 8 + m]));
        t[n * 8..n * 8 + 8].copy_from_slice(&row);
    }
    for v in 0..8 {
        let col = dct8(std::array::from_fn(|n| t[n * 8 + v]));
        for (u, c) in col.iter().enumerate() {
            out[u * 8 + v] = *c;
        }
    }
}

/// `FDCT_C[n][u] = s(u)·cos((2n+1)uπ/16)`, the float twin of [`IDCT_M`].
static FDCT_C: [[f32; 8]; 8] = {
    let mut c = [[0f32; 8]; 8];
    let mut n = 0;
    while n < 8 {
        let mut u = 0;
        while u < 8 {
            c[n][u] = IDCT_M[n][u] as f32 / 8192.0;
            u += 1;
        }
        n += 1;
    }
    c
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_is_a_permutation() {
        let mut seen = [false; 64];
        for &z in &ZIGZAG {
            assert!(!seen[z]);
            seen[z] = true;
        }
    }

    #[test]
    fn fdct_then_idct_is_near_identity() {
        let mut px = [0f32; 64];
        for (i, p) in px.iter_mut().enumerate() {
            *p = ((i * 37) % 256) as f32 - 128.0;
        }
        let mut f = [0f32; 64];
        fdct_block(&px, &mut f);
        let coefs: [i16; 64] = std::array::from_fn(|i| f[i].round() as i16);
        let mut out = [0u8; 64];
        idct_block(&coefs, &[1; 64], &mut out, 8);
        for i in 0..64 {
            let want = px[i] + 128.0;
            assert!(
                (f32::from(out[i]) - want).abs() <= 2.0,
                "{i}: {} vs {want}",
                out[i]
            );
        }
    }

    #[test]
    fn quality_scaling_matches_libjpeg() {
        assert_eq!(quant_matrix(0, 0, 50)[0], 16);
        assert_eq!(quant_matrix(0, 0, 75)[0], 8);
        assert_eq!(quant_matrix(0, 0, 100), [1; 64]);
        assert_eq!(quant_matrix(0, 1, 1)[63], 255);
    }
}

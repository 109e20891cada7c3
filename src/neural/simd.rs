//! Small lane-parallel helpers shared by the fused kernels.
//!
//! The kernels are written over fixed-size arrays of [`T`] lanes (pixels or latents), which
//! LLVM turns into SIMD registers. They are generic over `FMA`: the AVX2 entry points
//! instantiate them with `FMA = true` (`f32::mul_add` then compiles to `vfmadd`), the portable
//! fallback with `FMA = false` (a plain multiply-add, since `mul_add` without hardware FMA is a
//! slow libm call).

// Every unsafe method's one condition is the trait's: the implementation's CPU features are
// available (stated once on [`Simd`], not per method).
#![allow(clippy::missing_safety_doc)]

/// Lanes per tile: pixels of a row (synthesis) or latents of a row (entropy model).
pub const T: usize = 16;

/// One lane vector.
pub type Lanes = [f32; T];

/// `a * b + c` in lane loops. Deliberately not `f32::mul_add` even with FMA: LLVM leaves
/// loops of scalar `fma` calls unvectorized, while it vectorizes a multiply and an add. The
/// explicit [`Simd`] kernels use real FMA instructions.
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    a * b + c
}

/// Eight f32 lanes: AVX2+FMA registers or a portable array.
pub trait Simd: Copy {
    type V: Copy;
    /// # Safety
    /// The implementation's CPU features are available (all methods).
    unsafe fn splat(v: f32) -> Self::V;
    unsafe fn load(p: &[f32]) -> Self::V;
    unsafe fn store(v: Self::V, p: &mut [f32]);
    /// `a * b + c`.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn relu(a: Self::V) -> Self::V;
    /// `d` where `h > 0`, else 0.
    unsafe fn mask_pos(h: Self::V, d: Self::V) -> Self::V;
    unsafe fn hsum(a: Self::V) -> f32;
    /// Scalar `a * b + c` (fused where the hardware has FMA).
    fn fma1(a: f32, b: f32, c: f32) -> f32;
}

/// The portable fallback.
#[derive(Clone, Copy)]
pub struct Portable;

impl Simd for Portable {
    type V = [f32; 8];
    #[inline(always)]
    unsafe fn splat(v: f32) -> [f32; 8] {
        [v; 8]
    }
    #[inline(always)]
    unsafe fn load(p: &[f32]) -> [f32; 8] {
        let mut v = [0f32; 8];
        v.copy_from_slice(&p[..8]);
        v
    }
    #[inline(always)]
    unsafe fn store(v: [f32; 8], p: &mut [f32]) {
        p[..8].copy_from_slice(&v);
    }
    #[inline(always)]
    unsafe fn fmadd(a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    unsafe fn add(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    unsafe fn relu(a: [f32; 8]) -> [f32; 8] {
        a.map(|v| v.max(0.0))
    }
    #[inline(always)]
    unsafe fn mask_pos(h: [f32; 8], d: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| if h[i] > 0.0 { d[i] } else { 0.0 })
    }
    #[inline(always)]
    unsafe fn hsum(a: [f32; 8]) -> f32 {
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }
    #[inline(always)]
    fn fma1(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// AVX2 + FMA (only instantiated inside `#[target_feature(enable = "avx2,fma")]` functions).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type V = std::arch::x86_64::__m256;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self::V {
        std::arch::x86_64::_mm256_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn load(p: &[f32]) -> Self::V {
        assert!(p.len() >= 8);
        // SAFETY: 8 floats are in bounds (asserted); unaligned load.
        std::arch::x86_64::_mm256_loadu_ps(p.as_ptr())
    }
    #[inline(always)]
    unsafe fn store(v: Self::V, p: &mut [f32]) {
        assert!(p.len() >= 8);
        // SAFETY: 8 floats are in bounds (asserted); unaligned store.
        std::arch::x86_64::_mm256_storeu_ps(p.as_mut_ptr(), v)
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::arch::x86_64::_mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        std::arch::x86_64::_mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn relu(a: Self::V) -> Self::V {
        std::arch::x86_64::_mm256_max_ps(a, std::arch::x86_64::_mm256_setzero_ps())
    }
    #[inline(always)]
    unsafe fn mask_pos(h: Self::V, d: Self::V) -> Self::V {
        use std::arch::x86_64::*;
        let m = _mm256_cmp_ps::<_CMP_GT_OQ>(h, _mm256_setzero_ps());
        _mm256_and_ps(m, d)
    }
    #[inline(always)]
    unsafe fn hsum(a: Self::V) -> f32 {
        use std::arch::x86_64::*;
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
    #[inline(always)]
    fn fma1(a: f32, b: f32, c: f32) -> f32 {
        // Not `mul_add`: see [`fma`].
        a * b + c
    }
}

/// `out[m] = (relu?)(bias[m] + sum_k w[m][k] * x[k])` over the 16 lanes, four output rows (8
/// vector accumulators) per pass over the inputs; `M` a multiple of 4.
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn matvec<S: Simd, const M: usize, const K: usize>(
    w: &[[f32; K]; M],
    bias: &[f32; M],
    x: &[Lanes; K],
    out: &mut [Lanes; M],
    relu: bool,
) {
    let mut m0 = 0;
    while m0 < M {
        let mut acc: [[S::V; 2]; 4] = [[S::splat(0.0); 2]; 4];
        for (a, row) in acc.iter_mut().enumerate() {
            *row = [S::splat(bias[m0 + a]); 2];
        }
        for k in 0..K {
            let x0 = S::load(&x[k][..8]);
            let x1 = S::load(&x[k][8..]);
            for (a, row) in acc.iter_mut().enumerate() {
                let wv = S::splat(w[m0 + a][k]);
                row[0] = S::fmadd(wv, x0, row[0]);
                row[1] = S::fmadd(wv, x1, row[1]);
            }
        }
        for (a, row) in acc.iter().enumerate() {
            let o = &mut out[m0 + a];
            let (r0, r1) = if relu {
                (S::relu(row[0]), S::relu(row[1]))
            } else {
                (row[0], row[1])
            };
            S::store(r0, &mut o[..8]);
            S::store(r1, &mut o[8..]);
        }
        m0 += 4;
    }
}

/// `d[m] = 0` where `h[m] <= 0` (the ReLU's backward), over the 16 lanes.
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn relu_back<S: Simd, const M: usize>(h: &[Lanes; M], d: &mut [Lanes; M]) {
    for (hv, dv) in h.iter().zip(d.iter_mut()) {
        for half in 0..2 {
            let r = half * 8..half * 8 + 8;
            let v = S::mask_pos(S::load(&hv[r.clone()]), S::load(&dv[r.clone()]));
            S::store(v, &mut dv[r]);
        }
    }
}

/// `g[m][k] += sum over tiles and lanes of a[t][m] * b[t][k]` (a weight gradient: output
/// gradients times inputs summed over pixels), in `BM x BK` register blocks (`BM * BK`
/// accumulators, the two halves of a tile folded into the same accumulator).
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn outer_acc<
    S: Simd,
    const M: usize,
    const K: usize,
    const BM: usize,
    const BK: usize,
>(
    a: &[[Lanes; M]],
    b: &[[Lanes; K]],
    g: &mut [[f32; K]; M],
) {
    let mut m0 = 0;
    while m0 < M {
        let mut k0 = 0;
        while k0 < K {
            let mut acc: [[S::V; BK]; BM] = [[S::splat(0.0); BK]; BM];
            for (ta, tb) in a.iter().zip(b) {
                for half in 0..2 {
                    let r = half * 8..half * 8 + 8;
                    let mut bv: [S::V; BK] = [S::splat(0.0); BK];
                    for (j, v) in bv.iter_mut().enumerate() {
                        *v = S::load(&tb[k0 + j][r.clone()]);
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        let av = S::load(&ta[m0 + i][r.clone()]);
                        for (cell, &bj) in row.iter_mut().zip(bv.iter()) {
                            *cell = S::fmadd(av, bj, *cell);
                        }
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (j, &cell) in row.iter().enumerate() {
                    g[m0 + i][k0 + j] += S::hsum(cell);
                }
            }
            k0 += BK;
        }
        m0 += BM;
    }
}

/// Adds every lane of every tile's row `m` into `g[m]` (a bias gradient).
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn sum_acc<S: Simd, const M: usize>(a: &[[Lanes; M]], g: &mut [f32; M]) {
    for (m, gm) in g.iter_mut().enumerate() {
        let mut acc = S::splat(0.0);
        for ta in a {
            acc = S::add(acc, S::load(&ta[m][..8]));
            acc = S::add(acc, S::load(&ta[m][8..]));
        }
        *gm += S::hsum(acc);
    }
}

/// `y[i] += a * x[i]` over equal-length slices.
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn axpy<S: Simd>(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let av = S::splat(a);
    let mut i = 0;
    while i + 8 <= n {
        let r = S::fmadd(av, S::load(&x[i..]), S::load(&y[i..]));
        S::store(r, &mut y[i..]);
        i += 8;
    }
    while i < n {
        y[i] = S::fma1(a, x[i], y[i]);
        i += 1;
    }
}

/// `sum_i a[i] * b[i]` over equal-length slices, 4 vector accumulators.
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn dot<S: Simd>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [S::splat(0.0); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, c) in acc.iter_mut().enumerate() {
            *c = S::fmadd(S::load(&a[i + 8 * j..]), S::load(&b[i + 8 * j..]), *c);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = S::fmadd(S::load(&a[i..]), S::load(&b[i..]), acc[0]);
        i += 8;
    }
    let mut s = S::hsum(S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3])));
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

/// Horizontal sum of one lane vector (pairwise, so it vectorizes).
#[inline(always)]
pub fn hsum(v: &Lanes) -> f32 {
    let mut h = [0f32; T / 2];
    for l in 0..T / 2 {
        h[l] = v[l] + v[l + T / 2];
    }
    let mut q = [0f32; T / 4];
    for l in 0..T / 4 {
        q[l] = h[l] + h[l + T / 4];
    }
    (q[0] + q[2]) + (q[1] + q[3])
}

/// `2^x` (clamped to `[-126, 126]`), branch-free so it vectorizes: exponent bits plus a
/// degree-6 polynomial on `[-0.5, 0.5]` (relative error below 3e-7).
#[inline(always)]
pub fn exp2(x: f32) -> f32 {
    let x = x.clamp(-126.0, 126.0);
    // Range reduction by the magic-number rounding, not `floor`: without SSE4.1 (code outside
    // the AVX2 kernels, e.g. the quantization proxy) `floor` is a libm call that keeps a loop
    // scalar. Ties go to even, so `f` stays in [-0.5, 0.5] either way.
    let xi = round_latent(x);
    let f = x - xi;
    // Taylor coefficients ln(2)^n / n!.
    let p = 1.540_353e-4_f32;
    let p = p * f + 1.333_355_8e-3;
    let p = p * f + 9.618_129e-3;
    let p = p * f + 5.550_411e-2;
    let p = p * f + 2.402_265e-1;
    let p = p * f + 6.931_472e-1;
    let p = p * f + 1.0;
    // 2^xi from the exponent field: for an integer xi in [-126, 126], xi + 127 + 2^23 is exact
    // and its low mantissa bits hold xi + 127 (no saturating float->int cast, so it vectorizes).
    f32::from_bits((xi + (127.0 + 8_388_608.0)).to_bits() << 23) * p
}

/// Rounds a latent to the nearest integer, ties to even, branch-free (so it vectorizes even
/// without SSE4.1): adding and subtracting 1.5 * 2^23 leaves no fraction bits. Exact for
/// `|x| < 2^22`; latents are bounded far below (`LATENT_MAX` = 2^14). The one rounding used for
/// the synthesis input, the entropy model's contexts and the coded latents.
#[inline(always)]
pub fn round_latent(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// A counter-based hash to uniform noise in `[-0.5, 0.5)`: the same value for the same
/// `(key, index)` whatever the thread split, and vectorizable.
#[inline(always)]
pub fn noise(key: u32, index: u32) -> f32 {
    let mut x = index.wrapping_mul(0x9E37_79B9) ^ key;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    (x >> 8) as f32 * (1.0 / (1u32 << 24) as f32) - 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_is_accurate() {
        for i in 0..4000 {
            let x = 60.0 - (i as f32) * 0.037;
            let e = exp2(x);
            let r = x.exp2();
            assert!((e - r).abs() <= 3e-7 * r + 1e-37, "{x}: {e} vs {r}");
        }
    }

    #[test]
    fn round_latent_is_ties_even() {
        for (x, r) in [
            (0.4, 0.0),
            (0.5, 0.0),
            (1.5, 2.0),
            (-2.5, -2.0),
            (-2.6, -3.0),
            (7.0, 7.0),
        ] {
            assert_eq!(round_latent(x), r, "{x}");
        }
        assert_eq!(round_latent(16384.49), 16384.0);
    }

    #[test]
    fn noise_is_uniformish() {
        let n = 100_000;
        let mean: f64 = (0..n).map(|i| noise(7, i) as f64).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01);
        assert!((0..n).all(|i| (-0.5..0.5).contains(&noise(3, i))));
    }
}

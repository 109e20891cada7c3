//! Small lane-parallel helpers shared by the fused kernels.
//!
//! The kernels are written over fixed-size arrays of [`T`] lanes (pixels or latents), which
//! LLVM turns into SIMD registers. They are generic over `FMA`: the AVX2 entry points
//! instantiate them with `FMA = true` (`f32::mul_add` then compiles to `vfmadd`), the portable
//! fallback with `FMA = false` (a plain multiply-add, since `mul_add` without hardware FMA is a
//! slow libm call).

/// Lanes per tile: pixels of a row (synthesis) or latents of a row (entropy model).
pub const T: usize = 16;

/// One lane vector.
pub type Lanes = [f32; T];

/// `a * b + c`, fused when the kernel was compiled with FMA.
#[inline(always)]
pub fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `out[m] = (relu?)(bias[m] + sum_k w[m][k] * x[k])` over lanes, `M` a multiple of 4 so that
/// four output rows (8 vector accumulators) are formed per pass over the inputs.
#[inline(always)]
pub fn matvec<const FMA: bool, const M: usize, const K: usize>(
    w: &[[f32; K]; M],
    bias: &[f32; M],
    x: &[Lanes; K],
    out: &mut [Lanes; M],
    relu: bool,
) {
    let mut m0 = 0;
    while m0 < M {
        let mut acc = [[0f32; T]; 4];
        for (a, row) in acc.iter_mut().enumerate() {
            *row = [bias[m0 + a]; T];
        }
        for k in 0..K {
            let xk = &x[k];
            for (a, row) in acc.iter_mut().enumerate() {
                let wv = w[m0 + a][k];
                for l in 0..T {
                    row[l] = fma::<FMA>(wv, xk[l], row[l]);
                }
            }
        }
        for (a, row) in acc.iter().enumerate() {
            let o = &mut out[m0 + a];
            for l in 0..T {
                o[l] = if relu { row[l].max(0.0) } else { row[l] };
            }
        }
        m0 += 4;
    }
}

/// `g[m][k] += sum over tiles and lanes of a[t][m] * b[t][k]` (a weight gradient: the
/// outer product of output gradients and inputs summed over pixels), blocked 2x2 so that the
/// accumulators stay in registers; `M` and `K` even.
#[inline(always)]
pub fn outer_acc<const FMA: bool, const M: usize, const K: usize>(
    a: &[[Lanes; M]],
    b: &[[Lanes; K]],
    g: &mut [[f32; K]; M],
) {
    let mut m0 = 0;
    while m0 < M {
        let mut k0 = 0;
        while k0 < K {
            let mut acc = [[[0f32; T]; 2]; 2];
            for (ta, tb) in a.iter().zip(b) {
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = &ta[m0 + i];
                    for (j, cell) in row.iter_mut().enumerate() {
                        let bv = &tb[k0 + j];
                        for l in 0..T {
                            cell[l] = fma::<FMA>(av[l], bv[l], cell[l]);
                        }
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (j, cell) in row.iter().enumerate() {
                    g[m0 + i][k0 + j] += hsum(cell);
                }
            }
            k0 += 2;
        }
        m0 += 2;
    }
}

/// Adds every lane of every tile's row `m` into `g[m]` (a bias gradient).
#[inline(always)]
pub fn sum_acc<const M: usize>(a: &[[Lanes; M]], g: &mut [f32; M]) {
    for (m, gm) in g.iter_mut().enumerate() {
        let mut acc = [0f32; T];
        for ta in a {
            for l in 0..T {
                acc[l] += ta[m][l];
            }
        }
        *gm += hsum(&acc);
    }
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
    let xi = (x + 0.5).floor();
    let f = x - xi;
    let p = 1.540_353_1e-4_f32;
    let p = p * f + 1.339_887_4e-3;
    let p = p * f + 9.618_437_4e-3;
    let p = p * f + 5.550_357_5e-2;
    let p = p * f + 2.402_264_9e-1;
    let p = p * f + 6.931_472e-1;
    let p = p * f + 1.0;
    f32::from_bits(((xi as i32 + 127) as u32) << 23) * p
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
    fn noise_is_uniformish() {
        let n = 100_000;
        let mean: f64 = (0..n).map(|i| noise(7, i) as f64).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01);
        assert!((0..n).all(|i| (-0.5..0.5).contains(&noise(3, i))));
    }
}

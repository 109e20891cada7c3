//! The learned pre-upsampling filter (codec-neural §4 step 0; payload flag bit 1): each coarse
//! latent grid (1..GRIDS) is filtered at its own resolution, rows then columns, by a symmetric
//! 5-tap filter `z + a·(z₋₁ + z₊₁ − 2z) + b·(z₋₂ + z₊₂ − 2z)` with indices clamped to the grid,
//! before the fixed bilinear upsampling: the composed upsampler is learned (it can sharpen like
//! a bicubic, or smooth), for two parameters per grid. Grid 0 is not filtered. Measured: −6.9 %
//! real loss on three photos at the fast preset (docs/neural-rd.md).

use super::arch::GRIDS;

/// Filter parameters in a payload: `(a, b)` for grids 1..GRIDS, in that order.
pub const FILTER_PARAMS: usize = 2 * (GRIDS - 1);
/// A parameter's value is its integer divided by this.
pub const FILTER_SCALE: f32 = 256.0;
/// Largest magnitude of a parameter's integer.
pub const FILTER_Q_MAX: i32 = 255;

fn clamp(i: isize, n: usize) -> usize {
    i.clamp(0, n as isize - 1) as usize
}

/// `y = F(x)` along one line of `n` values at `off`, `stride` apart.
pub fn line(x: &[f32], y: &mut [f32], n: usize, off: usize, stride: usize, a: f32, b: f32) {
    for i in 0..n {
        let v = |d: isize| x[off + clamp(i as isize + d, n) * stride];
        let c = v(0);
        y[off + i * stride] = c + a * (v(-1) + v(1) - 2.0 * c) + b * (v(-2) + v(2) - 2.0 * c);
    }
}

/// Filters one `gw x gh` grid: rows of `src` into `rows`, then columns of `rows` into `out`.
pub fn filter_grid(
    src: &[f32],
    gw: usize,
    gh: usize,
    (a, b): (f32, f32),
    rows: &mut [f32],
    out: &mut [f32],
) {
    for y in 0..gh {
        line(src, rows, gw, y * gw, 1, a, b);
    }
    for x in 0..gw {
        line(rows, out, gh, x, gw, a, b);
    }
}

/// The `(a, b)` of grid `k` (1..GRIDS) from a payload's integers.
pub fn params_of(q: &[i32; FILTER_PARAMS], k: usize) -> (f32, f32) {
    (
        q[2 * (k - 1)] as f32 / FILTER_SCALE,
        q[2 * (k - 1) + 1] as f32 / FILTER_SCALE,
    )
}

/// Filters every coarse grid of `grids` in place.
pub fn apply(grids: &mut [Vec<f32>], dims: &[(usize, usize)], q: &[i32; FILTER_PARAMS]) {
    for k in 1..GRIDS.min(grids.len()) {
        let (gw, gh) = dims[k];
        let mut rows = vec![0f32; gw * gh];
        let mut out = vec![0f32; gw * gh];
        filter_grid(&grids[k], gw, gh, params_of(q, k), &mut rows, &mut out);
        grids[k] = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_parameters_are_the_identity_and_constants_stay_constant() {
        let (gw, gh) = (7, 5);
        let src: Vec<f32> = (0..gw * gh).map(|i| (i * 37 % 11) as f32 - 4.0).collect();
        let (mut rows, mut out) = (vec![0f32; gw * gh], vec![0f32; gw * gh]);
        filter_grid(&src, gw, gh, (0.0, 0.0), &mut rows, &mut out);
        assert_eq!(out, src);
        let flat = vec![3.5f32; gw * gh];
        filter_grid(&flat, gw, gh, (-0.3, 0.1), &mut rows, &mut out);
        assert!(out.iter().all(|&v| (v - 3.5).abs() < 1e-6));
        // A sharpening filter (negative a) raises a peak.
        let mut peak = vec![0f32; gw * gh];
        peak[2 * gw + 3] = 1.0;
        filter_grid(&peak, gw, gh, (-0.25, 0.0), &mut rows, &mut out);
        assert!(out[2 * gw + 3] > 1.0);
    }
}

//! The learned pre-upsampling filter's training side (issue 11 item 4): forward through the
//! decoder's filter (`yoz::neural::upsample`, codec-neural §4 step 0), and its backward. Each
//! coarse latent grid is filtered at its own resolution by a separable symmetric 5-tap filter
//! `z + a·(z₋₁ + z₊₁ − 2z) + b·(z₋₂ + z₊₂ − 2z)` (edges clamped; identity at a = b = 0) before
//! the fixed bilinear upsampling, so the composed upsampler is learned. Two parameters per
//! coarse grid, stored as integers / 256 (payload flag bit 1).

use crate::fused::Geometry;
use yoz::neural::arch::GRIDS;
use yoz::neural::upsample::filter_grid;

/// Filter parameters: `(a, b)` for grids 1..GRIDS.
pub const PARAMS: usize = yoz::neural::upsample::FILTER_PARAMS;

fn clamp(i: isize, n: usize) -> usize {
    i.clamp(0, n as isize - 1) as usize
}

/// Adds `Fᵀ gy` to `gx` and the parameter gradients to `ga`, `gb`.
#[allow(clippy::too_many_arguments)]
fn line_bwd(
    x: &[f32],
    gy: &[f32],
    gx: &mut [f32],
    n: usize,
    off: usize,
    stride: usize,
    (a, b): (f32, f32),
    (ga, gb): (&mut f32, &mut f32),
) {
    for i in 0..n {
        let at = |d: isize| off + clamp(i as isize + d, n) * stride;
        let g = gy[off + i * stride];
        let c = x[at(0)];
        *ga += g * (x[at(-1)] + x[at(1)] - 2.0 * c);
        *gb += g * (x[at(-2)] + x[at(2)] - 2.0 * c);
        gx[at(0)] += g * (1.0 - 2.0 * a - 2.0 * b);
        gx[at(-1)] += a * g;
        gx[at(1)] += a * g;
        gx[at(-2)] += b * g;
        gx[at(2)] += b * g;
    }
}

/// Filters the coarse grids of `inp` into `out` (grid 0 copied); `h` keeps the row pass. The
/// decoder's own filter (`yoz::neural::upsample`), on the trainer's flat layout.
pub fn forward(g: &Geometry, p: &[f32], inp: &[f32], h: &mut [f32], out: &mut [f32]) {
    let o1 = g.offsets[1];
    out[..o1].copy_from_slice(&inp[..o1]);
    for k in 1..GRIDS {
        let (gw, gh) = g.dims[k];
        let r = g.offsets[k]..g.offsets[k + 1];
        let ab = (p[2 * (k - 1)], p[2 * (k - 1) + 1]);
        filter_grid(&inp[r.clone()], gw, gh, ab, &mut h[r.clone()], &mut out[r]);
    }
}

/// Given `gout` (the gradient with respect to the filtered latents, whole vector), writes the
/// gradient with respect to the unfiltered ones into `gin` (coarse grids; grid 0 passes
/// through) and the parameters' into `gp`. `tmp` is scratch of the same length.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &Geometry,
    p: &[f32],
    inp: &[f32],
    h: &[f32],
    gout: &[f32],
    tmp: &mut [f32],
    gin: &mut [f32],
    gp: &mut [f32],
) {
    gp.fill(0.0);
    let o1 = g.offsets[1];
    gin[..o1].copy_from_slice(&gout[..o1]);
    for k in 1..GRIDS {
        let (gw, gh) = g.dims[k];
        let o = g.offsets[k];
        let n = gw * gh;
        let ab = (p[2 * (k - 1)], p[2 * (k - 1) + 1]);
        let (ga, gb) = gp.split_at_mut(2 * (k - 1) + 1);
        let (ga, gb) = (&mut ga[2 * (k - 1)], &mut gb[0]);
        tmp[o..o + n].fill(0.0);
        for x in 0..gw {
            line_bwd(h, gout, tmp, gh, o + x, gw, ab, (&mut *ga, &mut *gb));
        }
        gin[o..o + n].fill(0.0);
        for y in 0..gh {
            line_bwd(inp, tmp, gin, gw, o + y * gw, 1, ab, (&mut *ga, &mut *gb));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finite differences of `L = Σ w·F(x)` with respect to the inputs and the parameters.
    #[test]
    fn gradients_match_finite_differences() {
        let g = Geometry::new(37, 23, 3);
        let n = g.latents();
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 97) as f32 / 13.0 - 3.0)
            .collect();
        let w: Vec<f32> = (0..n)
            .map(|i| ((i * 104_729) % 89) as f32 / 40.0 - 1.0)
            .collect();
        let p: Vec<f32> = (0..PARAMS).map(|i| 0.05 * i as f32 - 0.2).collect();
        let loss = |x: &[f32], p: &[f32]| {
            let (mut h, mut y) = (vec![0f32; n], vec![0f32; n]);
            forward(&g, p, x, &mut h, &mut y);
            y.iter().zip(&w).map(|(a, b)| (a * b) as f64).sum::<f64>()
        };
        let (mut h, mut y) = (vec![0f32; n], vec![0f32; n]);
        forward(&g, &p, &x, &mut h, &mut y);
        let (mut tmp, mut gx, mut gp) = (vec![0f32; n], vec![0f32; n], vec![0f32; PARAMS]);
        backward(&g, &p, &x, &h, &w, &mut tmp, &mut gx, &mut gp);
        let eps = 1e-2f32;
        for i in (0..n).step_by(n / 40) {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += eps;
            xm[i] -= eps;
            let fd = (loss(&xp, &p) - loss(&xm, &p)) / (2.0 * eps as f64);
            assert!(
                (fd - gx[i] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "x[{i}]: {fd} vs {}",
                gx[i]
            );
        }
        for j in 0..PARAMS {
            let (mut pp, mut pm) = (p.clone(), p.clone());
            pp[j] += eps;
            pm[j] -= eps;
            let fd = (loss(&x, &pp) - loss(&x, &pm)) / (2.0 * eps as f64);
            assert!(
                (fd - gp[j] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "p[{j}]: {fd} vs {}",
                gp[j]
            );
        }
    }
}

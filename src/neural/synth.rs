//! The float reference synthesis (spec/codec-neural.md §4): plain, obviously-correct loops that
//! define what ONNX Runtime and the trainer's fused kernels must compute.

use super::arch::{grid_dims, hidden_for_params, syn_layout, GRIDS};

/// Bilinear upsampling of a `gw x gh` grid to `w x h`: half-pixel centres, source coordinate
/// `(x + 0.5) * gw / w - 0.5` clamped to `[0, gw - 1]`, separable. This is ONNX `Resize` with
/// `mode = linear`, `coordinate_transformation_mode = half_pixel`.
pub fn upsample(grid: &[f32], gw: usize, gh: usize, w: usize, h: usize) -> Vec<f32> {
    // The one definition of the taps, which the built-in kernels and the trainer share.
    let tx = super::kernels::taps(w, gw);
    let ty = super::kernels::taps(h, gh);
    // Rows first: gh x w.
    let mut rows = vec![0f32; gh * w];
    for y in 0..gh {
        for (x, tap) in tx.iter().enumerate() {
            let (x0, x1, t) = (tap.i0 as usize, tap.i1 as usize, tap.t);
            let g = &grid[y * gw..];
            rows[y * w + x] = g[x0] * (1.0 - t) + g[x1] * t;
        }
    }
    let mut out = vec![0f32; h * w];
    for (y, tap) in ty.iter().enumerate() {
        let (y0, y1, t) = (tap.i0 as usize, tap.i1 as usize, tap.t);
        for x in 0..w {
            out[y * w + x] = rows[y0 * w + x] * (1.0 - t) + rows[y1 * w + x] * t;
        }
    }
    out
}

/// Runs the synthesis: `grids` are the dequantized latents (grid `k` row-major, sizes from
/// [`grid_dims`]), `params` the packed float parameters ([`syn_layout`]) for `c` channels, of
/// any architecture's hidden width (their counts tell them apart).
/// Returns `c` planes of `w * h` floats (nominally in `[0, 1]`, not clamped).
///
/// # Panics
/// When `params` fits no architecture.
pub fn synthesize(grids: &[Vec<f32>], params: &[f32], c: usize, w: usize, h: usize) -> Vec<f32> {
    let hid = hidden_for_params(params.len(), c).expect("an architecture's parameter count");
    let dims = grid_dims(w, h);
    let up: Vec<Vec<f32>> = (0..GRIDS)
        .map(|k| upsample(&grids[k], dims[k].0, dims[k].1, w, h))
        .collect();
    let l = syn_layout(hid, c);
    let p = |i: usize| &params[l[i].offset..l[i].offset + l[i].len()];
    let (w1, b1, w2, b2, w3, b3, cw, cb) = (p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7));
    let n = w * h;
    let mut x = vec![0f32; c * n];
    let mut h1 = vec![0f32; hid];
    let mut h2 = vec![0f32; hid];
    for i in 0..n {
        for (j, v) in h1.iter_mut().enumerate() {
            let mut a = b1[j];
            for (k, u) in up.iter().enumerate() {
                a += w1[j * GRIDS + k] * u[i];
            }
            *v = a.max(0.0);
        }
        for (j, v) in h2.iter_mut().enumerate() {
            let mut a = b2[j];
            for (k, &hv) in h1.iter().enumerate() {
                a += w2[j * hid + k] * hv;
            }
            *v = a.max(0.0);
        }
        for o in 0..c {
            let mut a = b3[o];
            for (k, &hv) in h2.iter().enumerate() {
                a += w3[o * hid + k] * hv;
            }
            x[o * n + i] = a;
        }
    }
    let mut out = x.clone();
    for o in 0..c {
        for yy in 0..h {
            for xx in 0..w {
                let mut a = cb[o];
                for ci in 0..c {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let sy = yy as isize + ky as isize - 1;
                            let sx = xx as isize + kx as isize - 1;
                            if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                continue;
                            }
                            a += cw[((o * c + ci) * 3 + ky) * 3 + kx]
                                * x[ci * n + sy as usize * w + sx as usize];
                        }
                    }
                }
                out[o * n + yy * w + xx] += a;
            }
        }
    }
    out
}

/// Converts synthesis output planes to interleaved 8-bit pixels: `round(clamp(v, 0, 1) * 255)`.
pub fn to_pixels(planes: &[f32], c: usize, n: usize) -> Vec<u8> {
    let mut px = vec![0u8; c * n];
    for i in 0..n {
        for o in 0..c {
            px[i * c + o] = (planes[o * n + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsample_constant_and_identity() {
        let g = vec![2.5f32; 6];
        assert!(upsample(&g, 3, 2, 10, 7)
            .iter()
            .all(|&v| (v - 2.5).abs() < 1e-6));
        let g: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(upsample(&g, 4, 3, 4, 3), g);
        // x2: output 0 sits at source -0.25 -> clamped to 0; output 1 at 0.25.
        let u = upsample(&[0.0, 4.0], 2, 1, 4, 1);
        assert_eq!(u, vec![0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn zero_params_give_zero_and_bias_passes() {
        let (w, h) = (9, 5);
        let grids: Vec<Vec<f32>> = grid_dims(w, h)
            .iter()
            .map(|(a, b)| vec![1.0; a * b])
            .collect();
        for hid in [24, 32] {
            let mut p = vec![0f32; super::super::arch::syn_param_count(hid, 3)];
            assert!(synthesize(&grids, &p, 3, w, h).iter().all(|&v| v == 0.0));
            let l = syn_layout(hid, 3);
            p[l[5].offset + 1] = 0.5; // l3 bias, channel 1
            let out = synthesize(&grids, &p, 3, w, h);
            assert!(out[w * h..2 * w * h].iter().all(|&v| v == 0.5));
        }
    }
}

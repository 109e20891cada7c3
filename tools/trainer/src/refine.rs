//! Rate–distortion rounding of the latents, after training.
//!
//! Training ends with every latent rounded to the nearest integer of its float value; the
//! nearest integer is not always the cheapest one to code for the error it buys. This pass
//! revisits each latent of the finest grids (1 and 0; 2 as well at the longer presets:
//! `crate::train::refine_grids`) with the trained, quantized model fixed and tries one
//! step either way, keeping a change where the exact change of the payload's code length (the
//! latent's own symbol and those of the latents whose entropy-model context holds it) and of
//! the squared error lowers `MSE + λ·bpp`: the rate–distortion-optimised quantisation of
//! classical encoders, exact here because the decoder is ours. Grids 0 and 1 hold 65–90 % of a
//! high-rate payload's bytes, and a latent there reaches few pixels (grid 0 its own pixel, grid
//! 1 the filter's and the bilinear taps' 5x5 to 12x12), so a trial costs a few MLPs; the MLP
//! runs from the first layer's pre-activation, which each change moves by `w1[k]·Δup`.
//! Measured on nine fast payloads (docs/neural-rd.md, stop 34): −3.5 % real loss on average,
//! every one lower; grid 0 alone −2.5 %, one pass −2.8 %; grid 2 as well −0.34 % more (stop
//! 35). The caller keeps the result only
//! where the real payload's loss is lower.

use crate::coded::Coded;
use crate::fused::Geometry;
use yoz::neural::arch::{syn_layout, GRIDS, LATENT_MAX};
use yoz::neural::arm::LatentCost;
use yoz::neural::kernels::{hrows_fill, upsample_row, FP};
use yoz::neural::simd::T;

/// Passes over the refined grids (a second pass revisits latents whose neighbours moved).
const PASSES: usize = 2;
/// The most grids refined: the `grids` finest, coarsest first — grid 2 (a sixteenth of grid
/// 0's latents, reaching 20x20 to 24x24 pixels: as costly as grid 1), grid 1 (a quarter of
/// grid 0's latents, 20–54 % of a high-rate payload's bytes), then grid 0.
pub const MAX_REFINED: usize = 3;

/// How one latent of a grid reaches the synthesis input along one axis: `(pixel, weight)` for
/// the pixels whose upsampled value it changes (the filter's five taps with clamped indices,
/// then the bilinear taps); grid 0 reaches its own pixel with weight 1.
fn reach(g: &Geometry, k: usize, axis: usize, i: usize, ab: (f32, f32)) -> Vec<(usize, f32)> {
    if k == 0 {
        return vec![(i, 1.0)];
    }
    let n = if axis == 0 { g.dims[k].0 } else { g.dims[k].1 };
    let taps = if axis == 0 { &g.tx[k] } else { &g.ty[k] };
    // The filter's response at grid index j to a unit at i.
    let (a, b) = ab;
    let mut f = [0f32; 5];
    for (jj, fj) in f.iter_mut().enumerate() {
        let j = i as isize + jj as isize - 2;
        if j < 0 || j >= n as isize {
            continue;
        }
        for (d, wd) in [
            (-2, b),
            (-1, a),
            (0, 1.0 - 2.0 * a - 2.0 * b),
            (1, a),
            (2, b),
        ] {
            if (j + d).clamp(0, n as isize - 1) == i as isize {
                *fj += wd;
            }
        }
    }
    let lo = i.saturating_sub(2);
    let hi = (i + 2).min(n - 1);
    let mut out = Vec::new();
    for (x, tap) in taps.iter().enumerate() {
        let (i0, i1) = (tap.i0 as usize, tap.i1 as usize);
        if i1 < lo || i0 > hi {
            continue;
        }
        let at = |j: usize| {
            if (lo..=hi).contains(&j) {
                f[j + 2 - i]
            } else {
                0.0
            }
        };
        let v = at(i0) * (1.0 - tap.t) + at(i1) * tap.t;
        if v != 0.0 {
            out.push((x, v));
        }
    }
    out
}

/// The synthesis of one image as plain per-pixel state: the first layer's pre-activation, the
/// MLP output before the convolution, and the output.
#[derive(Clone)]
struct State<'a> {
    w: usize,
    h: usize,
    c: usize,
    hid: usize,
    /// The second layer transposed, `[in][out]`.
    w2t: Vec<f32>,
    b2: &'a [f32],
    /// The third layer transposed, `[in][out]`, four outputs (zero past `c`).
    w3t: Vec<[f32; 4]>,
    b3: [f32; 4],
    cw: &'a [f32],
    /// `[p][j]`: `b1[j] + Σ_k w1[j][k] · up_k(p)`.
    a1: Vec<f32>,
    /// `[o][p]` MLP output.
    x: Vec<f32>,
    /// `[o][p]` synthesis output (MLP plus the convolution).
    out: Vec<f32>,
    /// `[o][p]` target in [0, 1].
    t: Vec<f32>,
}

impl State<'_> {
    /// The MLP output for first-layer pre-activation `a1` (the layers as sums of columns, so
    /// they vectorize and a ReLU's zeros are skipped).
    #[inline(always)]
    fn mlp(&self, a1: &[f32], x: &mut [f32; 4]) {
        let hid = self.hid;
        let mut h2 = [0f32; 32];
        let h2 = &mut h2[..hid];
        h2.copy_from_slice(self.b2);
        for (k, &a) in a1.iter().enumerate().take(hid) {
            if a > 0.0 {
                for (hj, &wv) in h2.iter_mut().zip(&self.w2t[k * hid..][..hid]) {
                    *hj += wv * a;
                }
            }
        }
        *x = self.b3;
        for (j, &hv) in h2.iter().enumerate() {
            if hv > 0.0 {
                for (xo, &wv) in x.iter_mut().zip(&self.w3t[j]) {
                    *xo += wv * hv;
                }
            }
        }
    }

    /// The change of the output at pixel `q` from MLP-output changes `dx` over the rectangle
    /// `r` (`x0, x1, y0, y1` inclusive, row-major `[pixel][channel]`), channel `o`.
    fn dout(
        &self,
        r: (usize, usize, usize, usize),
        dx: &[[f32; 4]],
        qx: usize,
        qy: usize,
        o: usize,
    ) -> f32 {
        let c = self.c;
        let rw = r.1 - r.0 + 1;
        let mut d = 0f32;
        for sy in qy.saturating_sub(1)..=(qy + 1).min(self.h - 1) {
            if sy < r.2 || sy > r.3 {
                continue;
            }
            for sx in qx.saturating_sub(1)..=(qx + 1).min(self.w - 1) {
                if sx < r.0 || sx > r.1 {
                    continue;
                }
                let v = &dx[(sy - r.2) * rw + sx - r.0];
                let k = (sy + 1 - qy) * 3 + (sx + 1 - qx);
                if sy == qy && sx == qx {
                    d += v[o];
                }
                for (i, vi) in v.iter().enumerate().take(c) {
                    d += self.cw[(o * c + i) * 9 + k] * vi;
                }
            }
        }
        d
    }

    /// `r` grown by the convolution's reach, clipped to the image.
    fn grown(&self, r: (usize, usize, usize, usize)) -> (usize, usize, usize, usize) {
        (
            r.0.saturating_sub(1),
            (r.1 + 1).min(self.w - 1),
            r.2.saturating_sub(1),
            (r.3 + 1).min(self.h - 1),
        )
    }

    /// Squared error over the output pixels that `dx` (over `r`) reaches, with and without it.
    fn errors(&self, r: (usize, usize, usize, usize), dx: &[[f32; 4]]) -> (f64, f64) {
        let (w, n) = (self.w, self.w * self.h);
        let g = self.grown(r);
        let (mut before, mut after) = (0f64, 0f64);
        for qy in g.2..=g.3 {
            for qx in g.0..=g.1 {
                let q = qy * w + qx;
                for o in 0..self.c {
                    let v = self.out[o * n + q];
                    let t = self.t[o * n + q];
                    let e0 = v.clamp(0.0, 1.0) - t;
                    let e1 = (v + self.dout(r, dx, qx, qy, o)).clamp(0.0, 1.0) - t;
                    before += f64::from(e0 * e0);
                    after += f64::from(e1 * e1);
                }
            }
        }
        (before, after)
    }
}

/// A rate–distortion rounding of `coded`'s latents (module docs).
#[derive(Clone, Copy)]
struct Refine<'a> {
    g: &'a Geometry,
    coded: &'a Coded,
    pixels: &'a [u8],
    lambda: f64,
    /// How many of the finest grids are revisited (at most [`MAX_REFINED`]).
    grids: usize,
    /// Each grid's rows are visited in two bands on up to two threads, the same result on one.
    threads: usize,
}

/// `coded` with the latents of its `grids` finest grids re-rounded by rate–distortion cost
/// ([`Refine`]). The residual, if any, is dropped: it is fitted to the output after this.
pub fn refine(
    g: &Geometry,
    coded: &Coded,
    pixels: &[u8],
    lambda: f64,
    grids: usize,
    threads: usize,
) -> Coded {
    Refine {
        g,
        coded,
        pixels,
        lambda,
        grids,
        threads,
    }
    .tracked()
    .0
}

impl Refine<'_> {
    /// The refined model, and the synthesis output `[c][h][w]` it tracked while changing the
    /// latents.
    fn tracked(&self) -> (Coded, Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if crate::fused::has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.avx2() };
        }
        self.any()
    }

    /// [`Self::any`] compiled for AVX2 (no FMA, so the same sums as the portable build).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(&self) -> (Coded, Vec<f32>) {
        self.any()
    }

    #[inline(always)]
    fn any(&self) -> (Coded, Vec<f32>) {
        let Refine {
            g,
            coded,
            pixels,
            lambda,
            grids,
            threads,
        } = *self;
        let (w, h, c) = (g.w, g.h, g.c);
        let n = w * h;
        let params = coded.syn_params_f32();
        let hid = coded.hidden();
        let l = syn_layout(hid, c);
        let t = |i: usize| &params[l[i].offset..l[i].offset + l[i].len()];
        let (w1, b1, cw, cb) = (t(0), t(1), t(6), t(7));
        let lat = coded.latents_f32();

        // The first layer's pre-activation from every grid's upsampled features, as the decoder
        // computes them (bilinear taps of the filtered grids; grid 0 as it is).
        let mut a1 = vec![0f32; n * hid];
        let mut hrows = vec![0f32; g.hoff[GRIDS]];
        for k in 1..GRIDS {
            hrows_fill(g, &lat, k, 0, g.dims[k].1 - 1, &mut hrows);
        }
        let mut up = vec![[[0f32; T]; FP]; g.tiles];
        for py in 0..h {
            upsample_row(g, &lat, &hrows, py, &mut up);
            for (px, b) in a1[py * w * hid..][..w * hid].chunks_mut(hid).enumerate() {
                b.copy_from_slice(b1);
                for k in 0..GRIDS {
                    let u = up[px / T][k][px % T];
                    for (j, bj) in b.iter_mut().enumerate() {
                        *bj += w1[j * GRIDS + k] * u;
                    }
                }
            }
        }
        let mut s = State {
            w,
            h,
            c,
            hid,
            w2t: (0..hid * hid)
                .map(|i| t(2)[(i % hid) * hid + i / hid])
                .collect(),
            b2: t(3),
            w3t: (0..hid)
                .map(|j| std::array::from_fn(|o| if o < c { t(4)[o * hid + j] } else { 0.0 }))
                .collect(),
            b3: std::array::from_fn(|o| if o < c { t(5)[o] } else { 0.0 }),
            cw,
            a1,
            x: vec![0f32; c * n],
            out: vec![0f32; c * n],
            t: (0..c * n)
                .map(|i| f32::from(pixels[(i % n) * c + i / n]) / 255.0)
                .collect(),
        };
        let mut xv = [0f32; 4];
        for p in 0..n {
            s.mlp(&s.a1[p * hid..][..hid], &mut xv);
            for (o, &v) in xv.iter().enumerate().take(c) {
                s.x[o * n + p] = v;
            }
        }
        for o in 0..c {
            for py in 0..h {
                for px in 0..w {
                    let mut a = s.x[o * n + py * w + px] + cb[o];
                    for i in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (sy, sx) = (py + ky, px + kx);
                                if sy < 1 || sx < 1 || sy > h || sx > w {
                                    continue;
                                }
                                a += cw[(o * c + i) * 9 + ky * 3 + kx]
                                    * s.x[i * n + (sy - 1) * w + sx - 1];
                            }
                        }
                    }
                    s.out[o * n + py * w + px] = a;
                }
            }
        }

        let mut latents = coded.latents.clone();
        let (dscale, rscale) = (1.0 / (c * n) as f64, lambda / n as f64);
        let mut cost = LatentCost::new(&coded.arm, coded.tables);
        let mut cost_b = LatentCost::new(&coded.arm, coded.tables);
        for _ in 0..PASSES {
            let mut changed = 0usize;
            for k in (0..grids.min(MAX_REFINED)).rev() {
                let (gw, gh) = g.dims[k];
                let wk = (0..hid).map(|j| w1[j * GRIDS + k]).collect();
                let gc = GridCtx::new(g, coded, k, wk, dscale, rscale);
                let lat = &mut latents[k];
                let Some((a_end, b_start)) = gc.bands() else {
                    changed += Band {
                        s: &mut s,
                        lat,
                        cost: &mut cost,
                    }
                    .visit(&gc, 0..gh);
                    continue;
                };
                // Two bands that touch no common pixel or context, the second on a copy, then
                // the seam between them: the same result on one thread or two.
                let (mut sb, mut lat_b) = (s.clone(), lat.clone());
                let mut a = Band {
                    s: &mut s,
                    lat,
                    cost: &mut cost,
                };
                let mut b = Band {
                    s: &mut sb,
                    lat: &mut lat_b,
                    cost: &mut cost_b,
                };
                let (ca, cb) = if threads > 1 {
                    std::thread::scope(|sc| {
                        let hb = sc.spawn(|| b.visit(&gc, b_start..gh));
                        let ca = a.visit(&gc, 0..a_end);
                        (ca, hb.join().expect("refine band panicked"))
                    })
                } else {
                    (a.visit(&gc, 0..a_end), b.visit(&gc, b_start..gh))
                };
                let p0 = gc.rys[b_start][0].0.saturating_sub(1) * w;
                s.a1[p0 * hid..].copy_from_slice(&sb.a1[p0 * hid..]);
                for o in 0..c {
                    let r = o * n + p0..(o + 1) * n;
                    s.x[r.clone()].copy_from_slice(&sb.x[r.clone()]);
                    s.out[r.clone()].copy_from_slice(&sb.out[r]);
                }
                lat[b_start * gw..].copy_from_slice(&lat_b[b_start * gw..]);
                changed += ca
                    + cb
                    + Band {
                        s: &mut s,
                        lat,
                        cost: &mut cost,
                    }
                    .visit(&gc, a_end..b_start);
            }
            if changed == 0 {
                break;
            }
        }
        let refined = Coded {
            latents,
            residual: None,
            ..coded.clone()
        };
        (refined, s.out)
    }
}

/// One grid's constants for [`visit`].
struct GridCtx<'a> {
    gw: usize,
    gh: usize,
    /// The first layer's column of grid `k`.
    wk: Vec<f32>,
    /// [`reach`] of every column and row.
    rxs: Vec<Vec<(usize, f32)>>,
    rys: Vec<Vec<(usize, f32)>>,
    /// The entropy model's context offsets.
    nb: &'a [(isize, isize)],
    /// Squared error to MSE, bits to `λ·bpp`.
    dscale: f64,
    rscale: f64,
}

impl<'a> GridCtx<'a> {
    /// Grid `k` of `coded`, whose first-layer column is `wk`.
    fn new(
        g: &Geometry,
        coded: &'a Coded,
        k: usize,
        wk: Vec<f32>,
        dscale: f64,
        rscale: f64,
    ) -> GridCtx<'a> {
        let (gw, gh) = g.dims[k];
        let ab = match (&coded.filter, k) {
            (Some(q), 1..) => yoz::neural::upsample::params_of(q, k),
            _ => (0.0, 0.0),
        };
        GridCtx {
            gw,
            gh,
            wk,
            rxs: (0..gw).map(|gx| reach(g, k, 0, gx, ab)).collect(),
            rys: (0..gh).map(|gy| reach(g, k, 1, gy, ab)).collect(),
            nb: coded.arm.neighbours(),
            dscale,
            rscale,
        }
    }

    /// Two bands of rows, `0..a_end` and `b_start..gh`, that can be visited independently: no
    /// pixel one touches (a latent's reach grown by the convolution's, read or written) is
    /// within the other's, and no latent one changes is in the other's contexts or codes
    /// (the context reaches two rows up, so the bands are at least two rows apart). `None`
    /// when the grid is too small to have two.
    fn bands(&self) -> Option<(usize, usize)> {
        let a_end = self.gh / 2;
        if a_end == 0 {
            return None;
        }
        let a_last = self.rys[a_end - 1].last()?.0 + 1;
        (a_end + 2..self.gh)
            .find(|&b| self.rys[b][0].0 > a_last + 1)
            .map(|b| (a_end, b))
    }
}

/// What one band changes: the tracked synthesis, the grid's latents and the coder's memo.
struct Band<'b, 'p, 'c> {
    s: &'b mut State<'p>,
    lat: &'b mut [i32],
    cost: &'b mut LatentCost<'c>,
}

impl Band<'_, '_, '_> {
    /// Revisits the latents of grid rows `rows` in raster order (module docs), updating the
    /// state and the latents with each kept change; returns how many changed.
    fn visit(&mut self, gc: &GridCtx, rows: std::ops::Range<usize>) -> usize {
        #[cfg(target_arch = "x86_64")]
        if crate::fused::has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.visit_avx2(gc, rows) };
        }
        self.visit_any(gc, rows)
    }

    /// [`Self::visit_any`] compiled for AVX2 (no FMA, so the same sums as the portable build):
    /// a band may run on a thread of its own, outside [`Refine::avx2`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn visit_avx2(&mut self, gc: &GridCtx, rows: std::ops::Range<usize>) -> usize {
        self.visit_any(gc, rows)
    }

    #[inline(always)]
    fn visit_any(&mut self, gc: &GridCtx, rows: std::ops::Range<usize>) -> usize {
        let Band { s, lat, cost } = self;
        let (w, n, c, hid, gw, gh) = (s.w, s.w * s.h, s.c, s.hid, gc.gw, gc.gh);
        // The latents whose context holds (x, y): (x - dx, y - dy) for each offset.
        let rate = |cost: &mut LatentCost, gk: &[i32], gx: usize, gy: usize| -> f64 {
            let mut bits = cost.bits(gk, gw, gx, gy);
            for &(dy, dxo) in gc.nb {
                let (qx, qy) = (gx as isize - dxo, gy as isize - dy);
                if qx >= 0 && (qx as usize) < gw && (qy as usize) < gh {
                    bits += cost.bits(gk, gw, qx as usize, qy as usize);
                }
            }
            bits
        };
        let mut changed = 0;
        let mut dx: Vec<[f32; 4]> = Vec::new();
        let mut a1c = [0f32; 32];
        let mut xv = [0f32; 4];
        for gy in rows {
            let ry = &gc.rys[gy];
            for (gx, rx) in gc.rxs.iter().enumerate() {
                let r = (rx[0].0, rx[rx.len() - 1].0, ry[0].0, ry[ry.len() - 1].0);
                let rw = r.1 - r.0 + 1;
                let i = gy * gw + gx;
                let v = lat[i];
                let r0 = rate(cost, lat, gx, gy);
                let mut best: (f64, i32, Vec<[f32; 4]>) = (0.0, v, Vec::new());
                for cand in [v - 1, v + 1] {
                    if cand.abs() > LATENT_MAX {
                        continue;
                    }
                    lat[i] = cand;
                    let rb = rate(cost, lat, gx, gy);
                    let delta = (cand - v) as f32;
                    dx.clear();
                    dx.resize(rw * (r.3 - r.2 + 1), [0.0; 4]);
                    for &(py, wy) in ry {
                        for &(px, wx) in rx {
                            let p = py * w + px;
                            let du = delta * wx * wy;
                            let pa = &s.a1[p * hid..][..hid];
                            for ((a, &b), &wj) in a1c.iter_mut().zip(pa).zip(&gc.wk) {
                                *a = b + wj * du;
                            }
                            s.mlp(&a1c[..hid], &mut xv);
                            let d = &mut dx[(py - r.2) * rw + px - r.0];
                            for o in 0..c {
                                d[o] = xv[o] - s.x[o * n + p];
                            }
                        }
                    }
                    let (e0, e1) = s.errors(r, &dx);
                    let dl = (e1 - e0) * gc.dscale + (rb - r0) * gc.rscale;
                    if dl < best.0 {
                        best = (dl, cand, dx.clone());
                    }
                }
                lat[i] = best.1;
                if best.1 == v {
                    continue;
                }
                changed += 1;
                // Commit: the pre-activations, the MLP outputs, then the outputs.
                let delta = (best.1 - v) as f32;
                let gr = s.grown(r);
                let mut dout = Vec::with_capacity((gr.1 - gr.0 + 1) * (gr.3 - gr.2 + 1) * c);
                for qy in gr.2..=gr.3 {
                    for qx in gr.0..=gr.1 {
                        for o in 0..c {
                            dout.push(s.dout(r, &best.2, qx, qy, o));
                        }
                    }
                }
                let mut it = dout.into_iter();
                for qy in gr.2..=gr.3 {
                    for qx in gr.0..=gr.1 {
                        for o in 0..c {
                            s.out[o * n + qy * w + qx] += it.next().unwrap_or(0.0);
                        }
                    }
                }
                for &(py, wy) in ry {
                    for &(px, wx) in rx {
                        let p = py * w + px;
                        let du = delta * wx * wy;
                        for (a, &wj) in s.a1[p * hid..][..hid].iter_mut().zip(&gc.wk) {
                            *a += wj * du;
                        }
                        for o in 0..c {
                            s.x[o * n + p] += best.2[(py - r.2) * rw + px - r.0][o];
                        }
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coded::quantize;
    use crate::fused::SynW;
    use yoz::neural::arch::SYN_HIDDEN;
    use yoz::neural::arm::latent_bits_per_grid;
    use yoz::neural::kernels::forward;

    /// `MSE + λ·bpp` with the float synthesis output and the latents' ideal code lengths: the
    /// loss `refine` minimises.
    fn proxy_loss(g: &Geometry, m: &Coded, pixels: &[u8], lambda: f64) -> f64 {
        let syn = SynW::<SYN_HIDDEN>::from_packed(&m.syn_params_f32(), g.c);
        let out = forward(&syn, g, &m.latents_f32(), 1);
        let n = g.w * g.h;
        let se: f64 = (0..g.c * n)
            .map(|i| {
                let t = f32::from(pixels[(i % n) * g.c + i / n]) / 255.0;
                f64::from((out[i].clamp(0.0, 1.0) - t).powi(2))
            })
            .sum();
        let bits: f64 = latent_bits_per_grid(&m.arm, &m.latents, g.w, g.h, m.tables)
            .unwrap()
            .iter()
            .sum();
        se / (g.c * n) as f64 + lambda * bits / n as f64
    }

    /// A model with random synthesis weights, random latents and a learned upsampling filter,
    /// on an image whose sides are not multiples of anything: the output `refine` tracks
    /// through its incremental updates is the decoder kernels' output of the latents it
    /// returns, and the loss it minimises falls.
    #[test]
    fn tracks_the_decoder_output_and_lowers_its_loss() {
        // Tall enough for every refined grid to have two bands.
        let (w, h, c) = (21, 101, 3);
        let g = Geometry::new(w, h, c);
        let (mut syn, _) = crate::train::init_params(SYN_HIDDEN, c, 5);
        let mut rng = crate::train::Rng::new(11);
        // The initialisation's convolution is zero; this one must reach the neighbours.
        let conv = &syn_layout(SYN_HIDDEN, c)[6];
        for v in &mut syn[conv.offset..conv.offset + conv.len()] {
            *v = rng.uniform(0.2);
        }
        let lat: Vec<f32> = (0..g.latents()).map(|_| rng.uniform(3.0)).collect();
        let ups: Vec<f32> = (0..yoz::neural::upsample::FILTER_PARAMS)
            .map(|i| if i % 2 == 0 { -0.2 } else { 0.05 })
            .collect();
        let coded = quantize(&g, &lat, &syn, &crate::prior::ARM, Some(&ups));
        let pixels: Vec<u8> = (0..w * h * c).map(|i| (i * 37 % 251) as u8).collect();
        let lambda = 1e-3;
        for k in 0..MAX_REFINED {
            let gc = GridCtx::new(&g, &coded, k, Vec::new(), 0.0, 0.0);
            assert!(
                gc.bands().is_some(),
                "grid {k} ({} rows) has no two bands",
                gc.gh
            );
        }
        for grids in [2, MAX_REFINED] {
            let job = |threads| Refine {
                g: &g,
                coded: &coded,
                pixels: &pixels,
                lambda,
                grids,
                threads,
            };
            let (refined, tracked) = job(2).tracked();
            let one = job(1).tracked();
            assert!(
                one.0.latents == refined.latents && one.1 == tracked,
                "threads changed it"
            );
            let fresh = forward(
                &SynW::<SYN_HIDDEN>::from_packed(&refined.syn_params_f32(), c),
                &g,
                &refined.latents_f32(),
                1,
            );
            let worst = tracked
                .iter()
                .zip(&fresh)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "{grids} grids: tracked output off by {worst}");
            for k in 0..grids {
                let moved = (refined.latents[k].iter().zip(&coded.latents[k]))
                    .filter(|(a, b)| a != b)
                    .count();
                assert!(moved > 0, "{grids} grids: no latent of grid {k} moved");
            }
            assert!(
                refined.latents[grids..] == coded.latents[grids..],
                "only the {grids} finest grids are refined"
            );
            let (before, after) = (
                proxy_loss(&g, &coded, &pixels, lambda),
                proxy_loss(&g, &refined, &pixels, lambda),
            );
            assert!(after < before, "{grids} grids: loss {before} -> {after}");
        }
    }
}

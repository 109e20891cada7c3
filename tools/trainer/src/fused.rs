//! Fused forward + backward of the synthesis (`yoz::neural::synth`), generic over the hidden
//! width `H` of the architecture being trained.
//!
//! A band of rows is processed as a wavefront so nothing is recomputed and nothing per pixel
//! goes to memory beyond a few rows: at virtual row `r` the MLP runs on row `r` (its
//! activations cached in a 3-row ring), the 3x3 conv, the loss and its gradient on row `r - 1`,
//! and the conv's transpose plus the MLP backward on row `r - 2`. Bands overlap by two halo rows
//! whose forward is computed twice; only owned rows add to the loss and the gradients.
//!
//! Upsampling is vertical then horizontal per output row (`v = lerp of two grid rows`, then
//! `u[x] = lerp(v[x0], v[x1])`); its backward is the transpose (scatter) of the same taps. The
//! full-resolution grid 0 is the identity, and its gradient rows are owned by the band, so only
//! the coarser grids' gradients go to a per-thread buffer that the caller sums.

use crate::simd::{axpy, dot, matvec, outer_acc, relu_back, sum_acc, Lanes, Portable, Simd, T};
use yoz::neural::arch::{syn_layout, GRIDS};
pub use yoz::neural::kernels::{force_portable, has_avx2, taps, Geometry, SynW, Tap, CP, FP, HID};
use yoz::neural::kernels::{hrows_fill, mlp_row, upsample_row};

/// Gradients of the synthesis parameters, padded layout.
#[derive(Debug, Clone)]
pub struct SynG<const H: usize = HID> {
    pub w1: [[f32; FP]; H],
    pub b1: [f32; H],
    pub w2: [[f32; H]; H],
    pub b2: [f32; H],
    pub w3: [[f32; H]; CP],
    pub b3: [f32; CP],
    pub cw: [[[f32; 9]; CP]; CP],
    pub cb: [f32; CP],
}

impl<const H: usize> SynG<H> {
    /// All zeros.
    pub fn zero() -> SynG<H> {
        SynG {
            w1: [[0.0; FP]; H],
            b1: [0.0; H],
            w2: [[0.0; H]; H],
            b2: [0.0; H],
            w3: [[0.0; H]; CP],
            b3: [0.0; CP],
            cw: [[[0.0; 9]; CP]; CP],
            cb: [0.0; CP],
        }
    }

    /// Adds these gradients into a packed gradient vector.
    pub fn add_to_packed(&self, g: &mut [f32], c: usize) {
        let l = syn_layout(H, c);
        let o = |i: usize| l[i].offset;
        for j in 0..H {
            for k in 0..GRIDS {
                g[o(0) + j * GRIDS + k] += self.w1[j][k];
            }
            g[o(1) + j] += self.b1[j];
            for k in 0..H {
                g[o(2) + j * H + k] += self.w2[j][k];
            }
            g[o(3) + j] += self.b2[j];
        }
        for oc in 0..c {
            for j in 0..H {
                g[o(4) + oc * H + j] += self.w3[oc][j];
            }
            g[o(5) + oc] += self.b3[oc];
            for i in 0..c {
                for k in 0..9 {
                    g[o(6) + (oc * c + i) * 9 + k] += self.cw[oc][i][k];
                }
            }
            g[o(7) + oc] += self.cb[oc];
        }
    }
}

/// Per-thread working memory, allocated once per image.
pub struct Workspace<const H: usize = HID> {
    up: [Vec<[Lanes; FP]>; 3],
    h1: [Vec<[Lanes; H]>; 3],
    h2: [Vec<[Lanes; H]>; 3],
    /// x rows (ring of 4), per channel, with one zero column each side.
    xr: [Vec<f32>; 4],
    /// dLoss/dout rows (ring of 4), same layout.
    dr: [Vec<f32>; 4],
    zero_row: Vec<f32>,
    dx: Vec<[Lanes; CP]>,
    dh2: Vec<[Lanes; H]>,
    dh1: Vec<[Lanes; H]>,
    du: Vec<[Lanes; FP]>,
    v: Vec<f32>,
    /// Coarse grid rows upsampled horizontally to the image width, and their gradients.
    hrows: Vec<f32>,
    dhrows: Vec<f32>,
    /// Gradients of the coarse grids (1..GRIDS), flat from `offsets[1]`.
    pub gcoarse: Vec<f32>,
    pub grad: SynG<H>,
    /// Sum of squared errors of the owned rows.
    pub sse: f64,
}

impl<const H: usize> Workspace<H> {
    pub fn new(g: &Geometry) -> Workspace<H> {
        let nt = g.tiles;
        let wp = nt * T + 2;
        let gmax = g.dims[1].0.max(1);
        Workspace {
            up: std::array::from_fn(|_| vec![[[0.0; T]; FP]; nt]),
            h1: std::array::from_fn(|_| vec![[[0.0; T]; H]; nt]),
            h2: std::array::from_fn(|_| vec![[[0.0; T]; H]; nt]),
            xr: std::array::from_fn(|_| vec![0.0; CP * wp]),
            dr: std::array::from_fn(|_| vec![0.0; CP * wp]),
            zero_row: vec![0.0; CP * wp],
            dx: vec![[[0.0; T]; CP]; nt],
            dh2: vec![[[0.0; T]; H]; nt],
            dh1: vec![[[0.0; T]; H]; nt],
            du: vec![[[0.0; T]; FP]; nt],
            v: vec![0.0; gmax.max(g.w)],
            hrows: vec![0.0; g.hoff[GRIDS]],
            dhrows: vec![0.0; g.hoff[GRIDS]],
            gcoarse: vec![0.0; g.coarse()],
            grad: SynG::zero(),
            sse: 0.0,
        }
    }

    fn row_stride(&self) -> usize {
        self.xr[0].len() / CP
    }
}

/// What one band computes: rows `lo..hi` of the image.
pub struct Band<'a> {
    pub lo: usize,
    pub hi: usize,
    /// Synthesis inputs (noisy or rounded latents), flat.
    pub lat: &'a [f32],
    /// Target planes `[c][h][w]` in [0, 1].
    pub target: &'a [f32],
    /// Gradient of grid 0's rows `lo..hi` (written, not added), `(hi - lo) * w`.
    pub g0: &'a mut [f32],
    /// Scale of dLoss/dout: `2 / (N * C)` for the MSE.
    pub dscale: f32,
}

/// Transpose of [`hrows_fill`]: adds the row gradients into the coarse grid's gradient.
fn hrows_scatter(g: &Geometry, k: usize, gy0: usize, gy1: usize, dh: &[f32], gcoarse: &mut [f32]) {
    let (gw, _) = g.dims[k];
    let w = g.w;
    let base = g.offsets[1];
    let gk = &mut gcoarse[g.offsets[k] - base..g.offsets[k + 1] - base];
    for gy in gy0..=gy1 {
        let src = &dh[g.hoff[k] + gy * w..][..w];
        let dst = &mut gk[gy * gw..][..gw];
        for (&d, tap) in src.iter().zip(&g.tx[k]) {
            dst[tap.i0 as usize] += d * (1.0 - tap.t);
            dst[tap.i1 as usize] += d * tap.t;
        }
    }
}

/// Output of row `y` (x + conv + bias) minus the target; writes dLoss/dout into `drow`, and when
/// `own` adds the squared error and the conv's gradients.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn loss_row<S: Simd, const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    xm: &[f32],
    x0: &[f32],
    xp: &[f32],
    target: &[f32],
    drow: &mut [f32],
    dscale: f32,
    own: bool,
    grad: &mut SynG<H>,
    sse: &mut f64,
) {
    let (c, w) = (g.c, g.w);
    let stride = x0.len() / CP;
    let rows = [xm, x0, xp];
    let mut err_acc = 0f64;
    for o in 0..c {
        let tr = &target[o * g.w * g.h..][..w];
        let d = &mut drow[o * stride + 1..][..w];
        let xo = &x0[o * stride + 1..][..w];
        for (x, dv) in d.iter_mut().enumerate() {
            *dv = xo[x] + s.cb[o];
        }
        for (i, ci) in (0..c).enumerate() {
            for (ky, r) in rows.iter().enumerate() {
                let src = &r[ci * stride..][..w + 2];
                for kx in 0..3 {
                    let wv = s.cw[o][i][ky * 3 + kx];
                    let sx = &src[kx..kx + w];
                    axpy::<S>(d, wv, sx);
                }
            }
        }
        for (dv, &t) in d.iter_mut().zip(tr) {
            *dv -= t;
        }
        let e2 = dot::<S>(d, d);
        for dv in d.iter_mut() {
            *dv *= dscale;
        }
        if own {
            err_acc += e2 as f64;
            let mut sb = 0f32;
            for &dv in d.iter() {
                sb += dv;
            }
            grad.cb[o] += sb;
            for i in 0..c {
                for (ky, r) in rows.iter().enumerate() {
                    let src = &r[i * stride..][..w + 2];
                    for kx in 0..3 {
                        let sx = &src[kx..kx + w];
                        let a = dot::<S>(d, sx);
                        grad.cw[o][i][ky * 3 + kx] += a;
                    }
                }
            }
        }
    }
    *sse += err_acc;
}

/// dLoss/dx of row `y` from dLoss/dout of rows `y-1..=y+1`, into tiles (pad lanes 0).
#[inline(always)]
unsafe fn dx_row<S: Simd, const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    dm: &[f32],
    d0: &[f32],
    dp: &[f32],
    dx: &mut [[Lanes; CP]],
    tmp: &mut [f32],
) {
    let (c, w) = (g.c, g.w);
    let stride = d0.len() / CP;
    // dx[i][y][x] = dout[i][y][x] + sum_o,ky,kx cw[o][i][ky][kx] * dout[o][y-ky+1][x-kx+1]
    let rows = [dp, d0, dm]; // indexed by ky: source row y - ky + 1
    for i in 0..c {
        let acc = &mut tmp[..w];
        acc.copy_from_slice(&d0[i * stride + 1..][..w]);
        for o in 0..c {
            for (ky, r) in rows.iter().enumerate() {
                let src = &r[o * stride..][..w + 2];
                for kx in 0..3 {
                    let wv = s.cw[o][i][ky * 3 + kx];
                    // source column x - kx + 1 -> padded index x - kx + 2
                    let sx = &src[2 - kx..2 - kx + w];
                    axpy::<S>(acc, wv, sx);
                }
            }
        }
        for (x, &a) in acc.iter().enumerate() {
            dx[x / T][i][x % T] = a;
        }
    }
    for x in w..g.tiles * T {
        for ch in dx[x / T].iter_mut() {
            ch[x % T] = 0.0;
        }
    }
    for t in dx.iter_mut() {
        for ch in t.iter_mut().skip(c) {
            *ch = [0.0; T];
        }
    }
}

/// MLP backward of one row plus the upsampling transpose.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn back_row<S: Simd, const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    y: usize,
    up: &[[Lanes; FP]],
    h1: &[[Lanes; H]],
    h2: &[[Lanes; H]],
    ws_dx: &[[Lanes; CP]],
    dh2: &mut [[Lanes; H]],
    dh1: &mut [[Lanes; H]],
    du: &mut [[Lanes; FP]],
    grad: &mut SynG<H>,
    g0row: &mut [f32],
    dhrows: &mut [f32],
) {
    let zero_h = [0f32; H];
    let zero_f = [0f32; FP];
    for t in 0..g.tiles {
        let (a2, a1) = (&mut dh2[t], &mut dh1[t]);
        matvec::<S, H, CP>(&s.w3t, &zero_h, &ws_dx[t], a2, false);
        relu_back::<S, H>(&h2[t], a2);
        matvec::<S, H, H>(&s.w2t, &zero_h, a2, a1, false);
        relu_back::<S, H>(&h1[t], a1);
        matvec::<S, FP, H>(&s.w1t, &zero_f, a1, &mut du[t], false);
    }
    // Register blocks of 3 inputs where the width allows (24), else 4 (32); `H` is a
    // constant, so one branch remains.
    if H % 3 == 0 {
        outer_acc::<S, CP, H, 4, 3>(ws_dx, h2, &mut grad.w3);
        outer_acc::<S, H, H, 4, 3>(dh2, h1, &mut grad.w2);
    } else {
        outer_acc::<S, CP, H, 4, 4>(ws_dx, h2, &mut grad.w3);
        outer_acc::<S, H, H, 4, 4>(dh2, h1, &mut grad.w2);
    }
    sum_acc::<S, CP>(ws_dx, &mut grad.b3);
    sum_acc::<S, H>(dh2, &mut grad.b2);
    outer_acc::<S, H, FP, 4, 2>(dh1, up, &mut grad.w1);
    sum_acc::<S, H>(dh1, &mut grad.b1);
    // Upsampling transpose (vertical part; the horizontal one is done per band).
    let w = g.w;
    for (x, gv) in g0row.iter_mut().enumerate() {
        *gv = du[x / T][0][x % T];
    }
    let full = w / T;
    for k in 1..GRIDS {
        let ty = g.ty[k][y];
        let (a, b) = (1.0 - ty.t, ty.t);
        for (row, f) in [(ty.i0 as usize, a), (ty.i1 as usize, b)] {
            let dst = &mut dhrows[g.hoff[k] + row * w..][..w];
            for (t, tile) in du.iter().enumerate().take(full) {
                let d = &mut dst[t * T..][..T];
                let s = &tile[k];
                for l in 0..T {
                    d[l] += s[l] * f;
                }
            }
            for x in full * T..w {
                dst[x] += du[x / T][k][x % T] * f;
            }
        }
    }
}

/// Forward, loss and backward of one band (see the module doc). Resets the workspace's
/// gradients and error first.
#[inline(always)]
unsafe fn band_impl<S: Simd, const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    ws: &mut Workspace<H>,
    band: Band,
) {
    let Band {
        lo,
        hi,
        lat,
        target,
        g0,
        dscale,
    } = band;
    let h = g.h as isize;
    ws.grad = SynG::zero();
    ws.sse = 0.0;
    ws.gcoarse.fill(0.0);
    let stride = ws.row_stride();
    let (lo_i, hi_i) = (lo as isize, hi as isize);
    // Grid rows this band reads (forward rows lo-2..hi+2) and writes gradients to (lo..hi).
    let (fr0, fr1) = (lo.saturating_sub(2), (hi + 2).min(g.h) - 1);
    for k in 1..GRIDS {
        let (gy0, gy1) = (g.ty[k][fr0].i0 as usize, g.ty[k][fr1].i1 as usize);
        hrows_fill(g, lat, k, gy0, gy1, &mut ws.hrows);
        let (by0, by1) = (g.ty[k][lo].i0 as usize, g.ty[k][hi - 1].i1 as usize);
        ws.dhrows[g.hoff[k] + by0 * g.w..g.hoff[k] + (by1 + 1) * g.w].fill(0.0);
    }
    for r in (lo_i - 2).max(0)..(hi_i + 2).min(h + 2) {
        if r < h {
            let ru = r as usize;
            let slot = ru % 3;
            upsample_row(g, lat, &ws.hrows, ru, &mut ws.up[slot]);
            let xrow = &mut ws.xr[ru % 4];
            mlp_row::<S, H>(
                s,
                g.c,
                g.w,
                &ws.up[slot],
                &mut ws.h1[slot],
                &mut ws.h2[slot],
                xrow,
            );
        }
        let rd = r - 1;
        if rd >= 0 && rd < h && rd >= lo_i - 1 && rd < hi_i + 1 {
            let get = |yy: isize| -> &[f32] {
                if yy < 0 || yy >= h {
                    &ws.zero_row
                } else {
                    &ws.xr[yy as usize % 4]
                }
            };
            let (xm, x0, xp) = (get(rd - 1), get(rd), get(rd + 1));
            // The ring slot of rd is distinct from those of rd-1 and rd+1 (4 slots).
            let mut drow = std::mem::take(&mut ws.dr[rd as usize % 4]);
            let own = rd >= lo_i && rd < hi_i;
            loss_row::<S, H>(
                s,
                g,
                xm,
                x0,
                xp,
                &target[rd as usize * g.w..],
                &mut drow,
                dscale,
                own,
                &mut ws.grad,
                &mut ws.sse,
            );
            ws.dr[rd as usize % 4] = drow;
        }
        let rb = r - 2;
        if rb >= lo_i && rb < hi_i {
            let get = |yy: isize| -> &[f32] {
                if yy < 0 || yy >= h {
                    &ws.zero_row
                } else {
                    &ws.dr[yy as usize % 4]
                }
            };
            let (dm, d0, dp) = (get(rb - 1), get(rb), get(rb + 1));
            let mut tmp = std::mem::take(&mut ws.v);
            dx_row::<S, H>(s, g, dm, d0, dp, &mut ws.dx, &mut tmp);
            ws.v = tmp;
            let rbu = rb as usize;
            let slot = rbu % 3;
            let gr = &mut g0[(rbu - lo) * g.w..][..g.w];
            back_row::<S, H>(
                s,
                g,
                rbu,
                &ws.up[slot],
                &ws.h1[slot],
                &ws.h2[slot],
                &ws.dx,
                &mut ws.dh2,
                &mut ws.dh1,
                &mut ws.du,
                &mut ws.grad,
                gr,
                &mut ws.dhrows,
            );
        }
    }
    let _ = stride;
    for k in 1..GRIDS {
        let (by0, by1) = (g.ty[k][lo].i0 as usize, g.ty[k][hi - 1].i1 as usize);
        hrows_scatter(g, k, by0, by1, &ws.dhrows, &mut ws.gcoarse);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn band_avx2<const H: usize>(s: &SynW<H>, g: &Geometry, ws: &mut Workspace<H>, band: Band) {
    band_impl::<crate::simd::Avx2, H>(s, g, ws, band)
}

/// Runs one band (dispatching to the AVX2+FMA build when the CPU has it).
pub fn run_band<const H: usize>(s: &SynW<H>, g: &Geometry, ws: &mut Workspace<H>, band: Band) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { band_avx2(s, g, ws, band) };
    }
    // SAFETY: the portable kernels need no CPU feature.
    unsafe { band_impl::<Portable, H>(s, g, ws, band) }
}

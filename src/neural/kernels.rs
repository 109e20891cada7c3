//! The synthesis kernels (spec/codec-neural.md §4) that decoding and the trainer share:
//! lane tiles of [`T`] pixels, AVX2+FMA where the CPU has it, a portable build otherwise.
//!
//! Why our own kernels rather than ONNX Runtime on the CPU: the network is fixed and tiny
//! (about 925 multiply-adds per pixel), and a process that decodes one image pays ONNX
//! Runtime's library load and session creation (about 80 ms on the 2-core development VM, more
//! than the synthesis itself). A band of rows is computed as a wavefront — upsampling and the
//! MLP for row `r`, the 3x3 conv for row `r - 1` — so the working memory is a few rows per
//! thread whatever the image size. [`super::synth`] stays the plain-loop reference these
//! kernels are tested against; ONNX Runtime stays available (`--device ort-cpu`, `cuda`).

use super::arch::{grid_dims, hidden_for_params, syn_layout, GRIDS, SYN_HIDDEN, SYN_HIDDEN_WIDE};
use super::simd::{axpy, matvec, Lanes, Portable, Simd, T};

/// Features per pixel, padded from [`GRIDS`] to a multiple of 4.
pub const FP: usize = 8;
/// The default hidden width (architectures 1 and 2); every kernel is generic over the width
/// `H` so each architecture's loops are unrolled for its own.
pub const HID: usize = SYN_HIDDEN;
/// Output channels, padded to 4 (C is 1 or 3).
pub const CP: usize = 4;

/// One bilinear tap: the two source indices and the weight of the second.
#[derive(Debug, Clone, Copy)]
pub struct Tap {
    pub i0: u32,
    pub i1: u32,
    pub t: f32,
}

/// The bilinear taps of spec/codec-neural.md §4 step 1 (ONNX half-pixel `Resize`): the one
/// definition, used by the reference synthesis, these kernels, the ONNX check and the trainer.
/// `s = ((2x + 1)·n_in − n_out) / (2·n_out)` is taken apart in integers and only `t` is rounded
/// (once: an f64 quotient of integers below 2^53, then f32), because float32 coordinates pick
/// the wrong neighbours once `s` passes about 2^16 (§6.1). Where the ratio is a power of two —
/// every grid of an image whose sides are multiples of 64 — this equals the float32 formula.
pub fn taps(n_out: usize, n_in: usize) -> Vec<Tap> {
    let (n_out64, n_in64) = (n_out as u64, n_in as u64);
    let den = 2 * n_out64;
    (0..n_out64)
        .map(|x| {
            let num = (2 * x + 1) * n_in64;
            let (x0, t) = if num <= n_out64 {
                (0, 0.0)
            } else {
                let (q, r) = ((num - n_out64) / den, (num - n_out64) % den);
                if q >= n_in64 - 1 {
                    (n_in64 - 1, 0.0)
                } else {
                    (q, (r as f64 / den as f64) as f32)
                }
            };
            Tap {
                i0: x0 as u32,
                i1: (x0 + 1).min(n_in64 - 1) as u32,
                t,
            }
        })
        .collect()
}

/// Image geometry and the upsampling taps of every grid.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub w: usize,
    pub h: usize,
    pub c: usize,
    pub dims: [(usize, usize); GRIDS],
    /// Offset of each grid in the flat latent vector (grid 0 first).
    pub offsets: [usize; GRIDS + 1],
    pub tx: Vec<Vec<Tap>>,
    pub ty: Vec<Vec<Tap>>,
    /// Tiles per row.
    pub tiles: usize,
    /// Offsets of each coarse grid's horizontally upsampled rows (`gh x w`) in a workspace.
    pub hoff: [usize; GRIDS + 1],
}

impl Geometry {
    pub fn new(w: usize, h: usize, c: usize) -> Geometry {
        let dims = grid_dims(w, h);
        let mut offsets = [0; GRIDS + 1];
        for k in 0..GRIDS {
            offsets[k + 1] = offsets[k] + dims[k].0 * dims[k].1;
        }
        let mut hoff = [0; GRIDS + 1];
        for k in 1..GRIDS {
            hoff[k + 1] = hoff[k] + dims[k].1 * w;
        }
        Geometry {
            hoff,
            w,
            h,
            c,
            dims,
            offsets,
            tx: dims.iter().map(|&(gw, _)| taps(w, gw)).collect(),
            ty: dims.iter().map(|&(_, gh)| taps(h, gh)).collect(),
            tiles: w.div_ceil(T),
        }
    }

    /// Total latents.
    pub fn latents(&self) -> usize {
        self.offsets[GRIDS]
    }

    /// Latents of the coarse grids (1..GRIDS), whose gradients go through per-thread buffers.
    pub fn coarse(&self) -> usize {
        self.offsets[GRIDS] - self.offsets[1]
    }
}

/// Synthesis weights in the kernels' padded layout, hidden width `H`.
#[derive(Debug, Clone)]
pub struct SynW<const H: usize = HID> {
    pub w1: [[f32; FP]; H],
    pub b1: [f32; H],
    pub w2: [[f32; H]; H],
    pub b2: [f32; H],
    pub w3: [[f32; H]; CP],
    pub b3: [f32; CP],
    /// Transposes for the backward pass.
    pub w1t: [[f32; H]; FP],
    pub w2t: [[f32; H]; H],
    pub w3t: [[f32; CP]; H],
    /// `[out][in][ky * 3 + kx]`.
    pub cw: [[[f32; 9]; CP]; CP],
    pub cb: [f32; CP],
}

impl<const H: usize> SynW<H> {
    /// All zeros.
    pub fn zero() -> SynW<H> {
        SynW {
            w1: [[0.0; FP]; H],
            b1: [0.0; H],
            w2: [[0.0; H]; H],
            b2: [0.0; H],
            w3: [[0.0; H]; CP],
            b3: [0.0; CP],
            w1t: [[0.0; H]; FP],
            w2t: [[0.0; H]; H],
            w3t: [[0.0; CP]; H],
            cw: [[[0.0; 9]; CP]; CP],
            cb: [0.0; CP],
        }
    }

    /// From packed parameters (`syn_layout(H, c)` order).
    pub fn from_packed(p: &[f32], c: usize) -> SynW<H> {
        let l = syn_layout(H, c);
        let t = |i: usize| &p[l[i].offset..l[i].offset + l[i].len()];
        let mut s = SynW::zero();
        for j in 0..H {
            for k in 0..GRIDS {
                s.w1[j][k] = t(0)[j * GRIDS + k];
                s.w1t[k][j] = s.w1[j][k];
            }
            s.b1[j] = t(1)[j];
            for k in 0..H {
                s.w2[j][k] = t(2)[j * H + k];
                s.w2t[k][j] = s.w2[j][k];
            }
            s.b2[j] = t(3)[j];
        }
        for o in 0..c {
            for j in 0..H {
                s.w3[o][j] = t(4)[o * H + j];
                s.w3t[j][o] = s.w3[o][j];
            }
            s.b3[o] = t(5)[o];
            for i in 0..c {
                for k in 0..9 {
                    s.cw[o][i][k] = t(6)[(o * c + i) * 9 + k];
                }
            }
            s.cb[o] = t(7)[o];
        }
        s
    }
}

/// Horizontal pass of the upsampling for grid `k`'s rows `gy0..=gy1`: `hrows[gy][x]`.
pub fn hrows_fill(g: &Geometry, lat: &[f32], k: usize, gy0: usize, gy1: usize, hrows: &mut [f32]) {
    let (gw, _) = g.dims[k];
    let w = g.w;
    let grid = &lat[g.offsets[k]..g.offsets[k + 1]];
    for gy in gy0..=gy1 {
        let src = &grid[gy * gw..][..gw];
        let dst = &mut hrows[g.hoff[k] + gy * w..][..w];
        for (d, tap) in dst.iter_mut().zip(&g.tx[k]) {
            *d = src[tap.i0 as usize] * (1.0 - tap.t) + src[tap.i1 as usize] * tap.t;
        }
    }
}

/// Upsamples the latents for image row `y` into tiles of features (the coarse grids from their
/// horizontally upsampled rows, so this is a vertical blend of two contiguous rows).
pub fn upsample_row(g: &Geometry, lat: &[f32], hrows: &[f32], y: usize, up: &mut [[Lanes; FP]]) {
    let w = g.w;
    let full = w / T;
    for k in 0..GRIDS {
        let (r0, r1, a, b) = if k == 0 {
            // Grid 0 is the identity.
            let r = &lat[y * w..(y + 1) * w];
            (r, r, 1.0, 0.0)
        } else {
            let ty = g.ty[k][y];
            (
                &hrows[g.hoff[k] + ty.i0 as usize * w..][..w],
                &hrows[g.hoff[k] + ty.i1 as usize * w..][..w],
                1.0 - ty.t,
                ty.t,
            )
        };
        for (t, tile) in up.iter_mut().enumerate().take(full) {
            let (p, q) = (&r0[t * T..][..T], &r1[t * T..][..T]);
            let d = &mut tile[k];
            for l in 0..T {
                d[l] = p[l] * a + q[l] * b;
            }
        }
        for x in full * T..w {
            up[x / T][k][x % T] = r0[x] * a + r1[x] * b;
        }
    }
    // Pad lanes past the row end read zero features.
    let nt = g.tiles;
    for x in w..nt * T {
        for f in up[x / T].iter_mut() {
            f[x % T] = 0.0;
        }
    }
    for t in up.iter_mut() {
        t[FP - 1] = [0.0; T];
    }
}

/// MLP forward of one row: features -> h1, h2 -> x (written into the padded x row).
///
/// # Safety
/// `S`'s CPU features are available.
#[inline(always)]
pub unsafe fn mlp_row<S: Simd, const H: usize>(
    s: &SynW<H>,
    c: usize,
    w: usize,
    up: &[[Lanes; FP]],
    h1: &mut [[Lanes; H]],
    h2: &mut [[Lanes; H]],
    xrow: &mut [f32],
) {
    let stride = xrow.len() / CP;
    for (t, ((u, a), b)) in up.iter().zip(h1.iter_mut()).zip(h2.iter_mut()).enumerate() {
        matvec::<S, H, FP>(&s.w1, &s.b1, u, a, true);
        matvec::<S, H, H>(&s.w2, &s.b2, a, b, true);
        let mut xo = [[0f32; T]; CP];
        matvec::<S, CP, H>(&s.w3, &s.b3, b, &mut xo, false);
        let x0 = t * T;
        for (o, xv) in xo.iter().enumerate().take(c) {
            let n = (w - x0).min(T);
            xrow[o * stride + 1 + x0..][..n].copy_from_slice(&xv[..n]);
        }
    }
}

static FORCE_PORTABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Forces the portable kernels even where AVX2 is available (tests compare the two paths).
pub fn force_portable(on: bool) {
    FORCE_PORTABLE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the AVX2+FMA kernels run here (detected once; see [`force_portable`]).
pub fn has_avx2() -> bool {
    if FORCE_PORTABLE.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        static D: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *D.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Per-thread working memory of the forward pass: one row of tiles and a ring of three
/// MLP-output rows (per channel, one zero column each side).
struct Forward<const H: usize> {
    up: Vec<[Lanes; FP]>,
    h1: Vec<[Lanes; H]>,
    h2: Vec<[Lanes; H]>,
    xr: [Vec<f32>; 3],
    zero: Vec<f32>,
}

impl<const H: usize> Forward<H> {
    fn new(g: &Geometry) -> Forward<H> {
        let nt = g.tiles;
        let wp = nt * T + 2;
        Forward {
            up: vec![[[0.0; T]; FP]; nt],
            h1: vec![[[0.0; T]; H]; nt],
            h2: vec![[[0.0; T]; H]; nt],
            xr: std::array::from_fn(|_| vec![0.0; CP * wp]),
            zero: vec![0.0; CP * wp],
        }
    }

    /// The MLP row `y` from the ring, or zeros outside the image (the conv's padding).
    fn x(&self, y: Option<usize>, h: usize) -> &[f32] {
        match y {
            Some(y) if y < h => &self.xr[y % 3],
            _ => &self.zero,
        }
    }
}

/// The output row `y` (`x + conv3x3(x) + bias`, `c` planes of `w`) from the MLP rows
/// `y - 1 ..= y + 1`, which the ring holds.
#[inline(always)]
unsafe fn conv_row<S: Simd, const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    f: &Forward<H>,
    y: usize,
    out: &mut [f32],
) {
    let (c, w) = (g.c, g.w);
    let rows = [
        f.x(y.checked_sub(1), g.h),
        f.x(Some(y), g.h),
        f.x(Some(y + 1), g.h),
    ];
    let stride = rows[1].len() / CP;
    for o in 0..c {
        let d = &mut out[o * w..][..w];
        let xo = &rows[1][o * stride + 1..][..w];
        for (dv, &xv) in d.iter_mut().zip(xo) {
            *dv = xv + s.cb[o];
        }
        for i in 0..c {
            for (ky, r) in rows.iter().enumerate() {
                let src = &r[i * stride..][..w + 2];
                for kx in 0..3 {
                    axpy::<S>(d, s.cw[o][i][ky * 3 + kx], &src[kx..kx + w]);
                }
            }
        }
    }
}

/// Output rows `lo..hi`, each handed to `emit(y, planes)` in order. The MLP runs on rows
/// `lo - 1 ..= hi` (a halo row each side, computed by both neighbouring bands).
#[inline(always)]
unsafe fn band_impl<S: Simd, const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    lat: &[f32],
    hrows: &[f32],
    (lo, hi): (usize, usize),
    emit: &mut dyn FnMut(usize, &[f32]),
) {
    let mut f = Forward::new(g);
    let mut out = vec![0f32; g.c * g.w];
    for r in lo.saturating_sub(1)..(hi + 1).min(g.h) {
        upsample_row(g, lat, hrows, r, &mut f.up);
        let xrow = &mut f.xr[r % 3];
        mlp_row::<S, H>(s, g.c, g.w, &f.up, &mut f.h1, &mut f.h2, xrow);
        if r > lo && r <= hi {
            conv_row::<S, H>(s, g, &f, r - 1, &mut out);
            emit(r - 1, &out);
        }
    }
    if hi == g.h && hi > lo {
        conv_row::<S, H>(s, g, &f, hi - 1, &mut out);
        emit(hi - 1, &out);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn band_avx2<const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    lat: &[f32],
    hrows: &[f32],
    rows: (usize, usize),
    emit: &mut dyn FnMut(usize, &[f32]),
) {
    band_impl::<super::simd::Avx2, H>(s, g, lat, hrows, rows, emit)
}

/// Computes output rows `lo..hi` (dispatching to the AVX2+FMA build when the CPU has it).
fn band<const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    lat: &[f32],
    hrows: &[f32],
    rows: (usize, usize),
    emit: &mut dyn FnMut(usize, &[f32]),
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { band_avx2(s, g, lat, hrows, rows, emit) };
    }
    // SAFETY: the portable kernels need no CPU feature.
    unsafe { band_impl::<Portable, H>(s, g, lat, hrows, rows, emit) }
}

/// Rows per band for `threads` threads (bands under 16 rows are not worth a thread).
fn band_rows(h: usize, threads: usize) -> usize {
    h.div_ceil(threads.max(1)).max(16)
}

/// Runs the synthesis in bands of `rows` rows, one thread per band, band `b` feeding
/// `sinks[b]` its output rows in order.
fn run_bands<E, const H: usize>(s: &SynW<H>, g: &Geometry, lat: &[f32], rows: usize, sinks: Vec<E>)
where
    E: FnMut(usize, &[f32]) + Send,
{
    assert_eq!(lat.len(), g.latents(), "latent count");
    // Every coarse grid's rows upsampled horizontally to the image width, read by all bands.
    let mut hrows = vec![0f32; g.hoff[GRIDS]];
    for k in 1..GRIDS {
        hrows_fill(g, lat, k, 0, g.dims[k].1 - 1, &mut hrows);
    }
    let hrows = &hrows;
    let mut sinks = sinks.into_iter().enumerate();
    let Some((_, mut first)) = sinks.next() else {
        return;
    };
    std::thread::scope(|scope| {
        for (b, mut sink) in sinks {
            let lo = b * rows;
            scope.spawn(move || band(s, g, lat, hrows, (lo, (lo + rows).min(g.h)), &mut sink));
        }
        band(s, g, lat, hrows, (0, rows.min(g.h)), &mut first);
    });
}

/// The synthesis output planes `[c][h][w]` (not clamped) of flat latents `lat` (grid 0 first),
/// on up to `threads` threads.
pub fn forward<const H: usize>(s: &SynW<H>, g: &Geometry, lat: &[f32], threads: usize) -> Vec<f32> {
    let (w, h, c) = (g.w, g.h, g.c);
    let rows = band_rows(h, threads);
    let mut bands: Vec<Vec<f32>> = vec![Vec::new(); h.div_ceil(rows)];
    let sinks = bands
        .iter_mut()
        .map(|v| move |_: usize, p: &[f32]| v.extend_from_slice(p))
        .collect();
    run_bands(s, g, lat, rows, sinks);
    let mut out = vec![0f32; c * w * h];
    for (y, row) in bands.iter().flat_map(|b| b.chunks(c * w)).enumerate() {
        for o in 0..c {
            out[o * w * h + y * w..][..w].copy_from_slice(&row[o * w..][..w]);
        }
    }
    out
}

/// The decoded pixels, interleaved `c` channels (spec §4 step 4: `round(clamp(v, 0, 1) * 255)`),
/// on up to `threads` threads; memory beyond the output is a few rows per thread.
pub fn pixels<const H: usize>(s: &SynW<H>, g: &Geometry, lat: &[f32], threads: usize) -> Vec<u8> {
    pixels_plus(s, g, lat, threads, None)
}

/// [`pixels`] with the low-frequency residual of §4 step 3b added to the output, row by row,
/// before it is rounded.
pub fn pixels_plus<const H: usize>(
    s: &SynW<H>,
    g: &Geometry,
    lat: &[f32],
    threads: usize,
    add: Option<&crate::neural::residual::Upsampler>,
) -> Vec<u8> {
    let (w, h, c) = (g.w, g.h, g.c);
    let rows = band_rows(h, threads);
    let mut px = vec![0u8; c * w * h];
    let sinks = px
        .chunks_mut(rows * w * c)
        .enumerate()
        .map(|(b, chunk)| {
            move |y: usize, p: &[f32]| {
                let row = &mut chunk[(y - b * rows) * w * c..][..w * c];
                for o in 0..c {
                    let p = &p[o * w..][..w];
                    match add {
                        None => {
                            for (x, &v) in p.iter().enumerate() {
                                row[x * c + o] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                            }
                        }
                        Some(up) => {
                            let mut v = p.to_vec();
                            up.add_row(o, y, &mut v);
                            for (x, &v) in v.iter().enumerate() {
                                row[x * c + o] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                            }
                        }
                    }
                }
            }
        })
        .collect();
    run_bands(s, g, lat, rows, sinks);
    px
}

/// [`pixels`] from the decoder's forms: per-grid latents and packed parameters, whose count
/// names the hidden width ([`hidden_for_params`]).
///
/// # Panics
/// When `params` fits no architecture's synthesis for `c` channels (the payload parser has
/// checked it).
pub fn synthesize_pixels(
    grids: &[Vec<f32>],
    params: &[f32],
    c: usize,
    w: usize,
    h: usize,
    threads: usize,
) -> Vec<u8> {
    let g = Geometry::new(w, h, c);
    let lat: Vec<f32> = grids.iter().flatten().copied().collect();
    pixels_packed_plus(&g, params, &lat, threads, None)
}

/// [`pixels`] from packed parameters of any architecture's width (told by their count).
///
/// # Panics
/// When `params` fits no architecture's synthesis for `g.c` channels.
pub fn pixels_packed(g: &Geometry, params: &[f32], lat: &[f32], threads: usize) -> Vec<u8> {
    pixels_packed_plus(g, params, lat, threads, None)
}

/// [`pixels_packed`] with the residual planes `add` ([`pixels_plus`]).
///
/// # Panics
/// As [`pixels_packed`].
pub fn pixels_packed_plus(
    g: &Geometry,
    params: &[f32],
    lat: &[f32],
    threads: usize,
    add: Option<&crate::neural::residual::Upsampler>,
) -> Vec<u8> {
    let c = g.c;
    match hidden_for_params(params.len(), c) {
        Some(SYN_HIDDEN_WIDE) => pixels_plus(
            &SynW::<SYN_HIDDEN_WIDE>::from_packed(params, c),
            g,
            lat,
            threads,
            add,
        ),
        Some(SYN_HIDDEN) => pixels_plus(
            &SynW::<SYN_HIDDEN>::from_packed(params, c),
            g,
            lat,
            threads,
            add,
        ),
        _ => panic!("{} synthesis parameters fit no architecture", params.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neural::arch::syn_param_count;
    use crate::neural::synth;

    /// The taps against §4 step 1 in f64 (exact for these sizes): the float32 formula they
    /// replaced where the ratio is a power of two, and the right neighbours at 2^24 pixels wide,
    /// where float32 coordinates are off by whole pixels.
    #[test]
    fn taps_follow_the_half_pixel_rule_at_every_size() {
        let f32_formula = |x: usize, n_out: usize, n_in: usize| {
            let s =
                ((x as f32 + 0.5) * n_in as f32 / n_out as f32 - 0.5).clamp(0.0, (n_in - 1) as f32);
            (s.floor() as u32, s - s.floor())
        };
        for (n_out, n_in) in [(768, 384), (768, 12), (512, 8), (64, 1)] {
            for (x, t) in taps(n_out, n_in).iter().enumerate() {
                assert_eq!(
                    (t.i0, t.t),
                    f32_formula(x, n_out, n_in),
                    "{n_out}/{n_in} x {x}"
                );
            }
        }
        for (n_out, n_in) in [
            (37, 19),
            (23, 3),
            (1 << 24, 1 << 23),
            ((1 << 24) - 1, 1 << 23),
        ] {
            let tap = taps(n_out, n_in);
            for x in (0..n_out)
                .step_by(n_out / 97 + 1)
                .chain([n_out - 2, n_out - 1])
            {
                let s = ((x as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5)
                    .clamp(0.0, (n_in - 1) as f64);
                let x0 = s.floor();
                assert_eq!(tap[x].i0, x0 as u32, "{n_out}/{n_in} x {x}");
                assert_eq!(tap[x].i1, (x0 as u32 + 1).min(n_in as u32 - 1));
                assert!(
                    (f64::from(tap[x].t) - (s - x0)).abs() < 1e-7,
                    "{n_out}/{n_in} x {x}"
                );
            }
        }
    }

    /// A small deterministic generator (xorshift), uniform in `[-a, a]`.
    fn uniform(state: &mut u64, a: f32) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        ((*state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }

    fn case(w: usize, h: usize, c: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<f32>) {
        case_h(HID, w, h, c, seed)
    }

    fn case_h(hid: usize, w: usize, h: usize, c: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<f32>) {
        let mut st = seed | 1;
        let params = (0..syn_param_count(hid, c))
            .map(|_| uniform(&mut st, 0.4))
            .collect();
        let grids = grid_dims(w, h)
            .iter()
            .map(|&(gw, gh)| {
                (0..gw * gh)
                    .map(|_| uniform(&mut st, 6.0).round())
                    .collect()
            })
            .collect();
        (grids, params)
    }

    fn max_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn bands_match_the_reference_for_every_split() {
        bands_match::<SYN_HIDDEN>();
        bands_match::<SYN_HIDDEN_WIDE>();
    }

    fn bands_match<const H: usize>() {
        // Heights that split into uneven bands, widths off the 16-lane tile, gray and RGB.
        for &(w, h, c) in &[(37, 23, 3), (20, 17, 1), (5, 3, 3), (1, 1, 1), (70, 100, 3)] {
            let (grids, params) = case_h(H, w, h, c, (w * 131 + h) as u64);
            let want = synth::synthesize(&grids, &params, c, w, h);
            let g = Geometry::new(w, h, c);
            let lat: Vec<f32> = grids.iter().flatten().copied().collect();
            let s = SynW::<H>::from_packed(&params, c);
            for threads in [1, 2, 3, 7] {
                let got = forward(&s, &g, &lat, threads);
                let e = max_err(&want, &got);
                assert!(e < 1e-4, "{w}x{h}x{c}, {threads} threads: max error {e}");
                let px = pixels(&s, &g, &lat, threads);
                let want_px = synth::to_pixels(&want, c, w * h);
                let off = px.iter().zip(&want_px).filter(|(a, b)| a != b).count();
                // Only values within rounding noise of a half-integer may differ, by one.
                assert!(
                    px.iter().zip(&want_px).all(|(a, b)| a.abs_diff(*b) <= 1)
                        && off * 100 <= px.len(),
                    "{w}x{h}x{c}: {off} pixels differ"
                );
            }
        }
    }

    #[test]
    fn portable_and_simd_builds_agree() {
        let (w, h, c) = (45, 33, 3);
        let (grids, params) = case(w, h, c, 9);
        let g = Geometry::new(w, h, c);
        let lat: Vec<f32> = grids.iter().flatten().copied().collect();
        let s = SynW::<HID>::from_packed(&params, c);
        let fast = forward(&s, &g, &lat, 2);
        force_portable(true);
        let portable = forward(&s, &g, &lat, 2);
        force_portable(false);
        assert!(max_err(&fast, &portable) < 1e-4);
    }

    #[test]
    fn decoder_form_is_the_same_function() {
        let (w, h, c) = (29, 18, 1);
        for hid in [SYN_HIDDEN, SYN_HIDDEN_WIDE] {
            let (grids, params) = case_h(hid, w, h, c, 4);
            let want = synth::to_pixels(&synth::synthesize(&grids, &params, c, w, h), c, w * h);
            let got = synthesize_pixels(&grids, &params, c, w, h, 2);
            assert!(got.iter().zip(&want).all(|(a, b)| a.abs_diff(*b) <= 1));
        }
    }
}

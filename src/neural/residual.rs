//! The low-frequency residual (payload flag bit 3; spec/codec-neural.md §4 step 3b, §5.2):
//! per colour channel, a coarse grid of integers, one per `B x B` block (`B = 2^b`), upsampled
//! like the latents and added to the synthesis output before it is rounded to pixels.
//!
//! Why: the synthesis reads one latent per grid and position, so at a coarse scale it has one
//! degree of freedom where a colour needs three. Measured on fast payloads of the six dev
//! photos, 15–39 % of the error energy sat below 1/16 cycle per pixel (1.5 % of the spectrum),
//! mostly along the green–magenta axis, while the DCT codec's error is flat there. A few
//! hundred to a few thousand bytes of block offsets remove most of it (docs/neural-rd.md,
//! stop 31); the encoder sends the residual only where it lowers the rate–distortion cost.

use super::kernels::taps;

/// Smallest and largest block size exponent `b` (blocks of `2^b x 2^b` pixels).
pub const LOG2_MIN: u8 = 2;
pub const LOG2_MAX: u8 = 6;
/// Bits of `b` in the weight stream.
pub const LOG2_BITS: u32 = 3;

/// A decoded residual: block size exponent, and per channel a step exponent (step `2^-e`) and
/// `ceil(W/B) x ceil(H/B)` integers, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residual {
    pub log2: u8,
    pub exps: Vec<u8>,
    pub values: Vec<Vec<i32>>,
}

/// The residual grid's size for a `w x h` image and blocks of `2^log2` pixels.
pub fn dims(w: usize, h: usize, log2: u8) -> (usize, usize) {
    (w.div_ceil(1 << log2), h.div_ceil(1 << log2))
}

/// Upsamples one coarse plane `g` (`gw x gh`) to `w x h` with the half-pixel bilinear rule of
/// §4 step 1, adding the result to `out` (the decoder's [`Upsampler`], on float values).
pub fn upsample_add(g: &[f32], (gw, gh): (usize, usize), (w, h): (usize, usize), out: &mut [f32]) {
    let up = Upsampler::new(vec![g.to_vec()], (gw, gh), (w, h));
    for (y, row) in out.chunks_exact_mut(w).enumerate().take(h) {
        up.add_row(0, y, row);
    }
}

/// The transpose of [`upsample_add`]: accumulates `d` (`w x h`) into the coarse plane `g`
/// (what a gradient with respect to the coarse values is).
pub fn upsample_transpose_add(
    d: &[f32],
    (gw, gh): (usize, usize),
    (w, h): (usize, usize),
    g: &mut [f32],
) {
    let tx = taps(w, gw);
    let ty = taps(h, gh);
    let mut rows = vec![0f32; gh * w];
    for (y, t) in ty.iter().enumerate() {
        for (x, &v) in d[y * w..][..w].iter().enumerate() {
            rows[t.i0 as usize * w + x] += v * (1.0 - t.t);
            rows[t.i1 as usize * w + x] += v * t.t;
        }
    }
    for (r, row) in rows.chunks_exact(w).enumerate() {
        let dst = &mut g[r * gw..][..gw];
        for (&v, t) in row.iter().zip(&tx) {
            dst[t.i0 as usize] += v * (1.0 - t.t);
            dst[t.i1 as usize] += v * t.t;
        }
    }
}

/// A residual ready to be added row by row: its dequantized grids and the taps of §4 step 1.
/// Memory is the coarse grids only, so a decoder that adds it keeps its few-rows footprint
/// (a 16 MP image's full-size planes would be 192 MB).
#[derive(Debug, Clone)]
pub struct Upsampler {
    gw: usize,
    grids: Vec<Vec<f32>>,
    tx: Vec<super::kernels::Tap>,
    ty: Vec<super::kernels::Tap>,
}

impl Upsampler {
    /// Float grids of `gw x gh` values each, to be upsampled to `w x h`.
    pub fn new(grids: Vec<Vec<f32>>, (gw, gh): (usize, usize), (w, h): (usize, usize)) -> Self {
        Upsampler {
            gw,
            grids,
            tx: taps(w, gw),
            ty: taps(h, gh),
        }
    }

    /// Adds channel `o`'s upsampled residual at output row `y` to `row` (`w` values).
    pub fn add_row(&self, o: usize, y: usize, row: &mut [f32]) {
        let (g, t) = (&self.grids[o], &self.ty[y]);
        let (a, b) = (&g[t.i0 as usize * self.gw..], &g[t.i1 as usize * self.gw..]);
        for (v, s) in row.iter_mut().zip(&self.tx) {
            let (i0, i1) = (s.i0 as usize, s.i1 as usize);
            let top = a[i0] * (1.0 - s.t) + a[i1] * s.t;
            let bot = b[i0] * (1.0 - s.t) + b[i1] * s.t;
            *v += top * (1.0 - t.t) + bot * t.t;
        }
    }
}

impl Residual {
    /// The residual of a `w x h` image, ready to add row by row (§4 step 3b).
    pub fn upsampler(&self, w: usize, h: usize) -> Upsampler {
        let grids = self
            .values
            .iter()
            .zip(&self.exps)
            .map(|(v, &e)| {
                let step = super::weights::step_of(e);
                v.iter().map(|&q| q as f32 * step).collect()
            })
            .collect();
        Upsampler::new(grids, dims(w, h, self.log2), (w, h))
    }

    /// The residual at full resolution, `c` planes of `w * h` floats (§4 step 3b).
    pub fn planes(&self, w: usize, h: usize) -> Vec<f32> {
        let up = self.upsampler(w, h);
        let mut out = vec![0f32; self.values.len() * w * h];
        for (o, plane) in out.chunks_exact_mut(w * h).enumerate() {
            for (y, row) in plane.chunks_exact_mut(w).enumerate() {
                up.add_row(o, y, row);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_round_up() {
        assert_eq!(dims(768, 512, 3), (96, 64));
        assert_eq!(dims(37, 23, 4), (3, 2));
        assert_eq!(dims(1, 1, 6), (1, 1));
    }

    /// A constant residual is a constant offset; a single value spreads bilinearly and sums to
    /// about its block's area.
    #[test]
    fn planes_upsample_each_channel() {
        let (w, h) = (37, 23);
        let (gw, gh) = dims(w, h, 3);
        let r = Residual {
            log2: 3,
            exps: vec![0, 2],
            values: vec![vec![3; gw * gh], vec![-1; gw * gh]],
        };
        let p = r.planes(w, h);
        assert!(p[..w * h].iter().all(|&v| (v - 3.0).abs() < 1e-6));
        assert!(p[w * h..].iter().all(|&v| (v + 0.25).abs() < 1e-6));
    }

    /// The upsampled planes follow §4 step 1 as written, evaluated in f64:
    /// `s = clamp((x + 0.5) · w_r / W − 0.5, 0, w_r − 1)`, rows then columns.
    #[test]
    fn planes_follow_the_half_pixel_rule() {
        let (w, h) = (45, 29);
        let (gw, gh) = dims(w, h, 3);
        let r = Residual {
            log2: 3,
            exps: vec![5],
            values: vec![(0..gw * gh).map(|i| (i as i32 * 7) % 23 - 11).collect()],
        };
        let g: Vec<f64> = r.values[0].iter().map(|&q| f64::from(q) / 32.0).collect();
        let tap = |x: usize, n_out: usize, n_in: usize| {
            let s =
                ((x as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).clamp(0.0, (n_in - 1) as f64);
            let x0 = s.floor() as usize;
            (x0, (x0 + 1).min(n_in - 1), s - x0 as f64)
        };
        let p = r.planes(w, h);
        for y in 0..h {
            let (y0, y1, ty) = tap(y, h, gh);
            for x in 0..w {
                let (x0, x1, tx) = tap(x, w, gw);
                let row = |yy: usize| g[yy * gw + x0] * (1.0 - tx) + g[yy * gw + x1] * tx;
                let want = row(y0) * (1.0 - ty) + row(y1) * ty;
                assert!((f64::from(p[y * w + x]) - want).abs() < 1e-5, "({x}, {y})");
            }
        }
    }

    /// `upsample_transpose_add` is the transpose: <U g, d> = <g, U^T d> for random g, d.
    #[test]
    fn transpose_matches_forward() {
        let (w, h) = (29, 18);
        let d = dims(w, h, 2);
        let mut s = 7u32;
        let mut rnd = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let g: Vec<f32> = (0..d.0 * d.1).map(|_| rnd()).collect();
        let dd: Vec<f32> = (0..w * h).map(|_| rnd()).collect();
        let mut ug = vec![0f32; w * h];
        upsample_add(&g, d, (w, h), &mut ug);
        let mut utd = vec![0f32; d.0 * d.1];
        upsample_transpose_add(&dd, d, (w, h), &mut utd);
        let a: f64 = ug.iter().zip(&dd).map(|(&x, &y)| f64::from(x * y)).sum();
        let b: f64 = g.iter().zip(&utd).map(|(&x, &y)| f64::from(x * y)).sum();
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

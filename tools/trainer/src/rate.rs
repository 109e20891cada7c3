//! The entropy model's rate and its gradients, vectorized over the latents of a row.
//!
//! Float semantics of architecture 2's model (spec/codec-neural.md §3.2): context `c` = the
//! latents at `ARM2_NEIGHBOURS` (0 outside the grid), `h1 = relu(c + W1 c + b1)`,
//! `h2 = relu(h1 + W2 h1 + b2)`, `(mu, ls) = W3 h2 + Wl c + b3`, `ls` clamped to `[-4, 39/8]`,
//! `P(y) = F(y + 1/2) - F(y - 1/2)` for the Laplace CDF `F(mu, 2^ls)`, bits `-log2(max(P, 2^-16))`.
//! The context is a constant of the step (it carries no gradient); the coded value `y` (noisy
//! in training) and the ARM parameters get gradients.

use crate::simd::{exp2, fma, hsum, relu_back, Lanes, Simd, T};
use yoz::neural::arch::{ARM2_CTX, ARM2_PARAMS};

const C: usize = ARM2_CTX;
const LS_MIN: f32 = -4.0;
const LS_MAX: f32 = 39.0 / 8.0;
const P_FLOOR: f32 = 1.0 / 65536.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2: f32 = std::f32::consts::LN_2;

/// Zero rows above each padded grid (the context reaches two rows up).
pub const PAD_TOP: usize = 2;
/// Zero columns on each side of each padded grid (the context reaches two columns across).
pub const PAD_SIDE: usize = 2;

/// Offsets of the packed parameters (`w1[C][C], b1[C], w2[C][C], b2[C], wl[2][C], w3[2][C],
/// b3[2]`).
const OW1: usize = 0;
const OB1: usize = C * C;
const OW2: usize = OB1 + C;
const OB2: usize = OW2 + C * C;
const OWL: usize = OB2 + C;
const OW3: usize = OWL + 2 * C;
const OB3: usize = OW3 + 2 * C;

/// ARM parameters unpacked.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArmW {
    pub w1: [[f32; C]; C],
    pub b1: [f32; C],
    pub w2: [[f32; C]; C],
    pub b2: [f32; C],
    pub wl: [[f32; C]; 2],
    pub w3: [[f32; C]; 2],
    pub b3: [f32; 2],
}

impl ArmW {
    pub fn from_packed(p: &[f32]) -> ArmW {
        let mut a = ArmW::default();
        for j in 0..C {
            for i in 0..C {
                a.w1[j][i] = p[OW1 + j * C + i];
                a.w2[j][i] = p[OW2 + j * C + i];
            }
            a.b1[j] = p[OB1 + j];
            a.b2[j] = p[OB2 + j];
            a.wl[0][j] = p[OWL + j];
            a.wl[1][j] = p[OWL + C + j];
            a.w3[0][j] = p[OW3 + j];
            a.w3[1][j] = p[OW3 + C + j];
        }
        a.b3 = [p[OB3], p[OB3 + 1]];
        a
    }
}

/// Per-thread lane accumulators of the ARM gradients, in packed order.
pub struct ArmAcc {
    pub lanes: Box<[Lanes; ARM2_PARAMS]>,
    pub bits: f64,
}

impl ArmAcc {
    pub fn new() -> ArmAcc {
        ArmAcc {
            lanes: Box::new([[0.0; T]; ARM2_PARAMS]),
            bits: 0.0,
        }
    }
    pub fn reset(&mut self) {
        self.lanes.iter_mut().for_each(|l| *l = [0.0; T]);
        self.bits = 0.0;
    }
    /// Adds the reduced gradients into `g` (packed order).
    pub fn add_to(&self, g: &mut [f32]) {
        for (gv, l) in g.iter_mut().zip(self.lanes.iter()) {
            *gv += hsum(l);
        }
    }
}

impl Default for ArmAcc {
    fn default() -> Self {
        ArmAcc::new()
    }
}

/// One grid row, given as the padded rounded grid ([`PAD_TOP`] zero rows on top,
/// [`PAD_SIDE`] zero columns each side: [`padded_len`] values).
pub struct RateRow<'a> {
    /// Padded rounded latents of the grid.
    pub qp: &'a [f32],
    pub gw: usize,
    pub y: usize,
    /// Coded values of the row (`gw`).
    pub val: &'a [f32],
    /// Gradient of the row (`gw`), added to.
    pub grad: &'a mut [f32],
}

/// `a[j] = base[j] + b[j] + Σ_i w[j][i] x[i]` over the lanes.
#[inline(always)]
fn layer(w: &[[f32; C]; C], b: &[f32; C], x: &[Lanes; C], base: &[Lanes; C]) -> [Lanes; C] {
    let mut a = [[0f32; T]; C];
    for j in 0..C {
        let mut s = [b[j]; T];
        for l in 0..T {
            s[l] += base[j][l];
        }
        for (i, xi) in x.iter().enumerate() {
            for l in 0..T {
                s[l] = fma(w[j][i], xi[l], s[l]);
            }
        }
        a[j] = s;
    }
    a
}

#[inline(always)]
unsafe fn rate_row_impl<S: Simd>(
    a: &ArmW,
    row: RateRow,
    scale: f32,
    want_bits: bool,
    acc: &mut ArmAcc,
) {
    let RateRow {
        qp,
        gw,
        y,
        val,
        grad,
    } = row;
    let pw = gw + 2 * PAD_SIDE;
    // Padded coordinates: latent (y, x) sits at (y + PAD_TOP, x + PAD_SIDE).
    let cur = &qp[(y + PAD_TOP) * pw..][..pw];
    let up = &qp[(y + PAD_TOP - 1) * pw..][..pw];
    let up2 = &qp[(y + PAD_TOP - 2) * pw..][..pw];
    let mut x0 = 0;
    while x0 < gw {
        let n = (gw - x0).min(T);
        let mut ctx = [[0f32; T]; C];
        let mut v = [0f32; T];
        // ARM2_NEIGHBOURS: (0,-1) (-1,0) (-1,-1) (-1,1) (0,-2) (-2,0) (-1,-2) (-1,2); latent x
        // is at x + 2 in a padded row.
        for (c, (src, dx)) in ctx.iter_mut().zip([
            (cur, 1),
            (up, 2),
            (up, 1),
            (up, 3),
            (cur, 0),
            (up2, 2),
            (up, 0),
            (up, 4),
        ]) {
            c[..n].copy_from_slice(&src[x0 + dx..x0 + dx + n]);
        }
        v[..n].copy_from_slice(&val[x0..x0 + n]);
        let mut h1 = layer(&a.w1, &a.b1, &ctx, &ctx);
        let pre1 = h1;
        for hj in h1.iter_mut() {
            for x in hj.iter_mut() {
                *x = x.max(0.0);
            }
        }
        let mut h2 = layer(&a.w2, &a.b2, &h1, &h1);
        let pre2 = h2;
        for hj in h2.iter_mut() {
            for x in hj.iter_mut() {
                *x = x.max(0.0);
            }
        }
        let mut mu = [a.b3[0]; T];
        let mut lr = [a.b3[1]; T];
        for (j, hj) in h2.iter().enumerate() {
            for l in 0..T {
                mu[l] = fma(a.w3[0][j], hj[l], mu[l]);
                lr[l] = fma(a.w3[1][j], hj[l], lr[l]);
                mu[l] = fma(a.wl[0][j], ctx[j][l], mu[l]);
                lr[l] = fma(a.wl[1][j], ctx[j][l], lr[l]);
            }
        }
        let mut gy = [0f32; T];
        let mut gmu = [0f32; T];
        let mut gls = [0f32; T];
        let mut pv = [0f32; T];
        for l in 0..T {
            let ls = lr[l].clamp(LS_MIN, LS_MAX);
            let inv_b = exp2(-ls);
            let d = v[l] - mu[l];
            let hi = d + 0.5;
            let lo = d - 0.5;
            let e_hi = exp2(-hi.abs() * inv_b * LOG2E);
            let e_lo = exp2(-lo.abs() * inv_b * LOG2E);
            let p = if lo >= 0.0 {
                0.5 * (e_lo - e_hi)
            } else if hi <= 0.0 {
                0.5 * (e_hi - e_lo)
            } else {
                1.0 - 0.5 * (e_lo + e_hi)
            };
            let floored = p < P_FLOOR;
            let p = p.max(P_FLOOR);
            pv[l] = p;
            let f_hi = 0.5 * inv_b * e_hi;
            let f_lo = 0.5 * inv_b * e_lo;
            // d bits / d P, times the caller's scale; 0 on the floor and on pad lanes.
            let live = !floored && l < n;
            let dbdp = if live { -scale / (p * LN2) } else { 0.0 };
            let dpdy = f_hi - f_lo;
            gy[l] = dbdp * dpdy;
            gmu[l] = -gy[l];
            // dP/db = -(hi f(hi) - lo f(lo)) / b ; db/dls = b ln2  =>  dP/dls = -(..) ln2
            let dpdls = -(hi * f_hi - lo * f_lo) * LN2;
            let inside = lr[l] > LS_MIN && lr[l] < LS_MAX;
            gls[l] = if inside { dbdp * dpdls } else { 0.0 };
        }
        if want_bits {
            for &p in &pv[..n] {
                acc.bits -= f64::from(p).log2();
            }
        }
        for (gv, &g) in grad[x0..x0 + n].iter_mut().zip(&gy) {
            *gv += g;
        }
        // Backward through the ARM. One accumulator row per loop (a `&mut [f32; T]`), so each
        // loop vectorizes.
        let lanes: &mut [Lanes; ARM2_PARAMS] = &mut acc.lanes;
        add_lanes::<S>(&mut lanes[OB3], &gmu);
        add_lanes::<S>(&mut lanes[OB3 + 1], &gls);
        // Output layer: d h2, through the ReLU.
        let mut da2 = [[0f32; T]; C];
        for j in 0..C {
            fma_lanes::<S>(&mut lanes[OWL + j], &gmu, &ctx[j]);
            fma_lanes::<S>(&mut lanes[OWL + C + j], &gls, &ctx[j]);
            fma_lanes::<S>(&mut lanes[OW3 + j], &gmu, &h2[j]);
            fma_lanes::<S>(&mut lanes[OW3 + C + j], &gls, &h2[j]);
            for l in 0..T {
                let d = a.w3[0][j] * gmu[l] + a.w3[1][j] * gls[l];
                da2[j][l] = if pre2[j][l] > 0.0 { d } else { 0.0 };
            }
        }
        // Second layer: d h1 = da2 (residual) + W2^T da2, through the ReLU.
        let mut dh1 = da2;
        for j in 0..C {
            add_lanes::<S>(&mut lanes[OB2 + j], &da2[j]);
            for i in 0..C {
                fma_lanes::<S>(&mut lanes[OW2 + j * C + i], &da2[j], &h1[i]);
                for l in 0..T {
                    dh1[i][l] = fma(a.w2[j][i], da2[j][l], dh1[i][l]);
                }
            }
        }
        // Explicitly vectorized: written as `if pre1 <= 0 { dh1 = 0 }` this compiled to a
        // scalar compare and branch per value, 30 % of this function's time.
        relu_back::<S, C>(&pre1, &mut dh1);
        // First layer (the context carries no gradient).
        for j in 0..C {
            add_lanes::<S>(&mut lanes[OB1 + j], &dh1[j]);
            for (i, c) in ctx.iter().enumerate() {
                fma_lanes::<S>(&mut lanes[OW1 + j * C + i], &dh1[j], c);
            }
        }
        x0 += T;
    }
}

#[inline(always)]
unsafe fn add_lanes<S: Simd>(acc: &mut Lanes, v: &Lanes) {
    for h in [0, 8] {
        let r = S::add(S::load(&acc[h..]), S::load(&v[h..]));
        S::store(r, &mut acc[h..]);
    }
}

#[inline(always)]
unsafe fn fma_lanes<S: Simd>(acc: &mut Lanes, a: &Lanes, b: &Lanes) {
    for h in [0, 8] {
        let r = S::fmadd(S::load(&a[h..]), S::load(&b[h..]), S::load(&acc[h..]));
        S::store(r, &mut acc[h..]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rate_row_avx2(a: &ArmW, row: RateRow, scale: f32, want_bits: bool, acc: &mut ArmAcc) {
    rate_row_impl::<crate::simd::Avx2>(a, row, scale, want_bits, acc)
}

/// Rate of one grid row: adds `scale * d bits / d value` into the row's gradient and the ARM
/// gradients (times `scale`) into `acc`; adds the bits themselves when `want_bits`.
pub fn rate_row(a: &ArmW, row: RateRow, scale: f32, want_bits: bool, acc: &mut ArmAcc) {
    #[cfg(target_arch = "x86_64")]
    if crate::fused::has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { rate_row_avx2(a, row, scale, want_bits, acc) };
    }
    // SAFETY: the portable kernels need no CPU feature.
    unsafe { rate_row_impl::<crate::simd::Portable>(a, row, scale, want_bits, acc) }
}

/// Values of a padded grid for [`RateRow`]: `(gw + 2·PAD_SIDE) * (gh + PAD_TOP)`.
pub fn padded_len(gw: usize, gh: usize) -> usize {
    (gw + 2 * PAD_SIDE) * (gh + PAD_TOP)
}

/// Where padded row `y`'s first latent sits (its row starts `PAD_SIDE` values earlier).
pub fn padded_at(gw: usize, y: usize) -> usize {
    (y + PAD_TOP) * (gw + 2 * PAD_SIDE) + PAD_SIDE
}

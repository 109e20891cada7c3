//! The entropy model's rate and its gradients, vectorized over the latents of a row.
//!
//! Float semantics of api.md: context = the rounded latents at `ARM_NEIGHBOURS` (0 outside the
//! grid), `h = relu(W1 ctx + b1)`, `(mu, ls) = W2 h + b2`, `ls` clamped to `[-4, 39/8]`,
//! `P(y) = F(y + 1/2) - F(y - 1/2)` for the Laplace CDF `F(mu, 2^ls)`, bits `-log2(max(P, 2^-16))`.
//! The context is a constant of the step (the rounded latents carry no gradient through it); the
//! coded value `y` (noisy in training) and the ARM parameters get gradients.

use crate::simd::{exp2, fma, hsum, Lanes, Simd, T};
use yoz::neural::arch::{ARM_CTX, ARM_HIDDEN, ARM_PARAMS};

const H: usize = ARM_HIDDEN;
const LS_MIN: f32 = -4.0;
const LS_MAX: f32 = 39.0 / 8.0;
const P_FLOOR: f32 = 1.0 / 65536.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2: f32 = std::f32::consts::LN_2;

/// ARM parameters unpacked (`w1[H][CTX], b1[H], w2[2][H], b2[2]`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ArmW {
    pub w1: [[f32; ARM_CTX]; H],
    pub b1: [f32; H],
    pub w2: [[f32; H]; 2],
    pub b2: [f32; 2],
}

impl ArmW {
    pub fn from_packed(p: &[f32]) -> ArmW {
        let mut a = ArmW::default();
        for j in 0..H {
            for i in 0..ARM_CTX {
                a.w1[j][i] = p[j * ARM_CTX + i];
            }
            a.b1[j] = p[H * ARM_CTX + j];
            a.w2[0][j] = p[H * ARM_CTX + H + j];
            a.w2[1][j] = p[H * ARM_CTX + 2 * H + j];
        }
        a.b2 = [p[ARM_PARAMS - 2], p[ARM_PARAMS - 1]];
        a
    }
}

/// Per-thread lane accumulators of the ARM gradients, in packed order.
pub struct ArmAcc {
    pub lanes: Box<[Lanes; ARM_PARAMS]>,
    pub bits: f64,
}

impl ArmAcc {
    pub fn new() -> ArmAcc {
        ArmAcc {
            lanes: Box::new([[0.0; T]; ARM_PARAMS]),
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

/// One grid row, given as the padded rounded grid (one zero row on top, one zero column each
/// side: `(gw + 2) * (gh + 1)` values).
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
    let pw = gw + 2;
    // Padded coordinates: latent (y, x) sits at (y + 1, x + 1).
    let cur = &qp[(y + 1) * pw..][..pw];
    let up = &qp[y * pw..][..pw];
    let mut x0 = 0;
    while x0 < gw {
        let n = (gw - x0).min(T);
        let mut ctx = [[0f32; T]; ARM_CTX];
        let mut v = [0f32; T];
        ctx[0][..n].copy_from_slice(&cur[x0..x0 + n]);
        ctx[1][..n].copy_from_slice(&up[x0..x0 + n]);
        ctx[2][..n].copy_from_slice(&up[x0 + 1..x0 + 1 + n]);
        ctx[3][..n].copy_from_slice(&up[x0 + 2..x0 + 2 + n]);
        v[..n].copy_from_slice(&val[x0..x0 + n]);
        let mut h = [[0f32; T]; H];
        for (j, hj) in h.iter_mut().enumerate() {
            let mut s = [a.b1[j]; T];
            for (i, c) in ctx.iter().enumerate() {
                for l in 0..T {
                    s[l] = fma::<true>(a.w1[j][i], c[l], s[l]);
                }
            }
            for l in 0..T {
                hj[l] = s[l].max(0.0);
            }
        }
        let mut mu = [a.b2[0]; T];
        let mut lr = [a.b2[1]; T];
        for (j, hj) in h.iter().enumerate() {
            for l in 0..T {
                mu[l] = fma::<true>(a.w2[0][j], hj[l], mu[l]);
                lr[l] = fma::<true>(a.w2[1][j], hj[l], lr[l]);
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
        // Backward through the ARM.
        let lanes: &mut [Lanes; ARM_PARAMS] = &mut acc.lanes;
        let (ow1, ob1, ow2) = (0, H * ARM_CTX, H * ARM_CTX + H);
        let ob2 = ARM_PARAMS - 2;
        // One accumulator row per loop (a `&mut [f32; T]`), so each loop vectorizes.
        add_lanes::<S>(&mut lanes[ob2], &gmu);
        add_lanes::<S>(&mut lanes[ob2 + 1], &gls);
        for (j, hj) in h.iter().enumerate() {
            fma_lanes::<S>(&mut lanes[ow2 + j], &gmu, hj);
            fma_lanes::<S>(&mut lanes[ow2 + H + j], &gls, hj);
            let mut dh = [0f32; T];
            for l in 0..T {
                let d = a.w2[0][j] * gmu[l] + a.w2[1][j] * gls[l];
                dh[l] = if hj[l] > 0.0 { d } else { 0.0 };
            }
            add_lanes::<S>(&mut lanes[ob1 + j], &dh);
            for (i, c) in ctx.iter().enumerate() {
                fma_lanes::<S>(&mut lanes[ow1 + j * ARM_CTX + i], &dh, c);
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

/// Pads a rounded grid for [`RateRow`]: `(gw + 2) * (gh + 1)`, zero top row and side columns.
pub fn padded_len(gw: usize, gh: usize) -> usize {
    (gw + 2) * (gh + 1)
}

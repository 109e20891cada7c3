//! The integer entropy model and latent coding (spec/codec-neural.md §3).
//!
//! Everything here is integer arithmetic so that every machine derives the same probabilities:
//! the auto-regressive model (ARM) runs in Q8 fixed point, and the quantized Laplace frequency
//! tables are built from a fixed-point `exp2` ([`exp2_q32`]) rather than the platform's libm,
//! whose last-bit differences would desynchronize the range coder.

use super::arch::{
    arm_params, grid_dims, ARCH_V1, ARM2_CTX, ARM2_NEIGHBOURS, ARM_CTX, ARM_FRAC_BITS, ARM_HIDDEN,
    ARM_NEIGHBOURS, GRIDS, LATENT_MAX,
};
use crate::entropy::multi::FreqTable;
use crate::entropy::range::{Decoder, Encoder, MAX_TOTAL};
use crate::error::{Error, Result};
use std::sync::OnceLock;

/// Scale indices: `s` stands for the Laplace scale `b = 2^((s - SCALE_ZERO) / 8)`.
pub const SCALES: usize = 72;
/// The scale index of `b = 1`.
pub const SCALE_ZERO: i64 = 32;
/// Mean offsets are quantized to quarters.
pub const MU_FRACS: usize = 4;
/// Symbols code `d = y - floor(mu)` in `[-RANGE, RANGE]` directly; outside, an escape.
pub const RANGE: i32 = 63;
/// Alphabet: escape-low, `-RANGE..=RANGE`, escape-high.
pub const SYMBOLS: usize = 2 * RANGE as usize + 3;

/// The entropy model's parameters in Q8, for architecture `arch` (1: `w1[8][4], b1[8],
/// w2[2][8], b2[2]`; 2: see [`super::arch::ARM2_TENSORS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmQ {
    pub arch: u8,
    pub params: Vec<i16>,
}

/// Largest hidden activation of the architecture 2 model (Q8): keeps every sum far inside
/// 64 bits whatever the parameters; trained models stay far below it.
pub const ARM2_ACT_MAX: i64 = 1 << 32;

impl ArmQ {
    /// All-zero parameters of an architecture.
    pub fn zeros(arch: u8) -> ArmQ {
        ArmQ {
            arch,
            params: vec![0; arm_params(arch)],
        }
    }

    /// Quantizes float parameters: `clamp(round(p * 256), i16)`. Non-finite values become 0.
    pub fn from_float(arch: u8, p: &[f32]) -> ArmQ {
        let mut a = ArmQ::zeros(arch);
        for (q, &v) in a.params.iter_mut().zip(p) {
            let x = (v as f64 * f64::from(1u32 << ARM_FRAC_BITS)).round();
            *q = if x.is_finite() {
                x.clamp(i16::MIN as f64, i16::MAX as f64) as i16
            } else {
                0
            };
        }
        a
    }

    /// The float parameters these integers stand for (`q / 256`).
    pub fn to_float(&self) -> Vec<f32> {
        self.params
            .iter()
            .map(|&q| q as f32 / (1u32 << ARM_FRAC_BITS) as f32)
            .collect()
    }

    /// Neighbour offsets of this model's context.
    pub fn neighbours(&self) -> &'static [(isize, isize)] {
        if self.arch == ARCH_V1 {
            &ARM_NEIGHBOURS
        } else {
            &ARM2_NEIGHBOURS
        }
    }

    /// Runs the model on a context (as many values as [`Self::neighbours`]); returns
    /// `(mu_q8, log2_scale_q8)`.
    #[inline]
    pub fn predict(&self, ctx: &[i64]) -> (i64, i64) {
        if self.arch == ARCH_V1 {
            self.predict_v1(ctx)
        } else {
            self.predict_v2(ctx)
        }
    }

    #[inline]
    fn predict_v1(&self, ctx: &[i64]) -> (i64, i64) {
        let p = &self.params;
        let (w1, rest) = p.split_at(ARM_HIDDEN * ARM_CTX);
        let (b1, rest) = rest.split_at(ARM_HIDDEN);
        let (w2, b2) = rest.split_at(2 * ARM_HIDDEN);
        let mut h = [0i64; ARM_HIDDEN];
        for (j, hv) in h.iter_mut().enumerate() {
            let mut a = i64::from(b1[j]);
            for i in 0..ARM_CTX {
                a += i64::from(w1[j * ARM_CTX + i]) * ctx[i];
            }
            *hv = a.max(0);
        }
        let mut o = [0i64; 2];
        for (m, ov) in o.iter_mut().enumerate() {
            let mut a = 0i64;
            for j in 0..ARM_HIDDEN {
                a += i64::from(w2[m * ARM_HIDDEN + j]) * h[j];
            }
            *ov = (a >> ARM_FRAC_BITS) + i64::from(b2[m]);
        }
        (o[0], o[1])
    }

    /// Architecture 2 (spec §3.2): two residual hidden layers, everything in Q8.
    #[inline]
    fn predict_v2(&self, ctx: &[i64]) -> (i64, i64) {
        const C: usize = ARM2_CTX;
        let p = &self.params;
        let (w1, rest) = p.split_at(C * C);
        let (b1, rest) = rest.split_at(C);
        let (w2, rest) = rest.split_at(C * C);
        let (b2, rest) = rest.split_at(C);
        let (wl, rest) = rest.split_at(2 * C);
        let (w3, b3) = rest.split_at(2 * C);
        let mut h1 = [0i64; C];
        for (j, hv) in h1.iter_mut().enumerate() {
            let mut a = (ctx[j] << ARM_FRAC_BITS) + i64::from(b1[j]);
            for i in 0..C {
                a += i64::from(w1[j * C + i]) * ctx[i];
            }
            *hv = a.clamp(0, ARM2_ACT_MAX);
        }
        let mut h2 = [0i64; C];
        for (j, hv) in h2.iter_mut().enumerate() {
            let mut a = 0i64;
            for i in 0..C {
                a += i64::from(w2[j * C + i]) * h1[i];
            }
            *hv = (h1[j] + i64::from(b2[j]) + (a >> ARM_FRAC_BITS)).clamp(0, ARM2_ACT_MAX);
        }
        let mut o = [0i64; 2];
        for (m, ov) in o.iter_mut().enumerate() {
            let mut a = 0i64;
            let mut lin = 0i64;
            for j in 0..C {
                a += i64::from(w3[m * C + j]) * h2[j];
                lin += i64::from(wl[m * C + j]) * ctx[j];
            }
            *ov = i64::from(b3[m]) + lin + (a >> ARM_FRAC_BITS);
        }
        (o[0], o[1])
    }
}

/// Where a latent's prediction lands: the integer base `floor(mu)` (in quarter steps), the
/// table (scale, quarter offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prediction {
    pub base: i64,
    pub scale: usize,
    pub frac: usize,
}

/// Quantizes the ARM outputs (spec §3.3): mu to quarters (round half up), log2 scale to eighths
/// (round half up), clamped to the tables.
#[inline]
pub fn quantize_prediction(mu_q8: i64, ls_q8: i64) -> Prediction {
    let lim = i64::from(LATENT_MAX) << ARM_FRAC_BITS;
    let mu = mu_q8.clamp(-lim, lim);
    let mq = (mu + 32) >> 6;
    let s = (((ls_q8.clamp(-(1 << 40), 1 << 40) * 8 + 128) >> 8) + SCALE_ZERO)
        .clamp(0, SCALES as i64 - 1);
    Prediction {
        base: mq >> 2,
        scale: s as usize,
        frac: (mq & 3) as usize,
    }
}

/// `2^(j/64)` in Q32 for `j` in `0..64` (rounded to nearest; spec §3.4 lists them).
const EXP2_TABLE: [u64; 64] = [
    4294967296, 4341736423, 4389014833, 4436808071, 4485121744, 4533961517, 4583333121, 4633242347,
    4683695048, 4734697143, 4786254615, 4838373510, 4891059943, 4944320094, 4998160210, 5052586606,
    5107605667, 5163223846, 5219447668, 5276283726, 5333738689, 5391819295, 5450532358, 5509884764,
    5569883475, 5630535530, 5691848042, 5753828203, 5816483285, 5879820635, 5943847684, 6008571941,
    6074001000, 6140142534, 6207004303, 6274594148, 6342919999, 6411989869, 6481811861, 6552394164,
    6623745059, 6695872913, 6768786189, 6842493438, 6917003306, 6992324534, 7068465956, 7145436504,
    7223245206, 7301901189, 7381413680, 7461792005, 7543045592, 7625183973, 7708216783, 7792153760,
    7877004752, 7962779710, 8049488696, 8137141881, 8225749546, 8315322086, 8405870007, 8497403930,
];
const LN2_Q32: u64 = 2977044472;
const LOG2E_Q32: u64 = 6196328019;

/// `2^(e / 65536)` in Q32 fixed point (saturating to 0 far below 1, to `u64::MAX` above
/// 2^31), in integer arithmetic only: table lookup on the top 6 fraction bits and a cubic on the
/// remaining 10.
pub fn exp2_q32(e_q16: i64) -> u64 {
    let n = e_q16 >> 16; // floor
    let r = (e_q16 & 0xffff) as u64; // [0, 1) in Q16
    let j = (r >> 10) as usize;
    let rr = (r & 1023) << 16; // Q32, < 2^-6
                               // x = rr * ln2, 2^rr = e^x ~ 1 + x + x^2/2 + x^3/6 (x < 0.011, error < 2^-32 * 4).
    let x = (u128::from(rr) * u128::from(LN2_Q32)) >> 32;
    let x2 = (x * x) >> 32;
    let x3 = (x2 * x) >> 32;
    let poly = (1u128 << 32) + x + x2 / 2 + x3 / 6;
    let v = (u128::from(EXP2_TABLE[j]) * poly) >> 32;
    if n >= 0 {
        if n > 30 {
            u64::MAX
        } else {
            (v << n) as u64
        }
    } else if n < -64 {
        0
    } else {
        (v >> (-n)) as u64
    }
}

/// The Laplace CDF at `x4 / 4` for scale index `s`, zero mean, in Q32 (`0..=2^32`).
fn laplace_cdf_q32(x4: i64, s: usize) -> u64 {
    // 1/b = 2^((SCALE_ZERO - s) / 8), in Q32.
    let inv_b = exp2_q32((SCALE_ZERO - s as i64) * 8192);
    // t = |x| * log2(e) / b in Q16: |x4|/4 * LOG2E * inv_b.
    let t = (u128::from(x4.unsigned_abs()) * u128::from(LOG2E_Q32) * u128::from(inv_b)) >> 50;
    let e = if t > (200u128 << 16) {
        0
    } else {
        exp2_q32(-(t as i64))
    };
    let half = e >> 1;
    if x4 < 0 {
        half
    } else {
        (1u64 << 32) - half
    }
}

/// Frequencies for one (scale, frac) table (spec §3.4): the Laplace mass of each symbol's
/// interval in Q32, scaled to `MAX_TOTAL - SYMBOLS` and floored, plus one; the remainder goes
/// to the most probable symbol.
pub fn table_freqs(s: usize, f: usize) -> [u32; SYMBOLS] {
    let mut cdf = [0u64; SYMBOLS + 1];
    // Boundary k (1..=SYMBOLS-1) sits between symbols k-1 and k: d = k - RANGE - 1 starts at
    // x = d - f/4 - 1/2.
    cdf[SYMBOLS] = 1 << 32;
    for (k, c) in cdf.iter_mut().enumerate().take(SYMBOLS).skip(1) {
        let d = k as i64 - i64::from(RANGE) - 1;
        *c = laplace_cdf_q32(4 * d - f as i64 - 2, s);
    }
    let avail = u64::from(MAX_TOTAL) - SYMBOLS as u64;
    let mut freqs = [0u32; SYMBOLS];
    let mut sum = 0u64;
    let mut best = 0usize;
    for k in 0..SYMBOLS {
        let p = cdf[k + 1].saturating_sub(cdf[k]);
        let q = ((u128::from(p) * u128::from(avail)) >> 32) as u64;
        freqs[k] = 1 + q as u32;
        sum += u64::from(freqs[k]);
        if freqs[k] > freqs[best] {
            best = k;
        }
    }
    freqs[best] += (u64::from(MAX_TOTAL) - sum) as u32;
    freqs
}

fn tables() -> &'static [FreqTable] {
    static T: OnceLock<Vec<FreqTable>> = OnceLock::new();
    T.get_or_init(|| {
        let mut v = Vec::with_capacity(SCALES * MU_FRACS);
        for s in 0..SCALES {
            for f in 0..MU_FRACS {
                v.push(
                    FreqTable::new(&table_freqs(s, f)).expect("tables are valid by construction"),
                );
            }
        }
        v
    })
}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "neural latents",
        why: why.into(),
    }
}

/// A memo of predictions for contexts whose values all lie in `-8..8` (most contexts of a
/// trained image: its latents are mostly 0 and ±1). The key packs the whole context, 4 bits per
/// value, so a hit returns exactly what the model would compute; a direct-mapped table keeps
/// the lookup to one probe. Measured on a trained 768x512 payload (lake): parsing 87 → 43 ms.
struct Memo {
    tags: Vec<u64>,
    preds: Vec<Prediction>,
}

const MEMO_BITS: u32 = 12;

impl Memo {
    fn new() -> Memo {
        Memo {
            tags: vec![0; 1 << MEMO_BITS],
            preds: vec![
                Prediction {
                    base: 0,
                    scale: 0,
                    frac: 0,
                };
                1 << MEMO_BITS
            ],
        }
    }

    #[inline]
    fn predict(&mut self, arm: &ArmQ, ctx: &[i64]) -> Prediction {
        let mut key = 0u64;
        let mut small = true;
        for &c in ctx {
            small &= (-8..8).contains(&c);
            key = (key << 4) | (c as u64 & 15);
        }
        if !small {
            let (mu, ls) = arm.predict(ctx);
            return quantize_prediction(mu, ls);
        }
        // Bit 40 marks a filled slot (keys use at most 32 bits).
        let tag = key | 1 << 40;
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_BITS)) as usize;
        if self.tags[slot] == tag {
            return self.preds[slot];
        }
        let (mu, ls) = arm.predict(ctx);
        let p = quantize_prediction(mu, ls);
        self.tags[slot] = tag;
        self.preds[slot] = p;
        p
    }
}

/// The causal context of `(x, y)` in a `w`-wide grid whose earlier values are in `g`, at
/// offsets `nb`, into `ctx` (0 outside the grid).
#[inline]
fn context(g: &[i32], w: usize, x: usize, y: usize, nb: &[(isize, isize)], ctx: &mut [i64]) {
    for (c, &(dy, dx)) in ctx.iter_mut().zip(nb) {
        let yy = y as isize + dy;
        let xx = x as isize + dx;
        *c = if yy >= 0 && xx >= 0 && (xx as usize) < w {
            i64::from(g[yy as usize * w + xx as usize])
        } else {
            0
        };
    }
}

/// Escape excess (`|d| - RANGE - 1 >= 0`) as Exp-Golomb order 0: 5 bits of length, then the
/// bits below the leading one.
fn encode_excess(enc: &mut Encoder, e: u32) {
    let m = e + 1;
    let nb = 31 - m.leading_zeros();
    enc.encode_direct(nb, 5);
    enc.encode_direct(m - (1 << nb), nb);
}

fn decode_excess(dec: &mut Decoder) -> Result<u32> {
    let nb = dec.decode_direct(5);
    if nb > 16 {
        return Err(corrupt("escape length above 16 bits"));
    }
    Ok((1u32 << nb) + dec.decode_direct(nb) - 1)
}

fn bad_grids(why: String) -> Error {
    Error::Input {
        path: "latent grids".into(),
        why,
    }
}

/// Checks the grid shapes and value range before coding.
fn check_grids(grids: &[Vec<i32>], width: usize, height: usize) -> Result<()> {
    let dims = grid_dims(width, height);
    if grids.len() != GRIDS {
        return Err(bad_grids(format!(
            "{} latent grids, expected {GRIDS}",
            grids.len()
        )));
    }
    for (k, (g, &(w, h))) in grids.iter().zip(dims.iter()).enumerate() {
        if g.len() != w * h {
            return Err(bad_grids(format!(
                "latent grid {k} has {} values, expected {}",
                g.len(),
                w * h
            )));
        }
        if g.iter().any(|v| v.unsigned_abs() > LATENT_MAX as u32) {
            return Err(bad_grids(format!("latent grid {k} exceeds ±{LATENT_MAX}")));
        }
    }
    Ok(())
}

/// One coded latent: its grid, the table it is coded with, its symbol and, for an escape, the
/// excess that follows.
struct Coded<'t> {
    grid: usize,
    table: &'t FreqTable,
    symbol: usize,
    excess: Option<u32>,
}

/// Walks the latents in coding order (coarsest grid first, raster order) with the integer ARM,
/// handing each one's coding decision to `f`: the one definition the encoder and the rate
/// report share.
fn for_each_coded(
    arm: &ArmQ,
    grids: &[Vec<i32>],
    width: usize,
    height: usize,
    mut f: impl FnMut(Coded),
) -> Result<()> {
    check_grids(grids, width, height)?;
    let dims = grid_dims(width, height);
    let t = tables();
    let nb = arm.neighbours();
    let mut ctx = [0i64; ARM2_CTX];
    let ctx = &mut ctx[..nb.len()];
    let mut memo = Memo::new();
    for k in (0..GRIDS).rev() {
        let (w, h) = dims[k];
        let g = &grids[k];
        for y in 0..h {
            for x in 0..w {
                context(g, w, x, y, nb, ctx);
                let p = memo.predict(arm, ctx);
                let table = &t[p.scale * MU_FRACS + p.frac];
                let d = i64::from(g[y * w + x]) - p.base;
                let r = i64::from(RANGE);
                let (symbol, excess) = if d < -r {
                    (0, Some((-d - r - 1) as u32))
                } else if d > r {
                    (SYMBOLS - 1, Some((d - r - 1) as u32))
                } else {
                    ((d + r + 1) as usize, None)
                };
                f(Coded {
                    grid: k,
                    table,
                    symbol,
                    excess,
                });
            }
        }
    }
    Ok(())
}

/// Codes the latent grids (coarsest first, raster order) with the integer ARM.
pub fn encode_latents(
    arm: &ArmQ,
    grids: &[Vec<i32>],
    width: usize,
    height: usize,
) -> Result<Vec<u8>> {
    let mut enc = Encoder::new();
    for_each_coded(arm, grids, width, height, |c| {
        c.table.encode(&mut enc, c.symbol);
        if let Some(e) = c.excess {
            encode_excess(&mut enc, e);
        }
    })?;
    Ok(enc.finish())
}

/// The ideal code length of each grid's latents in bits (`-log2` of each symbol's table
/// probability, plus escape bits), for rate reports: the coded stream is within a few bytes
/// of their sum.
pub fn latent_bits_per_grid(
    arm: &ArmQ,
    grids: &[Vec<i32>],
    width: usize,
    height: usize,
) -> Result<[f64; GRIDS]> {
    let mut bits = [0f64; GRIDS];
    for_each_coded(arm, grids, width, height, |c| {
        let p = f64::from(c.table.freq(c.symbol)) / f64::from(c.table.total());
        bits[c.grid] -= p.log2();
        if let Some(e) = c.excess {
            bits[c.grid] += f64::from(5 + (31 - (e + 1).leading_zeros()));
        }
    })?;
    Ok(bits)
}

/// Decodes what [`encode_latents`] wrote. The caller has bounded `width * height`.
pub fn decode_latents(
    arm: &ArmQ,
    data: &[u8],
    width: usize,
    height: usize,
) -> Result<Vec<Vec<i32>>> {
    let dims = grid_dims(width, height);
    let t = tables();
    let nb = arm.neighbours();
    let mut ctx = [0i64; ARM2_CTX];
    let ctx = &mut ctx[..nb.len()];
    let mut memo = Memo::new();
    let mut dec = Decoder::new(data);
    let mut grids: Vec<Vec<i32>> = dims.iter().map(|&(w, h)| vec![0; w * h]).collect();
    for k in (0..GRIDS).rev() {
        let (w, h) = dims[k];
        let g = &mut grids[k];
        for y in 0..h {
            for x in 0..w {
                context(g, w, x, y, nb, ctx);
                let p = memo.predict(arm, ctx);
                let table = &t[p.scale * MU_FRACS + p.frac];
                let sym = table
                    .decode(&mut dec)
                    .ok_or_else(|| corrupt("range coder target out of table"))?;
                let d = if sym == 0 {
                    -i64::from(RANGE) - 1 - i64::from(decode_excess(&mut dec)?)
                } else if sym == SYMBOLS - 1 {
                    i64::from(RANGE) + 1 + i64::from(decode_excess(&mut dec)?)
                } else {
                    sym as i64 - i64::from(RANGE) - 1
                };
                let v = p.base + d;
                if v.unsigned_abs() > LATENT_MAX as u64 {
                    return Err(corrupt(format!("latent {v} outside ±{LATENT_MAX}")));
                }
                g[y * w + x] = v as i32;
            }
            if dec.is_bad() {
                return Err(corrupt("latent stream is malformed or truncated"));
            }
        }
    }
    if dec.is_bad() || !dec.at_exact_end() {
        return Err(corrupt("latent stream length does not match its symbols"));
    }
    Ok(grids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neural::arch::ARM_PARAMS;

    struct Lcg(u32);
    impl Lcg {
        fn new(seed: u32) -> Self {
            Lcg(seed)
        }
        fn next(&mut self) -> u32 {
            self.0 = self.0.wrapping_mul(1664525).wrapping_add(1013904223);
            self.0 >> 8
        }
    }

    #[test]
    fn exp2_matches_float() {
        for e in [
            -20 * 65536,
            -65536 * 3 / 2,
            -1,
            0,
            1,
            12345,
            65536,
            4 * 65536,
        ] {
            let want = 2f64.powf(e as f64 / 65536.0) * 4294967296.0;
            let got = exp2_q32(e) as f64;
            assert!(
                (got - want).abs() <= want * 1e-9 + 2.0,
                "{e}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn tables_are_laplace_like_and_exact_total() {
        for s in [0, 16, SCALE_ZERO as usize, 50, SCALES - 1] {
            for f in 0..MU_FRACS {
                let fr = table_freqs(s, f);
                assert_eq!(fr.iter().map(|&v| u64::from(v)).sum::<u64>(), 65536);
                let b = 2f64.powf((s as f64 - SCALE_ZERO as f64) / 8.0);
                let cdf = |x: f64| {
                    if x < 0.0 {
                        0.5 * (x / b).exp()
                    } else {
                        1.0 - 0.5 * (-x / b).exp()
                    }
                };
                // The symbol d = 0 has roughly the Laplace mass of [-f/4-1/2, -f/4+1/2].
                let m = fr[RANGE as usize + 1] as f64 / 65536.0;
                let x0 = -(f as f64) / 4.0;
                let want = cdf(x0 + 0.5) - cdf(x0 - 0.5);
                assert!((m - want).abs() < 0.01, "s {s} f {f}: {m} vs {want}");
            }
        }
    }

    fn random_grids(w: usize, h: usize, seed: u32, spread: i32) -> Vec<Vec<i32>> {
        let mut r = Lcg::new(seed);
        grid_dims(w, h)
            .iter()
            .map(|&(gw, gh)| {
                (0..gw * gh)
                    .map(|_| {
                        let v = (r.next() % (2 * spread as u32 + 1)) as i32 - spread;
                        if r.next() % 97 == 0 {
                            v * 300
                        } else {
                            v
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn random_arm_of(arch: u8, seed: u32) -> ArmQ {
        let mut r = Lcg::new(seed);
        let f: Vec<f32> = (0..arm_params(arch))
            .map(|_| (r.next() % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        ArmQ::from_float(arch, &f)
    }

    fn random_arm(seed: u32) -> ArmQ {
        random_arm_of(ARCH_V1, seed)
    }

    #[test]
    fn latents_roundtrip_exactly() {
        for (seed, (w, h), spread, arch) in [
            (1, (33, 17), 3, 1),
            (2, (64, 64), 0, 1),
            (3, (5, 90), 40, 1),
            (4, (33, 17), 3, 2),
            (5, (3, 70), 40, 2),
        ] {
            let grids = random_grids(w, h, seed, spread);
            let arm = random_arm_of(arch, seed + 10);
            let bytes = encode_latents(&arm, &grids, w, h).unwrap();
            assert_eq!(decode_latents(&arm, &bytes, w, h).unwrap(), grids);
            // Truncation and other ARM weights are detected or decode differently.
            assert!(decode_latents(&arm, &bytes[..bytes.len() / 2], w, h).is_err());
        }
    }

    #[test]
    fn bits_per_grid_add_up_to_the_coded_size() {
        let (w, h) = (40, 30);
        let grids = random_grids(w, h, 8, 3);
        let arm = random_arm_of(2, 5);
        let coded = encode_latents(&arm, &grids, w, h).unwrap().len() as f64 * 8.0;
        let bits = latent_bits_per_grid(&arm, &grids, w, h).unwrap();
        let sum: f64 = bits.iter().sum();
        assert!(
            (coded - sum).abs() < 8.0 * 6.0,
            "coded {coded}, ideal {sum}"
        );
        assert!(bits[0] > bits[6]);
    }

    /// The memo returns exactly what the model computes, for small and large contexts, on
    /// first sight and on repeats (with slot collisions: 20,000 contexts share 4,096 slots).
    #[test]
    fn memo_is_exact() {
        for arch in [1, 2] {
            let arm = random_arm_of(arch, 31);
            let n = arm.neighbours().len();
            let mut memo = Memo::new();
            let mut r = Lcg::new(77);
            let ctxs: Vec<Vec<i64>> = (0..20_000)
                .map(|i| {
                    (0..n)
                        .map(|_| {
                            let spread = if i % 10 == 0 { 40 } else { 3 };
                            (r.next() % (2 * spread + 1)) as i64 - spread as i64
                        })
                        .collect()
                })
                .collect();
            for _ in 0..2 {
                for c in &ctxs {
                    let (mu, ls) = arm.predict(c);
                    assert_eq!(memo.predict(&arm, c), quantize_prediction(mu, ls), "{c:?}");
                }
            }
        }
    }

    #[test]
    fn extremes_roundtrip() {
        let (w, h) = (20, 9);
        let mut grids = random_grids(w, h, 7, 1);
        grids[0][0] = LATENT_MAX;
        grids[0][1] = -LATENT_MAX;
        grids[6][0] = LATENT_MAX;
        for arch in [1, 2] {
            for v in [i16::MAX, i16::MIN] {
                let mut arm = ArmQ::zeros(arch);
                arm.params.fill(v);
                let bytes = encode_latents(&arm, &grids, w, h).unwrap();
                assert_eq!(decode_latents(&arm, &bytes, w, h).unwrap(), grids);
            }
        }
        let arm = random_arm(3);
        grids[1][2] = LATENT_MAX + 1;
        assert!(encode_latents(&arm, &grids, w, h).is_err());
    }

    #[test]
    fn zero_latents_cost_little() {
        let (w, h) = (64, 64);
        let grids: Vec<Vec<i32>> = grid_dims(w, h)
            .iter()
            .map(|&(a, b)| vec![0; a * b])
            .collect();
        // mu = 0, log2 b = -4: nearly all mass on d = 0. Both architectures end with the
        // two output biases (mu, log2 scale).
        for arch in [1, 2] {
            let n = arm_params(arch);
            let mut p = vec![0f32; n];
            p[n - 1] = -4.0;
            let bytes = encode_latents(&ArmQ::from_float(arch, &p), &grids, w, h).unwrap();
            assert!(
                bytes.len() < 40,
                "{} bytes for all-zero latents",
                bytes.len()
            );
        }
    }

    /// With a constant prediction (biases only), the coded size of Laplace-distributed latents
    /// is within a few percent of their ideal code length: the tables are the right shape.
    #[test]
    fn coded_size_matches_laplace_entropy() {
        for (mu, log2b) in [(0.0f64, 0.0f64), (0.25, 1.5), (-1.75, -1.0), (3.5, 3.0)] {
            let mut p = [0f32; ARM_PARAMS];
            p[ARM_PARAMS - 2] = mu as f32;
            p[ARM_PARAMS - 1] = log2b as f32;
            let arm = ArmQ::from_float(ARCH_V1, &p);
            let b = 2f64.powf(log2b);
            let cdf = |x: f64| {
                if x < 0.0 {
                    0.5 * (x / b).exp()
                } else {
                    1.0 - 0.5 * (-x / b).exp()
                }
            };
            let (w, h) = (96, 96);
            let mut r = Lcg::new(99);
            let mut ideal = 0f64;
            let grids: Vec<Vec<i32>> = grid_dims(w, h)
                .iter()
                .map(|&(gw, gh)| {
                    (0..gw * gh)
                        .map(|_| {
                            // Inverse-CDF sampling of a Laplace(mu, b), then rounding.
                            let u = (r.next() as f64 + 0.5) / (1u64 << 24) as f64;
                            let x = if u < 0.5 {
                                mu + b * (2.0 * u).ln()
                            } else {
                                mu - b * (2.0 * (1.0 - u)).ln()
                            };
                            let y = x.round();
                            ideal -= (cdf(y + 0.5 - mu) - cdf(y - 0.5 - mu)).log2();
                            y as i32
                        })
                        .collect()
                })
                .collect();
            let bits = encode_latents(&arm, &grids, w, h).unwrap().len() as f64 * 8.0;
            assert!(
                bits < ideal * 1.03 + 64.0 && bits > ideal * 0.97 - 64.0,
                "mu {mu} log2b {log2b}: {bits} bits coded, {ideal:.0} ideal"
            );
        }
    }

    /// Architecture 2's integer model on hand-computed cases (spec §3.2): the residual paths,
    /// the clamps, and the flooring shift on negative sums.
    #[test]
    fn integer_arm_v2_golden() {
        use crate::neural::arch::ARM2_TENSORS;
        let at = |name: &str| ARM2_TENSORS.iter().find(|t| t.0 == name).unwrap().1;
        let c = ARM2_CTX;
        // Identity network: h1 = h2 = 256 * max(ctx, 0); mu = h2[0] (w3[0][0] = 1.0), log2
        // scale = b3[1].
        let mut a = ArmQ::zeros(2);
        a.params[at("arm.w3")] = 256;
        a.params[at("arm.b3") + 1] = -512;
        let mut ctx = [0i64; ARM2_CTX];
        ctx[0] = 3;
        ctx[1] = -2;
        assert_eq!(a.predict(&ctx), (768, -512));
        ctx[0] = -3;
        assert_eq!(a.predict(&ctx), (0, -512));
        // w1[0][1] = -1.0 turns the negative neighbour into h1[0] = 256*(-3) + 256*2 -> 0
        // (clamped), and with ctx[0] = 1: 256 + 512 = 768.
        a.params[at("arm.w1") + 1] = -256;
        ctx[0] = 1;
        assert_eq!(a.predict(&ctx), (768, -512));
        // b2 and w2 on the second layer: h2[0] = h1[0] + b2[0] + (w2[0][0] * h1[0] >> 8)
        // = 768 + 5 + (128 * 768 >> 8) = 1157.
        a.params[at("arm.b2")] = 5;
        a.params[at("arm.w2")] = 128;
        assert_eq!(a.predict(&ctx), (1157, -512));
        // The output shift floors: w3[0][0] = -1 gives (-1157 >> 8) = -5, not -4.
        a.params[at("arm.w3")] = -1;
        assert_eq!(a.predict(&ctx), (-5, -512));
        // The linear branch adds wl[1][2] * ctx[2] = -3 * 4 to the log2 scale, unshifted.
        let mut b = a.clone();
        b.params[at("arm.wl") + c + 2] = -3;
        let mut ctx2 = [0i64; ARM2_CTX];
        ctx2[0] = 1;
        ctx2[2] = 4;
        let (mu0, _) = a.predict(&ctx2);
        assert_eq!(b.predict(&ctx2), (mu0, -512 - 12));
        // Activations are clamped to ARM2_ACT_MAX: huge contexts and weights stay finite and
        // deterministic.
        let mut big = ArmQ::zeros(2);
        big.params.fill(i16::MAX);
        let ctx = [i64::from(LATENT_MAX); ARM2_CTX];
        let (mu, ls) = big.predict(&ctx);
        let h2 = ARM2_ACT_MAX;
        let want = i64::from(i16::MAX)
            + c as i64 * i64::from(i16::MAX) * i64::from(LATENT_MAX)
            + ((c as i64 * i64::from(i16::MAX) * h2) >> 8);
        assert_eq!((mu, ls), (want, want));
    }

    /// Architecture 2's integer model is its float model (the trainer's) scaled by 256, up to
    /// the two flooring shifts.
    #[test]
    fn integer_arm_v2_tracks_float_arm() {
        const C: usize = ARM2_CTX;
        for seed in [21, 22] {
            let mut arm = random_arm_of(2, seed);
            arm.params.iter_mut().for_each(|p| *p /= 4);
            let f = arm.to_float();
            let (w1, rest) = f.split_at(C * C);
            let (b1, rest) = rest.split_at(C);
            let (w2, rest) = rest.split_at(C * C);
            let (b2, rest) = rest.split_at(C);
            let (wl, rest) = rest.split_at(2 * C);
            let (w3, b3) = rest.split_at(2 * C);
            for ctx in [
                [0i64; C],
                [1, -2, 3, 0, 4, -1, 0, 2],
                [5, 5, -7, 2, 1, 1, -3, 9],
            ] {
                let c: Vec<f32> = ctx.iter().map(|&v| v as f32).collect();
                let h1: Vec<f32> = (0..C)
                    .map(|j| {
                        (c[j] + b1[j] + (0..C).map(|i| w1[j * C + i] * c[i]).sum::<f32>()).max(0.0)
                    })
                    .collect();
                let h2: Vec<f32> = (0..C)
                    .map(|j| {
                        (h1[j] + b2[j] + (0..C).map(|i| w2[j * C + i] * h1[i]).sum::<f32>())
                            .max(0.0)
                    })
                    .collect();
                let o: Vec<f32> = (0..2)
                    .map(|m| {
                        b3[m]
                            + (0..C)
                                .map(|j| w3[m * C + j] * h2[j] + wl[m * C + j] * c[j])
                                .sum::<f32>()
                    })
                    .collect();
                let (mu, ls) = arm.predict(&ctx);
                for (got, want) in [(mu, o[0]), (ls, o[1])] {
                    assert!(
                        (got as f32 / 256.0 - want).abs() <= 0.05 + want.abs() * 1e-3,
                        "{ctx:?}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// The integer model is the float model scaled by 256 (up to the final shift's flooring).
    #[test]
    fn integer_arm_tracks_float_arm() {
        let arm = random_arm(21);
        let f = arm.to_float();
        let (w1, rest) = f.split_at(ARM_HIDDEN * ARM_CTX);
        let (b1, rest) = rest.split_at(ARM_HIDDEN);
        let (w2, b2) = rest.split_at(2 * ARM_HIDDEN);
        for ctx in [[0i64, 0, 0, 0], [1, -2, 3, 0], [5, 5, -7, 2]] {
            let h: Vec<f32> = (0..ARM_HIDDEN)
                .map(|j| {
                    (b1[j]
                        + (0..ARM_CTX)
                            .map(|i| w1[j * ARM_CTX + i] * ctx[i] as f32)
                            .sum::<f32>())
                    .max(0.0)
                })
                .collect();
            let o: Vec<f32> = (0..2)
                .map(|m| {
                    b2[m]
                        + (0..ARM_HIDDEN)
                            .map(|j| w2[m * ARM_HIDDEN + j] * h[j])
                            .sum::<f32>()
                })
                .collect();
            let (mu, ls) = arm.predict(&ctx);
            assert!(
                (mu as f32 / 256.0 - o[0]).abs() <= 1.0 / 256.0 + 1e-4,
                "{ctx:?}"
            );
            assert!(
                (ls as f32 / 256.0 - o[1]).abs() <= 1.0 / 256.0 + 1e-4,
                "{ctx:?}"
            );
        }
    }
}

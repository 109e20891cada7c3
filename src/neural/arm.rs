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
/// Symbols of table set 1 code `d = y - floor(mu)` in `[-RANGE, RANGE]` directly; outside, an
/// escape. Set 2 narrows it per scale ([`TableSet::range`]).
pub const RANGE: i32 = 63;

/// `R_s = min(RANGE, ceil(28 · b_s))` for each scale index (spec §3.4), computed once in exact
/// arithmetic: the Laplace mass beyond `28·b` is `e^-28`, far below the 2^-16 every directly
/// coded symbol is given at least.
const SCALED_RANGE: [u8; SCALES] = [
    2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 9, 10, 10, 11, 12, 13, 14, 16, 17, 19,
    20, 22, 24, 26, 28, 31, 34, 37, 40, 44, 48, 52, 56, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
];

/// The frequency tables the latents are coded with (payload flag bit 2, spec §3.3–§3.5).
///
/// Why a second set: every directly coded symbol gets at least 1/65,536 of its table, so a
/// table of 129 symbols caps its most probable one at 65,408/65,536 and a latent the model is
/// sure of still costs 0.0028 bits — about 140 bytes for the zeros of a 768x512 grid 0. Set 2
/// narrows each table to where its scale puts the mass (7 to 127 symbols; the floor's cost falls
/// by up to 21x) and places the mean in eighths instead of quarters. Re-coding 20 trained
/// 768x512 payloads, the narrow alphabets alone saved 35–165 bytes on each; set 2 as a whole
/// saved 78–674 on each of 48 (0.5–5.0 %; docs/neural-rd.md, stop 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableSet {
    /// Means in quarters, every table codes `d` in `-RANGE..=RANGE` (architecture 1, and 2 or 3
    /// without flag bit 2).
    #[default]
    Set1,
    /// Means in eighths, the table of scale index `s` codes `d` in `-R_s..=R_s`
    /// (`SCALED_RANGE`, the spec's list).
    Set2,
}

impl TableSet {
    /// The largest `|d|` the tables of scale index `s` (clamped to the last) code without an
    /// escape.
    #[inline]
    pub fn range(self, s: usize) -> i32 {
        match self {
            TableSet::Set1 => RANGE,
            TableSet::Set2 => i32::from(SCALED_RANGE[s.min(SCALES - 1)]),
        }
    }

    /// Mean offsets per unit: quarters (set 1) or eighths (set 2).
    #[inline]
    pub fn fracs(self) -> usize {
        match self {
            TableSet::Set1 => 4,
            TableSet::Set2 => 8,
        }
    }

    /// The other set (the trainer and the rate report try both).
    pub fn other(self) -> TableSet {
        match self {
            TableSet::Set1 => TableSet::Set2,
            TableSet::Set2 => TableSet::Set1,
        }
    }

    /// `log2` of [`Self::fracs`].
    #[inline]
    fn frac_bits(self) -> u32 {
        self.fracs().trailing_zeros()
    }
}

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

/// Where a latent's prediction lands: the integer base `floor(mu)` (in the set's fractions),
/// the table (scale, fraction offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prediction {
    pub base: i64,
    pub scale: usize,
    pub frac: usize,
}

/// Quantizes the ARM outputs (spec §3.3): mu to the set's fractions — quarters or eighths —
/// (round half up), log2 scale to eighths (round half up), clamped to the tables.
#[inline]
pub fn quantize_prediction(mu_q8: i64, ls_q8: i64, set: TableSet) -> Prediction {
    let lim = i64::from(LATENT_MAX) << ARM_FRAC_BITS;
    let mu = mu_q8.clamp(-lim, lim);
    let fb = set.frac_bits();
    let mq = (mu + (1 << (ARM_FRAC_BITS - fb - 1))) >> (ARM_FRAC_BITS - fb);
    let s = (((ls_q8.clamp(-(1 << 40), 1 << 40) * 8 + 128) >> 8) + SCALE_ZERO)
        .clamp(0, SCALES as i64 - 1);
    Prediction {
        base: mq >> fb,
        scale: s as usize,
        frac: (mq & ((1 << fb) - 1)) as usize,
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

/// The Laplace CDF at `x8 / 8` for scale index `s`, zero mean, in Q32 (`0..=2^32`).
fn laplace_cdf_q32(x8: i64, s: usize) -> u64 {
    // 1/b = 2^((SCALE_ZERO - s) / 8), in Q32.
    let inv_b = exp2_q32((SCALE_ZERO - s as i64) * 8192);
    // t = |x| * log2(e) / b in Q16: |x8|/8 * LOG2E * inv_b.
    let t = (u128::from(x8.unsigned_abs()) * u128::from(LOG2E_Q32) * u128::from(inv_b)) >> 51;
    let e = if t > (200u128 << 16) {
        0
    } else {
        exp2_q32(-(t as i64))
    };
    let half = e >> 1;
    if x8 < 0 {
        half
    } else {
        (1u64 << 32) - half
    }
}

/// Frequencies for one (scale, fraction) table of a set (spec §3.4): its direct symbols are
/// `-r..=r` (`r` = [`TableSet::range`]) between two escapes; the Laplace mass of each symbol's
/// interval in Q32, scaled to `MAX_TOTAL - n` (`n = 2r + 3` symbols) and floored, plus one; the
/// remainder goes to the most probable symbol.
pub fn table_freqs(s: usize, f: usize, set: TableSet) -> Vec<u32> {
    let r = set.range(s) as usize;
    let n = 2 * r + 3;
    // Eighths per fraction step: 2 for quarters, 1 for eighths.
    let step = (8 / set.fracs()) as i64;
    let mut cdf = vec![0u64; n + 1];
    // Boundary k (1..=n-1) sits between symbols k-1 and k: d = k - r - 1 starts at
    // x = d - f/fracs - 1/2.
    cdf[n] = 1 << 32;
    for (k, c) in cdf.iter_mut().enumerate().take(n).skip(1) {
        let d = k as i64 - r as i64 - 1;
        *c = laplace_cdf_q32(8 * d - step * f as i64 - 4, s);
    }
    let avail = u64::from(MAX_TOTAL) - n as u64;
    let mut freqs = vec![0u32; n];
    let mut sum = 0u64;
    let mut best = 0usize;
    for k in 0..n {
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

/// A set's tables, `SCALES x fracs` of them in that order, built once.
fn tables(set: TableSet) -> &'static [FreqTable] {
    static SET1: OnceLock<Vec<FreqTable>> = OnceLock::new();
    static SET2: OnceLock<Vec<FreqTable>> = OnceLock::new();
    let cell = match set {
        TableSet::Set1 => &SET1,
        TableSet::Set2 => &SET2,
    };
    cell.get_or_init(|| {
        let mut v = Vec::with_capacity(SCALES * set.fracs());
        for s in 0..SCALES {
            for f in 0..set.fracs() {
                v.push(
                    FreqTable::new(&table_freqs(s, f, set))
                        .expect("tables are valid by construction"),
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
    set: TableSet,
}

const MEMO_BITS: u32 = 12;

impl Memo {
    fn new(set: TableSet) -> Memo {
        Memo {
            set,
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
            return quantize_prediction(mu, ls, self.set);
        }
        // Bit 40 marks a filled slot (keys use at most 32 bits).
        let tag = key | 1 << 40;
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_BITS)) as usize;
        if self.tags[slot] == tag {
            return self.preds[slot];
        }
        let (mu, ls) = arm.predict(ctx);
        let p = quantize_prediction(mu, ls, self.set);
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

/// The `r` of a table built by [`table_freqs`]: its symbols are `2r + 3`.
#[inline]
fn table_range(table: &FreqTable) -> i64 {
    (table.len() as i64 - 3) / 2
}

/// The symbol that codes a latent `d` away from its prediction's base, and the escape's
/// excess where `d` is outside the table's direct range.
fn symbol_of(table: &FreqTable, d: i64) -> (usize, Option<u32>) {
    let r = table_range(table);
    if d < -r {
        (0, Some((-d - r - 1) as u32))
    } else if d > r {
        (2 * r as usize + 2, Some((d - r - 1) as u32))
    } else {
        ((d + r + 1) as usize, None)
    }
}

/// Escape excess (`|d| - r - 1 >= 0`, `r` the table's [`TableSet::range`]) as Exp-Golomb
/// order 0: 5 bits of length, then the bits below the leading one.
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
    set: TableSet,
    mut f: impl FnMut(Coded),
) -> Result<()> {
    check_grids(grids, width, height)?;
    let dims = grid_dims(width, height);
    let mut model = LatentCost::new(arm, set);
    for k in (0..GRIDS).rev() {
        let (w, h) = dims[k];
        let g = &grids[k];
        for y in 0..h {
            for x in 0..w {
                let (table, symbol, excess) = model.coded(g, w, x, y);
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
    set: TableSet,
) -> Result<Vec<u8>> {
    let mut enc = Encoder::new();
    for_each_coded(arm, grids, width, height, set, |c| {
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
    set: TableSet,
) -> Result<[f64; GRIDS]> {
    let mut bits = [0f64; GRIDS];
    for_each_coded(arm, grids, width, height, set, |c| {
        bits[c.grid] += symbol_bits(c.table, c.symbol, c.excess);
    })?;
    Ok(bits)
}

/// The ideal code length of one coded symbol in bits: `-log2` of its table probability, plus
/// the escape's Exp-Golomb bits.
fn symbol_bits(table: &FreqTable, symbol: usize, excess: Option<u32>) -> f64 {
    let p = f64::from(table.freq(symbol)) / f64::from(table.total());
    let esc = excess.map_or(0, |e| 5 + (31 - (e + 1).leading_zeros()));
    f64::from(esc) - p.log2()
}

/// Code lengths of single latents under one entropy model, for encoders that search the
/// latents' values (the trainer's rate–distortion rounding): the same prediction, table and
/// symbol as [`encode_latents`], without coding anything.
pub struct LatentCost<'a> {
    arm: &'a ArmQ,
    set: TableSet,
    memo: Memo,
}

impl<'a> LatentCost<'a> {
    pub fn new(arm: &'a ArmQ, set: TableSet) -> LatentCost<'a> {
        LatentCost {
            arm,
            set,
            memo: Memo::new(set),
        }
    }

    /// Bits of the latent at `(x, y)` of a `w`-wide grid `g` (its causal neighbours as they
    /// are in `g`).
    pub fn bits(&mut self, g: &[i32], w: usize, x: usize, y: usize) -> f64 {
        let (table, symbol, excess) = self.coded(g, w, x, y);
        symbol_bits(table, symbol, excess)
    }

    /// How the coder codes the latent at `(x, y)`: its table, symbol and escape excess.
    fn coded(
        &mut self,
        g: &[i32],
        w: usize,
        x: usize,
        y: usize,
    ) -> (&'static FreqTable, usize, Option<u32>) {
        let nb = self.arm.neighbours();
        let mut ctx = [0i64; ARM2_CTX];
        let ctx = &mut ctx[..nb.len()];
        context(g, w, x, y, nb, ctx);
        let p = self.memo.predict(self.arm, ctx);
        let table = &tables(self.set)[p.scale * self.set.fracs() + p.frac];
        let (symbol, excess) = symbol_of(table, i64::from(g[y * w + x]) - p.base);
        (table, symbol, excess)
    }
}

/// Decodes what [`encode_latents`] wrote. The caller has bounded `width * height`.
pub fn decode_latents(
    arm: &ArmQ,
    data: &[u8],
    width: usize,
    height: usize,
    set: TableSet,
) -> Result<Vec<Vec<i32>>> {
    let dims = grid_dims(width, height);
    let t = tables(set);
    let nb = arm.neighbours();
    let mut ctx = [0i64; ARM2_CTX];
    let ctx = &mut ctx[..nb.len()];
    let mut memo = Memo::new(set);
    let mut dec = Decoder::new(data);
    let mut grids: Vec<Vec<i32>> = dims.iter().map(|&(w, h)| vec![0; w * h]).collect();
    for k in (0..GRIDS).rev() {
        let (w, h) = dims[k];
        let g = &mut grids[k];
        for y in 0..h {
            for x in 0..w {
                context(g, w, x, y, nb, ctx);
                let p = memo.predict(arm, ctx);
                let table = &t[p.scale * set.fracs() + p.frac];
                let sym = table
                    .decode(&mut dec)
                    .ok_or_else(|| corrupt("range coder target out of table"))?;
                let r = table_range(table);
                let d = if sym == 0 {
                    -r - 1 - i64::from(decode_excess(&mut dec)?)
                } else if sym == 2 * r as usize + 2 {
                    r + 1 + i64::from(decode_excess(&mut dec)?)
                } else {
                    sym as i64 - r - 1
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
mod tests;

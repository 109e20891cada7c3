//! The context model for quantized coefficients (spec/codec-dct.md §7), written once and
//! driven by either side of the range coder through [`BitIo`]: the encoder passes the true
//! bits, the decoder ignores them and returns what it decodes, and a cost estimator adds up
//! −log2 p without adapting. Keeping one copy is what keeps encoder and decoder in step.

use super::tables::{DEQUANT_MAX, DEQUANT_MIN, IDCT_M, ZIGZAG};
use crate::entropy::binary::{BinDecoder, BinEncoder, Context};

/// Largest exponent of a magnitude: |coefficient| < 2^(MAX_EXP+1) = 2048 (spec §7.4).
pub const MAX_EXP: usize = 10;
/// Largest magnitude a coefficient (or DC value) may have.
pub const MAX_MAG: i32 = (1 << (MAX_EXP + 1)) - 1;

/// A source/sink of modelled bits.
pub trait BitIo {
    /// Codes (or decodes) one bit in `ctx`; returns the bit actually coded.
    fn bit(&mut self, ctx: &mut Context, bit: bool) -> bool;
}

impl BitIo for BinEncoder {
    #[inline]
    fn bit(&mut self, ctx: &mut Context, bit: bool) -> bool {
        self.put(ctx, bit);
        bit
    }
}

impl BitIo for BinDecoder<'_> {
    #[inline]
    fn bit(&mut self, ctx: &mut Context, _bit: bool) -> bool {
        self.get(ctx)
    }
}

/// Adds up the cost (1/256 bit) of the bits it is given, without adapting: the encoder's
/// rate estimate for rate–distortion decisions.
#[derive(Debug, Default)]
pub struct CostIo {
    pub cost: u32,
}

impl BitIo for CostIo {
    #[inline]
    fn bit(&mut self, ctx: &mut Context, bit: bool) -> bool {
        self.cost += ctx.cost(bit);
        bit
    }
}

/// Buckets of the predicted nonzero count (index = count 0..=63); bucket 12 = no neighbour.
const NNZ_BUCKET: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = match i {
            0..=4 => i as u8,
            5..=6 => 5,
            7..=8 => 6,
            9..=11 => 7,
            12..=15 => 8,
            16..=21 => 9,
            22..=30 => 10,
            _ => 11,
        };
        i += 1;
    }
    t
};
const NNZ_BUCKETS: usize = 13;

/// Zigzag position buckets for the zero flag and the sign (index = k, 1..=63).
const K_BUCKET: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut k = 0;
    while k < 64 {
        t[k] = match k {
            0..=5 => k as u8 - if k == 0 { 0 } else { 1 },
            6..=8 => 5,
            9..=12 => 6,
            13..=20 => 7,
            21..=35 => 8,
            _ => 9,
        };
        k += 1;
    }
    t
};
const K_BUCKETS: usize = 10;
/// Coarser position buckets for magnitudes.
const KM_BUCKET: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut k = 0;
    while k < 64 {
        t[k] = match k {
            0..=2 => 0,
            3..=5 => 1,
            6..=14 => 2,
            15..=27 => 3,
            _ => 4,
        };
        k += 1;
    }
    t
};
const KM_BUCKETS: usize = 5;

/// Buckets of the number of nonzero coefficients still to come.
#[inline]
fn rem_bucket(r: u32) -> usize {
    match r {
        0..=3 => r as usize, // 0 never occurs
        4..=5 => 4,
        6..=9 => 5,
        10..=17 => 6,
        _ => 7,
    }
}
const REM_BUCKETS: usize = 8;

/// Six magnitude classes: 0, 1, 2, 3–4, 5–8, 9+.
#[inline]
fn mag6(v: u32) -> usize {
    match v {
        0..=2 => v as usize,
        3..=4 => 3,
        5..=8 => 4,
        _ => 5,
    }
}

/// Seven activity classes for DC: 0, 1, 2, 3–4, 5–8, 9–16, 17+.
#[inline]
fn act7(v: u32) -> usize {
    match v {
        0..=2 => v as usize,
        3..=4 => 3,
        5..=8 => 4,
        9..=16 => 5,
        _ => 6,
    }
}

const ZERO_CTX: usize = K_BUCKETS * REM_BUCKETS * 6 * 4;
const EXP_CTX: usize = KM_BUCKETS * 6 * MAX_EXP;

/// Contexts of one component class (0 = luma/gray, 1 = chroma).
#[derive(Clone)]
pub struct ClassModel {
    /// The class's quantization matrix (the DC predictor works on dequantized values).
    q: [u16; 64],
    nnz: [[Context; 64]; NNZ_BUCKETS],
    zero: Vec<Context>,
    exp: Vec<Context>,
    mant: [[Context; MAX_EXP]; MAX_EXP + 1],
    sign: [[Context; 9]; K_BUCKETS],
    dc_zero: [[Context; 4]; 7],
    dc_sign: [Context; 7],
    dc_exp: [[Context; MAX_EXP]; 7],
    dc_mant: [[Context; MAX_EXP]; MAX_EXP + 1],
}

impl ClassModel {
    /// Fresh contexts for a class quantized with `q`.
    pub fn new(q: [u16; 64]) -> Self {
        let c = Context::default();
        ClassModel {
            q,
            nnz: [[c; 64]; NNZ_BUCKETS],
            zero: vec![c; ZERO_CTX],
            exp: vec![c; EXP_CTX],
            mant: [[c; MAX_EXP]; MAX_EXP + 1],
            sign: [[c; 9]; K_BUCKETS],
            dc_zero: [[c; 4]; 7],
            dc_sign: [c; 7],
            dc_exp: [[c; MAX_EXP]; 7],
            dc_mant: [[c; MAX_EXP]; MAX_EXP + 1],
        }
    }
}

/// What a block's context may look at: the already coded blocks above and left in the same
/// component plane (absent at the plane's edges).
#[derive(Clone, Copy, Default)]
pub struct Neighbours<'a> {
    pub above: Option<&'a [i16; 64]>,
    pub left: Option<&'a [i16; 64]>,
}

/// Count of nonzero AC coefficients.
#[inline]
pub fn ac_nonzeros(b: &[i16; 64]) -> u32 {
    b[1..].iter().filter(|&&c| c != 0).count() as u32
}

#[inline]
fn sign3(v: i16) -> usize {
    match v.signum() {
        0 => 0,
        1 => 1,
        _ => 2,
    }
}

/// Codes a magnitude ≥ 1: unary exponent e = ⌊log2 m⌋ (no terminator at MAX_EXP) in `exp`
/// contexts, then the e bits below the leading one, MSB first, in `mant[e][i]` (spec §7.4).
#[inline]
fn code_mag<B: BitIo>(
    io: &mut B,
    exp: &mut [Context],
    mant: &mut [[Context; MAX_EXP]; MAX_EXP + 1],
    m: u32,
) -> u32 {
    let e_true = 31 - m.max(1).leading_zeros() as usize;
    let mut e = 0;
    while e < MAX_EXP && io.bit(&mut exp[e], e < e_true) {
        e += 1;
    }
    let mut v = 1u32;
    for i in (0..e).rev() {
        let b = io.bit(&mut mant[e][i], (m >> i) & 1 == 1);
        v = (v << 1) | u32::from(b);
    }
    v
}

/// Dequantized coefficient `i` of `b`, clamped as the IDCT does (spec §5.2).
#[inline]
fn deq(b: &[i16; 64], q: &[u16; 64], i: usize) -> i64 {
    i64::from((i32::from(b[i]) * i32::from(q[i])).clamp(DEQUANT_MIN, DEQUANT_MAX))
}

/// Rounded quotient, halves away from zero; `den > 0`.
#[inline]
fn round_div(num: i64, den: i64) -> i64 {
    if num >= 0 {
        (num + den / 2) / den
    } else {
        -((-num + den / 2) / den)
    }
}

/// DC prediction from edge continuity (spec §7.5), in the spirit of Lepton: the mean of the
/// current block's first row (column) must continue the mean of the above (left) block's last
/// row (column), extrapolated with the average of the two sides' gradients. Row means depend
/// only on the first column of coefficients (`c[u][0]`), column means on the first row, so the
/// current block's AC coefficients, coded before its DC, give everything but the DC itself.
/// Returns (prediction, disagreement of the two predictions) or None without neighbours.
fn edge_prediction(blk: &[i16; 64], nb: &Neighbours, q: &[u16; 64]) -> Option<(i32, u32)> {
    // profile(b, n, stride, from): Σ_{u ≥ from} M[n][u]·deq(b[u·stride]) — the scaled mean of
    // row n (stride 8: coefficients c[u][0]) or of column n (stride 1: c[0][u]).
    let profile = |b: &[i16; 64], n: usize, stride: usize, from: usize| -> i64 {
        (from..8)
            .map(|u| i64::from(IDCT_M[n][u]) * deq(b, q, u * stride))
            .sum()
    };
    let den = 2 * i64::from(IDCT_M[0][0]) * i64::from(q[0]);
    let side = |nbr: Option<&[i16; 64]>, stride: usize| {
        nbr.map(|o| {
            let (o7, o6) = (profile(o, 7, stride, 0), profile(o, 6, stride, 0));
            let (x0, x1) = (profile(blk, 0, stride, 1), profile(blk, 1, stride, 1));
            // DC·M[0][0] + x0 = o7 + ((o7 − o6) + (x1 − x0)) / 2
            let num = 2 * (o7 - x0) + (o7 - o6) + (x1 - x0);
            round_div(num, den).clamp(-i64::from(MAX_MAG), i64::from(MAX_MAG)) as i32
        })
    };
    match (side(nb.above, 8), side(nb.left, 1)) {
        (Some(a), Some(l)) => Some(((a + l) >> 1, (a - l).unsigned_abs())),
        (Some(x), None) | (None, Some(x)) => Some((x, 0)),
        (None, None) => None,
    }
}

/// Codes one block (spec §7): AC nonzero count, AC coefficients in zigzag order, then DC.
/// For the encoder `blk` holds the values to code; the decoder passes a zeroed block and
/// gets it filled. Returns false if a decoded DC leaves ±[`MAX_MAG`] (a corrupt stream).
pub fn code_block<B: BitIo>(
    io: &mut B,
    m: &mut ClassModel,
    blk: &mut [i16; 64],
    nb: &Neighbours,
) -> bool {
    // §7.2: number of nonzero AC coefficients, 6-bit binary tree.
    let nnz_true = ac_nonzeros(blk);
    let pb = match (nb.above, nb.left) {
        (Some(a), Some(l)) => NNZ_BUCKET[(ac_nonzeros(a) + ac_nonzeros(l)).div_ceil(2) as usize],
        (Some(x), None) | (None, Some(x)) => NNZ_BUCKET[ac_nonzeros(x) as usize],
        (None, None) => 12,
    } as usize;
    let tree = &mut m.nnz[pb];
    let mut node = 1usize;
    for i in (0..6).rev() {
        let b = io.bit(&mut tree[node], (nnz_true >> i) & 1 == 1);
        node = (node << 1) | usize::from(b);
    }
    let nnz = (node - 64) as u32;

    // §7.3: AC coefficients.
    let mut remaining = nnz;
    for k in 1..64 {
        if remaining == 0 {
            break;
        }
        let pos = ZIGZAG[k];
        let (row, col) = (pos / 8, pos % 8);
        let a = nb.above.map(|b| u32::from(b[pos].unsigned_abs()));
        let l = nb.left.map(|b| u32::from(b[pos].unsigned_abs()));
        let nbv = match (a, l) {
            (Some(a), Some(l)) => a + l,
            (Some(x), None) | (None, Some(x)) => 2 * x,
            (None, None) => 0,
        };
        // Intra neighbours: the coefficients above and left in the same block, both earlier in
        // zigzag order. The DC is coded after the AC coefficients, so it never counts.
        let up = if row > 0 && pos != 8 {
            u32::from(blk[pos - 8].unsigned_abs())
        } else {
            0
        };
        let lf = if col > 0 && pos != 1 {
            u32::from(blk[pos - 1].unsigned_abs())
        } else {
            0
        };
        let inv = up + lf;
        let v = blk[pos];
        let must = remaining as usize == 64 - k;
        if !must {
            let idx = ((usize::from(K_BUCKET[k]) * REM_BUCKETS + rem_bucket(remaining)) * 6
                + mag6(nbv))
                * 4
                + inv.min(3) as usize;
            if !io.bit(&mut m.zero[idx], v != 0) {
                continue;
            }
        }
        remaining -= 1;
        let eidx = (usize::from(KM_BUCKET[k]) * 6 + mag6(nbv + inv)) * MAX_EXP;
        let mag = code_mag(
            io,
            &mut m.exp[eidx..eidx + MAX_EXP],
            &mut m.mant,
            u32::from(v.unsigned_abs()),
        );
        let sa = nb.above.map_or(0, |b| sign3(b[pos]));
        let sl = nb.left.map_or(0, |b| sign3(b[pos]));
        let neg = io.bit(&mut m.sign[usize::from(K_BUCKET[k])][sa * 3 + sl], v < 0);
        blk[pos] = if neg { -(mag as i16) } else { mag as i16 };
    }

    // §7.5: DC, predicted from edge continuity with the neighbours (0 without any).
    let (pred, act) = edge_prediction(blk, nb, &m.q).unwrap_or((0, 0));
    let act = act7(act);
    let nz_class = match nnz {
        0 => 0,
        1..=3 => 1,
        4..=10 => 2,
        _ => 3,
    };
    let r_true = i32::from(blk[0]) - pred;
    let mut r = 0i32;
    if io.bit(&mut m.dc_zero[act][nz_class], r_true != 0) {
        let mag = code_mag(
            io,
            &mut m.dc_exp[act],
            &mut m.dc_mant,
            r_true.unsigned_abs(),
        ) as i32;
        let neg = io.bit(&mut m.dc_sign[act], r_true < 0);
        r = if neg { -mag } else { mag };
    }
    let dc = pred + r;
    if !(-MAX_MAG..=MAX_MAG).contains(&dc) {
        return false;
    }
    blk[0] = dc as i16;
    true
}

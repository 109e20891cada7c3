//! `cm` (id 6): learned context mixing (spec/codec-cm.md). Every bit of the block is predicted
//! by several context models — orders 0–4 and 6, the current word, and a match model that
//! follows the longest earlier occurrence of the recent bytes — whose predictions a small
//! neural network (a gated logistic mixer, its weight set chosen by the match state and the
//! bits of the current byte) combines; two adaptive probability maps refine the mix, and the
//! range coder codes the bit with it. Encoder and decoder run the same learning on the same
//! bits in integer arithmetic, so the network needs no stored weights: it *is* the model that
//! learns on the block ("compression is modelling").
//!
//! Why integer everywhere: a decoder on another machine must reproduce every prediction bit
//! for bit; floats would make the payload depend on the FPU. The logistic tables are defined by
//! integer interpolation (§3 of the spec), counters and weights are fixed point.

use super::{id, raw_or_coded, Codec};
use crate::entropy::range::{Decoder, Encoder};
use crate::error::{Error, Result};

/// Payload mode byte (spec §2).
mod mode {
    pub const RAW: u8 = 0;
    pub const CODED: u8 = 1;
}

/// The cm codec.
pub struct Cm;

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "cm",
        why: why.into(),
    }
}

impl Codec for Cm {
    fn id(&self) -> u8 {
        id::CM
    }
    fn name(&self) -> &'static str {
        "cm"
    }
    /// The level does not change the model (params 0).
    fn compress(&self, input: &[u8], _level: i32, out: &mut Vec<u8>) -> Result<u16> {
        encode(input, out);
        Ok(0)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        decode(payload, raw_len, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Logistic tables (spec §3)

/// The logistic function sampled at −16..16 in steps of 1/2 of its argument's unit, ×4096,
/// rounded: `round(4096 / (1 + e^(−(i − 16) / 2)))`, clamped to 1..4095 at the ends.
const SQUASH_KNOTS: [i32; 33] = [
    1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349,
    3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095,
];

/// 4096 / (1 + e^(−d/256)) by linear interpolation between the knots, for d in −2047..=2047.
#[inline]
const fn squash(d: i32) -> i32 {
    if d > 2047 {
        return 4095;
    }
    if d < -2047 {
        return 1;
    }
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    (SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w + 64) >> 7
}

/// The inverse of [`squash`]: for each p in 0..4096 the smallest d with squash(d) ≥ p
/// (2047 where none is).
const STRETCH: [i16; 4096] = {
    let mut t = [2047i16; 4096];
    let mut p = 0usize;
    let mut d = -2047;
    while d <= 2047 {
        let v = squash(d) as usize;
        while p <= v && p < 4096 {
            t[p] = d as i16;
            p += 1;
        }
        d += 1;
    }
    t
};

#[inline]
fn stretch(p: u32) -> i32 {
    i32::from(STRETCH[(p as usize).min(4095)])
}

// ---------------------------------------------------------------------------------------------
// Adaptive counters (spec §4)

/// Reciprocal table of the counters' adaptation rate: `65536 · 2 / (2n + 3)`.
const RATE: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let mut n = 0;
    while n < 1024 {
        t[n] = 131_072 / (2 * n as u32 + 3);
        n += 1;
    }
    t
};

/// A counter: 22-bit probability that the bit is 1 in the high bits, visit count in the low 10.
const COUNTER_INIT: u32 = 1 << 31;

/// Probability (12 bits) of a counter.
#[inline]
fn counter_p12(v: u32) -> u32 {
    v >> 20
}

#[inline]
fn counter_update(v: &mut u32, bit: bool, limit: u32) {
    let n = *v & 1023;
    let p = (*v >> 10) as i32;
    let target = if bit { (1 << 22) - 1 } else { 0 };
    // (target − p) >> 7 fits 15 bits and the rate 16: the product fits an i32.
    let p = (p + ((((target - p) >> 7) * RATE[n as usize] as i32) >> 9)).clamp(0, (1 << 22) - 1);
    *v = ((p as u32) << 10) | (n + u32::from(n < limit));
}

// ---------------------------------------------------------------------------------------------
// Model

/// Hashed context orders: 2, 3, 4, 6 and the word.
const HASHED: usize = 5;
/// Mixer inputs: order 0, order 1, the hashed orders, the match model, a bias.
const INPUTS: usize = 2 + HASHED + 2;
/// Weight sets: 5 match states × 256 partial bytes.
const SETS: usize = 5 * 256;
/// Mixer learning rate (spec §6).
const MIX_RATE: i32 = 12;
/// Weights are 16.16 fixed point, clamped to ±8 so no input can overflow them.
const WEIGHT_MAX: i32 = 8 << 16;
/// Count limits of the counters: the hashed orders keep adapting, the small tables settle.
const LIMIT_HASHED: u32 = 255;
const LIMIT_DIRECT: u32 = 1023;
/// Interpolation buckets of a probability map.
const APM_BUCKETS: usize = 33;
/// Largest and smallest table sizes (log2 of counters per hashed order).
const TABLE_BITS_MAX: u32 = 22;
const TABLE_BITS_MIN: u32 = 12;
/// Longest match the match model counts.
const MATCH_MAX: u32 = 65_535;
/// Bytes the match model hashes to find a candidate.
const MATCH_MIN: usize = 6;
/// Bytes of the match model's second, longer context.
const MATCH_LONG: usize = 16;

/// log2 of the counters per hashed order for a block of `raw_len` bytes (spec §5.1): about 16
/// counters per byte, so memory follows the block size, up to 2^22 (16 MiB per order).
fn table_bits(raw_len: usize) -> u32 {
    let log = usize::BITS - raw_len.leading_zeros();
    (log + 4).clamp(TABLE_BITS_MIN, TABLE_BITS_MAX)
}

/// Bucket (first counter index, a multiple of 16) of context value `x` for the nibble whose
/// partial byte is `nib_ctx`, in a table of `2^bits` counters (spec §5.2).
#[inline]
fn bucket(x: u32, nib_ctx: u32, bits: u32) -> usize {
    let mut h = x.wrapping_add(nib_ctx.wrapping_mul(0x9E37_79B1));
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^= h >> 15;
    ((h >> (32 - (bits - 4))) as usize) << 4
}

/// Starts loading the cache line of `v`: the five buckets of a nibble are known one coder step
/// before the first of them is read, and their misses then overlap that work.
#[inline(always)]
fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch(v as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// A zeroed table that the kernel may back with huge pages: the hashed orders touch a random
/// line of 80 MiB per nibble, and with 4 KiB pages nearly every touch also missed the TLB.
/// Measured (one core): a 2.4 MB XML file coded at 0.92 → 1.24 MB/s, a 1 MB changelog at
/// 0.62 → 0.80 MB/s, the same bytes. Not part of the format.
fn huge_zeroed<T: Copy + Default>(n: usize) -> Vec<T> {
    let v = vec![T::default(); n];
    #[cfg(target_os = "linux")]
    {
        let bytes = n * std::mem::size_of::<T>();
        let start = v.as_ptr() as usize;
        let page = 4096;
        let aligned = (start + page - 1) & !(page - 1);
        if bytes > 2 * page {
            let len = (start + bytes - aligned) & !(page - 1);
            // SAFETY: the range lies inside the vector's own allocation (rounded inwards to
            // whole pages); MADV_HUGEPAGE only changes how the kernel backs it, never its
            // contents, and failure is harmless (the hint is ignored).
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

/// An adaptive probability map (spec §7): refines a probability in the context `ctx`.
struct Apm {
    t: Vec<u16>,
    idx: usize,
}

impl Apm {
    fn new(contexts: usize) -> Self {
        let row: Vec<u16> = (0..APM_BUCKETS)
            .map(|j| (squash((j as i32 - 16) * 128) * 16) as u16)
            .collect();
        let mut t = huge_zeroed(contexts * APM_BUCKETS);
        for (i, v) in t.iter_mut().enumerate() {
            *v = row[i % APM_BUCKETS];
        }
        Apm { t, idx: 0 }
    }

    /// Refined probability (16 bits) in context `ctx` of the probability whose stretch is `st`.
    #[inline]
    fn p(&mut self, st: i32, ctx: usize) -> u32 {
        let s = (st + 2048) as usize; // 1..=4095
        let (j, w) = (s >> 7, (s & 127) as u32);
        let base = ctx * APM_BUCKETS + j;
        self.idx = if w < 64 { base } else { base + 1 };
        (u32::from(self.t[base]) * (128 - w) + u32::from(self.t[base + 1]) * w) >> 7
    }

    #[inline]
    fn update(&mut self, bit: bool) {
        let v = i32::from(self.t[self.idx]);
        let target = if bit { 65535 } else { 0 };
        self.t[self.idx] = (v + ((target - v) >> 6)) as u16;
    }
}

/// The whole predictor; encoder and decoder drive it identically.
struct Model {
    bits: u32,
    o0: Vec<u32>,
    o1: Vec<u32>,
    /// The hashed orders' counters, one table of `2^bits` after another, each stored XOR
    /// [`COUNTER_INIT`]: the initial state is then all-zero memory, which the allocator hands
    /// out lazily, so a damaged block that declares 64 MiB fails without first writing 80 MiB.
    hashed: Vec<u32>,
    /// Context value of each hashed order for the current byte.
    ctx: [u32; HASHED],
    /// Bucket of each hashed order for the current nibble.
    base: [usize; HASHED],
    /// Counter index each input read (for the update).
    idx: [usize; HASHED + 2],
    st: [i32; INPUTS],
    weights: Vec<i32>,
    set: usize,
    pm: u32,
    apm0: Apm,
    apm1: Apm,
    /// Partial byte: 1 followed by the bits seen (1..255).
    c0: u32,
    /// Partial nibble: 1 followed by the bits of the current nibble (1..15).
    nib: usize,
    /// The last eight bytes, most recent in the low byte.
    c8: u64,
    /// The eight bytes before those.
    c16: u64,
    word: u32,
    // Match model.
    mm_table: Vec<u32>,
    /// Positions by the hash of the last 16 bytes.
    mm_long: Vec<u32>,
    mm_ptr: usize,
    mm_len: u32,
    mm_byte: u32,
    mm_bit: Option<bool>,
    mm_ctx: usize,
    mm_sm: [u32; 64],
}

impl Model {
    fn new(raw_len: usize) -> Self {
        let bits = table_bits(raw_len);
        let mut m = Model {
            bits,
            o0: vec![COUNTER_INIT; 256],
            o1: vec![COUNTER_INIT; 1 << 16],
            hashed: huge_zeroed(HASHED << bits),
            ctx: [0; HASHED],
            base: [0; HASHED],
            idx: [0; HASHED + 2],
            st: [0; INPUTS],
            weights: vec![1 << 14; SETS * INPUTS],
            set: 0,
            pm: 2048,
            apm0: Apm::new(256),
            apm1: Apm::new(1 << 16),
            c0: 1,
            nib: 1,
            c8: 0,
            c16: 0,
            word: 0,
            mm_table: huge_zeroed(1 << (bits - 3)),
            mm_long: huge_zeroed(1 << (bits - 3)),
            mm_ptr: 0,
            mm_len: 0,
            mm_byte: 0,
            mm_bit: None,
            mm_ctx: 0,
            mm_sm: [COUNTER_INIT; 64],
        };
        m.new_byte_contexts();
        m
    }

    /// Context values of the hashed orders at a byte boundary (spec §5.2).
    fn new_byte_contexts(&mut self) {
        let c = self.c8;
        let c4 = c as u32;
        self.ctx = [
            (c4 & 0xFFFF) | (2 << 24),
            (c4 & 0xFF_FFFF).wrapping_mul(0x0100_0193) ^ (3 << 28),
            c4.wrapping_mul(0x2F0B_4C4D) ^ 4,
            c4.wrapping_mul(0x7FEB_352D)
                ^ ((c >> 32) as u32 & 0xFFFF).wrapping_mul(0x846C_A68B)
                ^ 6,
            self.word.wrapping_mul(0x1B87_3593) ^ 7,
        ];
        self.nibble_buckets(0);
    }

    fn nibble_buckets(&mut self, nib_ctx: u32) {
        for i in 0..HASHED {
            self.base[i] = (i << self.bits) + bucket(self.ctx[i], nib_ctx, self.bits);
            prefetch(&self.hashed[self.base[i]]);
        }
    }

    /// Probability (16 bits, within 32..=65504) that the next bit is 1.
    #[inline]
    fn predict(&mut self) -> u32 {
        let c0 = self.c0 as usize;
        let c1 = (self.c8 & 0xFF) as usize;
        self.idx[0] = c0;
        self.idx[1] = (c1 << 8) | c0;
        // The second map's row (66 bytes) is known now and read after the mixer.
        let row = ((c1 << 8) | c0) * APM_BUCKETS;
        prefetch(&self.apm1.t[row]);
        prefetch(&self.apm1.t[row + APM_BUCKETS - 1]);
        self.st[0] = stretch(counter_p12(self.o0[c0]));
        self.st[1] = stretch(counter_p12(self.o1[self.idx[1]]));
        for i in 0..HASHED {
            let k = self.base[i] + self.nib;
            self.idx[2 + i] = k;
            self.st[2 + i] = stretch(counter_p12(self.hashed[k] ^ COUNTER_INIT));
        }
        // Match model: predicts the next bit of the byte that followed the earlier occurrence,
        // while the bits so far agree with it.
        let bitpos = 32 - self.c0.leading_zeros() - 1; // bits of the byte seen, 0..7
        self.mm_bit = None;
        let mut level = 0;
        if self.mm_len > 0 && (self.mm_byte | 0x100) >> (8 - bitpos) == self.c0 {
            let b = (self.mm_byte >> (7 - bitpos)) & 1 == 1;
            self.mm_bit = Some(b);
            self.mm_ctx = ((self.mm_len.min(31) as usize) << 1) | usize::from(b);
            self.st[2 + HASHED] = stretch(counter_p12(self.mm_sm[self.mm_ctx]));
            level = 1
                + usize::from(self.mm_len >= 8)
                + usize::from(self.mm_len >= 16)
                + usize::from(self.mm_len >= 32);
        } else {
            self.st[2 + HASHED] = 0;
        }
        self.st[INPUTS - 1] = 256;
        self.set = (level * 256 + c0) * INPUTS;
        let w = &self.weights[self.set..self.set + INPUTS];
        let dot: i64 = w
            .iter()
            .zip(&self.st)
            .map(|(&w, &x)| i64::from(w) * i64::from(x))
            .sum();
        let d = (dot >> 16).clamp(-2047, 2047) as i32;
        self.pm = squash(d) as u32;
        let st = stretch(self.pm);
        let a0 = self.apm0.p(st, c0);
        let a1 = self.apm1.p(st, (c1 << 8) | c0);
        let p = (self.pm * 16 * 2 + a0 + a1 * 5 + 4) >> 3;
        p.clamp(32, 65504)
    }

    #[inline]
    fn update(&mut self, bit: bool, hist: &[u8]) {
        // Mixer: gradient step on the coding cost.
        let err = ((i32::from(bit) << 12) - self.pm as i32) * MIX_RATE;
        let w = &mut self.weights[self.set..self.set + INPUTS];
        for (w, &x) in w.iter_mut().zip(&self.st) {
            *w = (*w + ((x * err + (1 << 15)) >> 16)).clamp(-WEIGHT_MAX, WEIGHT_MAX);
        }
        counter_update(&mut self.o0[self.idx[0]], bit, LIMIT_DIRECT);
        counter_update(&mut self.o1[self.idx[1]], bit, LIMIT_DIRECT);
        for i in 0..HASHED {
            let slot = &mut self.hashed[self.idx[2 + i]];
            let mut v = *slot ^ COUNTER_INIT;
            counter_update(&mut v, bit, LIMIT_HASHED);
            *slot = v ^ COUNTER_INIT;
        }
        if self.mm_bit.is_some() {
            counter_update(&mut self.mm_sm[self.mm_ctx], bit, LIMIT_DIRECT);
        }
        self.apm0.update(bit);
        self.apm1.update(bit);
        self.c0 = (self.c0 << 1) | u32::from(bit);
        self.nib = (self.nib << 1) | usize::from(bit);
        if self.c0 >= 256 {
            self.byte_done((self.c0 & 0xFF) as u8, hist);
        } else if self.nib >= 16 {
            self.nib = 1;
            self.nibble_buckets(self.c0);
        }
    }

    /// `hist` holds every byte of the block before the one just completed (`b`).
    fn byte_done(&mut self, b: u8, hist: &[u8]) {
        self.c0 = 1;
        self.nib = 1;
        self.c16 = (self.c16 << 8) | (self.c8 >> 56);
        self.c8 = (self.c8 << 8) | u64::from(b);
        self.word = if b.is_ascii_alphabetic() {
            (self.word ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
        } else {
            0
        };
        // Match model (spec §5.3): extend or drop the current match, then look one up.
        let pos = hist.len() + 1; // bytes known, including b
        if self.mm_len > 0 {
            if u32::from(b) == self.mm_byte {
                self.mm_len = (self.mm_len + 1).min(MATCH_MAX);
                self.mm_ptr += 1;
            } else {
                self.mm_len = 0;
            }
        }
        // Context agreement of a candidate, counted backwards up to `max` bytes.
        let agree = |cand: usize, max: usize| {
            let at = |i: usize| if i + 1 == pos { b } else { hist[i] };
            let mut n = 0;
            while n < max && n < cand && at(cand - 1 - n) == at(pos - 1 - n) {
                n += 1;
            }
            n
        };
        let mask = self.mm_long.len() - 1;
        if pos >= MATCH_LONG {
            // The last 16 bytes find the place that repeats the longer context: the most
            // recent 6-byte context is often the wrong one in periodic data.
            let k = (((self.c8.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ self.c16)
                .wrapping_mul(0xD6E8_FEB8_6659_FD93)
                >> 40) as usize
                & mask;
            let cand = self.mm_long[k] as usize;
            if self.mm_len == 0 && cand > 0 {
                let n = agree(cand, 32);
                if n >= MATCH_LONG {
                    self.mm_len = n as u32;
                    self.mm_ptr = cand;
                }
            }
            self.mm_long[k] = pos as u32;
        }
        if pos >= MATCH_MIN {
            let k = ((self.c8 & 0xFFFF_FFFF_FFFF).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40)
                as usize
                & mask;
            let cand = self.mm_table[k] as usize;
            if self.mm_len == 0 && cand > 0 {
                let n = agree(cand, 32);
                if n > 0 {
                    self.mm_len = n as u32;
                    self.mm_ptr = cand;
                }
            }
            self.mm_table[k] = pos as u32;
        }
        if self.mm_len > 0 {
            self.mm_byte = u32::from(if self.mm_ptr + 1 == pos {
                b
            } else {
                hist[self.mm_ptr]
            });
        }
        self.new_byte_contexts();
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder and decoder

/// The most decoded bytes a coded payload may stand for, per payload byte (spec §2). cm decodes
/// at about 1 MB/s, so without a bound a few kilobytes of payload could declare minutes of work;
/// data that compresses better than this is data lzr or zstd code almost as small, 100 times
/// faster.
pub const MAX_RATIO: u64 = 64;

/// Appends the cm payload of `input` to `out`: coded when that is smaller than raw and within
/// [`MAX_RATIO`], raw otherwise.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    if let Some(body) = coded_body(input) {
        let len = 1 + body.len() as u64;
        if len < 1 + input.len() as u64 && input.len() as u64 <= MAX_RATIO * len {
            out.push(mode::CODED);
            out.extend_from_slice(&body);
            return;
        }
    }
    out.push(mode::RAW);
    out.extend_from_slice(input);
}

/// The range-coded stream of `input`, or `None` once it is longer than `input` (or for an
/// empty input).
pub(crate) fn coded_body(input: &[u8]) -> Option<Vec<u8>> {
    if input.is_empty() {
        return None;
    }
    let mut m = Model::new(input.len());
    let mut rc = Encoder::new();
    for (i, &byte) in input.iter().enumerate() {
        for k in (0..8).rev() {
            let bit = (byte >> k) & 1 == 1;
            rc.encode_bit(m.predict(), bit);
            m.update(bit, &input[..i]);
        }
        if rc.len() > input.len() {
            return None;
        }
    }
    Some(rc.finish())
}

/// Decodes a cm payload into `out` (cleared first); `out` ends up exactly `raw_len` long.
pub fn decode(payload: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let Some(body) = raw_or_coded("cm", payload, raw_len, out)? else {
        return Ok(());
    };
    let max = MAX_RATIO * payload.len() as u64;
    if raw_len as u64 > max {
        return Err(Error::Limit {
            what: "cm block size per payload byte",
            got: raw_len as u64,
            max,
        });
    }
    out.reserve_exact(raw_len);
    let mut model = Model::new(raw_len);
    let mut rc = Decoder::new(body);
    while out.len() < raw_len {
        if rc.is_bad() {
            return Err(corrupt("range-coded stream is malformed or ends early"));
        }
        let mut byte = 0u8;
        for _ in 0..8 {
            let bit = rc.decode_bit(model.predict());
            byte = (byte << 1) | u8::from(bit);
            model.update(bit, out);
        }
        out.push(byte);
    }
    if rc.is_bad() || !rc.at_exact_end() {
        return Err(corrupt(
            "range-coded stream does not end where the block does",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lcg;
    use super::*;

    fn roundtrip(data: &[u8]) -> usize {
        let mut payload = Vec::new();
        Cm.compress(data, 0, &mut payload).unwrap();
        let mut out = Vec::new();
        Cm.decompress(&payload, data.len(), 0, &mut out).unwrap();
        assert!(out == data, "roundtrip of {} bytes", data.len());
        payload.len()
    }

    #[test]
    fn tables_are_monotone_inverses() {
        assert_eq!(squash(0), 2048);
        assert_eq!(squash(-3000), 1);
        assert_eq!(squash(3000), 4095);
        for d in -2047..2047 {
            assert!(squash(d) <= squash(d + 1));
        }
        for p in 1..4095u32 {
            assert!(stretch(p) <= stretch(p + 1));
            assert!(squash(stretch(p)) as u32 >= p, "p {p}");
        }
    }

    #[test]
    fn roundtrips_and_learns() {
        for data in [
            &b""[..],
            b"a",
            b"abcabcabcabcabc",
            &[0u8; 5000],
            &lcg(20_000, 5),
        ] {
            roundtrip(data);
        }
        // Words drawn at random from a small vocabulary: no long repeats for an LZ coder, but
        // strong order-1..3 statistics, which is what context mixing learns.
        let words = [
            "the ", "model ", "learns ", "while ", "it ", "codes ", "each ", "bit ", "\n",
        ];
        let text: Vec<u8> = lcg(60_000, 3)
            .iter()
            .flat_map(|&r| words[r as usize % words.len()].bytes())
            .collect();
        let n = roundtrip(&text);
        let mut lzr = Vec::new();
        super::super::lzr::encode(&text, 128, 128, &mut lzr);
        assert!(n * 100 < lzr.len() * 95, "cm {n} vs lzr {}", lzr.len());
        let rnd = lcg(20_000, 9);
        assert_eq!(roundtrip(&rnd), 1 + rnd.len(), "random data is stored raw");
    }

    /// Data more predictable than `MAX_RATIO` is stored raw by the encoder, and a coded
    /// payload declaring more is refused before any decoding work.
    #[test]
    fn coded_payloads_are_bounded_by_their_ratio() {
        let data = vec![b'a'; 20_000];
        let body = coded_body(&data).unwrap();
        assert!(data.len() as u64 > MAX_RATIO * (1 + body.len() as u64));
        assert_eq!(roundtrip(&data), 1 + data.len(), "over the ratio: raw");
        let mut payload = vec![mode::CODED];
        payload.extend_from_slice(&body);
        // A well-formed stream of the right bytes: only the bound refuses it.
        let err = decode(&payload, data.len(), &mut Vec::new()).unwrap_err();
        assert_eq!(err.class(), "limit", "{err}");
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn roundtrip_and_damage(
            data in proptest::collection::vec(0u8..6, 0..2000),
            at in any::<usize>(),
            flip in 1u8..=255,
            cut in any::<bool>(),
        ) {
            let mut p = Vec::new();
            Cm.compress(&data, 0, &mut p).unwrap();
            let mut out = Vec::new();
            Cm.decompress(&p, data.len(), 0, &mut out).unwrap();
            prop_assert!(out == data);
            // Damage: an error, or exactly the declared size.
            let i = at % p.len();
            if cut {
                p.truncate(i);
            } else {
                p[i] ^= flip;
            }
            if Cm.decompress(&p, data.len(), 0, &mut out).is_ok() {
                prop_assert_eq!(out.len(), data.len());
            }
        }
    }

    #[test]
    fn damaged_payloads_fail_cleanly() {
        let text: Vec<u8> = (0..3000u32)
            .flat_map(|i| format!("{} fox {} ", i % 17, i % 5).into_bytes())
            .collect();
        let mut p = Vec::new();
        Cm.compress(&text, 0, &mut p).unwrap();
        let mut out = Vec::new();
        for cut in [1, 2, p.len() / 2, p.len() - 1] {
            assert!(Cm.decompress(&p[..cut], text.len(), 0, &mut out).is_err());
        }
        let mut longer = p.clone();
        longer.push(0);
        assert!(Cm.decompress(&longer, text.len(), 0, &mut out).is_err());
        for i in (1..p.len()).step_by(53) {
            let mut q = p.clone();
            q[i] ^= 0x21;
            match Cm.decompress(&q, text.len(), 0, &mut out) {
                Ok(()) => assert_eq!(out.len(), text.len()),
                Err(e) => assert_eq!(e.class(), "corrupt"),
            }
        }
        assert!(Cm.decompress(&[], 0, 0, &mut out).is_err());
        assert!(Cm.decompress(&[2], 0, 0, &mut out).is_err());
    }
}

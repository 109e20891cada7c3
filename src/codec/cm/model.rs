//! The cm predictor (spec §5–§10): context models, match model, mixer and probability maps.
//!
//! One implementation serves the three models: `Model<1>` is model 1 (codec id 6, format 1.3),
//! `Model<2>` model 2 (codec id 7, format 1.5), `Model<3>` model 3 (codec id 8, format 1.6).
//! Model 2 adds what binaries and long-range repeats need — checked two-way buckets instead of
//! colliding ones, two sparse orders, a match model that finds 3-byte matches and survives a
//! mismatched byte, fast-adapting orders 0 and 1, and the match state in the first probability
//! map (spec §9). Model 3 keeps bit histories instead of counters in the hashed orders, read
//! through adaptive state maps, and sums the mixer in i32 (spec §10). A const parameter keeps
//! the older models' loops exactly as they were.

use super::tables::*;

/// Hashed context orders: 2, 3, 4, 6 and the word; model 2 adds two sparse ones.
const HASHED_MAX: usize = 7;
/// Weight sets: 5 match states × 256 partial bytes.
const SETS: usize = 5 * 256;
/// Mixer learning rate (spec §6).
const MIX_RATE: i32 = 12;
/// Weights are 16.16 fixed point, clamped to ±8 so no input can overflow them.
pub(super) const WEIGHT_MAX: i32 = 8 << 16;
/// Count limits of the counters: the hashed orders keep adapting, the small tables settle.
const LIMIT_HASHED: u32 = 255;
const LIMIT_DIRECT: u32 = 1023;
/// Largest and smallest table sizes (log2 of counters per hashed order).
const TABLE_BITS_MAX: u32 = 22;
const TABLE_BITS_MIN: u32 = 12;
/// Longest match the match model counts.
const MATCH_MAX: u32 = 65_535;
/// Bytes of the match model's second, longer context.
const MATCH_LONG: usize = 16;
/// Models 2 and 3: a surviving match is dropped at this many misses without
/// [`RECOVER_GOOD`] agreeing bytes between.
const RECOVER_MISSES: u32 = 8;
const RECOVER_GOOD: u32 = 16;

/// log2 of the counters per hashed order for a block of `raw_len` bytes (spec §5.1): about 16
/// counters per byte, so memory follows the block size, up to 2^22 (16 MiB per order).
fn table_bits(raw_len: usize) -> u32 {
    let log = usize::BITS - raw_len.leading_zeros();
    (log + 4).clamp(TABLE_BITS_MIN, TABLE_BITS_MAX)
}

/// The hash of a context value and the partial byte of its nibble (spec §5.2).
#[inline]
fn bucket_hash(x: u32, nib_ctx: u32) -> u32 {
    let mut h = x.wrapping_add(nib_ctx.wrapping_mul(0x9E37_79B1));
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^ (h >> 15)
}

/// Bucket (first counter index, a multiple of 16) of context value `x` for the nibble whose
/// partial byte is `nib_ctx`, in a table of `2^bits` counters (spec §5.2), and the bucket's
/// check value (model 2, spec §9.1): 17 bits, never 0, from hash bits the index does not use.
#[inline]
fn bucket(x: u32, nib_ctx: u32, bits: u32) -> (usize, u32) {
    let h = bucket_hash(x, nib_ctx);
    (
        ((h >> (32 - (bits - 4))) as usize) << 4,
        (h & 0xFFFF) | 0x1_0000,
    )
}

/// Model 3's line and check byte for context value `x` and partial byte `nib_ctx` (spec
/// §10.1): the hash of [`bucket`], its top `bits − 4` bits choosing one of `2^(bits − 4)` lines
/// (the line's byte offset is 64 times that, within its order's table), its low byte the check
/// (1 where that byte is 0). Returns the line's byte offset and the check.
#[inline]
fn slot_line(x: u32, nib_ctx: u32, bits: u32) -> (usize, u32) {
    let h = bucket_hash(x, nib_ctx);
    (((h >> (32 - (bits - 4))) as usize) << 6, (h & 0xFF).max(1))
}

/// The match model's key of the last 16 bytes (`c8` the last eight, `c16` the eight before),
/// before masking.
#[inline(always)]
fn long_key(c8: u64, c16: u64) -> usize {
    ((c8.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ c16).wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 40)
        as usize
}

/// Lanes of a mixer row: the inputs padded with zeros to two vectors of eight, so the dot
/// product and the update are two whole vector operations each (a padded input is 0, so its
/// weight never moves and adds nothing).
pub(super) const LANES: usize = 16;

/// The mixer's dot product `Σ w·x`, exact. Each weight is split as `(w >> 10)·2^10 + (w & 1023)`
/// so both partial sums fit an i32 — `|w| ≤ 2^19` and `|x| ≤ 2047` bound them by 12·2^20 and
/// 12·2^21 — without i64 products.
#[inline(always)]
pub(super) fn dot(w: &[i32; LANES], x: &[i32; LANES]) -> i64 {
    let (mut hi, mut lo) = (0i32, 0i32);
    for i in 0..LANES {
        hi += (w[i] >> 10) * x[i];
        lo += (w[i] & 1023) * x[i];
    }
    (i64::from(hi) << 10) + i64::from(lo)
}

/// Model 3's dot product (spec §10.4): `Σ (w >> 4)·x` — the weights' four lowest bits left out
/// so the sum fits an i32 (`|w >> 4| ≤ 2^15`, `|x| ≤ 2047`: at most `12·2^26`), one vector
/// multiply-add per eight inputs instead of the two exact partial sums of [`dot`].
#[inline(always)]
pub(super) fn dot_coarse(w: &[i32; LANES], x: &[i32; LANES]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_coarse_avx2(w, x) };
    }
    let mut sum = 0i32;
    for i in 0..LANES {
        sum += (w[i] >> 4) * x[i];
    }
    sum
}

/// [`dot_coarse`] in AVX2 (the compiler keeps the portable loop scalar: its inputs were just
/// computed one by one). Integer sums in another order: the same result.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_coarse_avx2(w: &[i32; LANES], x: &[i32; LANES]) -> i32 {
    use std::arch::x86_64::*;
    // SAFETY: both arrays hold 16 i32s: two unaligned 32-byte loads each stay inside them.
    let (w0, w1, x0, x1) = unsafe {
        (
            _mm256_loadu_si256(w.as_ptr().cast()),
            _mm256_loadu_si256(w.as_ptr().add(8).cast()),
            _mm256_loadu_si256(x.as_ptr().cast()),
            _mm256_loadu_si256(x.as_ptr().add(8).cast()),
        )
    };
    let p = _mm256_add_epi32(
        _mm256_mullo_epi32(_mm256_srai_epi32::<4>(w0), x0),
        _mm256_mullo_epi32(_mm256_srai_epi32::<4>(w1), x1),
    );
    let s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256::<1>(p));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// The mixer's gradient step (spec §6): `|x·err| ≤ 2047 · 4095 · 12` fits an i32.
#[inline(always)]
fn train(w: &mut [i32; LANES], x: &[i32; LANES], err: i32) {
    for i in 0..LANES {
        w[i] = (w[i] + ((x[i] * err + (1 << 15)) >> 16)).clamp(-WEIGHT_MAX, WEIGHT_MAX);
    }
}

/// The whole predictor; encoder and decoder drive it identically.
pub(super) struct Model<const M: u8> {
    bits: u32,
    o0: [u32; 256],
    o1: Box<[u32; 1 << 16]>,
    /// The hashed orders' counters, one table of `2^bits` after another, each stored XOR
    /// [`COUNTER_INIT`]: the initial state is then all-zero memory, which the allocator hands
    /// out lazily, so a damaged block that declares 64 MiB fails without first writing 80 MiB.
    /// In model 2 the first counter of each bucket (never used: `nib` starts at 1) holds the
    /// bucket's check value instead, 0 while empty.
    hashed: Vec<u32>,
    /// Context value of each hashed order for the current byte.
    ctx: [u32; HASHED_MAX],
    /// Bucket of each hashed order for the current nibble.
    base: [usize; HASHED_MAX],
    /// Model 2: check value of each bucket, claimed at the nibble's first bit (`nib == 1`),
    /// when the buckets' memory is read anyway.
    check: [u32; HASHED_MAX],
    /// Counter index each input read (for the update).
    idx: [usize; HASHED_MAX + 2],
    /// The mixer's inputs, zero beyond [`Self::INPUTS`].
    st: [i32; LANES],
    /// One row of weights per weight set.
    weights: Vec<[i32; LANES]>,
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
    mm_sm: [u32; 128],
    /// Model 2: mismatches the current match survived, and agreeing bytes since the last.
    mm_miss: u32,
    mm_good: u32,
    /// Model 3: the hashed orders' bit histories (spec §10.1), `2^(bits + 2)` bytes per order
    /// (the memory model 2's counters take): lines of four 16-byte slots, each a check byte and
    /// the states of a nibble's 15 nodes. Zero is the empty slot and the empty history, so the
    /// table starts as lazily allocated zero memory.
    hist: Vec<u8>,
    /// Model 3: where the first whole 64-byte line of [`Self::hist`] starts. The allocator
    /// aligns a large block to 16 bytes only, and a slot line straddling two cache lines cost
    /// two misses where one was meant.
    hist_at: usize,
    /// Model 3: each hashed order's state map (spec §10.2), 256 probabilities per order.
    smap: Box<[[u32; 256]; HASHED_MAX]>,
    /// Model 3: the state each hashed order read for the current bit.
    state: [u8; HASHED_MAX],
    /// Model 3: the state maps' rate shift for the current byte.
    sm_shift: i32,
}

/// Model 3's bit-history transitions (spec §10.2): `NEXT[2s + y]` is the state after bit `y`
/// in state `s = 16·n0 + n1`. The count of the bit seen grows (to 15); the other, when above
/// 2, loses half its excess — a history that changes its mind is trusted less than a steady one.
/// Model 3's state maps adapt at a rate of 2^−r with `r` from [`SM_FAST`] at the block's start
/// to [`SM_SLOW`] from 128 KiB on (spec §10.2), the same for every state: a state is shared by
/// many contexts, so a per-entry count (§4) buys nothing over this schedule (measured: within
/// ±0.25 % on 1–2 MiB pieces, −0.6 % on 40 KB of short records) and costs a table lookup, a
/// multiply and a clamp per order and bit.
const SM_SLOW: i32 = 7;
const SM_FAST: i32 = 4;

pub(super) const NEXT: [u8; 512] = {
    const fn grow(n: usize) -> usize {
        if n < 15 {
            n + 1
        } else {
            15
        }
    }
    const fn fade(n: usize) -> usize {
        if n > 2 {
            (n + 2) / 2
        } else {
            n
        }
    }
    let mut t = [0u8; 512];
    let mut s = 0;
    while s < 256 {
        let (n0, n1) = (s >> 4, s & 15);
        t[2 * s] = (grow(n0) << 4 | fade(n1)) as u8;
        t[2 * s + 1] = (fade(n0) << 4 | grow(n1)) as u8;
        s += 1;
    }
    t
};

/// Model 3's initial state map (spec §10.2): a state's probability starts at `(2·n1 + 1) /
/// (2·(n0 + n1) + 2)` — what its two counts say — as a 22-bit probability, and learns from there.
pub(super) fn state_map_init() -> [u32; 256] {
    let mut t = [0u32; 256];
    for (s, v) in t.iter_mut().enumerate() {
        let (n0, n1) = ((s >> 4) as u32, (s & 15) as u32);
        *v = ((2 * n1 + 1) << 22) / (2 * (n0 + n1) + 2);
    }
    t
}

impl<const M: u8> Model<M> {
    /// Model 2 or later (spec §9).
    const V2: bool = M >= 2;
    /// Model 3 (spec §10): bit histories in the hashed orders.
    const V3: bool = M >= 3;
    /// Hashed orders of this model.
    const HASHED: usize = if Self::V2 { 7 } else { 5 };
    /// Mixer inputs of this model (spec §6, §9.4).
    const INPUTS: usize = 2 + Self::HASHED + if Self::V2 { 3 } else { 2 };
    /// Count limits of order 0 and 1 and of the hashed orders (spec §5.2, §9.2). Model 2 keeps
    /// orders 0 and 1 fast-adapting (a rate of about 1/7.5): the maps of §7, indexed by the same
    /// contexts, hold their long-run statistics, and data whose byte statistics drift (a
    /// deflate stream's changing codes, a database's pages) is followed within a few bytes.
    /// Model 3 adapts them faster still (limit 3, a rate of about 1/4.5; spec §10).
    const LIMIT_DIRECT: u32 = if Self::V3 {
        3
    } else if Self::V2 {
        6
    } else {
        LIMIT_DIRECT
    };
    const LIMIT_HASHED: u32 = if Self::V2 { 127 } else { LIMIT_HASHED };
    /// Models 2 and 3: a match at least this long survives a mismatched byte (spec §9.3,
    /// §10.3); model 3 from 6 bytes (compressed data's short repeats: docs/perf-lossless.md).
    const RECOVER_MIN: u32 = if Self::V3 { 6 } else { 8 };
    /// Bytes the match model hashes to find a candidate.
    const MATCH_MIN: usize = if Self::V2 { 3 } else { 6 };

    pub(super) fn new(raw_len: usize) -> Self {
        const { assert!(Self::INPUTS <= LANES) };
        let bits = table_bits(raw_len);
        let hist: Vec<u8> = if Self::V3 {
            huge_zeroed((Self::HASHED << (bits + 2)) + 64)
        } else {
            Vec::new()
        };
        let mut m = Model {
            bits,
            o0: [COUNTER_INIT; 256],
            o1: vec![COUNTER_INIT; 1 << 16]
                .into_boxed_slice()
                .try_into()
                .expect("65,536 counters"),
            hashed: if Self::V3 {
                Vec::new()
            } else {
                huge_zeroed(Self::HASHED << bits)
            },
            ctx: [0; HASHED_MAX],
            base: [0; HASHED_MAX],
            check: [0; HASHED_MAX],
            idx: [0; HASHED_MAX + 2],
            st: [0; LANES],
            weights: vec![[1 << 14; LANES]; SETS],
            set: 0,
            pm: 2048,
            apm0: Apm::new(if Self::V2 { 512 } else { 256 }),
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
            mm_sm: [COUNTER_INIT; 128],
            mm_miss: 0,
            mm_good: 0,
            hist_at: hist.as_ptr().align_offset(64).min(64),
            hist,
            smap: Box::new([state_map_init(); HASHED_MAX]),
            state: [0; HASHED_MAX],
            sm_shift: SM_FAST,
        };
        m.new_byte_contexts();
        m
    }

    /// Index in [`Self::hist`] of line `line` (a byte offset, a multiple of 64) of order `i`.
    #[inline(always)]
    fn hist_line(&self, i: usize, line: usize) -> usize {
        self.hist_at + (i << (self.bits + 2)) + line
    }

    /// Context values of the hashed orders at a byte boundary (spec §5.2, §9.2), for the last
    /// eight bytes `c` and the word hash `word`.
    #[inline(always)]
    fn byte_contexts(c: u64, word: u32) -> [u32; HASHED_MAX] {
        let c4 = c as u32;
        let mut ctx = [0; HASHED_MAX];
        ctx[..5].copy_from_slice(&[
            (c4 & 0xFFFF) | (2 << 24),
            (c4 & 0xFF_FFFF).wrapping_mul(0x0100_0193) ^ (3 << 28),
            c4.wrapping_mul(0x2F0B_4C4D) ^ 4,
            c4.wrapping_mul(0x7FEB_352D)
                ^ ((c >> 32) as u32 & 0xFFFF).wrapping_mul(0x846C_A68B)
                ^ 6,
            word.wrapping_mul(0x1B87_3593) ^ 7,
        ]);
        if Self::V2 {
            // Sparse: the two bytes before the last two, and the four before the last four —
            // the fields of fixed-size records and instruction operands.
            ctx[5] = (c4 & 0xFFFF_0000).wrapping_mul(0x2F0B_4C4D) ^ (8 << 24);
            ctx[6] = ((c >> 32) as u32).wrapping_mul(0x7FEB_352D) ^ (9 << 24);
        }
        ctx
    }

    /// The word hash after byte `b` (spec §5.2).
    #[inline(always)]
    fn next_word(word: u32, b: u8) -> u32 {
        if b.is_ascii_alphabetic() {
            (word ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
        } else {
            0
        }
    }

    fn new_byte_contexts(&mut self) {
        self.ctx = Self::byte_contexts(self.c8, self.word);
        self.nibble_buckets(0);
    }

    fn nibble_buckets(&mut self, nib_ctx: u32) {
        if Self::V3 {
            for i in 0..Self::HASHED {
                let (line, check) = slot_line(self.ctx[i], nib_ctx, self.bits);
                self.base[i] = self.hist_line(i, line);
                self.check[i] = check;
                prefetch(&self.hist[self.base[i]]);
            }
            return;
        }
        for i in 0..Self::HASHED {
            let (b, check) = bucket(self.ctx[i], nib_ctx, self.bits);
            self.base[i] = (i << self.bits) + b;
            self.check[i] = check;
            prefetch(&self.hashed[self.base[i]]);
            if Self::V2 {
                prefetch(&self.hashed[self.base[i] ^ 16]);
            }
        }
    }

    /// Model 2 (spec §9.1): each order's bucket is the one of its pair that holds the check
    /// value; where neither does, the less used one is emptied and takes it, so a context never
    /// inherits another context's counts.
    fn claim_buckets(&mut self) {
        for i in 0..Self::HASHED {
            let check = self.check[i];
            let mut b = self.base[i];
            if self.hashed[b] != check {
                let other = b ^ 16;
                if self.hashed[other] == check {
                    b = other;
                } else {
                    // Counter 1 is read at every use of its bucket: its count is the use.
                    let used = |k: usize| self.hashed[k + 1] & 1023;
                    if used(other) < used(b) {
                        b = other;
                    }
                    self.hashed[b] = check;
                    self.hashed[b + 1..b + 16].fill(0);
                }
                self.base[i] = b;
            }
        }
    }

    /// Model 3 (spec §10.1): each order's slot is the one of its line that holds the check
    /// byte; where none does, the slot whose first node has the fewest counts is emptied and
    /// takes it (empty slots have none).
    fn claim_slots(&mut self) {
        for i in 0..Self::HASHED {
            let line = self.base[i];
            let check = self.check[i] as u8;
            let h = &mut self.hist[line..line + 64];
            // The first slot holding the check, found without a branch per slot (which slot
            // it is was a branch the CPU could not predict).
            let found = (0..4).fold(0u32, |m, j| m | u32::from(h[16 * j] == check) << j);
            let j = match found {
                0 => {
                    let counts = |j: usize| (h[16 * j + 1] >> 4) + (h[16 * j + 1] & 15);
                    let j = (1..4).fold(0, |b, j| if counts(j) < counts(b) { j } else { b });
                    h[16 * j] = check;
                    h[16 * j + 1..16 * j + 16].fill(0);
                    j
                }
                m => m.trailing_zeros() as usize,
            };
            self.base[i] = line + 16 * j;
        }
    }

    /// Probability (16 bits, within 32..=65504) that the next bit is 1.
    #[inline(always)]
    pub(super) fn predict(&mut self) -> u32 {
        let c0 = self.c0 as usize;
        let c1 = (self.c8 & 0xFF) as usize;
        self.idx[0] = c0;
        self.idx[1] = (c1 << 8) | c0;
        // The second map's row (66 bytes) is known now and read after the mixer.
        let row = ((c1 << 8) | c0) * APM_BUCKETS;
        prefetch(&self.apm1.t[row]);
        prefetch(&self.apm1.t[row + APM_BUCKETS - 1]);
        if Self::V2 && self.nib == 1 {
            if Self::V3 {
                self.claim_slots();
            } else {
                self.claim_buckets();
            }
        }
        self.st[0] = stretch(counter_p12(self.o0[c0 & 255]));
        self.st[1] = stretch(counter_p12(self.o1[self.idx[1] & 0xFFFF]));
        if Self::V3 {
            for i in 0..Self::HASHED {
                let s = self.hist[self.base[i] + self.nib];
                self.state[i] = s;
                self.st[2 + i] = stretch(self.smap[i][usize::from(s)] >> 10);
            }
        } else {
            for i in 0..Self::HASHED {
                let k = self.base[i] + self.nib;
                self.idx[2 + i] = k;
                self.st[2 + i] = stretch(counter_p12(self.hashed[k] ^ COUNTER_INIT));
            }
        }
        // Match model: predicts the next bit of the byte that followed the earlier occurrence,
        // while the bits so far agree with it.
        let mi = 2 + Self::HASHED;
        let bitpos = 32 - self.c0.leading_zeros() - 1; // bits of the byte seen, 0..7
        self.mm_bit = None;
        let mut level = 0;
        if self.mm_len > 0 && (self.mm_byte | 0x100) >> (8 - bitpos) == self.c0 {
            let b = (self.mm_byte >> (7 - bitpos)) & 1 == 1;
            self.mm_bit = Some(b);
            if Self::V2 && self.mm_miss > 0 {
                let state = self.mm_miss.min(3) as usize * 8 + self.mm_len.min(7) as usize;
                self.mm_ctx = 64 + (state << 1) + usize::from(b);
                self.st[mi + 1] = 0;
                level = 1;
            } else {
                self.mm_ctx = ((self.mm_len.min(31) as usize) << 1) | usize::from(b);
                if Self::V2 {
                    let l = self.mm_len.min(32) as i32 * 32;
                    self.st[mi + 1] = if b { l } else { -l };
                }
                level = 1
                    + usize::from(self.mm_len >= 8)
                    + usize::from(self.mm_len >= 16)
                    + usize::from(self.mm_len >= 32);
            }
            self.st[mi] = stretch(counter_p12(self.mm_sm[self.mm_ctx]));
        } else {
            self.st[mi] = 0;
            if Self::V2 {
                self.st[mi + 1] = 0;
            }
        }
        self.st[Self::INPUTS - 1] = 256;
        self.set = level * 256 + c0;
        let w = &self.weights[self.set];
        let d = if Self::V3 {
            (dot_coarse(w, &self.st) >> 12).clamp(-2047, 2047)
        } else {
            (dot(w, &self.st) >> 16).clamp(-2047, 2047) as i32
        };
        self.pm = squash(d) as u32;
        let st = stretch(self.pm);
        let a0_ctx = match self.mm_bit {
            Some(b) if Self::V2 => {
                let miss = if self.mm_miss > 0 { 128 } else { 0 };
                256 + miss + ((self.mm_len.min(63) as usize) << 1) + usize::from(b)
            }
            _ => c0,
        };
        let a0 = self.apm0.p(st, a0_ctx);
        let a1 = self.apm1.p(st, (c1 << 8) | c0);
        let p = (self.pm * 16 * 2 + a0 + a1 * 5 + 4) >> 3;
        p.clamp(32, 65504)
    }

    #[inline(always)]
    pub(super) fn update(&mut self, bit: bool, hist: &[u8]) {
        // Mixer: gradient step on the coding cost.
        let err = ((i32::from(bit) << 12) - self.pm as i32) * MIX_RATE;
        train(&mut self.weights[self.set], &self.st, err);
        counter_update(&mut self.o0[self.idx[0] & 255], bit, Self::LIMIT_DIRECT);
        counter_update(&mut self.o1[self.idx[1] & 0xFFFF], bit, Self::LIMIT_DIRECT);
        if Self::V3 {
            let t = if bit { (1 << 22) - 1 } else { 0 };
            for i in 0..Self::HASHED {
                let s = usize::from(self.state[i]);
                // p stays within 0..2^22: the step is at most |t − p|, rounded towards −∞.
                let p = self.smap[i][s] as i32;
                self.smap[i][s] = (p + ((t - p) >> self.sm_shift)) as u32;
                self.hist[self.base[i] + self.nib] = NEXT[2 * s + usize::from(bit)];
            }
        } else {
            for i in 0..Self::HASHED {
                let slot = &mut self.hashed[self.idx[2 + i]];
                let mut v = *slot ^ COUNTER_INIT;
                counter_update(&mut v, bit, Self::LIMIT_HASHED);
                *slot = v ^ COUNTER_INIT;
            }
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
        } else if self.c0 >= 128 {
            self.prefetch_byte_end();
        } else if Self::V3 && self.c0 >= 8 && self.c0 < 16 {
            self.prefetch_second_nibble();
        } else if self.nib >= 16 {
            self.nib = 1;
            self.nibble_buckets(self.c0);
        }
    }

    /// The match model's key of the last `MATCH_MIN` bytes (spec §5.3, §9.3), before masking.
    #[inline(always)]
    fn short_key(c8: u64) -> usize {
        let key = c8 & ((1u64 << (8 * Self::MATCH_MIN)) - 1);
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
    }

    /// With one bit of the byte left, what the byte's end will read is asked for, for both
    /// possible bytes (hints only: nothing here changes a value): each match table's entry and,
    /// in model 3, each hashed order's line for the next byte's first nibble. Those reads are
    /// random in tables of megabytes and missed the cache at nearly every byte — the match
    /// tables alone were a fifth of the coding time on binaries — while a bit's coding is long
    /// enough for the lines to arrive. (Starting a bit earlier with four candidates, then
    /// fetching the history the entries point at, measured no better.)
    #[inline(always)]
    fn prefetch_byte_end(&self) {
        let mask = self.mm_long.len() - 1;
        let c16 = (self.c16 << 8) | (self.c8 >> 56);
        for bit in 0..2 {
            let b = ((self.c0 << 1 | bit) & 0xFF) as u8;
            let c8 = (self.c8 << 8) | u64::from(b);
            prefetch(&self.mm_long[long_key(c8, c16) & mask]);
            prefetch(&self.mm_table[Self::short_key(c8) & mask]);
            if Self::V3 {
                let ctx = Self::byte_contexts(c8, Self::next_word(self.word, b));
                for (i, &x) in ctx.iter().enumerate().take(Self::HASHED) {
                    let (line, _) = slot_line(x, 0, self.bits);
                    prefetch(&self.hist[self.hist_line(i, line)]);
                }
            }
        }
    }

    /// Model 3, with one bit of the first nibble left: both candidate lines of each hashed
    /// order for the second nibble (its partial byte has one of two values), so they arrive
    /// while the bit is coded.
    #[inline(always)]
    fn prefetch_second_nibble(&self) {
        for bit in 0..2 {
            for i in 0..Self::HASHED {
                let (line, _) = slot_line(self.ctx[i], self.c0 << 1 | bit, self.bits);
                prefetch(&self.hist[self.hist_line(i, line)]);
            }
        }
    }

    /// `hist` holds every byte of the block before the one just completed (`b`).
    fn byte_done(&mut self, b: u8, hist: &[u8]) {
        self.c0 = 1;
        self.nib = 1;
        self.c16 = (self.c16 << 8) | (self.c8 >> 56);
        self.c8 = (self.c8 << 8) | u64::from(b);
        self.word = Self::next_word(self.word, b);
        // Match model (spec §5.3, §9.3): extend, keep or drop the current match, then look one
        // up.
        let pos = hist.len() + 1; // bytes known, including b
        self.sm_shift =
            (((usize::BITS - (8 * pos).leading_zeros()) / 3) as i32).clamp(SM_FAST, SM_SLOW);
        if self.mm_len > 0 {
            if u32::from(b) == self.mm_byte {
                self.mm_len = (self.mm_len + 1).min(MATCH_MAX);
                self.mm_ptr += 1;
                if Self::V2 && self.mm_miss > 0 {
                    self.mm_good += 1;
                    if self.mm_good >= RECOVER_GOOD {
                        self.mm_miss = 0;
                    }
                }
            } else if Self::V2
                && (self.mm_miss > 0 || self.mm_len >= Self::RECOVER_MIN)
                && self.mm_miss < RECOVER_MISSES
            {
                // One changed byte in a long repeat (an address, a counter): keep following.
                self.mm_miss += 1;
                self.mm_good = 0;
                self.mm_ptr += 1;
                self.mm_len = self.mm_len.min(15);
            } else {
                self.mm_len = 0;
                self.mm_miss = 0;
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
        // Model 2 also looks while following a match that has missed, and takes a candidate
        // that is not the one it follows and agrees better.
        let recovering = Self::V2 && self.mm_miss > 0;
        let mask = self.mm_long.len() - 1;
        if pos >= MATCH_LONG {
            // The last 16 bytes find the place that repeats the longer context: the most
            // recent 6-byte context is often the wrong one in periodic data.
            let k = long_key(self.c8, self.c16) & mask;
            let cand = self.mm_long[k] as usize;
            let look = self.mm_len == 0 || (recovering && cand != self.mm_ptr);
            if look && cand > 0 {
                let n = agree(cand, 32);
                if n >= MATCH_LONG {
                    self.mm_len = n as u32;
                    self.mm_ptr = cand;
                    self.mm_miss = 0;
                }
            }
            self.mm_long[k] = pos as u32;
        }
        if pos >= Self::MATCH_MIN {
            let k = Self::short_key(self.c8) & mask;
            let cand = self.mm_table[k] as usize;
            let recovering = recovering && self.mm_good < 4;
            let look = self.mm_len == 0 || (recovering && cand != self.mm_ptr);
            let better = if recovering { self.mm_good as usize } else { 0 };
            if look && cand > 0 {
                let n = agree(cand, 32);
                if n > better {
                    self.mm_len = n as u32;
                    self.mm_ptr = cand;
                    self.mm_miss = 0;
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

#[cfg(test)]
mod layout_tests {
    use super::*;

    /// Model 3 reads one 64-byte line of four slots per order and nibble; if the lines were not
    /// cache-line aligned (as the allocator's 16-byte alignment would leave them) each would cost
    /// two misses. Every size class of table is checked, orders first to last.
    #[test]
    fn history_lines_are_cache_aligned() {
        for raw_len in [1, 5_000, 300_000, 9 << 20] {
            let m = Model::<3>::new(raw_len);
            let top = 1usize << (m.bits + 2);
            for i in 0..Model::<3>::HASHED {
                for line in [0, 64, top - 64] {
                    let at = m.hist_line(i, line);
                    assert!(
                        at + 64 <= m.hist.len(),
                        "line {line} of order {i} out of the table"
                    );
                    assert_eq!(
                        m.hist[at..].as_ptr() as usize % 64,
                        0,
                        "order {i}, line {line}"
                    );
                }
            }
        }
    }
}

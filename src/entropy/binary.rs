//! Adaptive binary front end: probability-state contexts over the range-coder core
//! (spec/entropy-range.md §3).
//!
//! A [`Context`] holds two 16-bit estimates of the probability that the next bit is 1 — a
//! slow one (window ~2^[`MAX_SHIFT`] bits) and a fast one (~2^[`FAST_SHIFT`]) — and a small
//! hit counter; the coder uses their mean. The counter makes adaptation fast at first (rate
//! 1/2, 1/4, …) so new contexts learn in a handful of bits; the two speeds track both stable
//! and drifting statistics (measured: 0.5 % smaller DCT payloads than the slow one alone).
//! Integer shifts only, so every decoder adapts identically.

use super::range::{Decoder, Encoder, Regs};

/// Slowest adaptation rate, as a shift (window of about 2^7 = 128 bits).
pub const MAX_SHIFT: u32 = 7;
/// Adaptation shift of the fast estimator (window of about 16 bits).
pub const FAST_SHIFT: u32 = 4;
/// Probabilities are clamped to `[PROB_MIN, 65536 - PROB_MIN]` so both halves of the interval
/// stay nonempty and a mispredicted bit costs at most ~11 bits.
pub const PROB_MIN: u32 = 32;
const PROB_HALF: u16 = 1 << 15;

/// Count from which the adaptation shift stays at [`MAX_SHIFT`]: `1 + floor(log2(n + 1)) ≥ 7`.
const SETTLED: u8 = 63;

/// Adaptation shift by count: `1 + floor(log2(n + 1))`, capped at [`MAX_SHIFT`] (a table: the
/// decoders spend most of their time in [`Context::update`]).
const SHIFT: [u8; SETTLED as usize] = {
    let mut t = [0u8; SETTLED as usize];
    let mut n = 0;
    while n < SETTLED as usize {
        let s = 1 + (31 - (n as u32 + 1).leading_zeros());
        t[n] = if s < MAX_SHIFT {
            s as u8
        } else {
            MAX_SHIFT as u8
        };
        n += 1;
    }
    t
};

/// One adaptive binary context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Probability that the next bit is 1, in units of 2^-16 (slow estimator).
    p1: u16,
    /// Fast estimator of the same probability.
    pf: u16,
    /// Bits seen, up to [`SETTLED`] (the shift is the same from there on); selects the
    /// adaptation shift.
    n: u8,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            p1: PROB_HALF,
            pf: PROB_HALF,
            n: 0,
        }
    }
}

impl Context {
    /// Probability (2^-16 units) that the next bit is 1.
    #[inline]
    pub fn p1(&self) -> u32 {
        (u32::from(self.p1) + u32::from(self.pf)) >> 1
    }

    /// Moves the probability toward the observed bit (spec §3.2). Written without a branch on
    /// the bit (the compiler turned the two-sided form into one, mispredicted on about every
    /// other bit): toward 1 the step is `(65536 − p) >> s`; toward 0 it is `−(p >> s)`, which
    /// equals `(2^s − 1 − p) >> s` with an arithmetic shift.
    #[inline(always)]
    pub fn update(&mut self, bit: bool) {
        if self.n < SETTLED {
            return self.update_young(bit);
        }
        // Both shifts are final, so the count no longer matters and is left alone; and at
        // shift 7 a probability at least PROB_MIN from either end stays so (a gap g ≥ 32
        // becomes g − ⌊g/128⌋ ≥ 32): only the fast estimate needs its clamp. Nearly every bit
        // of a long block takes this path.
        self.p1 = step(self.p1, MAX_SHIFT, bit) as u16;
        self.pf = clamp_prob(step(self.pf, FAST_SHIFT, bit));
    }

    /// The update while the count still sets the shift: out of line, so the hot loops of the
    /// decoders hold only the settled path.
    #[cold]
    #[inline(never)]
    fn update_young(&mut self, bit: bool) {
        let s = u32::from(SHIFT[usize::from(self.n)]);
        self.p1 = clamp_prob(step(self.p1, s, bit));
        self.pf = clamp_prob(step(self.pf, s.min(FAST_SHIFT), bit));
        self.n += 1;
    }

    /// Estimated cost of coding `bit` in this state, in 1/256 bit units (for rate estimates in
    /// encoders; not part of the format).
    #[inline]
    pub fn cost(&self, bit: bool) -> u32 {
        let p = if bit { self.p1() } else { 65536 - self.p1() };
        cost_of_prob(p)
    }
}

/// An adaptive binary context as the coders see it: the probability a bit is coded with and
/// the rule that moves it afterwards. Two kinds: [`Context`] (two estimates, spec §3.1–§3.2)
/// and [`Context1`] (one estimate, §3.3), which decodes with about a third of the work per bit.
pub trait BitModel: Copy + Default {
    /// Probability (2^-16 units) that the next bit is 1.
    fn p1(&self) -> u32;
    /// Moves the probability toward the observed bit.
    fn update(&mut self, bit: bool);
    /// Estimated cost of coding `bit` in this state, in 1/256 bit units (for rate estimates in
    /// encoders; not part of the format).
    #[inline]
    fn cost(&self, bit: bool) -> u32 {
        let p = if bit { self.p1() } else { 65536 - self.p1() };
        cost_of_prob(p)
    }
}

impl BitModel for Context {
    #[inline(always)]
    fn p1(&self) -> u32 {
        Context::p1(self)
    }
    #[inline(always)]
    fn update(&mut self, bit: bool) {
        Context::update(self, bit)
    }
}

/// Slowest adaptation shift of a [`Context1`] (a window of about 32 bits).
pub const SINGLE_SHIFT: u32 = 5;
/// Count from which a [`Context1`]'s shift stays at [`SINGLE_SHIFT`]:
/// `1 + floor(log2(n + 1)) ≥ 5`.
const SINGLE_SETTLED: u8 = 15;

/// One adaptive binary context with a single estimate (spec §3.3): what `lzr2` codes with.
/// Against [`Context`] it drops the fast estimate, so an update is one step and one clamp:
/// the `lzr` decoders spend most of their time there, and `lzr2` decodes about 1.2x faster
/// than `lzr` for about the same size (docs/perf-lossless.md §6.2f). The clamp stays although
/// a shift of 5 cannot reach 0 or 2^16 without it: dropped, it cost 2.4 % on a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context1 {
    /// Probability that the next bit is 1, in units of 2^-16.
    p: u16,
    /// Bits seen, up to [`SINGLE_SETTLED`] (the shift is the same from there on).
    n: u8,
}

impl Default for Context1 {
    fn default() -> Self {
        Context1 { p: PROB_HALF, n: 0 }
    }
}

impl BitModel for Context1 {
    #[inline(always)]
    fn p1(&self) -> u32 {
        u32::from(self.p)
    }

    /// §3.3: `p` moves by `(65536 − p) >> s` toward 1 or `p >> s` toward 0 (the branch-free
    /// form of [`Context::update`]), then is clamped to `[PROB_MIN, 65536 − PROB_MIN]`.
    #[inline(always)]
    fn update(&mut self, bit: bool) {
        if self.n < SINGLE_SETTLED {
            return self.update_young(bit);
        }
        self.p = clamp_prob(step(self.p, SINGLE_SHIFT, bit));
    }
}

impl Context1 {
    /// The update while the count still sets the shift (out of line, as for [`Context`]).
    #[cold]
    #[inline(never)]
    fn update_young(&mut self, bit: bool) {
        let s = u32::from(SHIFT[usize::from(self.n)]).min(SINGLE_SHIFT);
        self.p = clamp_prob(step(self.p, s, bit));
        self.n += 1;
    }
}

/// `p` moved toward `bit` by a shift of `s`, unclamped (see [`Context::update`]).
#[inline(always)]
fn step(p: u16, s: u32, bit: bool) -> i32 {
    let b = i32::from(bit);
    let (target, zero) = (b << 16, b - 1); // zero: all ones for a 0 bit
    let p = i32::from(p);
    p + ((target - p + (((1 << s) - 1) & zero)) >> s)
}

#[inline(always)]
fn clamp_prob(p: i32) -> u16 {
    p.clamp(PROB_MIN as i32, (65536 - PROB_MIN) as i32) as u16
}

/// −log2(p / 65536) in 1/256 bit units, from a 64-entry table over the top 6 bits of p.
#[inline]
pub fn cost_of_prob(p: u32) -> u32 {
    // Piecewise: cost = 256 * (16 - log2 p). Use leading zeros for the integer part and a
    // linear interpolation of the mantissa, accurate to ~0.1 bit, plenty for RDO decisions.
    let p = p.max(1);
    let lz = p.leading_zeros(); // p < 2^16 → lz ≥ 16
    let int_log = 31 - lz; // floor(log2 p)
    let frac = ((p << (lz)) >> 23) & 0xFF; // next 8 bits after the leading one
    let log2_256 = int_log * 256 + frac; // ≈ 256 * log2(p)
    (16 * 256u32).saturating_sub(log2_256)
}

/// Encoder side of the binary front end.
#[derive(Debug, Default, Clone)]
pub struct BinEncoder {
    rc: Encoder,
}

impl BinEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Codes `bit` in context `ctx` and adapts it.
    #[inline]
    pub fn put<C: BitModel>(&mut self, ctx: &mut C, bit: bool) {
        self.rc.encode_bit(ctx.p1(), bit);
        ctx.update(bit);
    }

    /// Codes the low `n` bits of `v` without a model (probability 1/2 each).
    #[inline]
    pub fn put_direct(&mut self, v: u32, n: u32) {
        self.rc.encode_direct(v, n);
    }

    /// Approximate bytes written so far.
    pub fn len(&self) -> usize {
        self.rc.len()
    }

    /// True before any byte was produced.
    pub fn is_empty(&self) -> bool {
        self.rc.is_empty()
    }

    /// Flushes and returns the stream.
    pub fn finish(self) -> Vec<u8> {
        self.rc.finish()
    }
}

/// Decoder side of the binary front end.
#[derive(Debug, Clone)]
pub struct BinDecoder<'a> {
    rc: Decoder<'a>,
}

impl<'a> BinDecoder<'a> {
    /// Starts decoding `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BinDecoder {
            rc: Decoder::new(data),
        }
    }

    /// Decodes one bit in context `ctx` and adapts it exactly as the encoder did.
    #[inline]
    pub fn get<C: BitModel>(&mut self, ctx: &mut C) -> bool {
        let bit = self.rc.decode_bit(ctx.p1());
        ctx.update(bit);
        bit
    }

    /// Walks a binary tree of contexts from node `m` down to the first node at or past `end`
    /// (bit by bit, `m = 2m + bit`, node `m` coded in `probs[m mod N]`) and returns that node:
    /// an LZMA-style symbol tree with `m = 1, end = N`, or a literal's remaining bits.
    #[inline(always)]
    pub fn get_tree<C: BitModel, const N: usize>(
        &mut self,
        probs: &mut [C; N],
        m: usize,
        end: usize,
    ) -> usize {
        self.local().get_tree(probs, m, end)
    }

    /// The decoder with its state copied into locals, for a hot loop: the compiler keeps a
    /// local's fields in registers, where through `&mut self` it stored them back at every
    /// bit. The state returns to `self` when the [`LocalBits`] is dropped.
    #[inline(always)]
    pub fn local(&mut self) -> LocalBits<'_, 'a> {
        let bad = self.rc.bad_flag();
        let home = self.rc.regs_mut();
        LocalBits {
            regs: *home,
            home,
            bad,
        }
    }

    /// Decodes `n` model-free bits.
    #[inline]
    pub fn get_direct(&mut self, n: u32) -> u32 {
        self.rc.decode_direct(n)
    }

    /// See [`Decoder::at_exact_end`].
    pub fn at_exact_end(&self) -> bool {
        self.rc.at_exact_end()
    }

    /// See [`Decoder::is_bad`].
    pub fn is_bad(&self) -> bool {
        self.rc.is_bad()
    }
}

/// A [`BinDecoder`] borrowed into locals (see [`BinDecoder::local`]).
pub struct LocalBits<'b, 'a> {
    regs: Regs<'a>,
    home: &'b mut Regs<'a>,
    /// The decoder's own flag (a nonzero first byte), fixed while borrowed.
    bad: bool,
}

impl<'a> LocalBits<'_, 'a> {
    /// A copy of this one in the callee's locals, stored back here when dropped: for a
    /// function kept out of line, which would otherwise read and write the state through the
    /// caller's memory at every bit.
    #[inline(always)]
    pub fn local(&mut self) -> LocalBits<'_, 'a> {
        LocalBits {
            regs: self.regs,
            home: &mut self.regs,
            bad: self.bad,
        }
    }

    /// [`BinDecoder::get`].
    #[inline(always)]
    pub fn get<C: BitModel>(&mut self, ctx: &mut C) -> bool {
        let bit = self.regs.decode_bit(ctx.p1());
        ctx.update(bit);
        bit
    }

    /// [`BinDecoder::get_direct`].
    #[inline(always)]
    pub fn get_direct(&mut self, n: u32) -> u32 {
        self.regs.decode_direct(n)
    }

    /// [`BinDecoder::is_bad`].
    #[inline(always)]
    pub fn is_bad(&self) -> bool {
        self.regs.is_bad(self.bad)
    }

    /// [`LocalBits::get`] with `p1 = ctx.p1()` read by the caller ahead of time (before the
    /// bit it depends on was known), so the load is off the range coder's chain.
    #[inline(always)]
    pub fn get_read_ahead<C: BitModel>(&mut self, ctx: &mut C, p1: u32) -> bool {
        debug_assert_eq!(p1, ctx.p1());
        let bit = self.regs.decode_bit(p1);
        ctx.update(bit);
        bit
    }

    /// [`BinDecoder::get_tree`]. Both children's probabilities are read before the bit is
    /// decoded and the next one picked by the bit: the loads then overlap the range coder's
    /// arithmetic instead of waiting on the bit, which shortens the chain each bit of a tree
    /// waits on to the multiply, the compare and a select. The children are other contexts
    /// than the node being updated (`2m` and `2m + 1` differ from `m` modulo `N` for every
    /// `0 < m < N`), so reading them early sees the same values; past the last level the
    /// masked reads land somewhere in the tree and are not used.
    #[inline(always)]
    pub fn get_tree<C: BitModel, const N: usize>(
        &mut self,
        probs: &mut [C; N],
        m: usize,
        end: usize,
    ) -> usize {
        if m >= end {
            return m;
        }
        let p = probs[m & (N - 1)].p1();
        self.get_tree_read_ahead(probs, m, end, p)
    }

    /// [`LocalBits::get_tree`] with `p = probs[m].p1()` read by the caller ahead of time;
    /// `m < end`.
    #[inline(always)]
    pub fn get_tree_read_ahead<C: BitModel, const N: usize>(
        &mut self,
        probs: &mut [C; N],
        mut m: usize,
        end: usize,
        mut p: u32,
    ) -> usize {
        debug_assert!(m < end && p == probs[m & (N - 1)].p1());
        loop {
            let p0 = probs[(m << 1) & (N - 1)].p1();
            let p1 = probs[((m << 1) | 1) & (N - 1)].p1();
            let bit = self.regs.decode_bit(p);
            probs[m & (N - 1)].update(bit);
            m = (m << 1) | usize::from(bit);
            if m >= end {
                return m;
            }
            p = if bit { p1 } else { p0 };
        }
    }
}

impl Drop for LocalBits<'_, '_> {
    #[inline(always)]
    fn drop(&mut self) {
        *self.home = self.regs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_roundtrip_and_compresses() {
        let mut x = 1u32;
        let bits: Vec<(usize, bool)> = (0..50000)
            .map(|i| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                let ctx = i % 4;
                // context c has P(1) = c/5: skewed sources compress
                (ctx, (x >> 16) % 5 < ctx as u32)
            })
            .collect();
        let mut ctxs = [Context::default(); 4];
        let mut enc = BinEncoder::new();
        for &(c, b) in &bits {
            enc.put(&mut ctxs[c], b);
        }
        enc.put_direct(0x5A5, 12);
        let bytes = enc.finish();
        // entropy: 1/4*(0 + h(.2) + h(.4) + h(.6)) ≈ 0.66 bit/bit
        assert!(bytes.len() < 50000 * 70 / 800, "{} bytes", bytes.len());
        let mut ctxs = [Context::default(); 4];
        let mut dec = BinDecoder::new(&bytes);
        for &(c, b) in &bits {
            assert_eq!(dec.get(&mut ctxs[c]), b);
        }
        assert_eq!(dec.get_direct(12), 0x5A5);
        assert!(!dec.is_bad());
    }

    #[test]
    fn truncated_stream_is_detected_without_panic() {
        let mut ctx = Context::default();
        let mut enc = BinEncoder::new();
        for i in 0..10000 {
            enc.put_direct(i & 1, 1);
            enc.put(&mut ctx, i % 3 == 0);
        }
        let bytes = enc.finish();
        let cut = &bytes[..bytes.len() / 2];
        let mut ctx = Context::default();
        let mut dec = BinDecoder::new(cut);
        for _ in 0..10000 {
            dec.get_direct(1);
            dec.get(&mut ctx);
        }
        assert!(dec.is_bad());
    }

    /// The update as spec §3.2 states it: both estimators step toward the bit with the
    /// count's shift (the fast one at most FAST_SHIFT), then clamp to [PROB_MIN, 65536 − PROB_MIN].
    fn update_as_specified(c: &mut Context, bit: bool) {
        let s = (1 + (31 - (u32::from(c.n) + 1).leading_zeros())).min(MAX_SHIFT);
        let step = |p: u16, s: u32| {
            let p = u32::from(p);
            let p = if bit {
                p + ((65536 - p) >> s)
            } else {
                p - (p >> s)
            };
            p.clamp(PROB_MIN, 65536 - PROB_MIN) as u16
        };
        c.p1 = step(c.p1, s);
        c.pf = step(c.pf, s.min(FAST_SHIFT));
        c.n = c.n.saturating_add(1);
    }

    #[test]
    fn update_equals_the_specified_rule() {
        let edges = [PROB_MIN, PROB_MIN + 1, 33, 100, 127, 128, 129, 1000, 32768];
        let ps: Vec<u32> = (PROB_MIN..=65536 - PROB_MIN)
            .step_by(97)
            .chain(edges.iter().copied())
            .chain(edges.iter().map(|&e| 65536 - e))
            .collect();
        for &p1 in &ps {
            for &pf in &[PROB_MIN, 5000, p1, 65536 - PROB_MIN] {
                for n in 0..=255u8 {
                    for bit in [false, true] {
                        let c = Context {
                            p1: p1 as u16,
                            pf: pf as u16,
                            n,
                        };
                        let (mut a, mut b) = (c, c);
                        a.update(bit);
                        update_as_specified(&mut b, bit);
                        assert_eq!(
                            (a.p1, a.pf),
                            (b.p1, b.pf),
                            "p1 {p1} pf {pf} n {n} bit {bit}"
                        );
                        assert_eq!(a.n.min(SETTLED), b.n.min(SETTLED));
                    }
                }
            }
        }
    }

    /// §3.3, written as the spec states it.
    #[test]
    fn single_estimate_update_equals_the_specified_rule() {
        let edges = [PROB_MIN, PROB_MIN + 1, 33, 63, 64, 65, 1000, 32768];
        let ps: Vec<u32> = (PROB_MIN..=65536 - PROB_MIN)
            .step_by(89)
            .chain(edges.iter().copied())
            .chain(edges.iter().map(|&e| 65536 - e))
            .collect();
        for &p in &ps {
            for n in 0..=255u8 {
                for bit in [false, true] {
                    let mut a = Context1 { p: p as u16, n };
                    a.update(bit);
                    let s = (1 + (31 - (u32::from(n) + 1).leading_zeros())).min(5);
                    let want = if bit {
                        p + ((65536 - p) >> s)
                    } else {
                        p - (p >> s)
                    };
                    let want = want.clamp(PROB_MIN, 65536 - PROB_MIN);
                    assert_eq!(u32::from(a.p), want, "p {p} n {n} bit {bit}");
                    assert_eq!(
                        a.n.min(SINGLE_SETTLED),
                        n.saturating_add(1).min(SINGLE_SETTLED)
                    );
                }
            }
        }
        assert_eq!(Context1::default().p1(), 32768);
    }

    /// `get_tree` reads the children's probabilities before each bit; the symbols and the
    /// contexts it leaves must be those of the plain walk (one `get` per node), for whole trees
    /// and for walks that start part-way down (a literal after its matched bits).
    #[test]
    fn tree_walk_equals_bit_by_bit_walk() {
        const N: usize = 0x100;
        let mut x = 7u32;
        let mut rnd = move || {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            x >> 8
        };
        // (start node, symbol bits below it): skewed symbols so contexts settle and move.
        let walks: Vec<(usize, usize)> = (0..20000)
            .map(|_| {
                let depth = 1 + rnd() as usize % 8;
                let start = (1usize << (8 - depth)) | (rnd() as usize & ((1 << (8 - depth)) - 1));
                let bits = (rnd() as usize % (1 << depth)) & (rnd() as usize | 0x0F);
                (start, bits & ((1 << depth) - 1))
            })
            .collect();
        let mut probs = [Context::default(); N];
        let mut enc = BinEncoder::new();
        for &(start, bits) in &walks {
            let mut m = start;
            let depth = N.trailing_zeros() - (usize::BITS - 1 - start.leading_zeros());
            for i in (0..depth).rev() {
                let b = (bits >> i) & 1 == 1;
                enc.put(&mut probs[m], b);
                m = (m << 1) | usize::from(b);
            }
        }
        let bytes = enc.finish();
        let mut probs_tree = [Context::default(); N];
        let mut dec = BinDecoder::new(&bytes);
        for &(start, bits) in &walks {
            let m = dec.get_tree(&mut probs_tree, start, N);
            let depth = N.trailing_zeros() - (usize::BITS - 1 - start.leading_zeros());
            assert_eq!(m, (start << depth) | bits);
        }
        assert!(!dec.is_bad() && dec.at_exact_end());
        assert_eq!(probs_tree, probs);
    }

    #[test]
    fn cost_is_monotone_and_sane() {
        assert_eq!(cost_of_prob(32768), 256);
        assert_eq!(cost_of_prob(65536 / 4), 512);
        assert!(cost_of_prob(60000) < 48); // true cost 0.127 bit = 33
        assert!(cost_of_prob(100) > 256 * 9);
    }
}

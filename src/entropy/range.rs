//! The range-coder core: a carry-propagating 32-bit binary/multi-symbol range coder in the style
//! of LZMA's `rc` (spec/entropy-range.md §2).
//!
//! Integer-only and deterministic, so an independent decoder reproduces every decision bit for
//! bit. The encoder keeps a 33-bit `low` and propagates carries through a run of pending `0xFF`
//! bytes; the decoder never sees a carry. Front ends ([`super::binary`], [`super::multi`]) sit on
//! top of the three primitive operations: a bit with a 16-bit probability, a symbol from a
//! cumulative-frequency interval, and raw equiprobable bits.

/// Renormalisation threshold: the range is kept at or above 2^24 after every operation (§2.2).
pub const RANGE_TOP: u32 = 1 << 24;
/// Probabilities of the binary primitive are in units of 2^-16 (§2.3).
pub const PROB_BITS: u32 = 16;
/// Largest frequency total accepted by the multi-symbol primitive (§2.4): `range / total` then
/// keeps at least 8 bits of precision.
pub const MAX_TOTAL: u32 = 1 << 16;
/// How many bytes a decoder may read past the end of its input (implicitly zero) before the
/// stream is declared corrupt: a valid stream needs none, the flush writes 5 spare bytes.
pub const MAX_OVERRUN: usize = 8;

/// Range encoder writing into an owned byte vector.
#[derive(Debug, Clone)]
pub struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// A fresh encoder (§2.1: low = 0, range = 2^32 - 1).
    pub fn new() -> Self {
        Encoder {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
        }
    }

    /// Bytes written so far (an estimate of the final size, short by at most 5 + pending bytes).
    pub fn len(&self) -> usize {
        self.out.len() + self.cache_size as usize
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < RANGE_TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes `bit` where `p1` (in 2^-16 units, 1..=65535) is the probability that it is 1.
    /// The 1 takes the lower part of the interval (§2.3).
    #[inline]
    pub fn encode_bit(&mut self, p1: u32, bit: bool) {
        debug_assert!(p1 > 0 && p1 < (1 << PROB_BITS));
        let bound = (self.range >> PROB_BITS) * p1;
        if bit {
            self.range = bound;
        } else {
            self.low += u64::from(bound);
            self.range -= bound;
        }
        self.normalize();
    }

    /// Codes the interval `[cum, cum + freq)` out of `total` (§2.4). The caller guarantees
    /// `freq >= 1`, `cum + freq <= total <= MAX_TOTAL`.
    #[inline]
    pub fn encode_interval(&mut self, cum: u32, freq: u32, total: u32) {
        debug_assert!(freq >= 1 && cum + freq <= total && total <= MAX_TOTAL);
        let r = self.range / total;
        self.low += u64::from(r * cum);
        self.range = r * freq;
        self.normalize();
    }

    /// Codes the low `n` bits of `value` (n ≤ 16), most significant first, each with
    /// probability 1/2 (§2.5).
    #[inline]
    pub fn encode_direct(&mut self, value: u32, n: u32) {
        debug_assert!(n <= 16);
        for i in (0..n).rev() {
            self.range >>= 1;
            if (value >> i) & 1 == 1 {
                self.low += u64::from(self.range);
            }
            self.normalize();
        }
    }

    /// Flushes the state (§2.6) and returns the coded bytes.
    pub fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

/// A copy of a [`Decoder`]'s state held in locals by a hot loop: the compiler then keeps it in
/// registers, where through `&mut self` it stored it back at every bit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Regs<'a> {
    data: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
}

impl Regs<'_> {
    /// [`Decoder::decode_bit`] on the copy.
    #[inline(always)]
    pub(super) fn decode_bit(&mut self, p1: u32) -> bool {
        let bound = (self.range >> PROB_BITS) * p1;
        let bit = self.code < bound;
        // Branch-free on purpose: the bit is the least predictable branch of every decoder,
        // and selects compile to conditional moves. A corrupt stream can leave code >= range;
        // wrapping keeps that panic-free and the stream is reported by `is_bad`.
        let keep = u32::from(bit).wrapping_sub(1); // all ones for a 0 bit
        self.code = self.code.wrapping_sub(bound & keep);
        self.range = if bit { bound } else { self.range - bound };
        self.normalize();
        bit
    }

    /// [`Decoder::decode_direct`] on the copy.
    #[inline(always)]
    pub(super) fn decode_direct(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            self.range >>= 1;
            // Branch-free: these bits are as good as random, so a branch on them mispredicts
            // half the time (measured: most of lzr's distance decoding).
            let bit = u32::from(self.code >= self.range);
            self.code = self.code.wrapping_sub(self.range & bit.wrapping_neg());
            v = (v << 1) | bit;
            self.normalize();
        }
        v
    }

    #[inline(always)]
    fn normalize(&mut self) {
        while self.range < RANGE_TOP {
            self.range <<= 8;
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            self.code = (self.code << 8) | u32::from(b);
            self.pos += 1;
        }
    }

    /// [`Decoder::is_bad`] for a decoder whose state is this copy; `bad` is its flag.
    #[inline(always)]
    pub(super) fn is_bad(&self, bad: bool) -> bool {
        bad || self.pos.saturating_sub(self.data.len()) > MAX_OVERRUN
    }
}

/// Range decoder over a byte slice. Reading past the end yields zero bytes (counted, see
/// [`Decoder::overrun`]); a malformed stream therefore decodes to *some* symbols without
/// panicking, and the caller turns a non-zero overrun into a typed error.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    r: Regs<'a>,
    bad: bool,
}

impl<'a> Decoder<'a> {
    /// Starts decoding `data` (§2.1: the first byte must be 0, the next four initialise `code`).
    pub fn new(data: &'a [u8]) -> Self {
        let mut d = Decoder {
            r: Regs {
                data,
                pos: 0,
                range: u32::MAX,
                code: 0,
            },
            bad: false,
        };
        if d.next_byte() != 0 {
            d.bad = true;
        }
        for _ in 0..4 {
            d.r.code = (d.r.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.r.data.get(self.r.pos).copied().unwrap_or(0);
        self.r.pos += 1;
        b
    }

    /// The decoder's registers, for a loop that keeps a copy of them in locals (see
    /// [`super::binary::BinDecoder::local`]) and stores it back when done.
    #[inline(always)]
    pub(super) fn regs_mut(&mut self) -> &mut Regs<'a> {
        &mut self.r
    }

    /// Decodes a bit coded by [`Encoder::encode_bit`] with the same `p1`.
    #[inline]
    pub fn decode_bit(&mut self, p1: u32) -> bool {
        self.r.decode_bit(p1)
    }

    /// First half of decoding an interval: the target value in `[0, total)`, or `None` when the
    /// stream is inconsistent (a valid stream never yields a target ≥ `total`).
    #[inline]
    pub fn decode_target(&mut self, total: u32) -> Option<(u32, u32)> {
        let r = self.r.range / total;
        let v = self.r.code / r;
        if v >= total {
            self.bad = true;
            return None;
        }
        Some((v, r))
    }

    /// Second half: consumes the interval `[cum, cum + freq)` that contains the target, with
    /// the `r` returned by [`Decoder::decode_target`].
    #[inline]
    pub fn consume_interval(&mut self, cum: u32, freq: u32, r: u32) {
        self.r.code = self.r.code.wrapping_sub(r * cum);
        self.r.range = r * freq;
        self.r.normalize();
    }

    /// Decodes `n` equiprobable bits coded by [`Encoder::encode_direct`].
    #[inline]
    pub fn decode_direct(&mut self, n: u32) -> u32 {
        self.r.decode_direct(n)
    }

    /// Bytes consumed past the end of the input (they read as zero).
    pub fn overrun(&self) -> usize {
        self.r.pos.saturating_sub(self.r.data.len())
    }

    /// True when the decoder has read exactly the bytes a valid stream of the same symbols has:
    /// after the last symbol of a valid stream, every byte was consumed and none beyond (§2.6).
    pub fn at_exact_end(&self) -> bool {
        self.r.pos == self.r.data.len()
    }

    /// True if the stream is known to be malformed: a nonzero first byte, an impossible
    /// interval target, or more than [`MAX_OVERRUN`] bytes read past the end.
    pub fn is_bad(&self) -> bool {
        self.r.is_bad(self.bad)
    }

    /// The flag part of [`Decoder::is_bad`], which a locals copy of the state carries along
    /// (see [`Regs::is_bad`]).
    #[inline(always)]
    pub(super) fn bad_flag(&self) -> bool {
        self.bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(x: &mut u32) -> u32 {
        *x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        *x >> 8
    }

    #[test]
    fn mixed_primitives_roundtrip() {
        let mut x = 7;
        let ops: Vec<(u32, u32)> = (0..20000).map(|_| (lcg(&mut x) % 3, lcg(&mut x))).collect();
        let mut enc = Encoder::new();
        for &(op, v) in &ops {
            match op {
                0 => enc.encode_bit(1 + v % 65535, v & 1 == 1),
                1 => enc.encode_interval(v % 100, 1 + v % 7, 107),
                _ => enc.encode_direct(v & 0x1FFF, 13),
            }
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for &(op, v) in &ops {
            match op {
                0 => assert_eq!(dec.decode_bit(1 + v % 65535), v & 1 == 1),
                1 => {
                    let (t, r) = dec.decode_target(107).unwrap();
                    let cum = v % 100;
                    assert!(t >= cum && t < cum + 1 + v % 7);
                    dec.consume_interval(cum, 1 + v % 7, r);
                }
                _ => assert_eq!(dec.decode_direct(13), v & 0x1FFF),
            }
        }
        assert!(!dec.is_bad());
        assert!(dec.at_exact_end(), "{} of {}", dec.r.pos, bytes.len());
    }

    #[test]
    fn carries_propagate() {
        // Long runs of highly probable bits drive `low` through 0xFF.. runs and carries.
        let mut enc = Encoder::new();
        let bits: Vec<bool> = (0..100000).map(|i| i % 997 == 0).collect();
        for &b in &bits {
            enc.encode_bit(65000, !b);
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for &b in &bits {
            assert_eq!(dec.decode_bit(65000), !b);
        }
        assert!(dec.at_exact_end(), "{} of {}", dec.r.pos, bytes.len());
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut x = 99;
        for len in 0..64 {
            let data: Vec<u8> = (0..len).map(|_| lcg(&mut x) as u8).collect();
            let mut dec = Decoder::new(&data);
            for i in 0..1000u32 {
                dec.decode_bit(1 + (i * 977) % 65535);
                if let Some((t, r)) = dec.decode_target(1000) {
                    dec.consume_interval(t, 1, r);
                }
                dec.decode_direct(5);
            }
            assert!(dec.is_bad(), "1000 ops cannot fit in {len} bytes");
        }
    }
}

//! Canonical, length-limited Huffman coding over a generic alphabet, with the bit writer and
//! reader every yoz entropy-coded payload uses (spec/codec-huffman.md §2–§4).
//!
//! * Bits are packed LSB-first: the first bit written is bit 0 of byte 0 (as in deflate), so a
//!   64-bit little-endian load gives the next bits in its low end.
//! * Codes are canonical (spec §3): only the code lengths are stored; codes are assigned in
//!   increasing (length, symbol) order and written most-significant code bit first, which in an
//!   LSB-first stream means the encoder emits the *bit-reversed* code.
//! * Code lengths are limited (at most [`MAX_CODE_LEN`]), so a decoder resolves any symbol with
//!   one lookup in a table of `2^max_len` entries — no tree walk, no second level.
//! * Code lengths are stored with a small run-length pre-code (spec §4), like deflate's.

/// Longest code length the format allows (any alphabet). Decoders reject longer lengths.
pub const MAX_CODE_LEN: u8 = 15;

/// Number of symbols of the code-length pre-code (spec §4): lengths 0–15 and three repeat codes.
const PRECODE_SYMS: usize = 19;
/// Pre-code lengths are stored in 3 bits each, so they are limited to 7.
const PRECODE_MAX_LEN: u8 = 7;
/// Pre-code symbol: repeat the previous length 3–6 times (2 extra bits).
const REP_PREV: u16 = 16;
/// Pre-code symbol: 3–10 zero lengths (3 extra bits).
const REP_ZERO_SHORT: u16 = 17;
/// Pre-code symbol: 11–138 zero lengths (7 extra bits).
const REP_ZERO_LONG: u16 = 18;

/// Appends bits LSB-first to a byte vector through a 64-bit accumulator.
pub struct BitWriter {
    out: Vec<u8>,
    buf: u64,
    nbits: u32,
}

impl BitWriter {
    /// A writer that appends to `out` (existing contents are kept).
    pub fn new(out: Vec<u8>) -> Self {
        BitWriter {
            out,
            buf: 0,
            nbits: 0,
        }
    }

    /// Writes the low `n` bits of `bits` (`n` ≤ 32, higher bits of `bits` must be zero).
    #[inline]
    pub fn put(&mut self, bits: u64, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || bits >> n == 0));
        self.buf |= bits << self.nbits;
        self.nbits += n;
        // Keeping fewer than 32 pending bits means the next put (≤ 32 bits) cannot overflow.
        if self.nbits >= 32 {
            self.out.extend_from_slice(&(self.buf as u32).to_le_bytes());
            self.buf >>= 32;
            self.nbits -= 32;
        }
    }

    /// Number of bits written so far.
    pub fn bit_len(&self) -> usize {
        self.out.len() * 8 + self.nbits as usize
    }

    /// Flushes the pending bits, zero-padding the last byte, and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let bytes = self.nbits.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.buf.to_le_bytes()[..bytes]);
        self.out
    }
}

/// Reads bits LSB-first from a byte slice through a 64-bit buffer.
///
/// Reading past the end yields zero bits instead of failing, so the hot decode loops carry no
/// end-of-input branch; the decoder calls [`BitReader::overrun`] (or
/// [`BitReader::check_exact_end`]) once at the end and rejects the payload if more bits were
/// consumed than the input holds. Output size is bounded by the caller, so a corrupt stream of
/// endless zero bits cannot loop forever.
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load.
    pos: usize,
    /// Zero bytes loaded past the end of `data`.
    padded: usize,
    buf: u64,
    /// Valid bits in `buf` (bits above may hold the start of the next byte — the same bits a
    /// later refill ORs in, so they never disagree).
    nbits: u32,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`, starting at bit 0 of byte 0.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            padded: 0,
            buf: 0,
            nbits: 0,
        }
    }

    /// Makes at least 56 bits available.
    #[inline(always)]
    pub fn refill(&mut self) {
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.buf |= u64::from_le_bytes(w) << self.nbits;
            // Whole bytes that fit: takes nbits to 56..=63 (branch-free refill, "variant 4").
            self.pos += ((63 - self.nbits) >> 3) as usize;
            self.nbits |= 56;
        } else {
            self.refill_slow();
        }
    }

    #[cold]
    fn refill_slow(&mut self) {
        while self.nbits <= 56 {
            let b = match self.data.get(self.pos) {
                Some(&b) => {
                    self.pos += 1;
                    b
                }
                None => {
                    self.padded += 1;
                    0
                }
            };
            self.buf |= u64::from(b) << self.nbits;
            self.nbits += 8;
        }
    }

    /// The next `n` bits (`n` ≤ 56 and ≤ the bits available since the last refill).
    #[inline(always)]
    pub fn peek(&self, n: u32) -> u64 {
        self.buf & ((1u64 << n) - 1)
    }

    /// Drops `n` bits (`n` ≤ the bits available).
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.nbits);
        self.buf >>= n;
        self.nbits -= n;
    }

    /// Reads `n` ≤ 32 bits, refilling first if needed.
    #[inline]
    pub fn bits(&mut self, n: u32) -> u64 {
        if self.nbits < n {
            self.refill();
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// Bits available without a refill.
    #[inline(always)]
    pub fn available(&self) -> u32 {
        self.nbits
    }

    /// Bits consumed since the start.
    pub fn consumed_bits(&self) -> usize {
        (self.pos + self.padded) * 8 - self.nbits as usize
    }

    /// True when more bits were consumed than the input holds (a truncated or corrupt stream).
    pub fn overrun(&self) -> bool {
        self.consumed_bits() > self.data.len() * 8
    }

    /// Ok when the consumed bits end inside the last byte of the input: no overrun and no
    /// trailing bytes (the encoder pads only to the next byte boundary).
    pub fn check_exact_end(&self) -> Result<(), &'static str> {
        let used = self.consumed_bits().div_ceil(8);
        match used.cmp(&self.data.len()) {
            std::cmp::Ordering::Greater => Err("bit stream truncated"),
            std::cmp::Ordering::Less => Err("trailing bytes after bit stream"),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }
}

/// Computes code lengths (0 = unused symbol) for `freqs`, no longer than `max_len`.
///
/// Builds an optimal Huffman tree (two-queue method over the sorted leaves), then, if it is too
/// deep, redistributes lengths until the Kraft sum is exactly 1 again (spec §3): the result is
/// always a *complete* code when two or more symbols are used, which is what decoders require.
/// One used symbol gets length 1; none gives all zeros.
///
/// Panics if `2^max_len` is smaller than the number of used symbols or `max_len` is not in
/// 1..=15 (a caller bug, never data-dependent).
pub fn code_lengths(freqs: &[u32], max_len: u8) -> Vec<u8> {
    assert!((1..=MAX_CODE_LEN).contains(&max_len));
    let mut lens = vec![0u8; freqs.len()];
    // Used symbols, least frequent first (ties by symbol for determinism).
    let mut used: Vec<(u32, usize)> = freqs
        .iter()
        .enumerate()
        .filter(|(_, &f)| f > 0)
        .map(|(s, &f)| (f, s))
        .collect();
    let n = used.len();
    match n {
        0 => return lens,
        1 => {
            lens[used[0].1] = 1;
            return lens;
        }
        _ => {}
    }
    assert!(n <= 1 << max_len, "alphabet too large for max_len");
    used.sort_unstable();

    // Two-queue Huffman: leaves 0..n sorted ascending, internal nodes n..2n-1 are created in
    // non-decreasing weight order, so the two smallest are always at the queue fronts.
    let total = 2 * n - 1;
    let mut weight: Vec<u64> = Vec::with_capacity(total);
    weight.extend(used.iter().map(|&(f, _)| u64::from(f)));
    weight.resize(total, 0);
    let mut parent = vec![0usize; total];
    let (mut leaf, mut inner) = (0usize, n);
    for node in n..total {
        let mut w = 0u64;
        for _ in 0..2 {
            let take_leaf = leaf < n && (inner >= node || weight[leaf] <= weight[inner]);
            let child = if take_leaf {
                leaf += 1;
                leaf - 1
            } else {
                inner += 1;
                inner - 1
            };
            parent[child] = node;
            w += weight[child];
        }
        weight[node] = w;
    }
    // Depths, root first (parents always have larger indices than their children).
    let mut depth = vec![0u32; total];
    for node in (0..total - 1).rev() {
        depth[node] = depth[parent[node]] + 1;
    }

    // Count per length, clamped to max_len, then repair the Kraft sum.
    let max = u32::from(max_len);
    let mut count = [0u32; MAX_CODE_LEN as usize + 2];
    for &d in &depth[..n] {
        count[d.min(max) as usize] += 1;
    }
    let full: u64 = 1 << max;
    let mut kraft: u64 = (1..=max)
        .map(|l| u64::from(count[l as usize]) << (max - l))
        .sum();
    // Too many short codes: lengthen the deepest code that is still shorter than max_len
    // (the cheapest move: it belongs to a rare symbol).
    while kraft > full {
        let l = (1..max)
            .rev()
            .find(|&l| count[l as usize] > 0)
            .expect("n <= 2^max guarantees a code shorter than max_len");
        count[l as usize] -= 1;
        count[l as usize + 1] += 1;
        kraft -= 1 << (max - l - 1);
    }
    // Slack left: shorten the deepest code whose shortening still fits. Always terminates at
    // exactly `full` (the deficit is a multiple of the smallest unit a present code can add).
    while kraft < full {
        let room = full - kraft;
        let l = (2..=max)
            .rev()
            .find(|&l| count[l as usize] > 0 && (1u64 << (max - l)) <= room)
            .expect("a complete code is always reachable");
        count[l as usize] -= 1;
        count[l as usize - 1] += 1;
        kraft += 1 << (max - l);
    }
    // Most frequent symbols get the shortest lengths.
    let mut l = 1usize;
    for &(_, sym) in used.iter().rev() {
        while count[l] == 0 {
            l += 1;
        }
        count[l] -= 1;
        lens[sym] = l as u8;
    }
    lens
}

/// Canonical codes for `lens`, bit-reversed for LSB-first emission (spec §3).
fn canonical_codes(lens: &[u8]) -> Vec<u16> {
    let mut count = [0u16; MAX_CODE_LEN as usize + 1];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; MAX_CODE_LEN as usize + 2];
    let mut code = 0u16;
    for l in 1..=MAX_CODE_LEN as usize {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[l as usize];
            next[l as usize] += 1;
            c.reverse_bits() >> (16 - u32::from(l))
        })
        .collect()
}

/// Encodes symbols with a canonical code.
pub struct Encoder {
    /// Bit-reversed code and length per symbol, packed as `code << 4 | len`.
    entries: Vec<u32>,
}

impl Encoder {
    /// An encoder for the code given by `lens` (as produced by [`code_lengths`]).
    pub fn new(lens: &[u8]) -> Self {
        let codes = canonical_codes(lens);
        Encoder {
            entries: codes
                .iter()
                .zip(lens)
                .map(|(&c, &l)| u32::from(c) << 4 | u32::from(l))
                .collect(),
        }
    }

    /// Writes `sym`'s code. The symbol must have a nonzero length.
    #[inline(always)]
    pub fn put(&self, w: &mut BitWriter, sym: usize) {
        let e = self.entries[sym];
        w.put(u64::from(e >> 4), e & 15);
    }

    /// Length in bits of `sym`'s code (0 if unused).
    #[inline]
    pub fn len(&self, sym: usize) -> u32 {
        self.entries[sym] & 15
    }
}

/// Single-level lookup table: `2^bits` entries, each `symbol << 4 | length`, indexed by the next
/// `bits` stream bits.
pub struct Decoder {
    table: Vec<u16>,
    bits: u32,
}

impl Decoder {
    /// Builds the table for `lens`. Accepts a complete code, exactly one used symbol of length 1
    /// (every bit pattern decodes to it, consuming one bit), or no used symbol (every lookup
    /// yields the out-of-alphabet symbol `lens.len()`, which callers reject). Rejects lengths
    /// over 15, over-subscribed and incomplete codes.
    pub fn new(lens: &[u8]) -> Result<Self, &'static str> {
        if lens.len() >= 1 << 12 {
            return Err("alphabet too large");
        }
        let mut count = [0u32; MAX_CODE_LEN as usize + 1];
        for &l in lens {
            if l > MAX_CODE_LEN {
                return Err("code length over 15");
            }
            count[l as usize] += 1;
        }
        count[0] = 0;
        let used: u32 = count.iter().sum();
        let max = (1..=MAX_CODE_LEN as u32)
            .rev()
            .find(|&l| count[l as usize] > 0)
            .unwrap_or(0);
        if used == 0 {
            return Ok(Decoder {
                table: vec![(lens.len() as u16) << 4 | 1],
                bits: 0,
            });
        }
        if used == 1 {
            if max != 1 {
                return Err("single-symbol code must have length 1");
            }
            let sym = lens.iter().position(|&l| l != 0).unwrap_or(0) as u16;
            return Ok(Decoder {
                table: vec![sym << 4 | 1],
                bits: 0,
            });
        }
        let kraft: u64 = (1..=max)
            .map(|l| u64::from(count[l as usize]) << (max - l))
            .sum();
        if kraft != 1 << max {
            return Err(if kraft > 1 << max {
                "over-subscribed code"
            } else {
                "incomplete code"
            });
        }
        let codes = canonical_codes(lens);
        let mut table = vec![0u16; 1 << max];
        for (sym, (&l, &c)) in lens.iter().zip(&codes).enumerate() {
            if l == 0 {
                continue;
            }
            let entry = (sym as u16) << 4 | u16::from(l);
            let step = 1usize << l;
            let mut i = c as usize;
            while i < table.len() {
                table[i] = entry;
                i += step;
            }
        }
        Ok(Decoder { table, bits: max })
    }

    /// Longest code length (the table's index width); 0 for a code with at most one symbol.
    pub fn max_len(&self) -> u32 {
        self.bits
    }

    /// Decodes one symbol. The reader must hold at least [`Decoder::max_len`] bits (or 1 bit for
    /// a single-symbol code).
    #[inline(always)]
    pub fn decode(&self, r: &mut BitReader) -> u16 {
        // `bits` ≤ 15 and the table has exactly 2^bits entries, so the index is in range.
        let e = self.table[r.peek(self.bits) as usize];
        r.consume(u32::from(e & 15));
        e >> 4
    }
}

/// Writes `lens` (for an alphabet of `lens.len()` symbols) compactly: the count of lengths up
/// to the last nonzero one, then the run-length pre-code and the coded lengths (spec §4).
pub fn write_lengths(w: &mut BitWriter, lens: &[u8]) {
    let count_bits = count_field_bits(lens.len());
    let count = lens.iter().rposition(|&l| l != 0).map_or(0, |p| p + 1);
    w.put(count as u64, count_bits);
    if count == 0 {
        return;
    }
    // Run-length tokens: (pre-code symbol, extra value).
    let mut toks: Vec<(u16, u32)> = Vec::new();
    let lens = &lens[..count];
    let mut i = 0;
    while i < count {
        let l = lens[i];
        let run = lens[i..].iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 3 {
            let r = run.min(138);
            if r >= 11 {
                toks.push((REP_ZERO_LONG, (r - 11) as u32));
            } else {
                toks.push((REP_ZERO_SHORT, (r - 3) as u32));
            }
            i += r;
        } else if l != 0 && run >= 4 {
            // One literal length, then repeats of it.
            toks.push((u16::from(l), 0));
            let r = (run - 1).min(6);
            toks.push((REP_PREV, (r - 3) as u32));
            i += 1 + r;
        } else {
            toks.push((u16::from(l), 0));
            i += 1;
        }
    }
    let mut freq = [0u32; PRECODE_SYMS];
    for &(s, _) in &toks {
        freq[s as usize] += 1;
    }
    let pre_lens = code_lengths(&freq, PRECODE_MAX_LEN);
    for &l in &pre_lens {
        w.put(u64::from(l), 3);
    }
    let enc = Encoder::new(&pre_lens);
    for (s, extra) in toks {
        enc.put(w, s as usize);
        match s {
            REP_PREV => w.put(u64::from(extra), 2),
            REP_ZERO_SHORT => w.put(u64::from(extra), 3),
            REP_ZERO_LONG => w.put(u64::from(extra), 7),
            _ => {}
        }
    }
}

/// Reads code lengths written by [`write_lengths`] for an alphabet of `n` symbols.
pub fn read_lengths(r: &mut BitReader, n: usize) -> Result<Vec<u8>, &'static str> {
    let count = r.bits(count_field_bits(n)) as usize;
    if count > n {
        return Err("code-length count exceeds alphabet");
    }
    let mut lens = vec![0u8; n];
    if count == 0 {
        return Ok(lens);
    }
    let mut pre_lens = [0u8; PRECODE_SYMS];
    for l in pre_lens.iter_mut() {
        *l = r.bits(3) as u8;
    }
    let pre = Decoder::new(&pre_lens)?;
    let mut i = 0;
    while i < count {
        r.refill();
        let sym = pre.decode(r);
        let (val, run) = match sym {
            0..=15 => (sym as u8, 1),
            REP_PREV => {
                if i == 0 {
                    return Err("repeat with no previous length");
                }
                (lens[i - 1], 3 + r.bits(2) as usize)
            }
            REP_ZERO_SHORT => (0, 3 + r.bits(3) as usize),
            REP_ZERO_LONG => (0, 11 + r.bits(7) as usize),
            _ => return Err("no pre-code"),
        };
        if run > count - i {
            return Err("code-length run past the count");
        }
        lens[i..i + run].fill(val);
        i += run;
        if r.overrun() {
            return Err("code lengths truncated");
        }
    }
    Ok(lens)
}

/// Bits of the length-count field for an `n`-symbol alphabet: enough to hold `n`.
fn count_field_bits(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraft_ok(lens: &[u8], max: u8) {
        let used = lens.iter().filter(|&&l| l > 0).count();
        assert!(lens.iter().all(|&l| l <= max));
        if used >= 2 {
            let k: u64 = lens
                .iter()
                .filter(|&&l| l > 0)
                .map(|&l| 1u64 << (max - l))
                .sum();
            assert_eq!(k, 1 << max, "complete code");
        }
    }

    #[test]
    fn lengths_are_limited_and_complete() {
        // Fibonacci frequencies make the deepest possible tree.
        let mut f = vec![1u32, 1];
        while f.len() < 40 {
            let n = f.len();
            f.push(f[n - 1].saturating_add(f[n - 2]));
        }
        for max in [7u8, 9, 11, 12, 15] {
            let lens = code_lengths(&f, max);
            kraft_ok(&lens, max);
        }
        let flat = vec![5u32; 256];
        let lens = code_lengths(&flat, 8);
        assert!(lens.iter().all(|&l| l == 8));
        let mut one = vec![0u32; 10];
        one[3] = 9;
        assert_eq!(code_lengths(&one, 11)[3], 1);
        assert!(code_lengths(&[0, 0], 11).iter().all(|&l| l == 0));
    }

    #[test]
    fn codes_roundtrip_through_bits() {
        let freqs: Vec<u32> = (0..300u32).map(|i| (i * 7919) % 1000 + 1).collect();
        let lens = code_lengths(&freqs, 12);
        let enc = Encoder::new(&lens);
        let mut w = BitWriter::new(Vec::new());
        write_lengths(&mut w, &lens);
        let syms: Vec<usize> = (0..5000).map(|i| (i * 31 + i / 7) % 300).collect();
        for &s in &syms {
            enc.put(&mut w, s);
        }
        w.put(0x1234_5678, 32);
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        let got = read_lengths(&mut r, 300).unwrap();
        assert_eq!(got, lens);
        let dec = Decoder::new(&got).unwrap();
        for &s in &syms {
            r.refill();
            assert_eq!(dec.decode(&mut r) as usize, s);
        }
        assert_eq!(r.bits(32), 0x1234_5678);
        r.check_exact_end().unwrap();
    }

    #[test]
    fn decoder_rejects_bad_codes() {
        assert!(Decoder::new(&[1, 1, 1]).is_err()); // over-subscribed
        assert!(Decoder::new(&[1, 2, 0]).is_err()); // incomplete
        assert!(Decoder::new(&[2, 0]).is_err()); // lone symbol not length 1
        assert!(Decoder::new(&[16, 1]).is_err());
        assert!(Decoder::new(&[1, 1]).is_ok());
        assert!(Decoder::new(&[0, 0]).is_ok());
    }

    #[test]
    fn reader_detects_overrun() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.bits(8), 0xff);
        assert!(!r.overrun());
        r.check_exact_end().unwrap();
        assert_eq!(r.bits(3), 0);
        assert!(r.overrun());
    }
}

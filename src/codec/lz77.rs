//! `lz77` (id 4): LZ77 over the whole block (window = block, up to 64 MiB) with literals,
//! match lengths and distances coded by canonical Huffman in two alphabets, deflate-like but
//! our own layout (spec/codec-lz77.md).
//!
//! Encoder: hash chains over 4-byte hashes; levels 1–2 parse greedily, 3–8 lazily (one position
//! of lookahead, as zlib does), and level 9 runs a cost-based optimal parse (forward
//! shortest path over all chain matches, priced with the code lengths of a first lazy pass).
//! Decoder: one table lookup per symbol, up to three literals per refill, 16-byte match copies.

use super::{id, Codec};
use crate::entropy::huffman::{
    code_lengths, read_lengths, write_lengths, BitReader, BitWriter, Decoder, Encoder,
};
use crate::error::{Error, Result};

/// Shortest match the format can express.
pub const MIN_MATCH: usize = 3;
/// Longest match the format can express (length code 39 with all extra bits set).
pub const MAX_MATCH: usize = MIN_MATCH + 0xFFFF;
/// Largest distance the format can express (distance code 51 with all extra bits set):
/// 64 MiB, the largest block.
pub const MAX_DISTANCE: usize = 1 << 26;
/// Number of length codes (spec table 3.2).
const LEN_CODES: usize = 40;
/// Number of distance codes (spec table 3.3).
const DIST_CODES: usize = 52;
/// Literal/length alphabet: 256 literals then the length codes.
const LITLEN_SYMS: usize = 256 + LEN_CODES;
/// Code length limit for both alphabets: 4096-entry tables (8 KiB each) fit L1 together, and
/// three literals (36 bits) plus the longest length extra (15) fit one 56-bit refill.
pub const MAX_LEN: u8 = 12;
/// Largest window the encoder searches (hash-chain memory is 4 bytes per window byte); the
/// format allows distances up to the block size.
const ENC_WINDOW_MAX: usize = 1 << 24;
/// Hash-table size (log2 of heads) for the greedy levels: 2^17 heads (512 KiB) stay in L2,
/// which is what their speed rests on (measured: 2^20 heads cost 40 % of level-1 speed on text
/// for 0.3 % of size).
const HASH_BITS_FAST: u32 = 17;
/// Hash-table size for the lazy and optimal levels: about one head per position, up to 2^20
/// (4 MiB), so that chains on data without repeats hold hardly any false candidates, each of
/// which would cost a cache miss to reject.
pub(super) const HASH_BITS_DEEP: u32 = 20;
/// Minimum match the encoder's hash finds.
pub(super) const ENC_MIN: usize = 4;

/// Payload mode byte (spec §2).
mod mode {
    /// The block's bytes follow verbatim.
    pub const RAW: u8 = 0;
    /// Code lengths and the coded symbol stream follow.
    pub const CODED: u8 = 1;
}

/// (base, extra bits) per length code, for the value `len - MIN_MATCH` (spec table 3.2): codes
/// 0–15 are the values themselves, then two codes per power of two.
const LEN_TABLE: [(u32, u8); LEN_CODES] = bucket_table::<LEN_CODES>(16, 4);
/// (base, extra bits) per distance code, for the value `dist - 1` (spec table 3.3): codes 0–3
/// are the values themselves, then two codes per power of two.
const DIST_TABLE: [(u32, u8); DIST_CODES] = bucket_table::<DIST_CODES>(4, 2);

/// Builds a log2-bucketed table: `direct` codes with no extra bits, then for each bit width
/// `b` from `first_log` up, two codes with bases `2^b` and `2^b + 2^(b-1)` and `b-1` extra bits.
const fn bucket_table<const N: usize>(direct: u32, first_log: u32) -> [(u32, u8); N] {
    let mut t = [(0u32, 0u8); N];
    let mut c = 0;
    while c < N {
        let cu = c as u32;
        if cu < direct {
            t[c] = (cu, 0);
        } else {
            let b = first_log + (cu - direct) / 2;
            let hi = (cu - direct) & 1;
            t[c] = ((1 << b) | (hi << (b - 1)), (b - 1) as u8);
        }
        c += 1;
    }
    t
}

/// Code, extra-bit count and extra value for `v` in a bucket table.
#[inline]
fn bucket_code(v: u32, direct: u32, first_log: u32) -> (usize, u32, u32) {
    if v < direct {
        return (v as usize, 0, 0);
    }
    let b = 31 - v.leading_zeros();
    let hi = (v >> (b - 1)) & 1;
    let code = direct + (b - first_log) * 2 + hi;
    (code as usize, b - 1, v & ((1 << (b - 1)) - 1))
}

#[inline]
fn len_code(len: usize) -> (usize, u32, u32) {
    bucket_code((len - MIN_MATCH) as u32, 16, 4)
}

#[inline]
fn dist_code(dist: usize) -> (usize, u32, u32) {
    bucket_code((dist - 1) as u32, 4, 2)
}

/// The lz77 codec.
pub struct Lz77;

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "lz77",
        why: why.into(),
    }
}

impl Codec for Lz77 {
    fn id(&self) -> u8 {
        id::LZ77
    }
    fn name(&self) -> &'static str {
        "lz77"
    }
    /// `level` is clamped to 1..=9; params hold the level used (information only).
    fn compress(&self, input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<u16> {
        let level = level.clamp(1, 9);
        encode(input, level as u8, out);
        Ok(level as u16)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        decode(payload, raw_len, out)
    }
}

/// One parsed sequence: `lits` literals, then a match (`len` 0 marks the final literal run).
#[derive(Clone, Copy, Debug)]
struct Seq {
    lits: u32,
    len: u32,
    dist: u32,
}

/// Search effort per level: (max chain steps, nice length, lazy).
const LEVELS: [(u32, usize, bool); 9] = [
    (4, 16, false),
    (8, 32, false),
    (16, 32, true),
    (32, 64, true),
    (64, 128, true),
    (128, 256, true),
    (256, 512, true),
    (1024, 2048, true),
    // Level 9: the optimal parse's own search (a first lazy pass at level 5 prices the symbols).
    (256, 256, true),
];
/// Level whose lazy parse gives level 9 its first symbol statistics.
const OPT_STATS_LEVEL: usize = 5;

/// Hash chains over 4-byte prefixes. `head[h]` and `prev[pos & mask]` hold position + 1
/// (0 = none).
pub(super) struct Chains<'a> {
    data: &'a [u8],
    head: Vec<u32>,
    prev: Vec<u32>,
    mask: usize,
    window: usize,
    hash_shift: u32,
}

impl<'a> Chains<'a> {
    /// Chains over `data` with at most `2^max_hash_bits` heads (fewer for small inputs).
    pub(super) fn new(data: &'a [u8], max_hash_bits: u32) -> Self {
        let window = data.len().next_power_of_two().clamp(1, ENC_WINDOW_MAX);
        let hash_bits = (usize::BITS - data.len().leading_zeros()).clamp(8, max_hash_bits);
        Chains {
            data,
            head: vec![0; 1 << hash_bits],
            prev: vec![0; window],
            mask: window - 1,
            window,
            hash_shift: 32 - hash_bits,
        }
    }

    #[inline(always)]
    fn hash(&self, i: usize) -> usize {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.data[i..i + 4]);
        (u32::from_le_bytes(b).wrapping_mul(0x9E37_79B1) >> self.hash_shift) as usize
    }

    /// Inserts position `i` (needs 4 bytes at `i`).
    #[inline(always)]
    pub(super) fn insert(&mut self, i: usize) {
        let h = self.hash(i);
        self.prev[i & self.mask] = self.head[h];
        self.head[h] = i as u32 + 1;
    }

    /// Visits the chain at `i` (not yet inserted) up to `chain` steps, calling `f(len, dist)`
    /// for each match longer than every previous one, for matches ending by `end`; stops when
    /// `f` returns false.
    #[inline(always)]
    pub(super) fn search(
        &self,
        i: usize,
        end: usize,
        chain: u32,
        mut best: usize,
        mut f: impl FnMut(usize, usize) -> bool,
    ) {
        let data = self.data;
        let max = (end - i).min(MAX_MATCH);
        if best >= max {
            return;
        }
        let mut cand = self.head[self.hash(i)];
        let mut steps = chain;
        while cand != 0 && steps > 0 {
            let c = cand as usize - 1;
            let dist = i - c;
            if dist >= self.window {
                break;
            }
            if data[c + best] == data[i + best] {
                let l = match_len(data, c, i, max);
                if l > best {
                    best = l;
                    if !f(l, dist) || l >= max {
                        return;
                    }
                }
            }
            cand = self.prev[c & self.mask];
            steps -= 1;
        }
    }

    /// Longest match at `i` (len 0 if none of at least 4), then inserts `i`.
    fn find_insert(&mut self, i: usize, chain: u32, nice: usize) -> (usize, usize) {
        let mut m = (0, 0);
        self.search(i, self.data.len(), chain, ENC_MIN - 1, |l, d| {
            m = (l, d);
            l < nice
        });
        self.insert(i);
        m
    }
}

/// Length of the common prefix of `data[a..]` and `data[b..]`, at most `max` (`a < b`,
/// `b + max ≤ data.len()`).
#[inline(always)]
pub(super) fn match_len(data: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut l = 0;
    while l + 8 <= max {
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x.copy_from_slice(&data[a + l..a + l + 8]);
        y.copy_from_slice(&data[b + l..b + l + 8]);
        let d = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if d != 0 {
            return l + (d.trailing_zeros() / 8) as usize;
        }
        l += 8;
    }
    while l < max && data[a + l] == data[b + l] {
        l += 1;
    }
    l
}

/// Short far matches cost more bits than the literals they replace (a 4-byte match 1 MiB back
/// needs ~12 bits of code plus 19 extra bits); refuse them.
#[inline]
fn worth(len: usize, dist: usize) -> bool {
    len >= min_worth(dist)
}

/// Shortest match length [`worth`] accepts at `dist`.
#[inline]
fn min_worth(dist: usize) -> usize {
    if dist <= 1 << 14 {
        4
    } else if dist <= 1 << 18 {
        5
    } else {
        6
    }
}

/// Greedy (`lazy` false) or one-step lazy parse.
fn parse_lazy(data: &[u8], chain: u32, nice: usize, lazy: bool) -> Vec<Seq> {
    let n = data.len();
    let mut seqs = Vec::new();
    if n < ENC_MIN {
        seqs.push(Seq {
            lits: n as u32,
            len: 0,
            dist: 0,
        });
        return seqs;
    }
    let mut ch = Chains::new(data, if lazy { HASH_BITS_DEEP } else { HASH_BITS_FAST });
    let last = n - ENC_MIN; // last position with 4 bytes for hashing
    let (mut i, mut lit_start) = (0usize, 0usize);
    let mut next_ins;
    while i <= last {
        let (mut len, mut dist) = ch.find_insert(i, chain, nice);
        next_ins = i + 1;
        if !worth(len, dist) {
            // Greedy levels speed through data without matches: the step grows by one every
            // 64 literals in a row (LZ4's acceleration); skipped positions are not indexed.
            i += if lazy { 1 } else { 1 + ((i - lit_start) >> 6) };
            continue;
        }
        if lazy {
            while len < nice && i < last {
                let (l2, d2) = ch.find_insert(i + 1, chain, nice);
                next_ins = i + 2;
                if l2 > len && worth(l2, d2) {
                    i += 1;
                    len = l2;
                    dist = d2;
                } else {
                    break;
                }
            }
        }
        seqs.push(Seq {
            lits: (i - lit_start) as u32,
            len: len as u32,
            dist: dist as u32,
        });
        let end = i + len;
        for p in next_ins..end.min(last + 1) {
            ch.insert(p);
        }
        i = end;
        lit_start = end;
    }
    seqs.push(Seq {
        lits: (n - lit_start) as u32,
        len: 0,
        dist: 0,
    });
    seqs
}

/// Symbol frequencies of a parse.
fn frequencies(data: &[u8], seqs: &[Seq]) -> (Vec<u32>, Vec<u32>) {
    let mut lit = vec![0u32; LITLEN_SYMS];
    let mut dist = vec![0u32; DIST_CODES];
    let mut pos = 0usize;
    for s in seqs {
        for &b in &data[pos..pos + s.lits as usize] {
            lit[b as usize] += 1;
        }
        pos += s.lits as usize;
        if s.len > 0 {
            lit[256 + len_code(s.len as usize).0] += 1;
            dist[dist_code(s.dist as usize).0] += 1;
            pos += s.len as usize;
        }
    }
    (lit, dist)
}

/// Positions per optimal-parse segment: the shortest-path arrays cost 12 bytes per position, so
/// the parse runs segment by segment (matches may not cross a segment end) to keep memory flat
/// for 64 MiB blocks; the hash chains, and so the window, span segments.
#[cfg(not(test))]
const OPT_SEGMENT: usize = 1 << 20;
/// Small in unit tests so that their short inputs cross segment boundaries.
#[cfg(test)]
const OPT_SEGMENT: usize = 1 << 12;

/// Cost-based optimal parse (level 9): a forward shortest path where each position's arrival
/// cost is priced in bits with the code lengths of a previous parse (`lit_bits`, `dist_bits`)
/// plus extra bits. At each position every improving chain match is considered at each length
/// from the previous candidate's length + 1 up to its own (shorter lengths are reachable at a
/// smaller distance); a match of `nice` bytes or more is taken whole and its positions skipped.
fn parse_optimal(
    data: &[u8],
    chain: u32,
    nice: usize,
    lit_bits: &[u32],
    dist_bits: &[u32],
) -> Vec<Seq> {
    let n = data.len();
    if n < ENC_MIN {
        return vec![Seq {
            lits: n as u32,
            len: 0,
            dist: 0,
        }];
    }
    let mut ch = Chains::new(data, HASH_BITS_DEEP);
    let last = n - ENC_MIN;
    // Price of each match length up to `nice` (longer ones are only taken whole, below).
    let len_price: Vec<u32> = (0..=nice.max(ENC_MIN))
        .map(|len| {
            if len < MIN_MATCH {
                return u32::MAX / 4;
            }
            let (c, e, _) = len_code(len);
            lit_bits[256 + c] + e
        })
        .collect();
    let long_price = |len: usize| {
        let (c, e, _) = len_code(len);
        lit_bits[256 + c] + e
    };
    let dist_price = |dist: usize| {
        let (c, e, _) = dist_code(dist);
        dist_bits[c] + e
    };
    let mut cands: Vec<(usize, usize)> = Vec::with_capacity(64);
    // Steps of the whole block: (len, dist), len 1 with dist 0 = literal.
    let mut steps: Vec<(u32, u32)> = Vec::new();
    let seg_cap = OPT_SEGMENT.min(n);
    // cost[k]: cheapest bits to reach segment offset k; from[k]: the step into it.
    let mut cost = vec![u32::MAX; seg_cap + 1];
    let mut from = vec![(0u32, 0u32); seg_cap + 1];
    let mut seg_start = 0;
    while seg_start < n {
        let seg_end = (seg_start + OPT_SEGMENT).min(n);
        let len = seg_end - seg_start;
        cost[..=len].fill(u32::MAX);
        cost[0] = 0;
        let mut i = seg_start;
        while i < seg_end {
            let k = i - seg_start;
            let base = cost[k];
            // Literal step.
            let lc = base + lit_bits[data[i] as usize];
            if lc < cost[k + 1] {
                cost[k + 1] = lc;
                from[k + 1] = (1, 0);
            }
            if i <= last {
                cands.clear();
                ch.search(i, seg_end, chain, ENC_MIN - 1, |l, d| {
                    cands.push((l, d));
                    l < nice
                });
                ch.insert(i);
                if let Some(&(long, ldist)) = cands.last() {
                    if long >= nice {
                        let c = base + long_price(long) + dist_price(ldist);
                        if c < cost[k + long] {
                            cost[k + long] = c;
                            from[k + long] = (long as u32, ldist as u32);
                        }
                        for p in i + 1..(i + long).min(last + 1) {
                            ch.insert(p);
                        }
                        // Positions inside are reachable only through this match.
                        i += long;
                        continue;
                    }
                    let mut lo = ENC_MIN;
                    for &(l, d) in &cands {
                        let dp = base + dist_price(d);
                        for m in lo.max(min_worth(d))..=l {
                            let c = len_price[m] + dp;
                            if c < cost[k + m] {
                                cost[k + m] = c;
                                from[k + m] = (m as u32, d as u32);
                            }
                        }
                        lo = l + 1;
                    }
                }
            }
            i += 1;
        }
        // Walk the segment back from its end, then append its steps in order.
        let mark = steps.len();
        let mut k = len;
        while k > 0 {
            let step = from[k];
            steps.push(step);
            k -= step.0 as usize;
        }
        steps[mark..].reverse();
        seg_start = seg_end;
    }
    let mut seqs = Vec::new();
    let mut lits = 0u32;
    for &(l, d) in &steps {
        if l == 1 && d == 0 {
            lits += 1;
        } else {
            seqs.push(Seq {
                lits,
                len: l,
                dist: d,
            });
            lits = 0;
        }
    }
    seqs.push(Seq {
        lits,
        len: 0,
        dist: 0,
    });
    seqs
}

/// Bit lengths of a code built from `freq`, with unused symbols priced as if rare (so the
/// optimal parse may still pick them).
fn prices(freq: &[u32]) -> Vec<u32> {
    let lens = code_lengths(freq, MAX_LEN);
    lens.iter()
        .map(|&l| {
            if l == 0 {
                u32::from(MAX_LEN) + 2
            } else {
                u32::from(l)
            }
        })
        .collect()
}

/// Appends the lz77 payload of `input` at `level` (1..=9) to `out`.
pub fn encode(input: &[u8], level: u8, out: &mut Vec<u8>) {
    let level = level.clamp(1, 9);
    let (chain, nice, lazy) = LEVELS[(level - 1) as usize];
    let seqs = if level >= 9 {
        let (c, n, l) = LEVELS[OPT_STATS_LEVEL - 1];
        let first = parse_lazy(input, c, n, l);
        let (lf, df) = frequencies(input, &first);
        if code_bits(&lf) + code_bits(&df) >= 8 * input.len() as u64 {
            // Even without extra bits the first parse does not beat raw: incompressible data,
            // where the optimal parse would only spend time.
            first
        } else {
            parse_optimal(input, chain, nice, &prices(&lf), &prices(&df))
        }
    } else {
        parse_lazy(input, chain, nice, lazy)
    };
    let start = out.len();
    if write_coded(input, &seqs, out) && out.len() - start < 1 + input.len() {
        return;
    }
    out.truncate(start);
    out.push(mode::RAW);
    out.extend_from_slice(input);
}

/// Bits the Huffman code words of `freq` take (a lower bound of the coded size: no header, no
/// extra bits).
fn code_bits(freq: &[u32]) -> u64 {
    let lens = code_lengths(freq, MAX_LEN);
    freq.iter()
        .zip(&lens)
        .map(|(&f, &l)| u64::from(f) * u64::from(l))
        .sum()
}

/// Writes the coded mode; returns false when the output would obviously not beat raw.
fn write_coded(data: &[u8], seqs: &[Seq], out: &mut Vec<u8>) -> bool {
    let (lf, df) = frequencies(data, seqs);
    if code_bits(&lf) / 8 > data.len() as u64 {
        return false;
    }
    let ll = code_lengths(&lf, MAX_LEN);
    let dl = code_lengths(&df, MAX_LEN);
    out.push(mode::CODED);
    let mut w = BitWriter::new(std::mem::take(out));
    write_lengths(&mut w, &ll);
    write_lengths(&mut w, &dl);
    let le = Encoder::new(&ll);
    let de = Encoder::new(&dl);
    let mut pos = 0usize;
    for s in seqs {
        for &b in &data[pos..pos + s.lits as usize] {
            le.put(&mut w, b as usize);
        }
        pos += s.lits as usize;
        if s.len > 0 {
            let (c, e, v) = len_code(s.len as usize);
            le.put(&mut w, 256 + c);
            if e > 0 {
                w.put(u64::from(v), e);
            }
            let (c, e, v) = dist_code(s.dist as usize);
            de.put(&mut w, c);
            if e > 0 {
                w.put(u64::from(v), e);
            }
            pos += s.len as usize;
        }
    }
    *out = w.finish();
    true
}

/// Decodes an lz77 payload into `out` (cleared first); `out` ends up exactly `raw_len` long.
pub fn decode(payload: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let Some(body) = super::raw_or_coded("lz77", payload, raw_len, out)? else {
        return Ok(());
    };
    out.resize(raw_len, 0);
    let r = decode_coded(body, out);
    if r.is_err() {
        out.clear();
    }
    r
}

/// Copies 16 bytes from `src` to `dst` within `buf` (`src + 16 ≤ dst` or `dst + 16 ≤ src`).
#[inline(always)]
fn copy16(buf: &mut [u8], src: usize, dst: usize) {
    let mut t = [0u8; 16];
    t.copy_from_slice(&buf[src..src + 16]);
    buf[dst..dst + 16].copy_from_slice(&t);
}

fn decode_coded(body: &[u8], out: &mut [u8]) -> Result<()> {
    let raw_len = out.len();
    let mut r = BitReader::new(body);
    let ll = read_lengths(&mut r, LITLEN_SYMS).map_err(corrupt)?;
    let dl = read_lengths(&mut r, DIST_CODES).map_err(corrupt)?;
    if ll.iter().chain(&dl).any(|&l| l > MAX_LEN) {
        return Err(corrupt("code length over 12"));
    }
    let lit = Decoder::new(&ll).map_err(corrupt)?;
    let dist = Decoder::new(&dl).map_err(corrupt)?;
    let mut op = 0usize;
    'outer: while op < raw_len {
        r.refill();
        // Up to three literals per refill (3 × 12 bits), leaving ≥ 20 bits for a length code's
        // 15 extra bits.
        let mut sym = lit.decode(&mut r) as usize;
        for _ in 0..2 {
            if sym >= 256 {
                break;
            }
            out[op] = sym as u8;
            op += 1;
            if op == raw_len {
                break 'outer;
            }
            sym = lit.decode(&mut r) as usize;
        }
        if sym < 256 {
            out[op] = sym as u8;
            op += 1;
            continue;
        }
        let (base, extra) = *LEN_TABLE
            .get(sym - 256)
            .ok_or_else(|| corrupt("no literal/length code"))?;
        let len = MIN_MATCH + (base + r.peek(u32::from(extra)) as u32) as usize;
        r.consume(u32::from(extra));
        r.refill();
        let dsym = dist.decode(&mut r) as usize;
        let (base, extra) = *DIST_TABLE
            .get(dsym)
            .ok_or_else(|| corrupt("no distance code"))?;
        let d = 1 + (base + r.peek(u32::from(extra)) as u32) as usize;
        r.consume(u32::from(extra));
        if d > op {
            return Err(corrupt(format!("distance {d} before block start at {op}")));
        }
        if len > raw_len - op {
            return Err(corrupt("match runs past the block end"));
        }
        let src = op - d;
        if d >= 16 && op + len + 16 <= raw_len {
            // Non-overlapping 16-byte steps; may write up to 15 bytes past the match, inside
            // the block, which later output overwrites.
            let mut k = 0;
            while k < len {
                copy16(out, src + k, op + k);
                k += 16;
            }
        } else if d == 1 {
            let b = out[src];
            out[op..op + len].fill(b);
        } else {
            for k in 0..len {
                out[op + k] = out[src + k];
            }
        }
        op += len;
    }
    r.check_exact_end().map_err(corrupt)
}

#[cfg(test)]
mod tests;

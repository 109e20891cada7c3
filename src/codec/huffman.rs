//! `huffman` (id 3): order-0 canonical Huffman over the bytes of a block, one table per block.
//! Payload layout: spec/codec-huffman.md §5.
//!
//! The block is cut into four equal segments coded as four independent bit streams sharing one
//! code, so the decoder runs four lookup chains side by side (instruction-level parallelism, as
//! zstd's huff0 does); that is what makes ≥ 400 MB/s on one core comfortable. Codes are limited
//! to [`MAX_LEN`] = 13 bits: the table is 8 Ki entries (16 KiB, fits L1), four symbols fit the
//! 56 bits one refill guarantees, and on the corpus text the loss against 15-bit codes is at
//! most 0.15 % where an 11-bit limit (zstd's) costs 0.1–0.7 % (spec §5.1).

use super::{id, Codec};
use crate::entropy::huffman::{
    code_lengths, read_lengths, write_lengths, BitReader, BitWriter, Decoder, Encoder,
};
use crate::error::{Error, Result};

/// Code length limit for byte codes (spec §5.1).
pub const MAX_LEN: u8 = 13;
/// Symbols decoded per stream per refill in the fast loop: 4 × 13 bits ≤ 56.
const SYMS_PER_REFILL: usize = 4;
/// Number of interleaved bit streams.
const STREAMS: usize = 4;

/// Payload mode byte (spec §5, table 5.1).
mod mode {
    /// The block's bytes follow verbatim.
    pub const RAW: u8 = 0;
    /// One byte follows; the block is that byte repeated.
    pub const RUN: u8 = 1;
    /// Code lengths and four Huffman-coded streams follow.
    pub const CODED: u8 = 2;
}

/// The huffman codec.
pub struct Huffman;

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "huffman",
        why: why.into(),
    }
}

/// Length of each of the four segments but the last; the last gets the remainder.
fn segment_len(n: usize) -> usize {
    n.div_ceil(STREAMS)
}

impl Codec for Huffman {
    fn id(&self) -> u8 {
        id::HUFFMAN
    }
    fn name(&self) -> &'static str {
        "huffman"
    }
    fn compress(&self, input: &[u8], _level: i32, out: &mut Vec<u8>) -> Result<u16> {
        encode(input, out);
        Ok(0)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        decode(payload, raw_len, out)
    }
}

/// Byte histogram, counted in four interleaved tables to avoid store-to-load stalls on runs.
pub fn histogram(input: &[u8]) -> [u32; 256] {
    let mut h = [[0u32; 256]; 4];
    let mut chunks = input.chunks_exact(4);
    for c in &mut chunks {
        h[0][c[0] as usize] += 1;
        h[1][c[1] as usize] += 1;
        h[2][c[2] as usize] += 1;
        h[3][c[3] as usize] += 1;
    }
    for &b in chunks.remainder() {
        h[0][b as usize] += 1;
    }
    let mut total = [0u32; 256];
    for (i, t) in total.iter_mut().enumerate() {
        *t = h[0][i] + h[1][i] + h[2][i] + h[3][i];
    }
    total
}

/// Appends the huffman payload for `input` to `out`, choosing the smallest mode.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    let freq = histogram(input);
    let used = freq.iter().filter(|&&f| f > 0).count();
    if used == 1 {
        out.push(mode::RUN);
        out.push(input[0]);
        return;
    }
    if used >= 2 {
        let lens = code_lengths(&freq, MAX_LEN);
        // Payload size known before coding: skip the work when it would not beat raw.
        let bits: u64 = freq
            .iter()
            .zip(&lens)
            .map(|(&f, &l)| u64::from(f) * u64::from(l))
            .sum();
        // Header estimate: mode, ≤ 4*... lengths (≤ 200 bytes), stream sizes, stream padding.
        if bits / 8 + 220 < input.len() as u64 {
            let start = out.len();
            out.push(mode::CODED);
            let mut w = BitWriter::new(std::mem::take(out));
            write_lengths(&mut w, &lens);
            *out = w.finish();
            let enc = Encoder::new(&lens);
            let seg = segment_len(input.len());
            let streams: Vec<Vec<u8>> = input
                .chunks(seg)
                .map(|part| {
                    let mut w = BitWriter::new(Vec::with_capacity(part.len()));
                    for &b in part {
                        enc.put(&mut w, b as usize);
                    }
                    w.finish()
                })
                .collect();
            // A block of fewer than 4 bytes yields fewer chunks; the missing streams are empty.
            for i in 0..STREAMS - 1 {
                let n = streams.get(i).map_or(0, Vec::len) as u32;
                out.extend_from_slice(&n.to_le_bytes());
            }
            for s in &streams {
                out.extend_from_slice(s);
            }
            if out.len() - start < 1 + input.len() {
                return;
            }
            out.truncate(start);
        }
    }
    out.push(mode::RAW);
    out.extend_from_slice(input);
}

/// Decodes a huffman payload into `out` (cleared first); `out` ends up exactly `raw_len` long.
pub fn decode(payload: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let (&m, body) = payload
        .split_first()
        .ok_or_else(|| corrupt("empty payload"))?;
    match m {
        mode::RAW => super::copy_raw("huffman", body, raw_len, out),
        mode::RUN => match body {
            [b] => {
                out.resize(raw_len, *b);
                Ok(())
            }
            _ => Err(corrupt("run payload must be one byte")),
        },
        mode::CODED => {
            let r = decode_coded(body, raw_len, out);
            if r.is_err() {
                out.clear();
            }
            r
        }
        _ => Err(corrupt(format!("unknown mode {m}"))),
    }
}

fn decode_coded(body: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let mut r = BitReader::new(body);
    let lens = read_lengths(&mut r, 256).map_err(corrupt)?;
    if r.overrun() {
        return Err(corrupt("code lengths truncated"));
    }
    if lens.iter().any(|&l| l > MAX_LEN) {
        return Err(corrupt("code length over 13"));
    }
    if lens.iter().filter(|&&l| l > 0).count() < 2 {
        return Err(corrupt("coded mode needs at least two symbols"));
    }
    let dec = Decoder::new(&lens).map_err(corrupt)?;
    let mut pos = r.consumed_bits().div_ceil(8);
    let sizes_end = pos + 4 * (STREAMS - 1);
    let sizes = body
        .get(pos..sizes_end)
        .ok_or_else(|| corrupt("stream sizes truncated"))?;
    pos = sizes_end;
    let mut streams: [&[u8]; STREAMS] = [&[]; STREAMS];
    for (i, s) in streams.iter_mut().enumerate() {
        let n = if i < STREAMS - 1 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&sizes[4 * i..4 * i + 4]);
            u32::from_le_bytes(b) as usize
        } else {
            body.len() - pos.min(body.len())
        };
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= body.len())
            .ok_or_else(|| corrupt("stream size past the payload"))?;
        *s = &body[pos..end];
        pos = end;
    }

    out.resize(raw_len, 0);
    let seg = segment_len(raw_len);
    let mut readers = streams.map(BitReader::new);
    {
        // Four output segments (the last may be shorter, or empty for tiny blocks).
        let (s0, rest) = out.split_at_mut(seg.min(raw_len));
        let (s1, rest) = rest.split_at_mut(seg.min(rest.len()));
        let (s2, s3) = rest.split_at_mut(seg.min(rest.len()));
        let mut segs: [&mut [u8]; STREAMS] = [s0, s1, s2, s3];
        // Fast loop: all four streams together, four symbols each per refill.
        let fast = segs[3].len() / SYMS_PER_REFILL;
        {
            let [a, b, c, d] = &mut segs;
            let [ra, rb, rc, rd] = &mut readers;
            for (((ca, cb), cc), cd) in a
                .chunks_exact_mut(SYMS_PER_REFILL)
                .zip(b.chunks_exact_mut(SYMS_PER_REFILL))
                .zip(c.chunks_exact_mut(SYMS_PER_REFILL))
                .zip(d.chunks_exact_mut(SYMS_PER_REFILL))
                .take(fast)
            {
                ra.refill();
                rb.refill();
                rc.refill();
                rd.refill();
                for k in 0..SYMS_PER_REFILL {
                    ca[k] = dec.decode(ra) as u8;
                    cb[k] = dec.decode(rb) as u8;
                    cc[k] = dec.decode(rc) as u8;
                    cd[k] = dec.decode(rd) as u8;
                }
            }
        }
        // Tails, one stream at a time.
        for (seg_out, r) in segs.iter_mut().zip(readers.iter_mut()) {
            for b in seg_out[fast * SYMS_PER_REFILL..].iter_mut() {
                r.refill();
                *b = dec.decode(r) as u8;
            }
        }
    }
    for (i, r) in readers.iter().enumerate() {
        r.check_exact_end()
            .map_err(|e| corrupt(format!("stream {i}: {e}")))?;
    }
    Ok(())
}

/// Order-0 entropy of `data` in bits (the bound a per-block Huffman code approaches).
pub fn order0_bits(data: &[u8]) -> f64 {
    let h = histogram(data);
    let n = data.len() as f64;
    h.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = f64::from(c);
            -c * (c / n).log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rt(raw: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        Huffman.compress(raw, 0, &mut p).unwrap();
        let mut out = Vec::new();
        Huffman.decompress(&p, raw.len(), 0, &mut out).unwrap();
        assert_eq!(out, raw);
        p
    }

    use crate::codec::test_util::lcg;

    #[test]
    fn edge_cases_roundtrip() {
        rt(&[]);
        rt(&[9]);
        assert_eq!(rt(&[7u8; 10000]).len(), 2);
        let all: Vec<u8> = (0..=255u8).collect();
        rt(&all);
        rt(&all.repeat(50));
        for n in 0..40 {
            rt(&b"abracadabra, abracadabra!".repeat(3)[..n.min(75)]);
        }
        // Incompressible: raw fallback, one byte of overhead.
        let r = lcg(10000, 1);
        assert_eq!(rt(&r).len(), 10001);
        // Skewed: two symbols, 1 bit each.
        let skew: Vec<u8> = lcg(8000, 3).iter().map(|b| b & 1).collect();
        assert!(rt(&skew).len() < 1100);
    }

    #[test]
    fn close_to_entropy_on_text() {
        let text = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen \
                     liquor jugs. Sphinx of black quartz, judge my vow! "
            .repeat(300);
        let p = rt(&text);
        let bound = order0_bits(&text) / 8.0;
        assert!(
            (p.len() as f64) < bound * 1.02 + 250.0,
            "{} vs {bound}",
            p.len()
        );
    }

    #[test]
    fn corrupt_payloads_are_errors() {
        let text = b"hello huffman, hello world, some text to code here".repeat(40);
        let mut p = Vec::new();
        Huffman.compress(&text, 0, &mut p).unwrap();
        assert_eq!(p[0], mode::CODED);
        let mut out = Vec::new();
        for cut in 0..p.len() {
            assert!(Huffman
                .decompress(&p[..cut], text.len(), 0, &mut out)
                .is_err());
        }
        let mut flips = 0;
        for i in 0..p.len() {
            for bit in [0u8, 3, 7] {
                let mut q = p.clone();
                q[i] ^= 1 << bit;
                match Huffman.decompress(&q, text.len(), 0, &mut out) {
                    Ok(()) => assert_eq!(out.len(), text.len()),
                    Err(_) => flips += 1,
                }
            }
        }
        assert!(flips > 0);
        // Wrong declared sizes.
        assert!(Huffman.decompress(&p, text.len() + 1, 0, &mut out).is_err());
        assert!(Huffman.decompress(&[9], 0, 0, &mut out).is_err());
        assert!(Huffman.decompress(&[1, 2, 3], 5, 0, &mut out).is_err());
        assert!(Huffman.decompress(&[0, 2, 3], 5, 0, &mut out).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip_structured(
            pieces in proptest::collection::vec(
                (proptest::collection::vec(0u8..8, 0..50), 1usize..5), 0..30)
        ) {
            let mut raw = Vec::new();
            for (p, k) in pieces {
                for _ in 0..k { raw.extend_from_slice(&p); }
            }
            rt(&raw);
        }
    }
}

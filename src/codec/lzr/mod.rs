//! `lzr` (id 5): LZ77 over the whole block feeding the adaptive binary range coder, with the
//! modelling that makes LZMA-class coders strong (spec/codec-lzr.md): literals coded bit by bit
//! in the context of the previous byte and, right after a match, of the byte at the last match
//! distance; four repeat distances; length and distance-slot models; a 12-state machine of
//! recent symbol kinds selecting the contexts of the kind decisions.
//!
//! Why a second LZ codec: `lz77`'s static Huffman codes price every literal and match by block
//! statistics; here every decision has an adaptive context, so repeated structure (a column of
//! numbers, a record layout) costs a fraction of a bit once learnt. Written from the public
//! descriptions of the method; the probability states are the entropy module's own (§3 of
//! spec/entropy-range.md), not LZMA's.
//!
//! Encoder: a forward optimal parse in chunks of up to `OPT_CHUNK` (4,096) positions over a binary-tree
//! match finder; every node of the shortest path carries the state and repeat distances of its best
//! arrival, so the price of a literal, a repeat match or a new match is that of the real coder
//! at the chunk's start. The chosen path is then coded for real, which adapts the contexts the
//! next chunk is priced with.

use super::lz77::match_len;
use super::{id, raw_or_coded, Codec};
use crate::entropy::binary::{BinDecoder, BinEncoder, BitModel, Context, Context1, LocalBits};
use crate::error::{Error, Result};

mod decode;
mod encode;
pub mod x86;

pub use decode::{decode, decode2};
pub use encode::{encode, encode2};

/// Shortest match the format can express.
pub const MIN_MATCH: usize = 2;
/// Longest match the format can express (2 + 8 + 8 + 256 − 1).
pub const MAX_MATCH: usize = 273;
/// Number of states of the kind machine (spec §4.1).
const STATES: usize = 12;
/// First state that follows a match, a repeat match or a short repeat (matched literals).
const FIRST_MATCH_STATE: usize = 7;
/// Largest `pb`: up to 16 position states.
const PB_MAX: u8 = 4;
/// Largest `lc`: the whole previous byte.
const LC_MAX: u8 = 8;
/// Distance slots (6-bit tree).
const SLOTS: usize = 64;
/// Slots from this one up code their low 4 bits with the align tree (§4.5).
const FIRST_ALIGN_SLOT: usize = 14;
/// Default literal context bits and position bits of the encoder.
const LC: u8 = 3;
const PB: u8 = 2;
/// Longest optimal-parse chunk: prices are refreshed from the adapted contexts between chunks.
const OPT_CHUNK: usize = 4096;

/// Length of the chunk that starts at `pos`: short while the contexts are young and their
/// prices move fast, up to [`OPT_CHUNK`] from 16 KiB on. Measured at level 19: a fixed 4096
/// priced the first chunk of a block with untrained contexts (a 16 KiB log block 1,277 bytes,
/// zstd -20 1,219); a fixed 1024 cost 0.8-2.5 % on a database and an XML file against 4096.
fn chunk_len(pos: usize) -> usize {
    (pos / 4).clamp(512, OPT_CHUNK)
}

/// Payload mode byte (spec §2).
mod mode {
    pub const RAW: u8 = 0;
    pub const CODED: u8 = 1;
}

/// Bits of an `lzr2` coded body's flags byte (spec §7.1); the others must be 0.
mod flags {
    /// The block was filtered with the x86 branch filter before coding (§7.3).
    pub const X86: u8 = 1;
    /// Every bit a decoder knows.
    pub const KNOWN: u8 = X86;
}

/// The `lzr` codec (id 5, format 1.3): two-estimate contexts.
pub struct Lzr;

/// The `lzr2` codec (id 9, format 1.7; what `--codec lzr` writes): `lzr`'s modelling over
/// single-estimate contexts, which decode about 1.2x faster, plus an x86 branch filter for
/// machine code (spec/codec-lzr.md §7).
pub struct Lzr2;

fn corrupt(why: impl Into<String>) -> Error {
    corrupt_in("lzr1", why)
}

/// A `corrupt` error of `codec` (`lzr1` or `lzr2`).
fn corrupt_in(codec: &'static str, why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec,
        why: why.into(),
    }
}

/// Match-finder effort for a `--level` on zstd's scale: (chain steps, nice length).
fn effort(level: i32) -> (u32, usize) {
    match level {
        ..=9 => (16, 32),
        10..=18 => (48, 64),
        19..=21 => (128, MAX_MATCH),
        _ => (512, MAX_MATCH),
    }
}

/// Both codecs' `compress`: `level` is on zstd's scale (1–22) and picks the match finder's
/// effort; the returned parameter word holds it (information only).
fn compress_at(
    encode: fn(&[u8], u32, usize, &mut Vec<u8>),
    input: &[u8],
    level: i32,
    out: &mut Vec<u8>,
) -> u16 {
    let level = level.clamp(1, 22);
    let (chain, nice) = effort(level);
    encode(input, chain, nice, out);
    level as u16
}

impl Codec for Lzr {
    fn id(&self) -> u8 {
        id::LZR
    }
    fn name(&self) -> &'static str {
        "lzr1"
    }
    fn compress(&self, input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<u16> {
        Ok(compress_at(encode, input, level, out))
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        decode(payload, raw_len, out)
    }
}

impl Codec for Lzr2 {
    fn id(&self) -> u8 {
        id::LZR2
    }
    fn name(&self) -> &'static str {
        "lzr2"
    }
    fn compress(&self, input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<u16> {
        Ok(compress_at(encode2, input, level, out))
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        decode2(payload, raw_len, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Model (shared by encoder and decoder)

#[inline]
fn after_literal(s: usize) -> usize {
    if s < 4 {
        0
    } else if s < 10 {
        s - 3
    } else {
        s - 6
    }
}
/// The state after a match-kind symbol (spec §4.1): `to.0` from a literal state, `to.1` from a
/// match state.
#[inline]
fn after(s: usize, to: (usize, usize)) -> usize {
    if s < FIRST_MATCH_STATE {
        to.0
    } else {
        to.1
    }
}
/// Targets of [`after`] for a new match, a repeat match and a short repeat.
const MATCH: (usize, usize) = (7, 10);
const REP: (usize, usize) = (8, 11);
const SHORT_REP: (usize, usize) = (9, 11);

/// Distance slot of a zero-based distance `d` (spec §4.5).
#[inline]
fn slot_of(d: u32) -> usize {
    if d < 4 {
        d as usize
    } else {
        let b = 31 - d.leading_zeros();
        (2 * b + ((d >> (b - 1)) & 1)) as usize
    }
}

/// Length-model contexts (spec §4.4).
#[derive(Clone)]
struct LenModel<C> {
    choice: C,
    choice2: C,
    low: [[C; 8]; 16],
    mid: [[C; 8]; 16],
    high: [C; 256],
}

impl<C: BitModel> Default for LenModel<C> {
    fn default() -> Self {
        LenModel {
            choice: C::default(),
            choice2: C::default(),
            low: [[C::default(); 8]; 16],
            mid: [[C::default(); 8]; 16],
            high: [C::default(); 256],
        }
    }
}

/// Every context of the codec, all starting in the default state.
#[derive(Clone)]
struct Model<C> {
    lc: u32,
    pb_mask: usize,
    is_match: [[C; 16]; STATES],
    is_rep: [C; STATES],
    is_rep0: [C; STATES],
    is_rep1: [C; STATES],
    is_rep2: [C; STATES],
    is_rep0_long: [[C; 16]; STATES],
    /// `0x300` contexts per literal context (spec §4.3).
    lit: Vec<C>,
    match_len: LenModel<C>,
    rep_len: LenModel<C>,
    slot: [[C; SLOTS]; 4],
    /// Reverse trees of slots 4–13, indexed by `slot - 4`.
    special: [[C; 32]; FIRST_ALIGN_SLOT - 4],
    align: [C; 16],
}

impl<C: BitModel> Model<C> {
    fn new(lc: u8, pb: u8) -> Self {
        let d = C::default();
        Model {
            lc: u32::from(lc),
            pb_mask: (1 << pb) - 1,
            is_match: [[d; 16]; STATES],
            is_rep: [d; STATES],
            is_rep0: [d; STATES],
            is_rep1: [d; STATES],
            is_rep2: [d; STATES],
            is_rep0_long: [[d; 16]; STATES],
            lit: vec![d; 0x300 << lc],
            match_len: LenModel::default(),
            rep_len: LenModel::default(),
            slot: [[d; SLOTS]; 4],
            special: [[d; 32]; FIRST_ALIGN_SLOT - 4],
            align: [d; 16],
        }
    }

    /// First literal context of the byte after `prev`.
    #[inline]
    fn lit_base(&self, prev: u8) -> usize {
        (usize::from(prev) >> (8 - self.lc)) * 0x300
    }
}

#[inline]
fn len_state(len: usize) -> usize {
    (len - MIN_MATCH).min(3)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lcg;
    use super::*;

    /// Both codecs of the family.
    const BOTH: [&dyn Codec; 2] = [&Lzr, &Lzr2];

    /// Round trip through both codecs; the larger payload's size.
    fn roundtrip(data: &[u8], level: i32) -> usize {
        let mut n = 0;
        for c in BOTH {
            let mut payload = Vec::new();
            c.compress(data, level, &mut payload).unwrap();
            let mut out = Vec::new();
            c.decompress(&payload, data.len(), 0, &mut out).unwrap();
            assert!(
                out == data,
                "{} roundtrip of {} bytes",
                c.name(),
                data.len()
            );
            n = n.max(payload.len());
        }
        n
    }

    fn text(n: usize) -> Vec<u8> {
        let words = [
            "the ",
            "quick ",
            "brown ",
            "fox ",
            "jumps ",
            "over ",
            "lazy ",
            "dog ",
            "and ",
            "compression ",
            "is ",
            "modelling ",
            "\n",
            "1234 ",
            "yoz ",
        ];
        let r = lcg(n, 7);
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < n {
            out.extend_from_slice(words[r[i % r.len()] as usize % words.len()].as_bytes());
            i += 1;
        }
        out.truncate(n);
        out
    }

    #[test]
    fn roundtrips_small_and_edge_inputs() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc",
        ] {
            for level in [1, 19, 22] {
                roundtrip(data, level);
            }
        }
        let zeros = vec![0u8; 100_000];
        assert!(roundtrip(&zeros, 19) < 200);
        let rnd = lcg(50_000, 3);
        assert_eq!(
            roundtrip(&rnd, 19),
            1 + rnd.len(),
            "random data is stored raw"
        );
    }

    #[test]
    fn a_block_is_coded_only_for_a_real_saving() {
        // Random bytes then zeros: the zeros are all the saving there is.
        for (zeros, coded) in [(300, false), (5_000, true)] {
            let mut data = lcg(100_000, 5);
            data.extend(std::iter::repeat_n(0u8, zeros));
            for c in BOTH {
                let mut payload = Vec::new();
                c.compress(&data, 19, &mut payload).unwrap();
                assert_eq!(payload[0] == mode::CODED, coded, "{zeros} zeros");
                if coded {
                    assert!(payload.len() + encode::min_gain(data.len()) <= 1 + data.len());
                }
                let mut out = Vec::new();
                c.decompress(&payload, data.len(), 0, &mut out).unwrap();
                assert!(out == data);
            }
        }
    }

    #[test]
    fn beats_lz77_on_text_and_structured_data() {
        let t = text(300_000);
        let lzr = roundtrip(&t, 19);
        let mut lz = Vec::new();
        super::super::lz77::encode(&t, 9, &mut lz);
        assert!(lzr * 100 < lz.len() * 95, "lzr {lzr} vs lz77 {}", lz.len());
        // A table of fixed-width records: repeat distances and matched literals pay.
        let recs: Vec<u8> = (0..20_000u32)
            .flat_map(|i| {
                let mut r = i.to_le_bytes().to_vec();
                r.extend_from_slice(&[(i % 7) as u8, 0, 0, 1, (i / 300) as u8, 0xAA, 0, 0]);
                r
            })
            .collect();
        let lzr = roundtrip(&recs, 19);
        let mut lz = Vec::new();
        super::super::lz77::encode(&recs, 9, &mut lz);
        assert!(lzr * 100 < lz.len() * 80, "lzr {lzr} vs lz77 {}", lz.len());
    }

    #[test]
    fn long_distances_and_chunk_boundaries() {
        // A random 300 KB prefix repeated: distances past 2^18 (direct bits, align tree) and
        // matches that cross many parse chunks.
        let a = lcg(300_000, 11);
        let mut data = a.clone();
        data.extend_from_slice(&a[1000..]);
        data.extend_from_slice(&text(20_000));
        data.extend_from_slice(&a[..5000]);
        let n = roundtrip(&data, 22);
        assert!(n < a.len() + 30_000, "{n}");
        roundtrip(&data, 3);
    }

    #[test]
    fn damaged_payloads_fail_cleanly() {
        let t = text(40_000);
        for (c, head) in [(BOTH[0], 3), (BOTH[1], 4)] {
            let mut payload = Vec::new();
            c.compress(&t, 19, &mut payload).unwrap();
            let mut out = Vec::new();
            for cut in [1, 2, 3, 4, payload.len() / 2, payload.len() - 1] {
                let r = c.decompress(&payload[..cut], t.len(), 0, &mut out);
                assert!(r.is_err(), "{} truncated to {cut}", c.name());
            }
            let mut longer = payload.clone();
            longer.push(0);
            assert!(c.decompress(&longer, t.len(), 0, &mut out).is_err());
            // Bit flips: an error, or exactly the declared size (never a panic, never longer).
            for i in (head..payload.len()).step_by(97) {
                let mut p = payload.clone();
                p[i] ^= 1 << (i % 8);
                match c.decompress(&p, t.len(), 0, &mut out) {
                    Ok(()) => assert_eq!(out.len(), t.len()),
                    Err(e) => assert_eq!(e.class(), "corrupt"),
                }
            }
            // Bad properties and modes (and, for lzr2, flags).
            for bad in [
                [1u8, 9, 2, 0],
                [1, 3, 5, 0],
                [2, 0, 0, 0],
                [1, 3, 2, 2],
                [1, 3, 2, 0x80],
            ] {
                if head == 3 && bad[3] != 0 {
                    continue;
                }
                let mut p = payload.clone();
                p[..head].copy_from_slice(&bad[..head]);
                let r = c.decompress(&p, t.len(), 0, &mut out);
                assert_eq!(r.unwrap_err().class(), "corrupt", "{} {bad:?}", c.name());
            }
            assert!(c.decompress(&[], 0, 0, &mut out).is_err());
            assert!(c.decompress(&[0, 1, 2], 2, 0, &mut out).is_ok());
            assert!(c.decompress(&[0, 1, 2], 3, 0, &mut out).is_err());
        }
    }

    /// Machine code: lzr2 filters it (flag set), and the filter pays.
    #[test]
    fn lzr2_filters_machine_code() {
        // Calls to a few hundred functions from everywhere, between bytes that repeat.
        let r = lcg(60_000, 9);
        let mut code = Vec::new();
        for (i, w) in r.chunks(3).enumerate() {
            let target = (u32::from(w[0]) * 256 + u32::from(w[1]) % 4) * 64;
            let at = code.len() as u32 + 5;
            code.push(0xE8);
            code.extend_from_slice(&target.wrapping_sub(at).to_le_bytes());
            code.extend_from_slice(&[0x48, 0x89, 0xC7 + (w[2] % 4), 0x90][..1 + i % 4]);
        }
        let mut p2 = Vec::new();
        Lzr2.compress(&code, 19, &mut p2).unwrap();
        assert_eq!(p2[..4], [mode::CODED, LC, PB, flags::X86]);
        let mut p1 = Vec::new();
        Lzr.compress(&code, 19, &mut p1).unwrap();
        assert!(
            p2.len() * 10 < p1.len() * 9,
            "lzr2 {} vs lzr {}",
            p2.len(),
            p1.len()
        );
        let mut out = Vec::new();
        Lzr2.decompress(&p2, code.len(), 0, &mut out).unwrap();
        assert!(out == code);
        // Text is not filtered.
        let mut pt = Vec::new();
        Lzr2.compress(&text(10_000), 19, &mut pt).unwrap();
        assert_eq!(pt[..4], [mode::CODED, LC, PB, 0]);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn roundtrip_repeated_slices(
            seed in proptest::collection::vec(any::<u8>(), 1..200),
            ops in proptest::collection::vec((0usize..5000, 1usize..400, any::<bool>()), 0..40),
            level in 1i32..=22,
        ) {
            // Copies at distances that recur (repeat matches) mixed with fresh bytes.
            let raw = super::super::test_util::repeated_slices(&seed, &ops, |b| {
                b % 64 * (b / 64 % 3 + 1)
            });
            roundtrip(&raw, level);
        }

        #[test]
        fn damage_gives_an_error_or_the_declared_size(
            data in proptest::collection::vec(0u8..4, 0..3000),
            at in any::<usize>(),
            flip in 1u8..=255,
            cut in any::<bool>(),
        ) {
            for c in BOTH {
                let mut p = Vec::new();
                c.compress(&data, 19, &mut p).unwrap();
                let i = at % p.len();
                if cut {
                    p.truncate(i);
                } else {
                    p[i] ^= flip;
                }
                let mut out = Vec::new();
                if c.decompress(&p, data.len(), 0, &mut out).is_ok() {
                    prop_assert_eq!(out.len(), data.len());
                }
            }
        }
    }

    #[test]
    fn slots_match_the_spec_table() {
        for (d, s) in [
            (0, 0),
            (3, 3),
            (4, 4),
            (5, 4),
            (6, 5),
            (7, 5),
            (8, 6),
            (12, 7),
        ] {
            assert_eq!(slot_of(d), s, "distance {d}");
        }
        assert_eq!(slot_of((1 << 26) - 1), 51);
        assert_eq!(slot_of(u32::MAX), 63);
    }
}

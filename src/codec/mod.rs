//! Block codecs: one small trait, a registry by id.
//!
//! A codec turns one block of original bytes into a payload and back. It never sees the
//! container: the block's declared original length is passed in, and a decoder must produce
//! exactly that many bytes or fail — it must never allocate or write more than `raw_len`.
//! Ids are registered in spec/yoz-v1.md §5; an id is never reused.

pub mod cm;
pub mod dict;
/// Codec checks shared by the fuzz targets and `tests/fuzz_regressions.rs`: not API.
#[doc(hidden)]
pub mod fuzz;
pub mod huffman;
pub mod lz77;
pub mod lzr;
mod store;
pub(crate) mod zeros;
pub(crate) mod zstd_codec;

pub use cm::Cm;
pub use huffman::Huffman;
pub use lz77::Lz77;
pub use lzr::{Lzr, Lzr2};
pub use store::Store;
pub use zeros::Zeros;
pub use zstd_codec::Zstd;

use crate::error::{Error, Result};

/// Registered codec ids (spec §5, table 5.1).
pub mod id {
    /// Payload is the original bytes.
    pub const STORE: u8 = 0;
    /// Payload is one zstd frame.
    pub const ZSTD: u8 = 1;
    /// Empty payload; the block is `raw_len` zero bytes (sparse holes).
    pub const ZEROS: u8 = 2;
    /// Payload is order-0 canonical Huffman over bytes (spec/codec-huffman.md).
    pub const HUFFMAN: u8 = 3;
    /// Payload is LZ77 with Huffman-coded literals, lengths and distances (spec/codec-lz77.md).
    pub const LZ77: u8 = 4;
    /// Payload is LZ77 over an adaptive binary range coder, LZMA-class (spec/codec-lzr.md).
    pub const LZR: u8 = 5;
    /// Payload is bitwise context mixing with an online-trained mixer, model 1 (`cm1`,
    /// spec/codec-cm.md).
    pub const CM: u8 = 6;
    /// The same with model 2 (`cm2`, format 1.5; spec/codec-cm.md §9).
    pub const CM2: u8 = 7;
    /// The same with model 3 (`cm3`, format 1.6; spec/codec-cm.md §10).
    pub const CM3: u8 = 8;
    /// `lzr` over single-estimate contexts, with an x86 branch filter (`lzr2`, format 1.7;
    /// spec/codec-lzr.md §7).
    pub const LZR2: u8 = 9;
}

/// A block codec. Implementations are stateless and shared between threads.
pub trait Codec: Send + Sync {
    /// Registered id (spec §5).
    fn id(&self) -> u8;
    /// Short lowercase name used on the command line and by `yoz info`.
    fn name(&self) -> &'static str;
    /// Compresses `input` at `level` (codec-specific meaning), appending the payload to `out`.
    /// Returns the 16-bit parameter word stored in the block header.
    fn compress(&self, input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<u16>;
    /// Decodes `payload` into `out` (cleared first), which must end up exactly `raw_len` long.
    fn decompress(
        &self,
        payload: &[u8],
        raw_len: usize,
        params: u16,
        out: &mut Vec<u8>,
    ) -> Result<()>;
}

static STORE: Store = Store;
static ZSTD: Zstd = Zstd;
static ZEROS: Zeros = Zeros;
static HUFFMAN: Huffman = Huffman;
static LZ77: Lz77 = Lz77;
static LZR: Lzr = Lzr;
static LZR2: Lzr2 = Lzr2;
static CM: Cm = Cm(cm::Version::V1);
static CM2: Cm = Cm(cm::Version::V2);
static CM3: Cm = Cm(cm::Version::V3);

/// The `reader_minor` a block codec needs in the header (spec §2.1, §5): 3 for `lzr` and
/// `cm1` (format 1.3), 5 for `cm2` (format 1.5), 6 for `cm3` (format 1.6), 7 for `lzr2`
/// (format 1.7), 0 for the codecs of 1.0.
pub fn reader_minor(id: u8) -> u8 {
    match id {
        id::LZR | id::CM => 3,
        id::CM2 => 5,
        id::CM3 => 6,
        id::LZR2 => 7,
        _ => 0,
    }
}

/// The `reader_minor` an archive written with `choice` at `level` may need: what the header
/// must declare before the first block is chosen.
pub fn choice_reader_minor(choice: Choice, level: i32) -> u8 {
    match choice {
        Choice::Fixed(id) => reader_minor(id),
        Choice::Auto if level >= LEVEL_MAX => reader_minor(id::CM3).max(reader_minor(id::LZR2)),
        Choice::Auto if level >= AUTO_LZR_LEVEL => reader_minor(id::LZR2),
        Choice::Auto => 0,
    }
}

/// Looks a codec up by id; unknown ids are an `unknown-codec` error.
pub fn by_id(id: u8) -> Result<&'static dyn Codec> {
    match id {
        id::STORE => Ok(&STORE),
        id::ZSTD => Ok(&ZSTD),
        id::ZEROS => Ok(&ZEROS),
        id::HUFFMAN => Ok(&HUFFMAN),
        id::LZ77 => Ok(&LZ77),
        id::LZR => Ok(&LZR),
        id::LZR2 => Ok(&LZR2),
        id::CM => Ok(&CM),
        id::CM2 => Ok(&CM2),
        id::CM3 => Ok(&CM3),
        _ => Err(Error::UnknownCodec { id }),
    }
}

/// Name of a registered codec id, or "unknown".
pub fn name_of(id: u8) -> &'static str {
    by_id(id).map(|c| c.name()).unwrap_or("unknown")
}

/// From this `--level` (zstd scale) up, `auto` also tries lz77 and huffman on blocks where a
/// cheap estimate says they may beat zstd, and keeps the smallest; below it, `auto` runs zstd
/// only and stores the block when zstd does not shrink it, so default pack speed stays zstd's.
pub const AUTO_EXHAUSTIVE_LEVEL: i32 = 19;

/// From this `--level` up (zstd's `--ultra` levels), `auto` also tries `lzr` on every block. Not
/// at 19: lzr compresses at about 1 MB/s against zstd -19's 3, and level 19's promise is a pack
/// time within 1.3x of zstd alone.
pub const AUTO_LZR_LEVEL: i32 = 20;

/// `pack --max`: level 22 for every other codec, and `auto` also tries `cm` on every block. A
/// level of its own because cm runs at about 1 MB/s in both directions.
pub const LEVEL_MAX: i32 = 23;

/// The lz77 level (1–9) that `auto` uses for a `--level` on the zstd scale (1–22):
/// `(level + 1) / 2`, clamped, so 1→1, 3→2, 9→5, 17 and up→9.
pub fn lz77_level_for(level: i32) -> i32 {
    (level.saturating_add(1) / 2).clamp(1, 9)
}

/// Helpers for the codecs' unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    /// Data with structure for the LZ codecs' property tests: `seed`, then for each op either
    /// fresh bytes (`len % 17` of them, derived from the seed) or a copy of `len` earlier bytes
    /// starting `back_of(back) + 1` bytes back (often overlapping its own output).
    pub fn repeated_slices(
        seed: &[u8],
        ops: &[(usize, usize, bool)],
        back_of: impl Fn(usize) -> usize,
    ) -> Vec<u8> {
        let mut raw = seed.to_vec();
        for &(back, len, fresh) in ops {
            if fresh {
                raw.extend(
                    seed.iter()
                        .take(len % 17)
                        .map(|b| b.wrapping_add(len as u8)),
                );
            } else {
                let start = raw.len().saturating_sub(back_of(back) + 1);
                for k in 0..len {
                    let b = raw[start + k];
                    raw.push(b);
                }
            }
        }
        raw
    }

    /// `n` pseudo-random bytes (a 32-bit LCG), reproducible from `seed`.
    pub fn lcg(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                (x >> 24) as u8
            })
            .collect()
    }
}

/// The raw fallback mode shared by our codecs: the body is the block itself.
pub(crate) fn copy_raw(
    codec: &'static str,
    body: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    if body.len() != raw_len {
        return Err(Error::Corrupt {
            codec,
            why: format!(
                "raw payload holds {} bytes, block declares {raw_len}",
                body.len()
            ),
        });
    }
    out.extend_from_slice(body);
    Ok(())
}

/// The mode byte shared by the payloads of lz77, lzr and cm (0 = the block's bytes follow,
/// 1 = coded): clears `out`, copies a raw body into it and returns `None`, or returns the coded
/// body; an empty payload or another mode is `corrupt`.
pub(crate) fn raw_or_coded<'a>(
    codec: &'static str,
    payload: &'a [u8],
    raw_len: usize,
    out: &mut Vec<u8>,
) -> Result<Option<&'a [u8]>> {
    out.clear();
    let corrupt = |why: String| Error::Corrupt { codec, why };
    match payload.split_first() {
        None => Err(corrupt("empty payload".into())),
        Some((0, body)) => copy_raw(codec, body, raw_len, out).map(|()| None),
        Some((1, body)) => Ok(Some(body)),
        Some((m, _)) => Err(corrupt(format!("unknown mode {m}"))),
    }
}

/// What the writer does with each block: one fixed codec, or a per-block choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Keep the smallest of the candidates: below [`AUTO_EXHAUSTIVE_LEVEL`] zstd or store; from
    /// it up store, zstd, and lz77 and huffman where a cheap estimate says they may win.
    Auto,
    /// Always this codec id.
    Fixed(u8),
}

impl Choice {
    /// Parses a `--codec` value.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Choice::Auto),
            "store" => Ok(Choice::Fixed(id::STORE)),
            "zstd" => Ok(Choice::Fixed(id::ZSTD)),
            "huffman" => Ok(Choice::Fixed(id::HUFFMAN)),
            "lz77" => Ok(Choice::Fixed(id::LZ77)),
            // `lzr` is the current LZMA-class codec; `lzr1` writes what readers of formats
            // 1.3–1.6 decode.
            "lzr" | "lzr2" => Ok(Choice::Fixed(id::LZR2)),
            "lzr1" => Ok(Choice::Fixed(id::LZR)),
            // `cm` is the current context-mixing model; `cm1` and `cm2` write what readers of
            // formats 1.3–1.4 and 1.5 decode.
            "cm" | "cm3" => Ok(Choice::Fixed(id::CM3)),
            "cm2" => Ok(Choice::Fixed(id::CM2)),
            "cm1" => Ok(Choice::Fixed(id::CM)),
            _ => Err(Error::InvalidArgument(format!(
                "unknown codec {s:?} (expected auto, store, zstd, huffman, lz77, lzr, lzr1, lzr2, cm, cm1, cm2 or cm3)"
            ))),
        }
    }
}

/// A compressed block ready to be written.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub codec: u8,
    pub params: u16,
    pub payload: Vec<u8>,
    /// The resource (dictionary) id the payload needs, or [`crate::container::format::NO_RESOURCE`].
    pub resource: u32,
}

impl Encoded {
    fn new(codec: u8, params: u16, payload: Vec<u8>) -> Self {
        Encoded {
            codec,
            params,
            payload,
            resource: crate::container::format::NO_RESOURCE,
        }
    }
}

/// Compresses one block according to `choice`. All-zero blocks become `zeros` blocks (holes).
pub fn encode_block(raw: &[u8], choice: Choice, level: i32) -> Result<Encoded> {
    encode_block_with(raw, choice, level, None)
}

/// Like [`encode_block`], with zstd using `dict` (a dictionary and its resource id) where
/// zstd is the codec or a candidate.
pub fn encode_block_with(
    raw: &[u8],
    choice: Choice,
    level: i32,
    dict: Option<(&dict::ZstdDict, u32)>,
) -> Result<Encoded> {
    if !raw.is_empty() && is_all_zero(raw) {
        return Ok(Encoded::new(id::ZEROS, 0, Vec::new()));
    }
    let zstd = || -> Result<Encoded> {
        let mut payload = Vec::with_capacity(raw.len() / 2);
        Ok(match dict {
            Some((d, resource)) => Encoded {
                params: d.compress(raw, level, &mut payload)?,
                payload,
                resource,
                codec: id::ZSTD,
            },
            None => Encoded::new(id::ZSTD, ZSTD.compress(raw, level, &mut payload)?, payload),
        })
    };
    match choice {
        Choice::Fixed(id::ZSTD) => zstd(),
        Choice::Fixed(id) => {
            let codec = by_id(id)?;
            let mut payload = Vec::new();
            let params = codec.compress(raw, level, &mut payload)?;
            Ok(Encoded::new(id, params, payload))
        }
        Choice::Auto => {
            let mut best = zstd()?;
            if level >= AUTO_EXHAUSTIVE_LEVEL {
                // In order of decoding speed: a later codec must be strictly smaller to win.
                let others: [(&dyn Codec, i32); 4] = [
                    (&LZR2, level),
                    (&CM3, level),
                    (&LZ77, lz77_level_for(level)),
                    (&HUFFMAN, 0),
                ];
                for (codec, lvl) in others {
                    // The full encoder runs only where a cheap estimate says it may win.
                    let may_win = match codec.id() {
                        id::HUFFMAN => order0_bound(raw) < best.payload.len() as f64,
                        id::LZR2 => level >= AUTO_LZR_LEVEL,
                        id::CM3 => level >= LEVEL_MAX,
                        _ => best.codec == id::ZSTD && lz77_may_win(raw, level, lvl)?,
                    };
                    if !may_win {
                        continue;
                    }
                    let mut payload = Vec::new();
                    let params = codec.compress(raw, lvl, &mut payload)?;
                    // Strictly smaller only: on ties the earlier (faster-decoding) codec stays.
                    if payload.len() < best.payload.len() {
                        best = Encoded::new(codec.id(), params, payload);
                    }
                }
            }
            if best.payload.len() < raw.len() {
                Ok(best)
            } else {
                Ok(Encoded::new(id::STORE, 0, raw.to_vec()))
            }
        }
    }
}

/// The order-0 entropy of `raw` in bytes: no prefix code of its bytes (huffman's payload, even
/// without its table) is smaller, so huffman cannot beat a payload at or under it.
fn order0_bound(raw: &[u8]) -> f64 {
    let mut hist = [0u64; 256];
    for &b in raw {
        hist[b as usize] += 1;
    }
    let n = raw.len() as f64;
    let bits: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| -(c as f64) * (c as f64 / n).log2())
        .sum();
    bits / 8.0
}

/// Bytes of each of the three slices (start, middle, end) `auto` tries lz77 and zstd on.
const SAMPLE_SLICE: usize = 64 << 10;

/// Whether lz77 may beat zstd on a block: a trial of both on a sample (three 64 KiB slices,
/// or the whole block when it is not larger), where lz77 must be at least 1 % smaller, since
/// zstd's larger window does better on a whole block than on slices. On `../shared/corpus` at
/// level 19 (8 MiB blocks) lz77 came within 2 % of zstd on four samples and won no block:
/// trying it in full there made `auto` 3.6x slower than zstd alone for the same bytes.
fn lz77_may_win(raw: &[u8], level: i32, lz77_level: i32) -> Result<bool> {
    if raw.len() <= 3 * SAMPLE_SLICE {
        return Ok(true);
    }
    let mid = raw.len() / 2 - SAMPLE_SLICE / 2;
    let mut sample = Vec::with_capacity(3 * SAMPLE_SLICE);
    for at in [0, mid, raw.len() - SAMPLE_SLICE] {
        sample.extend_from_slice(&raw[at..at + SAMPLE_SLICE]);
    }
    let (mut z, mut l) = (Vec::new(), Vec::new());
    ZSTD.compress(&sample, level, &mut z)?;
    LZ77.compress(&sample, lz77_level, &mut l)?;
    Ok(l.len() * 100 < z.len() * 99)
}

fn is_all_zero(b: &[u8]) -> bool {
    let (pre, mid, post) = unsafe {
        // SAFETY: u64 has no invalid bit patterns; align_to only reinterprets aligned middle.
        b.align_to::<u64>()
    };
    pre.iter().all(|&x| x == 0) && mid.iter().all(|&x| x == 0) && post.iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(raw: &[u8], choice: Choice, level: i32) {
        let enc = encode_block(raw, choice, level).unwrap();
        let mut out = Vec::new();
        by_id(enc.codec)
            .unwrap()
            .decompress(&enc.payload, raw.len(), enc.params, &mut out)
            .unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn roundtrips() {
        let text: Vec<u8> = b"hello hello hello world ".repeat(100);
        let mut rnd = vec![0u8; 5000];
        let mut x = 12345u32;
        for b in rnd.iter_mut() {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            *b = (x >> 24) as u8;
        }
        for raw in [&text[..], &rnd[..], &[][..], &[0u8; 100][..], &[7u8][..]] {
            for c in [
                Choice::Auto,
                Choice::Fixed(id::STORE),
                Choice::Fixed(id::ZSTD),
                Choice::Fixed(id::HUFFMAN),
                Choice::Fixed(id::LZ77),
            ] {
                roundtrip(raw, c, 3);
            }
            roundtrip(raw, Choice::Auto, AUTO_EXHAUSTIVE_LEVEL);
        }
    }

    #[test]
    fn auto_stores_incompressible() {
        let mut rnd = vec![0u8; 5000];
        let mut x = 1u32;
        for b in rnd.iter_mut() {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            *b = (x >> 24) as u8;
        }
        assert_eq!(
            encode_block(&rnd, Choice::Auto, 3).unwrap().codec,
            id::STORE
        );
        assert_eq!(
            encode_block(&[0u8; 4096], Choice::Auto, 3).unwrap().codec,
            id::ZEROS
        );
    }

    #[test]
    fn auto_picks_the_smallest_at_high_levels() {
        // Skewed random bytes: no repeats for an LZ to find, but a strong order-0 skew that
        // huffman codes in ~1.2 bits/byte; whatever wins must be no larger than each candidate.
        let mut x = 99u32;
        let raw: Vec<u8> = (0..20_000)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                let r = x >> 24;
                if r < 200 {
                    b'a'
                } else {
                    b'a' + (r % 7) as u8
                }
            })
            .collect();
        let enc = encode_block(&raw, Choice::Auto, AUTO_EXHAUSTIVE_LEVEL).unwrap();
        for id in [id::ZSTD, id::LZ77, id::HUFFMAN] {
            let single = encode_block(&raw, Choice::Fixed(id), AUTO_EXHAUSTIVE_LEVEL).unwrap();
            assert!(enc.payload.len() <= single.payload.len(), "codec {id}");
        }
        // Default level: zstd only.
        assert_eq!(encode_block(&raw, Choice::Auto, 3).unwrap().codec, id::ZSTD);
        assert_eq!(lz77_level_for(3), 2);
        assert_eq!(lz77_level_for(19), 9);
        assert_eq!(lz77_level_for(-5), 1);
    }

    #[test]
    fn auto_estimates_are_sound() {
        // The order-0 bound never exceeds what huffman really produces.
        for seed in 1..6u32 {
            let raw: Vec<u8> = test_util::lcg(50_000, seed)
                .iter()
                .map(|b| b % (seed as u8 * 40))
                .collect();
            let mut h = Vec::new();
            HUFFMAN.compress(&raw, 0, &mut h).unwrap();
            assert!(order0_bound(&raw) <= h.len() as f64, "seed {seed}");
        }
        // On a large block of text zstd -19 wins the trial: lz77 is not run in full, and auto
        // is never larger than zstd alone.
        let text: Vec<u8> = (0..40_000u32)
            .flat_map(|i| format!("line {} of {} says {}\n", i, i % 97, i * 7 % 1013).into_bytes())
            .collect();
        assert!(text.len() > 3 * SAMPLE_SLICE);
        assert!(!lz77_may_win(&text, 19, 9).unwrap());
        let auto = encode_block(&text, Choice::Auto, 19).unwrap();
        let zstd = encode_block(&text, Choice::Fixed(id::ZSTD), 19).unwrap();
        assert!(auto.payload.len() <= zstd.payload.len());
        // Small blocks are tried in full.
        assert!(lz77_may_win(&text[..1000], 19, 9).unwrap());
    }

    #[test]
    fn names_resolve() {
        for (id, name) in [(3, "huffman"), (4, "lz77")] {
            assert_eq!(name_of(id), name);
            assert_eq!(Choice::parse(name).unwrap(), Choice::Fixed(id));
        }
    }

    #[test]
    fn unknown_codec() {
        assert_eq!(by_id(200).err().unwrap().class(), "unknown-codec");
    }
}

//! Block codecs: one small trait, a registry by id.
//!
//! A codec turns one block of original bytes into a payload and back. It never sees the
//! container: the block's declared original length is passed in, and a decoder must produce
//! exactly that many bytes or fail — it must never allocate or write more than `raw_len`.
//! Ids are registered in spec/yoz-v1.md §5; an id is never reused.

pub mod huffman;
pub mod lz77;
mod store;
mod zeros;
mod zstd_codec;

pub use huffman::Huffman;
pub use lz77::Lz77;
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

/// Looks a codec up by id; unknown ids are an `unknown-codec` error.
pub fn by_id(id: u8) -> Result<&'static dyn Codec> {
    match id {
        id::STORE => Ok(&STORE),
        id::ZSTD => Ok(&ZSTD),
        id::ZEROS => Ok(&ZEROS),
        id::HUFFMAN => Ok(&HUFFMAN),
        id::LZ77 => Ok(&LZ77),
        _ => Err(Error::UnknownCodec { id }),
    }
}

/// Name of a registered codec id, or "unknown".
pub fn name_of(id: u8) -> &'static str {
    by_id(id).map(|c| c.name()).unwrap_or("unknown")
}

/// What the writer does with each block: one fixed codec, or a per-block choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Keep the smallest of the candidates (zstd first, store when nothing is gained).
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
            _ => Err(Error::Usage(format!(
                "unknown codec {s:?} (expected auto, store, zstd, huffman or lz77)"
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
}

/// Compresses one block according to `choice`. All-zero blocks become `zeros` blocks (holes).
pub fn encode_block(raw: &[u8], choice: Choice, level: i32) -> Result<Encoded> {
    if !raw.is_empty() && is_all_zero(raw) {
        return Ok(Encoded {
            codec: id::ZEROS,
            params: 0,
            payload: Vec::new(),
        });
    }
    match choice {
        Choice::Fixed(id) => {
            let codec = by_id(id)?;
            let mut payload = Vec::new();
            let params = codec.compress(raw, level, &mut payload)?;
            Ok(Encoded {
                codec: id,
                params,
                payload,
            })
        }
        Choice::Auto => {
            let mut payload = Vec::with_capacity(raw.len() / 2);
            let params = ZSTD.compress(raw, level, &mut payload)?;
            if payload.len() < raw.len() {
                Ok(Encoded {
                    codec: id::ZSTD,
                    params,
                    payload,
                })
            } else {
                Ok(Encoded {
                    codec: id::STORE,
                    params: 0,
                    payload: raw.to_vec(),
                })
            }
        }
    }
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

    fn roundtrip(raw: &[u8], choice: Choice) {
        let enc = encode_block(raw, choice, 3).unwrap();
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
            ] {
                roundtrip(raw, c);
            }
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
    fn unknown_codec() {
        assert_eq!(by_id(200).err().unwrap().class(), "unknown-codec");
    }
}

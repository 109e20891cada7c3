//! zstd dictionaries (resource kind 1, spec §4.3): trained at pack time on an archive's small
//! files, stored once, and named by the zstd blocks compressed with them. A block of small
//! files starts cold — nothing earlier in it to match — and a dictionary gives it the strings
//! the archive's files share (licence headers, include guards, boilerplate).

use super::zstd_codec::check_frame_size;
use crate::error::{Error, Result};

/// A loaded dictionary: its bytes (to write, and for the encoder) and zstd's decoding form,
/// built once per archive whatever the number of blocks that use it.
pub struct ZstdDict {
    bytes: Vec<u8>,
    ddict: zstd::zstd_safe::DDict<'static>,
}

impl std::fmt::Debug for ZstdDict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZstdDict({} bytes)", self.bytes.len())
    }
}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "zstd",
        why: why.into(),
    }
}

impl ZstdDict {
    /// Loads a dictionary: RFC 8878 §5's form (magic `0xEC30A437`, id, entropy tables,
    /// content) or raw content (anything else). zstd refusing it (damaged tables) is `corrupt`.
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        let ddict = zstd::zstd_safe::DDict::try_create(&bytes)
            .ok_or_else(|| corrupt("dictionary refused by zstd"))?;
        Ok(ZstdDict { bytes, ddict })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Compresses one block with the dictionary: one frame, content size present, no checksum
    /// and no dictionary id (the block's `resource` field names the dictionary).
    pub fn compress(&self, input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<u16> {
        use zstd::zstd_safe::CParameter;
        let level = level.clamp(-7, 22);
        let mut c = zstd::bulk::Compressor::with_dictionary(level, &self.bytes)
            .map_err(|e| Error::io("zstd compressor", e))?;
        for p in [
            CParameter::ContentSizeFlag(true),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            c.set_parameter(p)
                .map_err(|e| Error::io("zstd parameters", e))?;
        }
        let frame = c
            .compress(input)
            .map_err(|e| Error::io("zstd compress", e))?;
        out.clear();
        out.extend_from_slice(&frame);
        Ok(level as i16 as u16)
    }

    /// Decodes one block compressed with this dictionary into exactly `raw_len` bytes.
    pub fn decompress(&self, payload: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
        check_frame_size(payload, raw_len as u64, "block")?;
        out.clear();
        out.resize(raw_len, 0);
        let mut d = zstd::zstd_safe::DCtx::try_create()
            .ok_or_else(|| Error::io("zstd decompressor", std::io::Error::other("no memory")))?;
        // Bounded: writes at most raw_len bytes into the buffer.
        let n = d
            .decompress_using_ddict(&mut out[..], payload, &self.ddict)
            .map_err(|code| {
                super::zstd_codec::decode_error(zstd::zstd_safe::get_error_name(code), raw_len)
            })?;
        if n != raw_len {
            return Err(Error::SizeMismatch {
                what: format!("zstd block decoded to {n} bytes, declared {raw_len}"),
            });
        }
        Ok(())
    }
}

/// Trains a dictionary of at most `max_size` bytes on `samples` (zstd's trainer); `None` when
/// zstd finds nothing to build one from (too few or too uniform samples).
pub fn train(samples: &[&[u8]], max_size: usize) -> Option<Vec<u8>> {
    let dict = zstd::dict::from_samples(samples, max_size).ok()?;
    (!dict.is_empty()).then_some(dict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        (0..400u32)
            .map(|i| {
                format!(
                    "/* SPDX-License-Identifier: MIT */\n#ifndef FILE_{i}_H\n#define FILE_{i}_H\n\
                     int function_{i}(int x) {{ return x * {}; }}\n#endif /* FILE_{i}_H */\n",
                    i * 7919 % 1000
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn trained_dictionary_shrinks_small_blocks_and_round_trips() {
        let s = samples();
        let refs: Vec<&[u8]> = s.iter().map(|v| v.as_slice()).collect();
        let dict = ZstdDict::new(train(&refs[..300], 4096).expect("trains")).unwrap();
        // A small block (two headers) starts cold: the dictionary gives it the boilerplate.
        let block: Vec<u8> = s[300..302].concat();
        let (mut with, mut without) = (Vec::new(), Vec::new());
        dict.compress(&block, 3, &mut with).unwrap();
        crate::codec::by_id(crate::codec::id::ZSTD)
            .unwrap()
            .compress(&block, 3, &mut without)
            .unwrap();
        assert!(
            with.len() < without.len(),
            "{} vs {}",
            with.len(),
            without.len()
        );
        let mut out = Vec::new();
        dict.decompress(&with, block.len(), &mut out).unwrap();
        assert_eq!(out, block);
        // Another dictionary, or none, does not decode it.
        let other = ZstdDict::new(b"raw content dictionary of no use".to_vec()).unwrap();
        assert!(other.decompress(&with, block.len(), &mut out).is_err());
        // A wrong size is refused before decoding.
        assert_eq!(
            dict.decompress(&with, block.len() + 1, &mut out)
                .unwrap_err()
                .class(),
            "size-mismatch"
        );
    }

    #[test]
    fn damaged_tables_are_corrupt() {
        let s = samples();
        let refs: Vec<&[u8]> = s.iter().map(|v| v.as_slice()).collect();
        let mut d = train(&refs, 4096).unwrap();
        assert_eq!(&d[..4], &[0x37, 0xA4, 0x30, 0xEC]);
        // Inside the entropy tables, right after magic and id.
        for b in &mut d[8..40] {
            *b = 0xFF;
        }
        assert_eq!(ZstdDict::new(d).unwrap_err().class(), "corrupt");
    }
}

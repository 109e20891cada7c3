//! The payload header (spec/codec-dct.md §2), parsed from and written to bytes in one place.

use crate::error::{Error, Result};

/// Payload magic, "YDCT".
pub const MAGIC: [u8; 4] = *b"YDCT";
/// Format version this implementation writes and reads.
pub const VERSION: u8 = 1;
/// Size of the fixed header before the alpha stream.
pub const HEADER_LEN: usize = 26;
/// Largest width or height (as JPEG's): a decoder's working memory is a few MCU rows, so a
/// per-side bound keeps it bounded (≈ 100 bytes per column) whatever `max_pixels` allows.
pub const MAX_SIDE: u32 = 65535;
/// Flag bit 0: the decoder applies the deblocking filter (spec §8).
pub const FLAG_DEBLOCK: u8 = 1;
const KNOWN_FLAGS: u8 = FLAG_DEBLOCK;

/// Chroma subsampling of a colour payload (spec §2, field `sampling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Full-resolution chroma (also the only value for gray).
    S444 = 0,
    /// Chroma halved in both directions.
    S420 = 1,
}

/// The fixed header, field by field as in spec §2's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    /// Chroma subsampling (always 4:4:4 for gray).
    pub sampling: Sampling,
    /// 1..=100, selects the quantization matrices with `table_set`.
    pub quality: u8,
    /// Base quantization matrices (spec §4.1).
    pub table_set: u8,
    /// Bit 0: deblocking on decode (spec §8).
    pub flags: u8,
    /// Pixels per row, 1..=[`MAX_SIDE`].
    pub width: u32,
    /// Rows, 1..=[`MAX_SIDE`].
    pub height: u32,
    /// CRC-32 (IEEE) of the decoded pixels, interleaved, row-major.
    pub pixel_crc: u32,
    /// Length of the alpha stream that follows the header (0 without alpha).
    pub alpha_len: u32,
}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "dct",
        why: why.into(),
    }
}

impl Header {
    /// Number of colour components coded with the DCT (1 or 3).
    pub fn components(&self) -> usize {
        if self.channels <= 2 {
            1
        } else {
            3
        }
    }

    /// Serializes the header (little-endian integers).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[
            VERSION,
            self.channels,
            self.sampling as u8,
            self.quality,
            self.table_set,
            self.flags,
        ]);
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.pixel_crc.to_le_bytes());
        out.extend_from_slice(&self.alpha_len.to_le_bytes());
    }

    /// Parses and validates the header; every rule of spec §2 is checked here.
    pub fn parse(b: &[u8]) -> Result<Header> {
        if b.len() < HEADER_LEN {
            return Err(Error::truncated("dct payload header"));
        }
        if b[0..4] != MAGIC {
            return Err(corrupt("bad magic"));
        }
        if b[4] != VERSION {
            return Err(corrupt(format!("unsupported version {}", b[4])));
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let h = Header {
            channels: b[5],
            sampling: match b[6] {
                0 => Sampling::S444,
                1 => Sampling::S420,
                s => return Err(corrupt(format!("unknown sampling {s}"))),
            },
            quality: b[7],
            table_set: b[8],
            flags: b[9],
            width: u32_at(10),
            height: u32_at(14),
            pixel_crc: u32_at(18),
            alpha_len: u32_at(22),
        };
        if !(1..=4).contains(&h.channels) {
            return Err(corrupt(format!("channel count {}", h.channels)));
        }
        if h.components() == 1 && h.sampling != Sampling::S444 {
            return Err(corrupt("gray payload with chroma subsampling"));
        }
        if !(1..=100).contains(&h.quality) {
            return Err(corrupt(format!("quality {}", h.quality)));
        }
        if h.table_set >= super::tables::TABLE_SETS {
            return Err(corrupt(format!("unknown table set {}", h.table_set)));
        }
        if h.flags & !KNOWN_FLAGS != 0 {
            return Err(corrupt(format!("unknown flags {:#x}", h.flags)));
        }
        if h.width == 0 || h.height == 0 {
            return Err(corrupt("zero width or height"));
        }
        for (what, got) in [("image width", h.width), ("image height", h.height)] {
            if got > MAX_SIDE {
                return Err(Error::Limit {
                    what,
                    got: u64::from(got),
                    max: u64::from(MAX_SIDE),
                });
            }
        }
        let has_alpha = h.channels == 2 || h.channels == 4;
        if !has_alpha && h.alpha_len != 0 {
            return Err(corrupt("alpha stream without an alpha channel"));
        }
        if h.alpha_len as usize > b.len() - HEADER_LEN {
            return Err(Error::truncated("dct alpha stream"));
        }
        Ok(h)
    }
}

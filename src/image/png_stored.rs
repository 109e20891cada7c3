//! PNG output whose size is known from the image shape alone, and the ancillary chunks that
//! must survive a lossy round trip.
//!
//! A lossy image entry is unpacked (or mounted) as a PNG. A mount must report the file size
//! before decoding anything, so [`StoredPngWriter`] writes the pixels as *stored* (uncompressed)
//! deflate blocks: [`stored_png_size`] follows from width, height, channels and the kept chunks.
//! [`ancillary_chunks`] lifts the chunks that carry colour meaning or metadata (ICC profile,
//! sRGB, gAMA, cHRM, eXIf, pHYs, text) out of the original file so they can be written back.

use std::io::Write;

use crate::error::{Error, Result};

/// PNG file signature.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// Chunk types kept from an input PNG: colour space and gamma (so colours do not shift),
/// EXIF, physical pixel size, and text.
pub const KEPT_CHUNKS: [&[u8; 4]; 9] = [
    b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"eXIf", b"pHYs", b"tEXt", b"zTXt", b"iTXt",
];
/// Most zlib bytes per IDAT chunk the writer emits (so the layout, hence the size, is fixed).
pub const IDAT_MAX: usize = 1 << 20;
/// Most bytes in one stored deflate block (RFC 1951 §3.2.4).
const STORED_BLOCK_MAX: u64 = 65535;

/// One PNG chunk: type and data (length and CRC are implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngChunk {
    pub kind: [u8; 4],
    pub data: Vec<u8>,
}

fn input_err(why: &str) -> Error {
    Error::Input {
        path: "PNG".into(),
        why: why.into(),
    }
}

/// The chunks of `png` whose type is in [`KEPT_CHUNKS`], in file order. Bounds are checked;
/// chunk CRCs are not (the image decoder already vouched for the file).
pub fn ancillary_chunks(png: &[u8]) -> Result<Vec<PngChunk>> {
    if png.len() < 8 || png[..8] != PNG_SIGNATURE {
        return Err(input_err("not a PNG"));
    }
    let mut out = Vec::new();
    let mut pos = 8usize;
    while pos < png.len() {
        if pos + 12 > png.len() {
            return Err(input_err("truncated chunk header"));
        }
        let len = u32::from_be_bytes([png[pos], png[pos + 1], png[pos + 2], png[pos + 3]]) as usize;
        let kind: [u8; 4] = [png[pos + 4], png[pos + 5], png[pos + 6], png[pos + 7]];
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .filter(|&e| e <= png.len())
            .ok_or_else(|| input_err("chunk runs past the end"))?;
        if KEPT_CHUNKS.contains(&&kind) {
            out.push(PngChunk {
                kind,
                data: png[pos + 8..pos + 8 + len].to_vec(),
            });
        }
        if &kind == b"IEND" {
            break;
        }
        pos = end;
    }
    Ok(out)
}

/// Bytes of raw scanline data: one filter byte per row plus the pixels.
fn raw_len(width: u32, height: u32, channels: u8) -> u64 {
    u64::from(height) * (1 + u64::from(width) * u64::from(channels))
}

/// Exact size of the file [`StoredPngWriter`] writes for this shape and these chunks.
pub fn stored_png_size(width: u32, height: u32, channels: u8, chunks: &[PngChunk]) -> u64 {
    let raw = raw_len(width, height, channels);
    let blocks = raw.div_ceil(STORED_BLOCK_MAX).max(1);
    let zlib = 2 + 5 * blocks + raw + 4;
    let idats = zlib.div_ceil(IDAT_MAX as u64);
    let extra: u64 = chunks.iter().map(|c| 12 + c.data.len() as u64).sum();
    8 + (12 + 13) + extra + zlib + 12 * idats + 12
}

/// Writes an 8-bit PNG row by row with stored deflate blocks (no compression), so its size is
/// [`stored_png_size`]. Rows must be `width * channels` bytes, `height` of them.
pub struct StoredPngWriter<W: Write> {
    out: W,
    row_len: usize,
    rows_left: u32,
    raw_left: u64,
    block_left: u64,
    adler: (u32, u32),
    zbuf: Vec<u8>,
}

fn write_chunk(out: &mut impl Write, kind: &[u8; 4], data: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk too long"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(kind)?;
    out.write_all(data)?;
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    out.write_all(&h.finalize().to_be_bytes())
}

impl<W: Write> StoredPngWriter<W> {
    /// Writes the signature, IHDR and `chunks`; pixels follow with [`Self::write_row`].
    pub fn new(
        mut out: W,
        width: u32,
        height: u32,
        channels: u8,
        chunks: &[PngChunk],
    ) -> Result<Self> {
        let colour = match channels {
            1 => 0,
            2 => 4,
            3 => 2,
            4 => 6,
            _ => {
                return Err(Error::OutOfRange {
                    what: format!("PNG channel count {channels}"),
                })
            }
        };
        if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
            return Err(Error::OutOfRange {
                what: format!("PNG size {width}x{height}"),
            });
        }
        let io = |e| Error::io("writing PNG", e);
        out.write_all(&PNG_SIGNATURE).map_err(io)?;
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, colour, 0, 0, 0]);
        write_chunk(&mut out, b"IHDR", &ihdr).map_err(io)?;
        for c in chunks {
            write_chunk(&mut out, &c.kind, &c.data).map_err(io)?;
        }
        Ok(StoredPngWriter {
            out,
            row_len: width as usize * channels as usize,
            rows_left: height,
            raw_left: raw_len(width, height, channels),
            block_left: 0,
            adler: (1, 0),
            zbuf: vec![0x78, 0x01],
        })
    }

    fn push_raw(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.block_left == 0 {
                let len = self.raw_left.min(STORED_BLOCK_MAX);
                let last = u8::from(len == self.raw_left);
                let l = len as u16;
                self.zbuf.push(last);
                self.zbuf.extend_from_slice(&l.to_le_bytes());
                self.zbuf.extend_from_slice(&(!l).to_le_bytes());
                self.block_left = len;
            }
            let n = (self.block_left as usize).min(data.len());
            let (now, rest) = data.split_at(n);
            self.zbuf.extend_from_slice(now);
            let (mut a, mut b) = self.adler;
            for part in now.chunks(5552) {
                for &x in part {
                    a += u32::from(x);
                    b += a;
                }
                a %= 65521;
                b %= 65521;
            }
            self.adler = (a, b);
            self.block_left -= n as u64;
            self.raw_left -= n as u64;
            data = rest;
            self.flush_full()?;
        }
        Ok(())
    }

    fn flush_full(&mut self) -> Result<()> {
        while self.zbuf.len() >= IDAT_MAX {
            write_chunk(&mut self.out, b"IDAT", &self.zbuf[..IDAT_MAX])
                .map_err(|e| Error::io("writing PNG", e))?;
            self.zbuf.drain(..IDAT_MAX);
        }
        Ok(())
    }

    /// Appends one row of pixels.
    pub fn write_row(&mut self, row: &[u8]) -> Result<()> {
        if row.len() != self.row_len || self.rows_left == 0 {
            return Err(Error::SizeMismatch {
                what: format!(
                    "PNG row of {} bytes (expected {}, {} rows left)",
                    row.len(),
                    self.row_len,
                    self.rows_left
                ),
            });
        }
        self.rows_left -= 1;
        self.push_raw(&[0])?;
        self.push_raw(row)
    }

    /// Writes the checksum, the last IDAT and IEND; errors if rows are missing.
    pub fn finish(mut self) -> Result<W> {
        if self.rows_left != 0 {
            return Err(Error::SizeMismatch {
                what: format!("PNG is missing {} rows", self.rows_left),
            });
        }
        let (a, b) = self.adler;
        self.zbuf.extend_from_slice(&((b << 16) | a).to_be_bytes());
        self.flush_full()?;
        let io = |e| Error::io("writing PNG", e);
        if !self.zbuf.is_empty() {
            write_chunk(&mut self.out, b"IDAT", &self.zbuf).map_err(io)?;
        }
        write_chunk(&mut self.out, b"IEND", &[]).map_err(io)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::png_io::decode_png;
    use crate::image::Image;

    fn write(img: &Image, chunks: &[PngChunk]) -> Vec<u8> {
        let mut w =
            StoredPngWriter::new(Vec::new(), img.width, img.height, img.channels, chunks).unwrap();
        for row in img.data.chunks(img.width as usize * img.channels as usize) {
            w.write_row(row).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn size_is_predicted_and_pixels_roundtrip() {
        let chunks = vec![
            PngChunk {
                kind: *b"gAMA",
                data: 45455u32.to_be_bytes().to_vec(),
            },
            PngChunk {
                kind: *b"tEXt",
                data: b"Comment\0yoz".to_vec(),
            },
        ];
        // 1x1, a multi-block image (> 65535 raw bytes) and a multi-IDAT one (> 1 MiB).
        for (w, h, ch) in [(1, 1, 1), (300, 100, 3), (700, 520, 4), (5, 3, 2)] {
            let data: Vec<u8> = (0..w * h * ch as u32)
                .map(|i| (i * 31 % 251) as u8)
                .collect();
            let img = Image::from_raw(w, h, ch, data).unwrap();
            let png = write(&img, &chunks);
            assert_eq!(
                png.len() as u64,
                stored_png_size(w, h, ch, &chunks),
                "{w}x{h}x{ch}"
            );
            assert_eq!(decode_png(&png, "t", 1 << 24).unwrap(), img);
            assert_eq!(ancillary_chunks(&png).unwrap(), chunks);
        }
    }

    #[test]
    fn wrong_rows_are_errors() {
        let mut w = StoredPngWriter::new(Vec::new(), 4, 2, 3, &[]).unwrap();
        assert!(w.write_row(&[0; 11]).is_err());
        w.write_row(&[0; 12]).unwrap();
        assert!(w.finish().is_err());
        assert!(ancillary_chunks(b"\x89PNG\r\n\x1a\n\0\0\xff\xffIDAT").is_err());
    }
}

//! Lossy image entries (spec/yoz-v1.md §4.2.2): turning a PNG into the image blob an entry
//! stores, and the blob back into the PNG an extractor writes.
//!
//! Blob layout: magic `YIMG`, a u32 count of kept PNG chunks, each as a 4-byte type, a u32
//! length and its data, then the DCT payload (spec/codec-dct.md). The PNG written back uses
//! stored deflate blocks, so its size — recorded in the entry — is known without decoding.

use super::codec::{self, DecodeOptions};
use super::dct::{self, DctOptions};
use super::png_stored::{ancillary_chunks, stored_png_size, PngChunk, StoredPngWriter};
use crate::container::format::{ImageInfo, IMAGE_CODEC_DCT};
use crate::error::{Error, Result};
use std::io::Write;

const BLOB_MAGIC: &[u8; 4] = b"YIMG";
/// Most chunks a blob may carry (a PNG has a handful of ancillary chunks).
const MAX_CHUNKS: u32 = 1024;

/// The 8-byte PNG signature.
pub const PNG_SIGNATURE: [u8; 8] = *b"\x89PNG\r\n\x1a\n";

/// Encodes a PNG file's bytes as an image blob. `Ok(None)` when the PNG is not one the lossy
/// codec takes (16-bit, undecodable): the caller stores it losslessly and says so.
pub fn encode_png_file(
    png: &[u8],
    name: &str,
    quality: u8,
) -> Result<Option<(Vec<u8>, ImageInfo)>> {
    let img = match super::png_io::decode_png(png, name, super::MAX_PIXELS_DEFAULT) {
        Ok(img) => img,
        Err(e) => {
            eprintln!("yoz: notice: {name}: stored losslessly ({e})");
            return Ok(None);
        }
    };
    let chunks = ancillary_chunks(png)?;
    let (blob, info) = encode_image(&img, &chunks, quality, png.len() as u64)?;
    let max = crate::container::format::image_blob_max(info.width, info.height, info.channels);
    if blob.len() as u64 > max {
        eprintln!(
            "yoz: notice: {name}: stored losslessly (its lossy form, {} bytes, exceeds the \
             {max}-byte bound for its size)",
            blob.len()
        );
        return Ok(None);
    }
    Ok(Some((blob, info)))
}

/// Encodes pixels (and the PNG chunks to keep) as an image blob and its entry fields.
pub fn encode_image(
    img: &super::Image,
    chunks: &[PngChunk],
    quality: u8,
    input_size: u64,
) -> Result<(Vec<u8>, ImageInfo)> {
    let payload = dct::encode(
        img,
        &DctOptions {
            quality,
            ..Default::default()
        },
    )?;
    let blob = assemble(chunks, &payload);
    let info = ImageInfo {
        codec: IMAGE_CODEC_DCT,
        channels: img.channels,
        width: img.width,
        height: img.height,
        input_size,
        output_size: stored_png_size(img.width, img.height, img.channels, chunks),
    };
    Ok((blob, info))
}

/// Wraps a payload some codec made for the PNG `png` (its pixels `img`) as an image blob with
/// its entry fields, keeping the PNG's ancillary chunks; `limit` when the blob exceeds the
/// bound for the image's size. The caller has checked that the payload decodes to `img`'s shape.
pub fn wrap_payload(
    png: &[u8],
    img: &super::Image,
    codec: u8,
    payload: &[u8],
) -> Result<(Vec<u8>, ImageInfo)> {
    let chunks = ancillary_chunks(png)?;
    let blob = assemble(&chunks, payload);
    let max = crate::container::format::image_blob_max(img.width, img.height, img.channels);
    if blob.len() as u64 > max {
        return Err(Error::Limit {
            what: "image blob size for the image's dimensions",
            got: blob.len() as u64,
            max,
        });
    }
    let info = ImageInfo {
        codec,
        channels: img.channels,
        width: img.width,
        height: img.height,
        input_size: png.len() as u64,
        output_size: stored_png_size(img.width, img.height, img.channels, &chunks),
    };
    Ok((blob, info))
}

/// `YIMG`, the kept chunks, then the codec payload.
fn assemble(chunks: &[PngChunk], payload: &[u8]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(payload.len() + 64);
    blob.extend_from_slice(BLOB_MAGIC);
    blob.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    for c in chunks {
        blob.extend_from_slice(&c.kind);
        blob.extend_from_slice(&(c.data.len() as u32).to_le_bytes());
        blob.extend_from_slice(&c.data);
    }
    blob.extend_from_slice(payload);
    blob
}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "image blob",
        why: why.into(),
    }
}

/// Splits a blob into its kept chunks and the DCT payload.
fn parse_blob(blob: &[u8]) -> Result<(Vec<PngChunk>, &[u8])> {
    if blob.len() < 8 || &blob[..4] != BLOB_MAGIC {
        return Err(corrupt("missing YIMG magic"));
    }
    let n = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]);
    if n > MAX_CHUNKS {
        return Err(corrupt(format!("{n} chunks")));
    }
    let mut pos = 8usize;
    let mut chunks = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let head = blob
            .get(pos..pos + 8)
            .ok_or_else(|| corrupt("chunk header past the end"))?;
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let data = blob
            .get(pos + 8..(pos + 8).saturating_add(len))
            .ok_or_else(|| corrupt("chunk data past the end"))?;
        chunks.push(PngChunk {
            kind: [head[0], head[1], head[2], head[3]],
            data: data.to_vec(),
        });
        pos += 8 + len;
    }
    Ok((chunks, &blob[pos..]))
}

/// Parses a blob and checks its payload's shape against the entry's, and the entry's
/// `output_size` against the stored form's (spec §4.2.2): the kept chunks, the codec and its
/// payload.
fn checked_parts<'a>(
    blob: &'a [u8],
    info: &ImageInfo,
    opts: &DecodeOptions,
) -> Result<(Vec<PngChunk>, &'static dyn codec::ImageCodec, &'a [u8])> {
    let (chunks, payload) = parse_blob(blob)?;
    let c = codec::require(info.codec)?;
    let (width, height, channels) = c.shape(payload, &opts.limits)?;
    if (width, height, channels) != (info.width, info.height, info.channels) {
        return Err(Error::SizeMismatch {
            what: format!(
                "image payload is {width}x{height}x{channels}, the entry says {}x{}x{}",
                info.width, info.height, info.channels
            ),
        });
    }
    let want = stored_png_size(info.width, info.height, info.channels, &chunks);
    if want != info.output_size {
        return Err(Error::SizeMismatch {
            what: format!(
                "the PNG will be {want} bytes, the entry says {}",
                info.output_size
            ),
        });
    }
    Ok((chunks, c, payload))
}

/// Decodes a blob and writes the PNG it stands for to `out`, streaming by rows, in the stored
/// form of spec §4.2.2: the PNG must come out exactly as long as the entry says
/// (`size-mismatch` otherwise), which is what lets the mount report sizes without decoding.
/// The DCT payload's pixel CRC is checked by the decoder. Returns the bytes written.
pub fn write_png(
    blob: &[u8],
    info: &ImageInfo,
    opts: &DecodeOptions,
    out: &mut dyn Write,
) -> Result<u64> {
    let (chunks, c, payload) = checked_parts(blob, info, opts)?;
    let mut counter = Counter { inner: out, n: 0 };
    let mut w = StoredPngWriter::new(
        &mut counter,
        info.width,
        info.height,
        info.channels,
        &chunks,
    )?;
    c.decode_rows(payload, opts, &mut |row| w.write_row(row))?;
    w.finish()?;
    if counter.n != info.output_size {
        return Err(Error::SizeMismatch {
            what: format!(
                "wrote {} PNG bytes, the entry says {}",
                counter.n, info.output_size
            ),
        });
    }
    Ok(counter.n)
}

/// Decodes a blob and writes a compressed PNG of the same pixels and kept chunks (filtered rows,
/// deflate at a high level) to `out`: what `unpack` and `cat` write, a few times smaller than
/// the stored form. Spec §4.2.2 lets an extractor write any PNG of these pixels and chunks; the
/// index's `output_size` stays the stored form's. The checks are [`write_png`]'s, but the pixels
/// are held in memory (bounded by the image limits) for the encoder. Returns the bytes written.
pub fn write_png_compact(
    blob: &[u8],
    info: &ImageInfo,
    opts: &DecodeOptions,
    out: &mut dyn Write,
) -> Result<u64> {
    let (chunks, c, payload) = checked_parts(blob, info, opts)?;
    let row = info.width as usize * info.channels as usize;
    let mut pixels = Vec::with_capacity(row * info.height as usize);
    c.decode_rows(payload, opts, &mut |r| {
        pixels.extend_from_slice(r);
        Ok(())
    })?;
    let img = super::Image::from_raw(info.width, info.height, info.channels, pixels)?;
    let mut counter = Counter { inner: out, n: 0 };
    super::png_io::write_png(&mut counter, &img, &chunks, png::Compression::Best)?;
    Ok(counter.n)
}

/// Decodes a blob to the PNG bytes in memory (`cat`, the mount).
pub fn png_bytes(blob: &[u8], info: &ImageInfo, opts: &DecodeOptions) -> Result<Vec<u8>> {
    if info.output_size > crate::container::format::IMAGE_BLOB_MAX * 64 {
        return Err(Error::Limit {
            what: "decoded image size",
            got: info.output_size,
            max: crate::container::format::IMAGE_BLOB_MAX * 64,
        });
    }
    // Reserve no more than a sane amount up front: the size is checked against the shape
    // before anything is written, but comes from the archive.
    let mut v = Vec::with_capacity(info.output_size.min(64 << 20) as usize);
    write_png(blob, info, opts, &mut v)?;
    Ok(v)
}

struct Counter<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(b)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl crate::container::Archive {
    /// The decoded image of lossy image entry `path` as a PNG (compressed, as `unpack` writes
    /// it), checked as extraction checks it; `None` when the entry is not a lossy image (read
    /// its bytes with [`Archive::open_entry`](crate::container::Archive::open_entry)). `opts`
    /// bounds the decoder and picks what runs a neural synthesis (`&Default::default()`: the
    /// built-in CPU kernels).
    pub fn decoded_png(&self, path: &str, opts: &DecodeOptions) -> Result<Option<Vec<u8>>> {
        let i = self
            .find(path)
            .ok_or_else(|| Error::NotFound { path: path.into() })?;
        let Some(info) = self.entries()[self.resolve(i)].image else {
            return Ok(None);
        };
        let mut blob = Vec::new();
        std::io::Read::read_to_end(&mut self.open_entry(path)?, &mut blob)
            .map_err(|e| Error::io("reading entry", e))?;
        let mut png = Vec::new();
        write_png_compact(&blob, &info, opts, &mut png).map_err(|e| e.in_entry(path))?;
        Ok(Some(png))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_roundtrip_keeps_shape_and_size() {
        let mut img = super::super::Image::new(37, 21, 4).unwrap();
        for (i, p) in img.data.iter_mut().enumerate() {
            *p = (i * 7 % 251) as u8;
        }
        let png = super::super::png_io::encode_png(&img).unwrap();
        let (blob, info) = encode_png_file(&png, "t.png", 90).unwrap().unwrap();
        assert_eq!((info.width, info.height, info.channels), (37, 21, 4));
        let o = DecodeOptions::default();
        let out = png_bytes(&blob, &info, &o).unwrap();
        assert_eq!(out.len() as u64, info.output_size);
        let back = super::super::png_io::decode_png(&out, "out", 1 << 20).unwrap();
        assert_eq!((back.width, back.height, back.channels), (37, 21, 4));
        // Alpha is lossless.
        for (a, b) in back.data.chunks(4).zip(img.data.chunks(4)) {
            assert_eq!(a[3], b[3]);
        }
        let mut bad = blob.clone();
        let n = bad.len();
        bad[n - 10] ^= 0xff;
        assert!(png_bytes(&bad, &info, &o).is_err());
        assert!(png_bytes(&blob[..n / 2], &info, &o).is_err());
    }

    #[test]
    fn decode_options_are_per_call_not_per_process() {
        let img = super::super::Image::new(40, 30, 3).unwrap();
        let png = super::super::png_io::encode_png(&img).unwrap();
        let (blob, info) = encode_png_file(&png, "t.png", 80).unwrap().unwrap();
        let tight = DecodeOptions {
            limits: super::super::DecodeLimits { max_pixels: 1000 },
            ..Default::default()
        };
        // Two readers in one program, one bounded below this image's 1,200 pixels.
        assert!(matches!(
            png_bytes(&blob, &info, &tight),
            Err(Error::Limit { got: 1200, .. })
        ));
        assert!(png_bytes(&blob, &info, &DecodeOptions::default()).is_ok());
        assert!(png_bytes(&blob, &info, &tight).is_err());
    }

    #[test]
    fn an_image_codec_id_this_build_cannot_decode_is_unknown_codec() {
        let img = super::super::Image::new(8, 8, 1).unwrap();
        let png = super::super::png_io::encode_png(&img).unwrap();
        let (blob, mut info) = encode_png_file(&png, "t.png", 80).unwrap().unwrap();
        info.codec = 77;
        let e = png_bytes(&blob, &info, &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.class(), "unknown-codec");
    }
}

//! `zstd` (id 1): one zstd frame per block (the `zstd` crate, libzstd). Params hold the level as
//! an i16, for information only: decoding does not need it.

use super::{id, Codec};
use crate::error::{Error, Result};

// One compression context (per level) and one decompression context per thread: creating a
// context allocates its tables (megabytes at high levels), so a block need not pay for it.
thread_local! {
    static CCTX: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The zstd codec.
pub struct Zstd;

impl Codec for Zstd {
    fn id(&self) -> u8 {
        id::ZSTD
    }
    fn name(&self) -> &'static str {
        "zstd"
    }
    fn compress(&self, input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<u16> {
        let level = level.clamp(-7, 22);
        let frame = CCTX.with(|cell| -> Result<Vec<u8>> {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|(l, _)| *l != level) {
                let mut c = zstd::bulk::Compressor::new(level)
                    .map_err(|e| Error::io("zstd compressor", e))?;
                // The content size lets a decoder reject a frame that claims more than the block.
                c.include_contentsize(true)
                    .and_then(|_| c.include_checksum(false))
                    .map_err(|e| Error::io("zstd parameters", e))?;
                *slot = Some((level, c));
            }
            let (_, c) = slot.as_mut().expect("just set");
            c.compress(input).map_err(|e| Error::io("zstd compress", e))
        })?;
        out.extend_from_slice(&frame);
        Ok(level as i16 as u16)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        // Refuse a frame whose header declares a different size before allocating anything.
        check_frame_size(payload, raw_len as u64, "block")?;
        out.clear();
        out.resize(raw_len, 0);
        // Bounded: writes at most raw_len bytes into the caller's buffer.
        let n = DCTX.with(|cell| -> Result<usize> {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(
                    zstd::bulk::Decompressor::new()
                        .map_err(|e| Error::io("zstd decompressor", e))?,
                );
            }
            let d = slot.as_mut().expect("just set");
            d.decompress_to_buffer(payload, &mut out[..])
                .map_err(|e| decode_error(&e.to_string(), raw_len))
        })?;
        if n != raw_len {
            return Err(Error::SizeMismatch {
                what: format!("zstd block decoded to {n} bytes, declared {raw_len}"),
            });
        }
        Ok(())
    }
}

/// The class of a failed decode into exactly `raw_len` bytes: a frame that holds more bytes
/// than declared (possible when its header gives no content size) is `size-mismatch`, as one
/// that holds fewer is (spec §4.1); anything else zstd refuses is `corrupt`. libzstd reports
/// the first case by this name (a test pins it).
pub(crate) fn decode_error(name: &str, raw_len: usize) -> Error {
    if name.contains("Destination buffer is too small") {
        Error::SizeMismatch {
            what: format!("zstd frame holds more than the declared {raw_len} bytes"),
        }
    } else {
        Error::Corrupt {
            codec: "zstd",
            why: name.into(),
        }
    }
}

/// The magic number that starts every (non-skippable) zstd frame, RFC 8878 §3.1.1.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Refuses a payload that is not exactly one zstd frame, and a frame whose header declares a
/// size other than `raw_len` (the `what` that
/// declared it names itself in the message), and a frame header zstd cannot parse.
pub(super) fn check_frame_size(payload: &[u8], raw_len: u64, what: &str) -> Result<()> {
    // Exactly one zstd frame (spec table 5.1): libzstd would also decode a skippable frame,
    // several frames one after another, and stop quietly at neither.
    let corrupt = |why: &str| Error::Corrupt {
        codec: "zstd",
        why: why.into(),
    };
    one_frame(payload).map_err(corrupt)?;
    match zstd::zstd_safe::get_frame_content_size(payload) {
        Ok(Some(n)) if n != raw_len => Err(Error::SizeMismatch {
            what: format!("zstd frame declares {n} bytes, {what} declares {raw_len}"),
        }),
        Err(_) => Err(Error::Corrupt {
            codec: "zstd",
            why: "invalid frame header".into(),
        }),
        _ => Ok(()),
    }
}

/// Why `payload` is not exactly one zstd frame (not a skippable frame, nothing before or after
/// it), if it is not: libzstd alone would decode skippable frames and several frames in a row.
fn one_frame(payload: &[u8]) -> std::result::Result<(), &'static str> {
    if !payload.starts_with(&ZSTD_MAGIC) {
        return Err("not a zstd frame (magic 28 B5 2F FD)");
    }
    match zstd::zstd_safe::find_frame_compressed_size(payload) {
        Ok(n) if n == payload.len() => Ok(()),
        Ok(_) => Err("bytes after the zstd frame"),
        Err(_) => Err("truncated or invalid zstd frame"),
    }
}

/// The alpha plane of a lossy image payload (codec-dct.md §3, codec-neural.md §5): exactly one
/// zstd frame that decodes to exactly `n` bytes (decoding stops past `n`); anything else is
/// `corrupt` for `codec`.
pub(crate) fn decode_plane(payload: &[u8], n: usize, codec: &'static str) -> Result<Vec<u8>> {
    let corrupt = |why: String| Error::Corrupt {
        codec,
        why: format!("alpha: {why}"),
    };
    one_frame(payload).map_err(|w| corrupt(w.into()))?;
    let a = zstd::bulk::decompress(payload, n).map_err(|e| corrupt(e.to_string()))?;
    if a.len() != n {
        return Err(corrupt(format!("{} bytes, not {n}", a.len())));
    }
    Ok(a)
}

/// Decodes a zstd payload that declares `raw_len` bytes into memory that grows with the bytes
/// actually produced, never to `raw_len` up front: for sizes bounded only by a reader limit
/// (the index, up to 4 GiB), where a 100-byte payload may claim gigabytes. zstd's largest
/// expansion (RLE blocks) is about 40,000:1, so memory stays bounded by the input's size.
pub fn decompress_growing(payload: &[u8], raw_len: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let corrupt = |e: std::io::Error| Error::Corrupt {
        codec: "zstd",
        why: e.to_string(),
    };
    check_frame_size(payload, raw_len, "envelope")?;
    let dec = zstd::stream::read::Decoder::with_buffer(payload).map_err(corrupt)?;
    let mut out = Vec::with_capacity(raw_len.min(1 << 20) as usize);
    dec.take(raw_len.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() as u64 != raw_len {
        return Err(Error::SizeMismatch {
            what: format!(
                "zstd payload decoded to {} bytes, declared {raw_len}",
                out.len()
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod frame_tests {
    use super::*;

    /// An image's alpha plane is one zstd frame of exactly the plane's size, as a block is:
    /// a skippable frame, a second frame, a trailing byte or another size is `corrupt`.
    #[test]
    fn a_plane_is_exactly_one_frame_of_its_size() {
        let plane: Vec<u8> = (0..600u32).map(|i| (i % 7) as u8).collect();
        let frame = zstd::bulk::compress(&plane, 3).unwrap();
        assert_eq!(decode_plane(&frame, 600, "dct").unwrap(), plane);
        let mut skippable = vec![0x50, 0x2A, 0x4D, 0x18, 1, 0, 0, 0, 0];
        skippable.extend_from_slice(&frame);
        let mut two = zstd::bulk::compress(&plane[..300], 3).unwrap();
        two.extend_from_slice(&zstd::bulk::compress(&plane[300..], 3).unwrap());
        let mut trailing = frame.clone();
        trailing.push(0);
        for (bad, n) in [
            (&skippable, 600),
            (&two, 600),
            (&trailing, 600),
            (&frame, 599),
            (&frame, 601),
            (&frame[..frame.len() - 1].to_vec(), 600),
        ] {
            let e = decode_plane(bad, n, "neural").unwrap_err();
            assert_eq!(e.class(), "corrupt", "{e}");
        }
    }

    /// A frame whose Content_Checksum does not match its content is `corrupt`, as a block
    /// (yoz-v1.md table 5.1) and as an image's alpha plane (codec-dct.md §3, codec-neural.md §5).
    #[test]
    fn a_wrong_content_checksum_is_corrupt() {
        let data: Vec<u8> = (0..900u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.include_checksum(true).unwrap();
        let mut frame = c.compress(&data).unwrap();
        let mut out = Vec::new();
        Zstd.decompress(&frame, 900, 0, &mut out).unwrap();
        assert_eq!(decode_plane(&frame, 900, "neural").unwrap(), data);
        // The checksum is the frame's last four bytes.
        let last = frame.len() - 1;
        frame[last] ^= 0x40;
        let e = Zstd.decompress(&frame, 900, 0, &mut out).unwrap_err();
        assert_eq!(e.class(), "corrupt", "{e}");
        let e = decode_plane(&frame, 900, "neural").unwrap_err();
        assert_eq!(e.class(), "corrupt", "{e}");
    }

    /// A frame without a content size that holds one byte more than its block declares is
    /// `size-mismatch`, like one that holds one byte fewer; a damaged frame is `corrupt`.
    #[test]
    fn a_frame_longer_than_its_block_is_a_size_mismatch() {
        let data = vec![7u8; 1000];
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.include_contentsize(false).unwrap();
        let frame = c.compress(&data).unwrap();
        let mut out = Vec::new();
        for n in [999, 1001] {
            let e = Zstd.decompress(&frame, n, 0, &mut out).unwrap_err();
            assert_eq!(e.class(), "size-mismatch", "{n}: {e}");
        }
        Zstd.decompress(&frame, 1000, 0, &mut out).unwrap();
        assert_eq!(out, data);
        let mut bad = frame.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0xFF;
        let e = Zstd.decompress(&bad, 1000, 0, &mut out).unwrap_err();
        assert_eq!(e.class(), "corrupt", "{e}");
    }

    #[test]
    fn growing_decode_matches_and_refuses_lies() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let frame = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(decompress_growing(&frame, data.len() as u64).unwrap(), data);
        let short = decompress_growing(&frame, data.len() as u64 + 1).unwrap_err();
        assert_eq!(short.class(), "size-mismatch");
        // A frame without a content size that claims 4 GiB: refused after decoding what it
        // really holds, not after allocating 4 GiB.
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.include_contentsize(false).unwrap();
        let frame = c.compress(&data).unwrap();
        let err = decompress_growing(&frame, u32::MAX as u64).unwrap_err();
        assert_eq!(err.class(), "size-mismatch");
    }
}

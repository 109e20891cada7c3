//! `zstd` (id 1): one zstd frame per block (the `zstd` crate, libzstd). Params hold the level as
//! an i16, for information only: decoding does not need it.

use super::{id, Codec};
use crate::error::{Error, Result};

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
        let mut c =
            zstd::bulk::Compressor::new(level).map_err(|e| Error::io("zstd compressor", e))?;
        // The content size lets a decoder reject a frame that claims more than the block.
        c.include_contentsize(true)
            .and_then(|_| c.include_checksum(false))
            .map_err(|e| Error::io("zstd parameters", e))?;
        let start = out.len();
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        let frame = c
            .compress(input)
            .map_err(|e| Error::io("zstd compress", e))?;
        out.truncate(start);
        out.extend_from_slice(&frame);
        Ok(level as i16 as u16)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        // Refuse a frame whose header declares a different size before allocating anything.
        match zstd::zstd_safe::get_frame_content_size(payload) {
            Ok(Some(n)) if n != raw_len as u64 => {
                return Err(Error::SizeMismatch {
                    what: format!("zstd frame declares {n} bytes, block declares {raw_len}"),
                })
            }
            Err(_) => {
                return Err(Error::Corrupt {
                    codec: "zstd",
                    why: "invalid frame header".into(),
                })
            }
            _ => {}
        }
        out.clear();
        out.resize(raw_len, 0);
        let mut d =
            zstd::bulk::Decompressor::new().map_err(|e| Error::io("zstd decompressor", e))?;
        // Bounded: writes at most raw_len bytes into the caller's buffer.
        let n = d
            .decompress_to_buffer(payload, &mut out[..])
            .map_err(|e| Error::Corrupt {
                codec: "zstd",
                why: e.to_string(),
            })?;
        if n != raw_len {
            return Err(Error::SizeMismatch {
                what: format!("zstd block decoded to {n} bytes, declared {raw_len}"),
            });
        }
        Ok(())
    }
}

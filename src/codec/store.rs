//! `store` (id 0): the payload is the original bytes.

use super::{id, Codec};
use crate::error::{Error, Result};

/// The identity codec.
pub struct Store;

impl Codec for Store {
    fn id(&self) -> u8 {
        id::STORE
    }
    fn name(&self) -> &'static str {
        "store"
    }
    fn compress(&self, input: &[u8], _level: i32, out: &mut Vec<u8>) -> Result<u16> {
        out.extend_from_slice(input);
        Ok(0)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        if payload.len() != raw_len {
            return Err(Error::SizeMismatch {
                what: format!(
                    "stored block payload is {} bytes, declared {raw_len}",
                    payload.len()
                ),
            });
        }
        out.clear();
        out.extend_from_slice(payload);
        Ok(())
    }
}

//! `zeros` (id 2): an empty payload standing for `raw_len` zero bytes. Used for sparse-file holes
//! and all-zero blocks; unpack turns them back into holes.

use super::{id, Codec};
use crate::error::{Error, Result};

/// The hole codec.
pub struct Zeros;

impl Codec for Zeros {
    fn id(&self) -> u8 {
        id::ZEROS
    }
    fn name(&self) -> &'static str {
        "zeros"
    }
    fn compress(&self, input: &[u8], _level: i32, _out: &mut Vec<u8>) -> Result<u16> {
        if input.iter().any(|&b| b != 0) {
            return Err(Error::Usage("zeros codec given non-zero data".into()));
        }
        Ok(0)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        if !payload.is_empty() {
            return Err(Error::SizeMismatch {
                what: format!("zeros block has a {}-byte payload", payload.len()),
            });
        }
        out.clear();
        out.resize(raw_len, 0);
        Ok(())
    }
}

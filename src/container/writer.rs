//! Low-level archive writer: appends records to any `Write` (a pipe is fine: it never seeks)
//! and remembers what it wrote, so `finish` can emit the index and footer (§4–§7).

use super::format::*;
use crate::error::{Error, IoContext, Result};
use std::io::Write;

/// Writes records in stream order. Callers are responsible for the ordering rules of §4
/// (an entry's blocks right after it, shared blocks before their members); `pack` is the
/// one caller that knows them.
pub struct RecordWriter<W: Write> {
    out: W,
    pos: u64,
    index: Index,
}

impl<W: Write> RecordWriter<W> {
    /// Starts an archive by writing its header.
    pub fn new(mut out: W) -> Result<Self> {
        out.write_all(&Header::current().to_bytes())
            .ctx(|| "writing header".into())?;
        Ok(RecordWriter {
            out,
            pos: HEADER_LEN as u64,
            index: Index::default(),
        })
    }

    /// Ordinal the next block will get.
    pub fn next_block(&self) -> u32 {
        self.index.blocks.len() as u32
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.index.entries.len() as u64
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b).ctx(|| "writing archive".into())?;
        self.pos += b.len() as u64;
        Ok(())
    }

    /// Appends an entry record.
    pub fn entry(&mut self, e: Entry) -> Result<()> {
        let rec = e.to_bytes();
        self.index.entry_offsets.push(self.pos);
        self.put(&[tag::ENTRY])?;
        self.put(&rec)?;
        self.index.entries.push(e);
        Ok(())
    }

    /// Appends a block record; `info.offset` is filled in here.
    pub fn block(&mut self, mut info: BlockInfo, payload: &[u8]) -> Result<u32> {
        if payload.len() != info.comp_len as usize {
            return Err(Error::SizeMismatch {
                what: "block payload length".into(),
            });
        }
        info.offset = self.pos;
        self.put(&info.header_bytes())?;
        self.put(payload)?;
        self.index.blocks.push(info);
        Ok(self.index.blocks.len() as u32 - 1)
    }

    /// Writes the end tag, the index and the footer; returns the sink and the index.
    pub fn finish(mut self) -> Result<(W, Index)> {
        self.put(&[tag::END])?;
        let idx = self.index.to_bytes();
        let footer = Footer {
            index_offset: self.pos,
            index_len: idx.len() as u64,
            index_crc: index_crc(&Header::current().to_bytes(), &idx),
        };
        self.put(&idx)?;
        self.put(&footer.to_bytes())?;
        self.out.flush().ctx(|| "flushing archive".into())?;
        Ok((self.out, self.index))
    }
}

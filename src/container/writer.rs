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
    /// The header written, which the index CRC covers.
    header: Header,
}

impl<W: Write> RecordWriter<W> {
    /// Starts an archive by writing its header.
    pub fn new(out: W) -> Result<Self> {
        Self::with_header(out, Header::current())
    }

    /// Starts an archive with a given header (e.g. [`Header::needing`] a minor version).
    pub fn with_header(mut out: W, header: Header) -> Result<Self> {
        out.write_all(&header.to_bytes())
            .ctx(|| "writing header".into())?;
        Ok(RecordWriter {
            out,
            pos: HEADER_LEN as u64,
            index: Index::default(),
            header,
        })
    }

    /// Ordinal the next block will get.
    pub fn next_block(&self) -> u32 {
        self.index.blocks.len() as u32
    }

    /// Entries written so far.
    pub fn entry_count(&self) -> u64 {
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

    /// Appends an entry group record; `info.offset` is filled in here.
    pub fn group(
        &mut self,
        mut info: GroupInfo,
        payload: &[u8],
        entries: Vec<Entry>,
    ) -> Result<()> {
        if payload.len() != info.comp_len as usize || entries.len() != info.count as usize {
            return Err(Error::SizeMismatch {
                what: "entry group payload length or count".into(),
            });
        }
        info.offset = self.pos;
        self.put(&info.header_bytes())?;
        self.put(payload)?;
        self.index.groups.push(info);
        self.index.entries.extend(entries);
        Ok(())
    }

    /// Encodes and appends a group (for callers without a compression pipeline).
    pub fn entries(&mut self, entries: Vec<Entry>, level: i32) -> Result<()> {
        let (info, payload) = encode_group(&entries, level)?;
        self.group(info, &payload, entries)
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

    /// Appends a zstd dictionary as the next resource record (§4.3) and returns its id, which
    /// the blocks compressed with it name.
    pub fn dictionary(&mut self, dict: &[u8]) -> Result<u32> {
        let info = ResourceInfo {
            offset: self.pos,
            id: self.index.resources.len() as u32,
            kind: RESOURCE_ZSTD_DICT,
            flags: 0,
            length: dict.len() as u32,
            crc32: crc32fast::hash(dict),
        };
        if dict.is_empty() || info.length > RESOURCE_LEN_MAX {
            return Err(Error::Limit {
                what: "resource length",
                got: dict.len() as u64,
                max: RESOURCE_LEN_MAX as u64,
            });
        }
        self.put(&info.header_bytes())?;
        self.put(dict)?;
        self.index.resources.push(info);
        Ok(info.id)
    }

    /// Writes the end tag, the index (zstd at `level`) and the footer.
    pub fn finish(mut self, level: i32) -> Result<(W, Index)> {
        self.put(&[tag::END])?;
        let idx = self.index.to_bytes(Some(level.clamp(3, 19)));
        let footer = Footer {
            index_offset: self.pos,
            index_len: idx.len() as u64,
            index_crc: index_crc(&self.header.to_bytes(), &idx),
        };
        self.put(&idx)?;
        self.put(&footer.to_bytes())?;
        self.out.flush().ctx(|| "flushing archive".into())?;
        Ok((self.out, self.index))
    }
}

/// Compresses a group of entries (zstd, or stored when that is smaller).
pub fn encode_group(entries: &[Entry], level: i32) -> Result<(GroupInfo, Vec<u8>)> {
    let raw = group_bytes(entries);
    let mut payload = Vec::new();
    crate::codec::by_id(crate::codec::id::ZSTD)?.compress(
        &raw,
        level.clamp(3, 19),
        &mut payload,
    )?;
    let codec = if payload.len() < raw.len() {
        crate::codec::id::ZSTD
    } else {
        payload = raw.clone();
        crate::codec::id::STORE
    };
    let info = GroupInfo {
        offset: 0,
        codec,
        flags: 0,
        count: entries.len() as u32,
        raw_len: raw.len() as u32,
        comp_len: payload.len() as u32,
        crc32: crc32fast::hash(&raw),
    };
    Ok((info, payload))
}

//! Streaming reader: reads an archive front to back from any `Read` (a pipe), checking every
//! record as it goes and, at the end, that the index describes exactly what was read (§8.2).
//!
//! Memory is bounded by one block (original and payload), the current shared block, and the
//! entry table (the same size as the index, which the limits bound).

use super::archive::load_resource;
use super::format::*;
use super::limits::{EntryChecker, Limits};
use super::Sink;
use crate::codec;
use crate::codec::dict::ZstdDict;
use crate::error::{Error, Result};
use std::io::{self, Read};

/// What a full pass over an archive saw.
#[derive(Debug, Default, Clone)]
pub struct StreamSummary {
    pub header: Option<Header>,
    pub entries: u64,
    pub blocks: u64,
    pub bytes: u64,
    pub archive_len: u64,
}

struct Counting<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Counting<R> {
    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<()> {
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::truncated(what)),
            Err(e) => Err(Error::io("reading archive", e)),
        }
    }
}

struct SharedBlock {
    ordinal: u32,
    /// Number of groups read before the block; its members must be in the next group.
    group: usize,
    data: Vec<u8>,
    members: u32,
    end: u64,
}

struct Pending {
    entry: Entry,
    left: u32,
    total: u64,
}

/// Reads a whole archive from `r`, feeding entries to `sink`.
pub fn read_stream(r: impl Read, sink: &mut dyn Sink, limits: Limits) -> Result<StreamSummary> {
    let mut r = Counting { r, pos: 0 };
    let mut head = [0u8; HEADER_LEN];
    // Read the magic first so a short non-yoz file says bad-magic, not truncated.
    let mut got = 0;
    while got < HEADER_LEN {
        match r.r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading archive", e)),
        }
    }
    r.pos = got as u64;
    let header = Header::parse(&head[..got])?;
    let mut sum = StreamSummary {
        header: Some(header),
        ..Default::default()
    };
    let mut checker = EntryChecker::new(limits, header.reader_minor);
    let mut seen = Index::default();
    let mut shared: Option<SharedBlock> = None;
    let mut pending: Option<Pending> = None;
    let mut payload = Vec::new();
    let mut raw = Vec::new();
    // Resources (zstd dictionaries) read so far, by id: at most RESOURCES_MAX of 1 MiB.
    let mut dicts: Vec<ZstdDict> = Vec::new();
    loop {
        let at = r.pos;
        let mut t = [0u8; 1];
        r.exact(&mut t, "record tag (no end-of-records)")?;
        match t[0] {
            tag::ENTRY => {
                if pending.is_some() {
                    return Err(Error::IndexMismatch {
                        what: "an entry's blocks are interrupted by an entry group".into(),
                    });
                }
                let mut h = [0u8; GROUP_HEADER_LEN];
                h[0] = tag::ENTRY;
                r.exact(&mut h[1..], "entry group header")?;
                let info = GroupInfo::parse_header(&h, at)?;
                payload.resize(info.comp_len as usize, 0);
                r.exact(&mut payload, "entry group payload")?;
                let entries = info.entries(&info.decode(&payload)?)?;
                seen.groups.push(info);
                let n = entries.len();
                for (k, e) in entries.into_iter().enumerate() {
                    checker.add(&e)?;
                    sum.entries += 1;
                    seen.entries.push(e.clone());
                    let ctx = |err: Error| err.in_entry(&e.path);
                    match e.storage {
                        Storage::None => {
                            sink.begin(&e).map_err(ctx)?;
                            sink.end(&e).map_err(ctx)?;
                        }
                        Storage::Same { entry } => {
                            // The checker has tied it to an earlier file; its bytes went by
                            // with that file, so only a sink that kept them can give them.
                            let source = &seen.entries[entry as usize];
                            sink.begin(&e).map_err(ctx)?;
                            if !sink.copy(source).map_err(ctx)? {
                                return Err(ctx(Error::Usage(format!(
                                    "stored as a copy of {:?}, which was not extracted from \
                                     this stream (extract it too, or read the archive from a file)",
                                    source.path
                                ))));
                            }
                            sink.end(&e).map_err(ctx)?;
                        }
                        Storage::Blocks { first, count } => {
                            if k + 1 != n {
                                return Err(ctx(Error::IndexMismatch {
                                    what: "an entry with blocks is not the last of its group"
                                        .into(),
                                }));
                            }
                            close_shared(&mut shared)?;
                            if first as usize != seen.blocks.len() {
                                return Err(ctx(Error::IndexMismatch {
                                    what: format!(
                                        "entry says its blocks start at {first}, next block is {}",
                                        seen.blocks.len()
                                    ),
                                }));
                            }
                            sink.begin(&e).map_err(ctx)?;
                            pending = Some(Pending {
                                entry: e,
                                left: count,
                                total: 0,
                            });
                        }
                        Storage::Shared { block, offset } => {
                            let s = match shared.as_mut() {
                                Some(s) if s.ordinal == block && s.group == seen.groups.len() => s,
                                _ => {
                                    return Err(ctx(Error::IndexMismatch {
                                        what: format!(
                                            "shared block {block} is not the block before the entry's group"
                                        ),
                                    }))
                                }
                            };
                            let end = offset as u64 + e.size;
                            if (offset as u64) < s.end {
                                return Err(ctx(Error::Overlap {
                                    what: format!("slice of block {block} overlaps an earlier one"),
                                }));
                            }
                            if end > s.data.len() as u64 {
                                return Err(ctx(Error::SizeMismatch {
                                    what: format!("slice {offset}+{} past block {block}", e.size),
                                }));
                            }
                            s.end = end;
                            s.members += 1;
                            sink.begin(&e).map_err(ctx)?;
                            sink.data(&s.data[offset as usize..end as usize])
                                .map_err(ctx)?;
                            sink.end(&e).map_err(ctx)?;
                        }
                    }
                }
            }
            tag::BLOCK => {
                let mut h = [0u8; BLOCK_HEADER_LEN];
                h[0] = tag::BLOCK;
                r.exact(&mut h[1..], "block header")?;
                let info = BlockInfo::parse_header(&h, at)?;
                info.check_version(checker.reader_minor())?;
                let ordinal = seen.blocks.len() as u32;
                let dict = match info.resource {
                    NO_RESOURCE => None,
                    id => Some(dicts.get(id as usize).ok_or_else(|| Error::IndexMismatch {
                        what: format!(
                            "block {ordinal} names resource {id}, not recorded before it"
                        ),
                    })?),
                };
                payload.resize(info.comp_len as usize, 0);
                r.exact(&mut payload, "block payload")?;
                seen.blocks.push(info);
                sum.blocks += 1;
                match pending.as_mut() {
                    Some(p) => {
                        let ctx = |err: Error| err.in_entry(&p.entry.path);
                        if info.raw_len == 0 {
                            return Err(ctx(Error::SizeMismatch {
                                what: format!("block {ordinal} is empty"),
                            }));
                        }
                        p.total += info.raw_len as u64;
                        if p.total > p.entry.size {
                            return Err(ctx(Error::SizeMismatch {
                                what: format!("blocks hold more than {} bytes", p.entry.size),
                            }));
                        }
                        if info.codec == codec::id::ZEROS {
                            codec::zeros::check_block(
                                &payload,
                                info.raw_len as u64,
                                info.crc32,
                                ordinal as u64,
                            )
                            .map_err(ctx)?;
                            sink.hole(info.raw_len as u64).map_err(ctx)?;
                        } else {
                            decode(&info, ordinal, dict, &payload, &mut raw).map_err(ctx)?;
                            sink.data(&raw).map_err(ctx)?;
                        }
                        sum.bytes += info.raw_len as u64;
                        p.left -= 1;
                        if p.left == 0 {
                            let p = pending.take().expect("pending is set");
                            if p.total != p.entry.size {
                                return Err(Error::SizeMismatch {
                                    what: format!(
                                        "blocks hold {} bytes, entry declares {}",
                                        p.total, p.entry.size
                                    ),
                                }
                                .in_entry(&p.entry.path));
                            }
                            sink.end(&p.entry).map_err(|x| x.in_entry(&p.entry.path))?;
                        }
                    }
                    None => {
                        close_shared(&mut shared)?;
                        let mut data = Vec::new();
                        decode(&info, ordinal, dict, &payload, &mut data)?;
                        sum.bytes += info.raw_len as u64;
                        shared = Some(SharedBlock {
                            ordinal,
                            group: seen.groups.len() + 1,
                            data,
                            members: 0,
                            end: 0,
                        });
                    }
                }
            }
            tag::RESOURCE => {
                if pending.is_some() {
                    return Err(Error::IndexMismatch {
                        what: "an entry's blocks are interrupted by a resource".into(),
                    });
                }
                let mut h = [0u8; RESOURCE_HEADER_LEN];
                h[0] = tag::RESOURCE;
                r.exact(&mut h[1..], "resource header")?;
                let info = ResourceInfo::parse_header(&h, at)?;
                let n = seen.resources.len() as u64;
                if n >= RESOURCES_MAX {
                    return Err(Error::Limit {
                        what: "resource count",
                        got: n + 1,
                        max: RESOURCES_MAX,
                    });
                }
                if info.id as u64 != n {
                    return Err(Error::IndexMismatch {
                        what: format!("resource {n} has id {}", info.id),
                    });
                }
                if info.reader_minor() > header.reader_minor {
                    return Err(Error::VersionUnderstated {
                        feature: "a resource record (zstd dictionary)",
                        need_minor: info.reader_minor(),
                        declared_minor: header.reader_minor,
                    });
                }
                payload.resize(info.length as usize, 0);
                r.exact(&mut payload, "resource payload")?;
                dicts.push(load_resource(&info, &payload)?);
                seen.resources.push(info);
            }
            tag::END => {
                if let Some(p) = pending {
                    return Err(
                        Error::truncated("entry's blocks (end of records came first)")
                            .in_entry(&p.entry.path),
                    );
                }
                close_shared(&mut shared)?;
                let index_offset = r.pos;
                let mut rest = Vec::new();
                let cap = limits.max_index + FOOTER_LEN as u64 + 1;
                (&mut r.r)
                    .take(cap)
                    .read_to_end(&mut rest)
                    .map_err(|e| Error::io("reading index", e))?;
                if rest.len() as u64 == cap {
                    return Err(Error::Limit {
                        what: "index size",
                        got: cap,
                        max: limits.max_index,
                    });
                }
                let file_len = index_offset + rest.len() as u64;
                sum.archive_len = file_len;
                if rest.len() < FOOTER_LEN {
                    return Err(Error::truncated("index or footer"));
                }
                let footer = Footer::parse(&rest[rest.len() - FOOTER_LEN..], file_len)?;
                if footer.index_offset != index_offset {
                    return Err(Error::IndexMismatch {
                        what: "footer's index offset is not right after the records".into(),
                    });
                }
                let idx = &rest[..rest.len() - FOOTER_LEN];
                let computed = index_crc(&head, idx);
                if computed != footer.index_crc {
                    return Err(Error::IndexCrc {
                        stored: footer.index_crc,
                        computed,
                    });
                }
                let index = Index::parse(idx, &limits)?;
                if index != seen {
                    return Err(Error::IndexMismatch {
                        what: "the index does not list the records that were read".into(),
                    });
                }
                return Ok(sum);
            }
            other => {
                return Err(Error::UnknownKind {
                    what: "record tag",
                    value: other as u64,
                })
            }
        }
    }
}

fn close_shared(shared: &mut Option<SharedBlock>) -> Result<()> {
    if let Some(s) = shared.take() {
        if s.members == 0 {
            return Err(Error::IndexMismatch {
                what: format!("block {} belongs to no entry", s.ordinal),
            });
        }
    }
    Ok(())
}

/// Decodes one block into `out` and checks its CRC.
pub(crate) fn decode(
    info: &BlockInfo,
    ordinal: u32,
    dict: Option<&ZstdDict>,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    match dict {
        Some(d) => d.decompress(payload, info.raw_len as usize, out)?,
        None => codec::by_id(info.codec)?.decompress(
            payload,
            info.raw_len as usize,
            info.params,
            out,
        )?,
    }
    let computed = crc32fast::hash(out);
    if computed != info.crc32 {
        return Err(Error::BlockCrc {
            block: ordinal as u64,
            stored: info.crc32,
            computed,
        });
    }
    Ok(())
}

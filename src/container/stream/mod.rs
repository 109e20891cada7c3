//! Streaming reader: reads an archive front to back from any `Read` (a pipe), checking every
//! record as it goes and, at the end, that the index describes exactly what was read (§8.2).
//!
//! Memory is bounded by one block (original and payload), the current shared block, and the
//! entry table (the same size as the index, which the limits bound).
//!
//! Which error it reports (spec §8.0): a failure met among the records does not stand alone.
//! The reader reads on to the end of the input without decoding anything (record headers only,
//! while their framing holds), then applies the random-access reader's archive-level checks to
//! the index it finds there, then compares every record header it read with its index row;
//! the first failure in that order is reported, so a pipe and a file give the same class.

use super::archive::{check_tail, load_resource};
use super::format::*;
use super::limits::{EntryChecker, Limits};
use super::Sink;
use crate::codec;
use crate::codec::dict::ZstdDict;
use crate::error::{Error, Result};
use std::io::{self, Read};

mod rank;

use rank::{rank, tail_cap};

/// What a full pass over an archive saw.
#[derive(Debug, Default, Clone)]
pub struct StreamSummary {
    pub header: Option<Header>,
    pub entries: u64,
    pub blocks: u64,
    pub bytes: u64,
    pub archive_len: u64,
}

/// How many of the last bytes read a streaming reader keeps for the archive-level checks after
/// a failure (spec §8.0): enough for the footer and a small index that a damaged record ran
/// into.
pub const KEPT_BEFORE_FAILURE: usize = 65_536;

struct Counting<R> {
    r: R,
    pos: u64,
    /// The last [`KEPT_BEFORE_FAILURE`] bytes read.
    recent: std::collections::VecDeque<u8>,
    /// A read failed (not an early end): nothing more can be learnt from the input.
    failed: bool,
}

impl<R: Read> Counting<R> {
    /// Fills `buf`; at an early end, the bytes that did arrive still count (position and
    /// `recent`), so ranking sees the input's true length and its last bytes.
    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = true;
                    return Err(Error::io("reading archive", e));
                }
            }
        }
        self.pos += got as u64;
        self.keep(&buf[..got]);
        if got < buf.len() {
            return Err(Error::truncated(what));
        }
        Ok(())
    }

    fn keep(&mut self, buf: &[u8]) {
        let tail = &buf[buf.len().saturating_sub(KEPT_BEFORE_FAILURE)..];
        let over = (self.recent.len() + tail.len()).saturating_sub(KEPT_BEFORE_FAILURE);
        self.recent.drain(..over);
        self.recent.extend(tail);
    }

    /// Skips `n` bytes (a payload whose content no longer matters), keeping the recent ones.
    fn skip(&mut self, n: u64, what: &'static str) -> Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            self.exact(&mut buf[..k], what)?;
            left -= k as u64;
        }
        Ok(())
    }

    /// Reads the rest of the input. Returns the archive's length and what is kept of its end:
    /// the `recent` bytes and everything after them, at most the last `cap` bytes, as
    /// `(length, offset of the kept bytes, kept bytes)`.
    fn rest(&mut self, cap: u64) -> Result<(u64, u64, Vec<u8>)> {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let mut tail: std::collections::VecDeque<u8> = std::mem::take(&mut self.recent);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match self.r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    return Err(Error::io("reading archive", e));
                }
            };
            self.pos += n as u64;
            tail.extend(&buf[..n]);
            if tail.len() > cap {
                let over = tail.len() - cap;
                tail.drain(..over);
            }
        }
        let len = self.pos;
        let bytes: Vec<u8> = tail.into();
        Ok((len, len - bytes.len() as u64, bytes))
    }
}

/// A shared block, held until the entry group after it. Its payload is decoded when the first
/// entry needs it, after that group was read and checked: the order in which the random-access
/// reader meets them (spec §8.0).
struct SharedBlock {
    ordinal: u32,
    /// Number of groups read before the block; its members must be in the next group.
    group: usize,
    info: BlockInfo,
    payload: Vec<u8>,
    data: Option<Vec<u8>>,
    members: u32,
    end: u64,
}

/// Where the reader is, for ranking a failure (spec §8.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a record's tag and header: a failure here loses the framing.
    Header,
    /// A record's header was read; its content is being checked. The records after it can
    /// still be walked.
    Content,
    /// The end tag was read; the records are complete.
    End,
    /// Reading and checking the index: the archive-level checks themselves.
    Index,
}

struct Pending {
    entry: Entry,
    left: u32,
    total: u64,
}

/// Reads a whole archive from `r`, feeding entries to `sink`. A failure is ranked as spec §8.0
/// says before it is returned (the rest of the input is read first).
pub fn read_stream(r: impl Read, sink: &mut dyn Sink, limits: Limits) -> Result<StreamSummary> {
    let mut r = Counting {
        r,
        pos: 0,
        recent: Default::default(),
        failed: false,
    };
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
    r.keep(&head[..got]);
    let header = Header::parse(&head[..got])?;
    let mut walk = Walk {
        seen: Index::default(),
        phase: Phase::Header,
        at: (0, 0),
    };
    match records(&mut r, &head, header, sink, limits, &mut walk) {
        Ok(sum) => Ok(sum),
        Err(e) => Err(rank(e, &mut r, &head, limits, &mut walk)),
    }
}

/// What the record walk has seen, kept for ranking a failure.
struct Walk {
    /// Records read so far (headers), and the entries of the groups decoded so far.
    seen: Index,
    phase: Phase,
    /// Offset and tag byte of the record being read (its header may be what failed).
    at: (u64, u8),
}

/// The record walk of [`read_stream`]: one [`Records`] step per record until the end tag.
fn records<R: Read>(
    r: &mut Counting<R>,
    head: &[u8; HEADER_LEN],
    header: Header,
    sink: &mut dyn Sink,
    limits: Limits,
    walk: &mut Walk,
) -> Result<StreamSummary> {
    let mut m = Records {
        r,
        sink,
        walk,
        header,
        limits,
        checker: EntryChecker::new(limits, header.reader_minor),
        sum: StreamSummary {
            header: Some(header),
            ..Default::default()
        },
        shared: None,
        pending: None,
        payload: Vec::new(),
        raw: Vec::new(),
        dicts: Vec::new(),
    };
    loop {
        m.walk.phase = Phase::Header;
        let at = m.r.pos;
        m.walk.at = (at, 0);
        let mut t = [0u8; 1];
        m.r.exact(&mut t, "record tag (no end-of-records)")?;
        m.walk.at = (at, t[0]);
        match t[0] {
            tag::ENTRY => m.entry_group(at)?,
            tag::BLOCK => m.block(at)?,
            tag::RESOURCE => m.resource(at)?,
            tag::END => return m.end(head),
            other => {
                return Err(Error::UnknownKind {
                    what: "record tag",
                    value: other as u64,
                })
            }
        }
    }
}

/// The state of the record walk between records: one method per record kind.
struct Records<'a, R> {
    r: &'a mut Counting<R>,
    sink: &'a mut dyn Sink,
    walk: &'a mut Walk,
    header: Header,
    limits: Limits,
    checker: EntryChecker,
    sum: StreamSummary,
    /// The shared block read last, until the group after it has used it.
    shared: Option<SharedBlock>,
    /// The entry whose blocks are being read.
    pending: Option<Pending>,
    /// Buffers reused from record to record: a payload, and a decoded block.
    payload: Vec<u8>,
    raw: Vec<u8>,
    /// Resources (zstd dictionaries) read so far, by id: at most RESOURCES_MAX of 1 MiB.
    dicts: Vec<ZstdDict>,
}

impl<R: Read> Records<'_, R> {
    /// An entry group: its entries are checked and handed to the sink; an entry with blocks
    /// of its own becomes [`Records::pending`].
    fn entry_group(&mut self, at: u64) -> Result<()> {
        if self.pending.is_some() {
            return Err(Error::IndexMismatch {
                what: "an entry's blocks are interrupted by an entry group".into(),
            });
        }
        let info = group_header(self.r, at)?;
        self.walk.seen.groups.push(info);
        self.walk.phase = Phase::Content;
        self.payload.resize(info.comp_len as usize, 0);
        self.r.exact(&mut self.payload, "entry group payload")?;
        let entries = info.entries(&info.decode(&self.payload)?)?;
        // All of the group's entries are known before any is checked: the random-access
        // reader compares the whole group with its rows first.
        self.walk.seen.entries.extend(entries.iter().cloned());
        let n = entries.len();
        for (k, e) in entries.into_iter().enumerate() {
            self.checker.add(&e)?;
            self.sum.entries += 1;
            let path = e.path.clone();
            self.group_entry(e, k + 1 == n)
                .map_err(|err| err.in_entry(&path))?;
        }
        Ok(())
    }

    /// One entry of a group (`last`: the group's last), by its storage.
    fn group_entry(&mut self, e: Entry, last: bool) -> Result<()> {
        match e.storage {
            Storage::None => {
                self.sink.begin(&e)?;
                self.sink.end(&e)
            }
            Storage::Same { entry } => {
                // The checker has tied it to an earlier file; its bytes went by with that
                // file, so only a sink that kept them can give them.
                let source = &self.walk.seen.entries[entry as usize];
                self.sink.begin(&e)?;
                if !self.sink.copy(source)? {
                    return Err(Error::InvalidArgument(format!(
                        "stored as a copy of {:?}, which was not extracted from this stream \
                         (extract it too, or read the archive from a file)",
                        source.path
                    )));
                }
                self.sink.end(&e)
            }
            Storage::Blocks { first, count } => {
                if !last {
                    return Err(Error::IndexMismatch {
                        what: "an entry with blocks is not the last of its group".into(),
                    });
                }
                close_shared(&mut self.shared)?;
                let next = self.walk.seen.blocks.len();
                if first as usize != next {
                    return Err(Error::IndexMismatch {
                        what: format!(
                            "entry says its blocks start at {first}, next block is {next}"
                        ),
                    });
                }
                self.sink.begin(&e)?;
                self.pending = Some(Pending {
                    entry: e,
                    left: count,
                    total: 0,
                });
                Ok(())
            }
            Storage::Shared { block, offset } => self.shared_member(&e, block, offset),
        }
    }

    /// An entry whose bytes are a slice of the shared block read just before its group; the
    /// block is decoded when its first member is met.
    fn shared_member(&mut self, e: &Entry, block: u32, offset: u32) -> Result<()> {
        let groups = self.walk.seen.groups.len();
        let s = match self.shared.as_mut() {
            Some(s) if s.ordinal == block && s.group == groups => s,
            _ => {
                return Err(Error::IndexMismatch {
                    what: format!("shared block {block} is not the block before the entry's group"),
                })
            }
        };
        let end = (offset as u64).saturating_add(e.size);
        if (offset as u64) < s.end {
            return Err(Error::Overlap {
                what: format!("slice of block {block} overlaps an earlier one"),
            });
        }
        if end > s.info.raw_len as u64 {
            return Err(Error::SizeMismatch {
                what: format!("slice {offset}+{} past block {block}", e.size),
            });
        }
        s.end = end;
        s.members += 1;
        // The entry is created before its block is decoded, as the random-access reader does
        // (spec §8.0: a path through a symlink is refused before a damaged block is met).
        self.sink.begin(e)?;
        let s = self.shared.as_mut().expect("matched above");
        if s.data.is_none() {
            let dict = match s.info.resource {
                NO_RESOURCE => None,
                id => self.dicts.get(id as usize),
            };
            let mut data = Vec::new();
            decode(&s.info, s.ordinal, dict, &s.payload, &mut data)?;
            s.payload = Vec::new();
            s.data = Some(data);
        }
        let data = s.data.as_deref().unwrap_or_default();
        self.sink.data(&data[offset as usize..end as usize])?;
        self.sink.end(e)
    }

    /// A block: the next of the pending entry's, or a shared block for the next group.
    fn block(&mut self, at: u64) -> Result<()> {
        let info = block_header(self.r, at)?;
        info.check_version(self.checker.reader_minor())?;
        let ordinal = self.walk.seen.blocks.len() as u32;
        let id = info.resource;
        if id != NO_RESOURCE && id as usize >= self.dicts.len() {
            return Err(Error::IndexMismatch {
                what: format!("block {ordinal} names resource {id}, not recorded before it"),
            });
        }
        self.walk.seen.blocks.push(info);
        self.walk.phase = Phase::Content;
        self.payload.resize(info.comp_len as usize, 0);
        self.r.exact(&mut self.payload, "block payload")?;
        self.sum.blocks += 1;
        let Some(p) = self.pending.as_ref() else {
            close_shared(&mut self.shared)?;
            self.sum.bytes += info.raw_len as u64;
            self.shared = Some(SharedBlock {
                ordinal,
                group: self.walk.seen.groups.len() + 1,
                info,
                payload: std::mem::take(&mut self.payload),
                data: None,
                members: 0,
                end: 0,
            });
            return Ok(());
        };
        let path = p.entry.path.clone();
        self.entry_block(info, ordinal)
            .map_err(|err| err.in_entry(&path))
    }

    /// Block `ordinal` of the pending entry: checked, decoded and handed to the sink; the
    /// entry ends with its last block.
    fn entry_block(&mut self, info: BlockInfo, ordinal: u32) -> Result<()> {
        let p = self.pending.as_mut().expect("called with an entry pending");
        if info.raw_len == 0 {
            return Err(Error::SizeMismatch {
                what: format!("block {ordinal} is empty"),
            });
        }
        p.total += info.raw_len as u64;
        if p.total > p.entry.size {
            return Err(Error::SizeMismatch {
                what: format!("blocks hold more than {} bytes", p.entry.size),
            });
        }
        if info.codec == codec::id::ZEROS {
            codec::zeros::check_block(
                &self.payload,
                info.raw_len as u64,
                info.crc32,
                ordinal as u64,
            )?;
            self.sink.hole(info.raw_len as u64)?;
        } else {
            let dict = match info.resource {
                NO_RESOURCE => None,
                id => self.dicts.get(id as usize),
            };
            decode(&info, ordinal, dict, &self.payload, &mut self.raw)?;
            self.sink.data(&self.raw)?;
        }
        self.sum.bytes += info.raw_len as u64;
        p.left -= 1;
        if p.left > 0 {
            return Ok(());
        }
        let p = self.pending.take().expect("pending is set");
        if p.total != p.entry.size {
            return Err(Error::SizeMismatch {
                what: format!(
                    "blocks hold {} bytes, entry declares {}",
                    p.total, p.entry.size
                ),
            });
        }
        self.sink.end(&p.entry)
    }

    /// A resource (a zstd dictionary), numbered in file order.
    fn resource(&mut self, at: u64) -> Result<()> {
        if self.pending.is_some() {
            return Err(Error::IndexMismatch {
                what: "an entry's blocks are interrupted by a resource".into(),
            });
        }
        let info = resource_header(self.r, at)?;
        let n = self.walk.seen.resources.len() as u64;
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
        if info.reader_minor() > self.header.reader_minor {
            return Err(Error::VersionUnderstated {
                feature: "a resource record (zstd dictionary)",
                need_minor: info.reader_minor(),
                declared_minor: self.header.reader_minor,
            });
        }
        self.walk.seen.resources.push(info);
        self.walk.phase = Phase::Content;
        self.payload.resize(info.length as usize, 0);
        self.r.exact(&mut self.payload, "resource payload")?;
        self.dicts.push(load_resource(&info, &self.payload)?);
        Ok(())
    }

    /// The end tag: nothing may be pending; then the index and footer, checked exactly as the
    /// random-access reader checks them (footer, limit, end tag, CRC, body, §8.1), then
    /// against the records.
    fn end(mut self, head: &[u8; HEADER_LEN]) -> Result<StreamSummary> {
        self.walk.phase = Phase::End;
        if let Some(p) = self.pending.take() {
            return Err(
                Error::truncated("entry's blocks (end of records came first)")
                    .in_entry(&p.entry.path),
            );
        }
        close_shared(&mut self.shared)?;
        let (len, start, bytes) = self.r.rest(tail_cap(&self.limits))?;
        self.walk.phase = Phase::Index;
        self.sum.archive_len = len;
        let index = check_tail(head, start, bytes, len, self.limits)?;
        if index != self.walk.seen {
            return Err(Error::IndexMismatch {
                what: "the index does not list the records that were read".into(),
            });
        }
        Ok(self.sum)
    }
}

/// Reads the rest of a record header of `len` bytes whose tag `t` was read at `at`, and parses
/// it.
fn read_header<R: Read, T>(
    r: &mut Counting<R>,
    t: u8,
    len: usize,
    what: &'static str,
    at: u64,
    parse: fn(&[u8], u64) -> Result<T>,
) -> Result<T> {
    let mut h = [0u8; 32];
    h[0] = t;
    r.exact(&mut h[1..len], what)?;
    parse(&h[..len], at)
}

fn group_header<R: Read>(r: &mut Counting<R>, at: u64) -> Result<GroupInfo> {
    read_header(
        r,
        tag::ENTRY,
        GROUP_HEADER_LEN,
        "entry group header",
        at,
        GroupInfo::parse_header,
    )
}

fn block_header<R: Read>(r: &mut Counting<R>, at: u64) -> Result<BlockInfo> {
    read_header(
        r,
        tag::BLOCK,
        BLOCK_HEADER_LEN,
        "block header",
        at,
        BlockInfo::parse_header,
    )
}

fn resource_header<R: Read>(r: &mut Counting<R>, at: u64) -> Result<ResourceInfo> {
    read_header(
        r,
        tag::RESOURCE,
        RESOURCE_HEADER_LEN,
        "resource header",
        at,
        ResourceInfo::parse_header,
    )
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

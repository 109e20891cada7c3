//! Random-access reader: footer → index → any block, through a memory map or `pread`.
//!
//! `Archive::open` validates the whole index against §8 (tiling of records, block ownership,
//! sizes, paths, limits) before anything is read or written, so a hostile index is refused up
//! front. Payloads are read only when asked for, and each block is checked against its local
//! header and its CRC when decoded.
//!
//! Which source to use: the memory map (default) is fastest and serves stored blocks without
//! copies. A file truncated by someone else while mapped would raise SIGBUS; the mapping is
//! registered with [`sigbus`](super::sigbus), which turns that into zero pages and the read
//! into an I/O error (class `io`) instead of a dead process. [`Source::Pread`] (`--no-mmap`)
//! never maps at all.

use super::format::*;
use super::limits::{EntryChecker, Limits};
use super::sigbus::{self, Mapped};
use super::Sink;
use crate::codec;
use crate::codec::dict::ZstdDict;
use crate::error::{Error, IoContext, Result};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How the archive bytes are reached.
pub enum Source {
    /// Memory-mapped, guarded against SIGBUS (see the module docs).
    Mmap(Mapped),
    /// Positional reads on an open file.
    Pread(File),
    /// Bytes already in memory (tests, fuzzing, small archives).
    Memory(Vec<u8>),
    /// What a streaming reader has kept of an archive: the header and the bytes from `start`
    /// to the end (the archive-level checks need nothing else; [`check_tail`]).
    #[doc(hidden)]
    Tail {
        head: Vec<u8>,
        start: u64,
        bytes: Vec<u8>,
    },
}

impl Source {
    /// The mapping's SIGBUS fault counter, if this source is a guarded mapping.
    fn faults_counter(&self) -> Option<&'static std::sync::atomic::AtomicU64> {
        match self {
            Source::Mmap(m) => m.guard().counter(),
            _ => None,
        }
    }

    /// Pages of the mapping that faulted because the file shrank (0 when not mapped).
    fn faults(&self) -> u64 {
        match self {
            Source::Mmap(m) => m.guard().faults(),
            _ => 0,
        }
    }

    fn get(&self, off: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        match self {
            Source::Mmap(m) => slice(m, off, len),
            Source::Memory(m) => slice(m, off, len),
            Source::Tail { head, start, bytes } => {
                if off.saturating_add(len as u64) <= head.len() as u64 {
                    slice(head, off, len)
                } else if off >= *start {
                    slice(bytes, off - start, len)
                } else {
                    Err(Error::IndexMismatch {
                        what: "the footer places the index among the records already read".into(),
                    })
                }
            }
            Source::Pread(f) => {
                let mut v = vec![0u8; len];
                f.read_exact_at(&mut v, off).map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        Error::truncated("read past end of archive")
                    } else {
                        Error::io("reading archive", e)
                    }
                })?;
                Ok(Cow::Owned(v))
            }
        }
    }
}

fn slice(m: &[u8], off: u64, len: usize) -> Result<Cow<'_, [u8]>> {
    let s = usize::try_from(off).map_err(|_| Error::truncated("read past end of archive"))?;
    m.get(s..s.saturating_add(len))
        .map(Cow::Borrowed)
        .ok_or(Error::truncated("read past end of archive"))
}

/// Options for [`Archive::open_with`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    pub mmap: bool,
    pub limits: Limits,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mmap: true,
            limits: Limits::default(),
        }
    }
}

/// What [`Archive::verify`] checked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VerifySummary {
    pub entries: u64,
    pub blocks: u64,
    /// Decoded bytes of all blocks.
    pub bytes: u64,
}

/// An opened, validated archive.
pub struct Archive {
    src: Source,
    len: u64,
    header: Header,
    footer: Footer,
    index: Index,
    by_path: HashMap<String, usize>,
    entry_group: Vec<u32>,
    last_shared: Mutex<Option<(u32, Arc<Vec<u8>>)>>,
    /// Resources (zstd dictionaries), each loaded and checked once, when a block first needs it.
    dicts: Vec<std::sync::OnceLock<Arc<ZstdDict>>>,
}

impl Archive {
    /// Opens and validates an archive through a memory map.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Opens and validates an archive with explicit options.
    pub fn open_with(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Self> {
        let path = path.as_ref();
        let f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
        let meta = f.metadata().ctx(|| "stat archive".into())?;
        if meta.is_dir() {
            return Err(Error::io(
                format!("opening {}", path.display()),
                io::Error::from_raw_os_error(libc::EISDIR),
            ));
        }
        let len = meta.len();
        let src = if opts.mmap && len > 0 {
            // SAFETY: the mapping is read-only; a file truncated underneath faults, which the
            // guard turns into zero pages that fail the checks (module docs).
            Source::Mmap(Mapped::new(
                unsafe { memmap2::Mmap::map(&f) }.ctx(|| "mapping archive".into())?,
            ))
        } else {
            Source::Pread(f)
        };
        let counter = src.faults_counter();
        Self::from_source(src, len, opts.limits).map_err(|e| match counter {
            Some(c) if c.load(std::sync::atomic::Ordering::Acquire) > 0 => sigbus::shrank(),
            _ => e,
        })
    }

    /// Validates an archive held in memory.
    pub fn from_bytes(bytes: Vec<u8>, limits: Limits) -> Result<Self> {
        let len = bytes.len() as u64;
        Self::from_source(Source::Memory(bytes), len, limits)
    }

    /// Validates an archive held by `src` (`len` bytes long).
    pub fn from_source(src: Source, len: u64, limits: Limits) -> Result<Self> {
        let head = src
            .get(0, (HEADER_LEN as u64).min(len) as usize)?
            .into_owned();
        let header = Header::parse(&head)?;
        if len < (HEADER_LEN + 1 + INDEX_FIXED_LEN + FOOTER_LEN) as u64 {
            return Err(Error::truncated(
                "archive shorter than header + index + footer",
            ));
        }
        let footer = Footer::parse(&src.get(len - FOOTER_LEN as u64, FOOTER_LEN)?, len)?;
        if footer.index_len > limits.max_index {
            return Err(Error::Limit {
                what: "index size",
                got: footer.index_len,
                max: limits.max_index,
            });
        }
        if src.get(footer.index_offset - 1, 1)?[0] != tag::END {
            return Err(Error::IndexMismatch {
                what: "no end-of-records tag before the index".into(),
            });
        }
        let idx_bytes = src.get(footer.index_offset, footer.index_len as usize)?;
        let computed = index_crc(&head, &idx_bytes);
        if computed != footer.index_crc {
            return Err(Error::IndexCrc {
                stored: footer.index_crc,
                computed,
            });
        }
        let index = Index::parse(&idx_bytes, &limits)?;
        drop(idx_bytes);
        let entry_group = index.entry_groups();
        validate(
            &index,
            &entry_group,
            footer.index_offset,
            len,
            limits,
            header.reader_minor,
        )?;
        let by_path = index
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.clone(), i))
            .collect();
        let dicts = index.resources.iter().map(|_| Default::default()).collect();
        Ok(Archive {
            src,
            len,
            header,
            footer,
            index,
            by_path,
            entry_group,
            last_shared: Mutex::new(None),
            dicts,
        })
    }

    /// The header as read.
    pub fn header(&self) -> Header {
        self.header
    }
    /// The footer as read.
    pub fn footer(&self) -> Footer {
        self.footer
    }
    /// Archive length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// Always false: a valid archive has at least a header, index and footer.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// All entries, in archive order.
    pub fn entries(&self) -> &[Entry] {
        &self.index.entries
    }
    /// The block table.
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.index.blocks
    }
    /// The parsed index.
    pub fn index(&self) -> &Index {
        &self.index
    }
    /// Index of the entry with this path.
    pub fn find(&self, path: &str) -> Option<usize> {
        self.by_path.get(path.trim_end_matches('/')).copied()
    }

    /// The entry whose bytes an entry shows: itself, or a hard link's target.
    pub fn resolve(&self, i: usize) -> usize {
        let e = &self.index.entries[i];
        if e.kind == Kind::Hardlink {
            // Validated at open: the target is an earlier file entry.
            self.by_path[&e.target]
        } else {
            i
        }
    }

    /// The entry whose storage holds entry `i`'s bytes: a hard link's target, and the source
    /// of a copy (storage 3; validated at open: an earlier file with blocks or a slice).
    pub fn content_of(&self, i: usize) -> usize {
        let i = self.resolve(i);
        match self.index.entries[i].storage {
            Storage::Same { entry } => entry as usize,
            _ => i,
        }
    }

    /// Reads, decodes and checks block `n`, always into memory of its own (a stored block is
    /// copied out of the map before its CRC is checked). A block whose mapped pages vanished under it (the file shrank) is an I/O error.
    pub fn read_block(&self, n: u32) -> Result<Vec<u8>> {
        let before = self.src.faults();
        self.read_block_checked(n).map_err(|e| {
            if self.src.faults() > before {
                sigbus::shrank()
            } else {
                e
            }
        })
    }

    fn read_block_checked(&self, n: u32) -> Result<Vec<u8>> {
        if let Some(b) = self.index.blocks.get(n as usize) {
            self.check_resources_before(b.offset)?;
        }
        let (info, payload) = self.block_record(n)?;
        let data = if info.codec == codec::id::STORE {
            if payload.len() != info.raw_len as usize {
                return Err(Error::SizeMismatch {
                    what: format!("stored block {n}"),
                });
            }
            // A private copy: the CRC below then vouches for exactly the bytes the caller gets,
            // even if the file changes under a mapping afterwards.
            payload.into_owned()
        } else {
            let mut out = Vec::new();
            if info.resource != NO_RESOURCE {
                self.dict(info.resource)?
                    .decompress(&payload, info.raw_len as usize, &mut out)?;
            } else {
                codec::by_id(info.codec)?.decompress(
                    &payload,
                    info.raw_len as usize,
                    info.params,
                    &mut out,
                )?;
            }
            out
        };
        let computed = crc32fast::hash(&data);
        if computed != info.crc32 {
            return Err(Error::BlockCrc {
                block: n as u64,
                stored: info.crc32,
                computed,
            });
        }
        Ok(data)
    }

    /// Resource `id` (a zstd dictionary): its record checked against the index row and its
    /// CRC, then loaded, once. Validated at open: `id` names a resource.
    pub fn dict(&self, id: u32) -> Result<Arc<ZstdDict>> {
        let cell = &self.dicts[id as usize];
        if let Some(d) = cell.get() {
            return Ok(d.clone());
        }
        let info = self.index.resources[id as usize];
        let payload = self.record(
            &info,
            info.offset,
            (RESOURCE_HEADER_LEN, info.length as usize),
            ResourceInfo::parse_header,
            || format!("resource {id}"),
        )?;
        let d = Arc::new(load_resource(&info, &payload)?);
        Ok(cell.get_or_init(|| d).clone())
    }

    /// Block `n`'s index row, checked against its local header, and its payload bytes.
    fn block_record(&self, n: u32) -> Result<(BlockInfo, Cow<'_, [u8]>)> {
        let info = *self
            .index
            .blocks
            .get(n as usize)
            .ok_or_else(|| Error::OutOfRange {
                what: format!("block {n}"),
            })?;
        let payload = self.record(
            &info,
            info.offset,
            (BLOCK_HEADER_LEN, info.comp_len as usize),
            BlockInfo::parse_header,
            || format!("block {n}"),
        )?;
        Ok((info, payload))
    }

    /// The payload of the record at `offset` whose header (`lens.0` bytes, parsed by `parse`)
    /// must equal its index row `row`; `lens.1` is the payload length.
    fn record<T: PartialEq>(
        &self,
        row: &T,
        offset: u64,
        lens: (usize, usize),
        parse: fn(&[u8], u64) -> Result<T>,
        what: impl Fn() -> String,
    ) -> Result<Cow<'_, [u8]>> {
        let local = parse(&self.src.get(offset, lens.0)?, offset)?;
        if local != *row {
            return Err(Error::IndexMismatch {
                what: format!("{}'s header differs from its index row", what()),
            });
        }
        self.src.get(offset + lens.0 as u64, lens.1)
    }

    /// Asks the kernel to start reading the records of `blocks` into the page cache
    /// (`MADV_WILLNEED`), so a reader going through them sequentially finds them resident.
    /// Only a hint: does nothing without a memory map, and errors are ignored.
    pub fn will_need(&self, blocks: std::ops::Range<u32>) {
        let (Source::Mmap(m), Some(a), Some(z)) = (
            &self.src,
            self.index.blocks.get(blocks.start as usize),
            blocks
                .end
                .checked_sub(1)
                .and_then(|e| self.index.blocks.get(e as usize)),
        ) else {
            return;
        };
        let end = z.offset.saturating_add(z.record_len()).min(self.len);
        if let (Ok(start), Ok(len)) = (
            usize::try_from(a.offset),
            usize::try_from(end.saturating_sub(a.offset)),
        ) {
            if len > 0 {
                let _ = m.map().advise_range(memmap2::Advice::WillNeed, start, len);
            }
        }
    }

    /// The group ordinal entry `i` travels in.
    pub fn group_of(&self, i: usize) -> u32 {
        self.entry_group[i]
    }

    /// Reads entry group `g` and checks that it carries exactly the entries the index lists.
    pub fn check_group(&self, g: u32) -> Result<()> {
        let info = self.index.groups[g as usize];
        let hdr = self.src.get(info.offset, GROUP_HEADER_LEN)?;
        if GroupInfo::parse_header(&hdr, info.offset)? != info {
            return Err(Error::IndexMismatch {
                what: format!("entry group {g}'s header differs from its index row"),
            });
        }
        let payload = self.src.get(
            info.offset + GROUP_HEADER_LEN as u64,
            info.comp_len as usize,
        )?;
        let local = info.entries(&info.decode(&payload)?)?;
        let first = self.entry_group.partition_point(|&x| x < g);
        if local[..] != self.index.entries[first..first + info.count as usize] {
            return Err(Error::IndexMismatch {
                what: format!("entry group {g} differs from the index"),
            });
        }
        Ok(())
    }

    /// Checks the whole archive without extracting anything, in the order of spec §8.0: the
    /// index was checked when it was opened; then every record header against its row, then
    /// every record's content in file order (resources, entry groups against the index, every
    /// block decoded and its CRC checked; zeros blocks by arithmetic). Images are not decoded.
    pub fn verify(&self) -> Result<VerifySummary> {
        self.check_records()?;
        let mut sum = VerifySummary {
            entries: self.index.entries.len() as u64,
            ..Default::default()
        };
        // Groups and blocks in file order; a shared block after the group that follows it.
        let shared: std::collections::HashSet<u32> = self
            .index
            .entries
            .iter()
            .filter_map(|e| match e.storage {
                Storage::Shared { block, .. } => Some(block),
                _ => None,
            })
            .collect();
        let mut recs: Vec<(u64, bool, u32)> = self
            .index
            .groups
            .iter()
            .enumerate()
            .map(|(g, x)| (x.offset, true, g as u32))
            .chain(
                self.index
                    .blocks
                    .iter()
                    .enumerate()
                    .map(|(b, x)| (x.offset, false, b as u32)),
            )
            .collect();
        recs.sort_unstable();
        let mut deferred = None;
        for (offset, is_group, n) in recs {
            self.check_resources_before(offset)?;
            if is_group {
                self.check_group(n)?;
                if let Some(b) = deferred.take() {
                    self.verify_block(b, &mut sum)?;
                }
            } else if shared.contains(&n) {
                deferred = Some(n);
            } else {
                self.verify_block(n, &mut sum)?;
            }
        }
        if let Some(b) = deferred {
            self.verify_block(b, &mut sum)?;
        }
        self.check_resources_before(u64::MAX)?;
        Ok(sum)
    }

    fn verify_block(&self, n: u32, sum: &mut VerifySummary) -> Result<()> {
        let (info, payload) = self.block_record(n)?;
        if info.codec == codec::id::ZEROS {
            codec::zeros::check_block(&payload, info.raw_len as u64, info.crc32, n as u64)?;
        } else {
            drop(payload);
            self.read_block(n)?;
        }
        sum.blocks += 1;
        sum.bytes += info.raw_len as u64;
        Ok(())
    }

    /// Spec §8.0 phase 3: every record's header, in file order, parsed (tag, fields) and
    /// compared with its index row. Reads only the headers. Extractors of the whole archive run
    /// it before any payload, so a broken header anywhere outranks a damaged payload, as it does
    /// for a streaming reader.
    pub fn check_records(&self) -> Result<()> {
        let ix = &self.index;
        let mut recs: Vec<(u64, u8, usize)> =
            Vec::with_capacity(ix.groups.len() + ix.blocks.len() + ix.resources.len());
        recs.extend(
            ix.groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.offset, tag::ENTRY, i)),
        );
        recs.extend(
            ix.blocks
                .iter()
                .enumerate()
                .map(|(i, b)| (b.offset, tag::BLOCK, i)),
        );
        recs.extend(
            ix.resources
                .iter()
                .enumerate()
                .map(|(i, r)| (r.offset, tag::RESOURCE, i)),
        );
        recs.sort_unstable();
        let mismatch = |what: String| Error::IndexMismatch {
            what: format!("{what}'s header differs from its index row"),
        };
        for (off, kind, i) in recs {
            match kind {
                tag::ENTRY => {
                    let h = self.src.get(off, GROUP_HEADER_LEN)?;
                    if GroupInfo::parse_header(&h, off)? != ix.groups[i] {
                        return Err(mismatch(format!("entry group {i}")));
                    }
                }
                tag::BLOCK => {
                    let h = self.src.get(off, BLOCK_HEADER_LEN)?;
                    if BlockInfo::parse_header(&h, off)? != ix.blocks[i] {
                        return Err(mismatch(format!("block {i}")));
                    }
                }
                _ => {
                    let h = self.src.get(off, RESOURCE_HEADER_LEN)?;
                    if ResourceInfo::parse_header(&h, off)? != ix.resources[i] {
                        return Err(mismatch(format!("resource {i}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Loads (and so checks) every resource recorded before `offset`: the random-access reader
    /// meets resources where a streaming reader does, before any later record's payload
    /// (spec §8.0 phase 4).
    pub fn check_resources_before(&self, offset: u64) -> Result<()> {
        for r in &self.index.resources {
            if r.offset < offset {
                self.dict(r.id)?;
            }
        }
        Ok(())
    }

    /// Feeds one entry (metadata and data) to `sink`. Holes become `sink.hole`.
    pub fn send_entry(&self, i: usize, sink: &mut dyn Sink) -> Result<()> {
        let e = &self.index.entries[i];
        let mut run = || -> Result<()> {
            sink.begin(e)?;
            let mut storage = e.storage;
            if let Storage::Same { entry } = storage {
                // A sink that has the source's bytes already (an extractor that wrote it)
                // copies them; otherwise they are decoded again from the source's storage.
                let source = &self.index.entries[entry as usize];
                if sink.copy(source)? {
                    return sink.end(e);
                }
                storage = source.storage;
            }
            match storage {
                Storage::None | Storage::Same { .. } => {}
                Storage::Blocks { first, count } => {
                    for b in first..first + count {
                        let info = &self.index.blocks[b as usize];
                        if info.codec == codec::id::ZEROS {
                            // Checked like any block (header, payload, CRC by arithmetic),
                            // then written as a hole: never materialised.
                            let (info, payload) = self.block_record(b)?;
                            codec::zeros::check_block(
                                &payload,
                                info.raw_len as u64,
                                info.crc32,
                                b as u64,
                            )?;
                            sink.hole(info.raw_len as u64)?;
                        } else {
                            sink.data(&self.read_block(b)?)?;
                        }
                    }
                }
                Storage::Shared { block, offset } => {
                    let data = self.shared_block(block)?;
                    sink.data(&data[offset as usize..offset as usize + e.size as usize])?;
                }
            }
            sink.end(e)
        };
        run().map_err(|err| err.in_entry(&e.path))
    }

    /// A shared block, decoded once for all the small files that live in it (extraction reads
    /// them in a row; decoding a 1 MiB block per 2 kB file made unpack 10x slower than tar).
    fn shared_block(&self, n: u32) -> Result<Arc<Vec<u8>>> {
        let mut last = self.last_shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((m, data)) = last.as_ref() {
            if *m == n {
                return Ok(data.clone());
            }
        }
        let data = Arc::new(self.read_block(n)?);
        *last = Some((n, data.clone()));
        Ok(data)
    }

    /// Random-access reader over the entry at `path` (hard links resolve to their target).
    pub fn open_entry(&self, path: &str) -> Result<EntryReader<'_>> {
        let i = self
            .find(path)
            .ok_or_else(|| Error::NotFound { path: path.into() })?;
        self.open_entry_at(i)
    }

    /// Random-access reader over entry number `i`.
    pub fn open_entry_at(&self, i: usize) -> Result<EntryReader<'_>> {
        let i = self.content_of(i);
        let e = &self.index.entries[i];
        if e.kind != Kind::File {
            return Err(Error::InvalidArgument(format!(
                "{:?} is not a regular file",
                e.path
            )));
        }
        let mut starts = Vec::new();
        if let Storage::Blocks { first, count } = e.storage {
            let mut at = 0u64;
            for b in first..first + count {
                starts.push(at);
                at += self.index.blocks[b as usize].raw_len as u64;
            }
        }
        Ok(EntryReader {
            ar: self,
            entry: i,
            size: e.size,
            pos: 0,
            starts,
            cache: None,
        })
    }
}

/// Where byte `pos` of a file stored in blocks lies: `starts` are where each of its blocks
/// begins, less `base` (an entry's own offsets with `base` 0, or a slice of offsets over all
/// blocks with `base` its first); returns the block's index in `starts` and the offset in it.
/// The one lookup both [`EntryReader`] and the mount use. `pos` must lie in the file.
pub fn locate_in_blocks(starts: &[u64], base: u64, pos: u64) -> (usize, u64) {
    // starts[0] == base <= base + pos, so the partition point is at least 1.
    let k = starts.partition_point(|&s| s <= base + pos) - 1;
    (k, pos - (starts[k] - base))
}

/// `Read + Seek` over one file entry; decodes only the blocks it touches and keeps the last.
pub struct EntryReader<'a> {
    ar: &'a Archive,
    entry: usize,
    size: u64,
    pos: u64,
    /// Offset within the entry where each of its blocks starts (chunked storage).
    starts: Vec<u64>,
    cache: Option<(u32, Vec<u8>)>,
}

impl EntryReader<'_> {
    /// Length of the entry's content.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads at `pos` into `buf`, returning bytes read (0 at end).
    fn read_at(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let e = &self.ar.index.entries[self.entry];
        let (block, within, avail) = match e.storage {
            Storage::Blocks { first, .. } => {
                let (k, within) = locate_in_blocks(&self.starts, 0, self.pos);
                let raw = self.ar.index.blocks[first as usize + k].raw_len as u64;
                (first + k as u32, within as usize, (raw - within) as usize)
            }
            Storage::Shared { block, offset } => (
                block,
                (offset as u64 + self.pos) as usize,
                (self.size - self.pos) as usize,
            ),
            Storage::None | Storage::Same { .. } => return Ok(0),
        };
        if self.cache.as_ref().map(|c| c.0) != Some(block) {
            let data = self.ar.read_block(block).map_err(|x| x.in_entry(&e.path))?;
            self.cache = Some((block, data));
        }
        let data = &self.cache.as_ref().expect("just filled").1;
        let n = buf.len().min(avail);
        buf[..n].copy_from_slice(&data[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_at(buf).map_err(io::Error::other)
    }
}

impl Seek for EntryReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            )),
        }
    }
}

/// The cross-structure rules of §8.1, applied to a parsed index: first the layout (records
/// tile the body: this is what catches overlapping payloads), then the entries.
fn validate(
    index: &Index,
    groups: &[u32],
    index_offset: u64,
    file_len: u64,
    limits: Limits,
    reader_minor: u8,
) -> Result<()> {
    check_tiling(index, index_offset - 1, file_len)?;
    check_resources(index, reader_minor)?;
    for b in &index.blocks {
        b.check_version(reader_minor)?;
    }
    check_entries(index, groups, limits, reader_minor)
}

/// §4.3: the header declares the resources' version, and a block names only a resource
/// recorded before it.
fn check_resources(index: &Index, reader_minor: u8) -> Result<()> {
    for r in &index.resources {
        if r.reader_minor() > reader_minor {
            return Err(Error::VersionUnderstated {
                feature: "a resource record (zstd dictionary)",
                need_minor: r.reader_minor(),
                declared_minor: reader_minor,
            });
        }
    }
    for (n, b) in index.blocks.iter().enumerate() {
        if b.resource != NO_RESOURCE
            && index
                .resources
                .get(b.resource as usize)
                .is_none_or(|r| r.offset > b.offset)
        {
            return Err(Error::IndexMismatch {
                what: format!(
                    "block {n} names resource {}, not recorded before it",
                    b.resource
                ),
            });
        }
    }
    Ok(())
}

/// Checks a resource's payload against its record (CRC) and loads it (§4.3).
/// The random-access reader's archive-level checks (spec §8.0 phase 2: footer, index limit,
/// end tag, index CRC, index body, §8.1 steps 1-3) on what a streaming reader kept: the
/// header and the bytes from `start` to the end (`len` bytes in all). Returns the index.
pub(crate) fn check_tail(
    head: &[u8],
    start: u64,
    bytes: Vec<u8>,
    len: u64,
    limits: Limits,
) -> Result<Index> {
    let src = Source::Tail {
        head: head.to_vec(),
        start,
        bytes,
    };
    Ok(Archive::from_source(src, len, limits)?.index)
}

pub(crate) fn load_resource(info: &ResourceInfo, payload: &[u8]) -> Result<ZstdDict> {
    let computed = crc32fast::hash(payload);
    if computed != info.crc32 {
        return Err(Error::RecordCrc {
            offset: info.offset,
        });
    }
    ZstdDict::new(payload.to_vec())
}

fn check_tiling(index: &Index, end_tag: u64, file_len: u64) -> Result<()> {
    let mut extents: Vec<(u64, u64, String)> =
        Vec::with_capacity(index.groups.len() + index.blocks.len());
    for (n, b) in index.blocks.iter().enumerate() {
        extents.push((
            b.offset,
            b.offset.saturating_add(b.record_len()),
            format!("block {n}"),
        ));
    }
    for (n, g) in index.groups.iter().enumerate() {
        extents.push((
            g.offset,
            g.offset.saturating_add(g.record_len()),
            format!("entry group {n}"),
        ));
    }
    for (n, r) in index.resources.iter().enumerate() {
        extents.push((
            r.offset,
            r.offset.saturating_add(r.record_len()),
            format!("resource {n}"),
        ));
    }
    extents.sort_by_key(|x| x.0);
    let mut cur = HEADER_LEN as u64;
    for (start, end, what) in &extents {
        if *start >= file_len || *end > file_len {
            return Err(Error::OutOfRange {
                what: format!("{what} at {start}..{end} is past the end of the file"),
            });
        }
        if *start < cur || *end > end_tag {
            return Err(Error::Overlap {
                what: format!("{what} at {start}..{end} overlaps another record or the index"),
            });
        }
        if *start > cur {
            return Err(Error::IndexMismatch {
                what: format!("bytes {cur}..{start} belong to no record"),
            });
        }
        cur = *end;
    }
    if cur != end_tag {
        return Err(Error::IndexMismatch {
            what: format!("bytes {cur}..{end_tag} belong to no record"),
        });
    }
    // Tables list records in stream order (§6.2, §6.4).
    let increasing = |v: &[u64]| v.windows(2).all(|w| w[0] < w[1]);
    let block_offsets: Vec<u64> = index.blocks.iter().map(|b| b.offset).collect();
    let group_offsets: Vec<u64> = index.groups.iter().map(|g| g.offset).collect();
    if !increasing(&block_offsets) || !increasing(&group_offsets) {
        return Err(Error::IndexMismatch {
            what: "the index does not list records in stream order".into(),
        });
    }
    Ok(())
}

fn check_entries(index: &Index, groups: &[u32], limits: Limits, reader_minor: u8) -> Result<()> {
    let mut checker = EntryChecker::new(limits, reader_minor);
    let nb = index.blocks.len();
    // 0 = unowned, 1 = owned by a storage-1 entry, 2 = shared with members
    let mut owner = vec![0u8; nb];
    let mut shared_end: HashMap<u32, u64> = HashMap::new();
    for (i, e) in index.entries.iter().enumerate() {
        checker.add(e)?;
        let g = &index.groups[groups[i] as usize];
        let last_in_group = groups.get(i + 1) != Some(&groups[i]);
        let ctx = |err: Error| err.in_entry(&e.path);
        match e.storage {
            // Copies own no blocks; the checker has tied them to their source.
            Storage::None | Storage::Same { .. } => {}
            Storage::Blocks { first, count } => {
                if !last_in_group {
                    return Err(ctx(Error::IndexMismatch {
                        what: "an entry with blocks is not the last of its group".into(),
                    }));
                }
                let last = first as u64 + count as u64;
                if last > nb as u64 {
                    return Err(ctx(Error::OutOfRange {
                        what: format!("blocks {first}..{last} of {nb}"),
                    }));
                }
                let mut total = 0u64;
                let mut expect = g.offset.saturating_add(g.record_len());
                for b in first..first + count {
                    let info = &index.blocks[b as usize];
                    if owner[b as usize] != 0 {
                        return Err(ctx(Error::Overlap {
                            what: format!("block {b} is used by more than one entry"),
                        }));
                    }
                    owner[b as usize] = 1;
                    if info.offset != expect {
                        return Err(ctx(Error::IndexMismatch {
                            what: format!("block {b} does not follow its entry's group"),
                        }));
                    }
                    expect = info.offset.saturating_add(info.record_len());
                    if info.raw_len == 0 {
                        return Err(ctx(Error::SizeMismatch {
                            what: format!("block {b} is empty"),
                        }));
                    }
                    total += info.raw_len as u64;
                }
                if total != e.size {
                    return Err(ctx(Error::SizeMismatch {
                        what: format!("blocks hold {total} bytes, entry declares {}", e.size),
                    }));
                }
            }
            Storage::Shared { block, offset } => {
                let info = index.blocks.get(block as usize).ok_or_else(|| {
                    ctx(Error::OutOfRange {
                        what: format!("shared block {block} of {nb}"),
                    })
                })?;
                if owner[block as usize] == 1 {
                    return Err(ctx(Error::Overlap {
                        what: format!("block {block} is both owned and shared"),
                    }));
                }
                owner[block as usize] = 2;
                let next_after = index
                    .blocks
                    .get(block as usize + 1)
                    .is_none_or(|n| n.offset > g.offset);
                // The first group after the block is the entry's own: one shared block serves
                // one group (§4.2.1), as a streaming reader requires.
                let first_group = index.groups.partition_point(|x| x.offset <= info.offset);
                let its_group = index.groups.get(first_group).map(|x| x.offset) == Some(g.offset);
                if info.offset >= g.offset || !next_after || !its_group {
                    return Err(ctx(Error::IndexMismatch {
                        what: format!(
                            "shared block {block} is not the block before the entry's group"
                        ),
                    }));
                }
                let end = offset as u64 + e.size;
                if end > info.raw_len as u64 {
                    return Err(ctx(Error::SizeMismatch {
                        what: format!(
                            "slice {offset}+{} is past block {block}'s {} bytes",
                            e.size, info.raw_len
                        ),
                    }));
                }
                let prev = shared_end.entry(block).or_insert(0);
                if (offset as u64) < *prev {
                    return Err(ctx(Error::Overlap {
                        what: format!("slice of block {block} overlaps an earlier entry's"),
                    }));
                }
                *prev = end;
            }
        }
    }
    if let Some(n) = owner.iter().position(|&o| o == 0) {
        return Err(Error::IndexMismatch {
            what: format!("block {n} belongs to no entry"),
        });
    }
    Ok(())
}

//! Random-access reader: footer → index → any block, through a memory map or `pread`.
//!
//! `Archive::open` validates the whole index against §8 (tiling of records, block ownership,
//! sizes, paths, limits) before anything is read or written, so a hostile index is refused up
//! front. Payloads are read only when asked for, and each block is checked against its local
//! header and its CRC when decoded.
//!
//! Which source to use: the memory map (default) is fastest and serves stored blocks without
//! copies. A file truncated by someone else while mapped would raise SIGBUS; the mapping is
//! registered with [`super::sigbus`], which turns that into zero pages and the read
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

mod reader;
mod validate;

pub use reader::{locate_in_blocks, EntryReader};
use validate::validate;
pub(crate) use validate::{check_tail, load_resource};

/// How the archive bytes are reached.
pub enum Source {
    /// Memory-mapped, guarded against SIGBUS (see the module docs).
    Mmap(Mapped),
    /// Positional reads on an open file.
    Pread(File),
    /// Bytes already in memory (tests, fuzzing, small archives).
    Memory(Vec<u8>),
    /// What a streaming reader has kept of an archive: the header and the bytes from `start`
    /// to the end (the archive-level checks need nothing else).
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

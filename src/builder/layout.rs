//! The record layout both writers share — [`Builder`](super::Builder) for programs and
//! `yoz pack` — so the ordering rules of spec §4.2.1 live in one place.
//!
//! Entries are placed into entry groups in the order they arrive, except small files: they
//! are gathered into a shared block (one solid stream for the compressor), and only when that
//! block is written are they placed, in the group right after it, which the rules require
//! (`index-mismatch` otherwise). A hard link to such a file, or a copy of it, waits with it and
//! follows it in that group, since its target must come earlier. A file with blocks of its own
//! ends its group, and its blocks follow. Groups close at about [`GROUP_TARGET`] bytes of
//! entries.
//!
//! The layout emits [`Job`]s in archive order to a [`Sink`]: the builder encodes and writes
//! each at once, pack's pipeline hands them to worker threads and writes the results in the
//! same order, so the bytes are the same either way.

use crate::codec::dict::ZstdDict;
use crate::codec::{self, Choice};
use crate::container::format::{BlockInfo, Entry, GroupInfo, Storage, ENTRY_MIN_LEN, NO_RESOURCE};
use crate::container::RecordWriter;
use crate::error::Result;
use std::collections::HashSet;
use std::io::Write;

/// A record to encode, in archive order.
pub(crate) enum Job {
    Group(Vec<Entry>),
    /// A block of a file with blocks of its own.
    Block(Vec<u8>),
    /// A shared block of small files: compressed with the archive's dictionary, if any.
    Shared(Vec<u8>),
    /// A block of `n` zero bytes (a sparse hole), stored with the `zeros` codec.
    Zeros(u32),
}

/// An encoded record, ready for [`write_done`].
pub(crate) enum Done {
    Group(GroupInfo, Vec<u8>, Vec<Entry>),
    Block(BlockInfo, Vec<u8>),
}

/// Where the layout's jobs go.
pub(crate) trait Sink {
    fn send(&mut self, job: Job) -> Result<()>;
}

impl<F: FnMut(Job) -> Result<()>> Sink for F {
    fn send(&mut self, job: Job) -> Result<()> {
        self(job)
    }
}

/// A group is closed once its entries take about this many bytes (before compression).
pub(crate) const GROUP_TARGET: usize = 1 << 20;

/// Entries waiting for the shared block (its members, and links and copies of them) take at
/// most this many encoded bytes, so their group stays under the format's 16 MiB
/// (`GROUP_RAW_MAX`) with the open group beside them: a shared block of 64 MiB could otherwise
/// list a million one-byte files.
const PENDING_MAX: usize = 8 << 20;

/// An appended entry; its number in archive order is known once it is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(usize);

/// Not placed yet (in [`Layout::numbers`]).
const UNPLACED: u32 = u32::MAX;

/// The ordering state of one archive being written.
pub(crate) struct Layout<S> {
    sink: S,
    block_size: usize,
    /// Capacity of a shared block (pack makes it larger than a block at the ratio levels).
    solid_size: usize,
    /// Ordinal of the next block record.
    next_block: u32,
    /// The shared block being filled, and the entries whose bytes it holds.
    solid: Vec<u8>,
    members: Vec<(Entry, Ticket)>,
    member_names: HashSet<String>,
    /// Hard links and copies of members, placed after them, and hard links to those copies,
    /// placed after the copies.
    deferred_links: Vec<(Entry, Ticket)>,
    deferred_copies: Vec<(Entry, Ticket, Ticket)>,
    copy_names: HashSet<String>,
    links_to_copies: Vec<(Entry, Ticket)>,
    /// Encoded bytes of the entries above and of the members (see [`PENDING_MAX`]).
    pending_len: usize,
    /// The open group, and the approximate encoded size of its entries.
    group: Vec<Entry>,
    group_len: usize,
    /// Per ticket: its entry's number in archive order, or [`UNPLACED`].
    numbers: Vec<u32>,
    /// Entries placed so far.
    placed: u32,
    /// Blocks still to come for the last file with blocks of its own.
    owed: u64,
}

impl<S: Sink> Layout<S> {
    pub(crate) fn new(sink: S, block_size: usize, solid_size: usize) -> Self {
        Layout {
            sink,
            block_size,
            solid_size: solid_size.max(block_size),
            next_block: 0,
            solid: Vec::new(),
            members: Vec::new(),
            member_names: HashSet::new(),
            deferred_links: Vec::new(),
            deferred_copies: Vec::new(),
            copy_names: HashSet::new(),
            links_to_copies: Vec::new(),
            pending_len: 0,
            group: Vec::new(),
            group_len: 0,
            numbers: Vec::new(),
            placed: 0,
            owed: 0,
        }
    }

    /// Whether a file of `size` bytes goes into a shared block (else it has blocks of its own).
    pub(crate) fn shares(&self, size: u64) -> bool {
        size < self.block_size as u64
    }

    /// Bytes in a block of a file with blocks of its own (its last block may hold fewer).
    pub(crate) fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks written or announced so far.
    pub(crate) fn blocks(&self) -> u32 {
        self.next_block
    }

    /// An entry without bytes of its own: a directory, symlink, FIFO, device, empty file, or a
    /// copy whose storage is already set.
    pub(crate) fn entry(&mut self, e: Entry) -> Result<Ticket> {
        debug_assert!(!matches!(
            e.storage,
            Storage::Blocks { .. } | Storage::Shared { .. }
        ));
        let t = self.ticket();
        self.place(e, t);
        if self.group_len >= GROUP_TARGET {
            self.flush_group()?;
        }
        Ok(t)
    }

    /// A hard link: after its target, which may be waiting in the shared block, or be a copy
    /// of a file waiting there.
    pub(crate) fn link(&mut self, e: Entry) -> Result<()> {
        let to_member = self.member_names.contains(&e.target);
        if !to_member && !self.copy_names.contains(&e.target) {
            return self.entry(e).map(|_| ());
        }
        if self.would_overflow(&e) {
            // Writing the shared block places the target: the link follows it normally.
            self.flush_solid()?;
            return self.entry(e).map(|_| ());
        }
        self.pending_len += e.encoded_len();
        let t = self.ticket();
        if to_member {
            self.deferred_links.push((e, t));
        } else {
            self.links_to_copies.push((e, t));
        }
        Ok(())
    }

    /// A copy (storage 3) of the file appended as `source`.
    pub(crate) fn copy(&mut self, mut e: Entry, source: Ticket) -> Result<()> {
        if self.numbers[source.0] == UNPLACED && self.would_overflow(&e) {
            self.flush_solid()?;
        }
        match self.numbers[source.0] {
            UNPLACED => {
                self.pending_len += e.encoded_len();
                self.copy_names.insert(e.path.clone());
                let t = self.ticket();
                self.deferred_copies.push((e, source, t));
                Ok(())
            }
            entry => {
                e.storage = Storage::Same { entry };
                self.entry(e).map(|_| ())
            }
        }
    }

    /// Whether waiting entries plus `e` would pass [`PENDING_MAX`].
    fn would_overflow(&self, e: &Entry) -> bool {
        self.pending_len + e.encoded_len() > PENDING_MAX
    }

    /// A small file (see [`Self::shares`]) of `e.size` bytes, which `fill` writes into its
    /// place in the shared block.
    pub(crate) fn small(
        &mut self,
        mut e: Entry,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<Ticket> {
        let size = e.size as usize;
        debug_assert!(self.shares(e.size) && size > 0);
        if self.solid.len() + size > self.solid_size || self.would_overflow(&e) {
            self.flush_solid()?;
        }
        let offset = self.solid.len();
        self.solid.resize(offset + size, 0);
        if let Err(err) = fill(&mut self.solid[offset..]) {
            self.solid.truncate(offset);
            return Err(err);
        }
        e.storage = Storage::Shared {
            block: 0,
            offset: offset as u32,
        };
        let t = self.ticket();
        self.pending_len += e.encoded_len();
        self.member_names.insert(e.path.clone());
        self.members.push((e, t));
        Ok(t)
    }

    /// A file with blocks of its own: the entry closes its group, and the caller then sends
    /// its `ceil(size / block size)` blocks in order with [`Self::block`] and [`Self::zeros`].
    pub(crate) fn large(&mut self, mut e: Entry) -> Result<Ticket> {
        debug_assert_eq!(self.owed, 0);
        let count = e.size.div_ceil(self.block_size as u64);
        let first = self.next_block;
        let count32 = u32::try_from(count)
            .ok()
            .filter(|c| first.checked_add(*c).is_some())
            .ok_or(crate::error::Error::Limit {
                what: "blocks in an archive",
                got: u64::from(first) + count,
                max: u64::from(u32::MAX),
            })?;
        self.next_block += count32;
        e.storage = Storage::Blocks {
            first,
            count: count32,
        };
        let t = self.ticket();
        self.place(e, t);
        self.flush_group()?;
        self.owed = count;
        Ok(t)
    }

    /// A file's content from memory: shared or with blocks of its own, by its size.
    pub(crate) fn data(&mut self, mut e: Entry, data: &[u8]) -> Result<Ticket> {
        e.size = data.len() as u64;
        if self.shares(e.size) {
            return self.small(e, |slot| {
                slot.copy_from_slice(data);
                Ok(())
            });
        }
        let t = self.large(e)?;
        for chunk in data.chunks(self.block_size) {
            self.block(chunk.to_vec())?;
        }
        Ok(t)
    }

    /// The next block of the file announced by [`Self::large`].
    pub(crate) fn block(&mut self, raw: Vec<u8>) -> Result<()> {
        debug_assert!(self.owed > 0 && raw.len() <= self.block_size);
        self.owed -= 1;
        self.sink.send(Job::Block(raw))
    }

    /// The next block of the file announced by [`Self::large`], all zeros.
    pub(crate) fn zeros(&mut self, len: u32) -> Result<()> {
        debug_assert!(self.owed > 0 && len as usize <= self.block_size);
        self.owed -= 1;
        self.sink.send(Job::Zeros(len))
    }

    /// Writes what is pending: the shared block and the open group.
    pub(crate) fn flush(&mut self) -> Result<()> {
        debug_assert_eq!(self.owed, 0);
        self.flush_solid()?;
        self.flush_group()
    }

    /// Writes what is pending; returns the sink.
    pub(crate) fn finish(mut self) -> Result<S> {
        self.flush()?;
        Ok(self.sink)
    }

    fn ticket(&mut self) -> Ticket {
        self.numbers.push(UNPLACED);
        Ticket(self.numbers.len() - 1)
    }

    /// Appends an entry to the open group: its number in archive order is now fixed.
    fn place(&mut self, e: Entry, t: Ticket) {
        self.group_len += ENTRY_MIN_LEN + e.path.len() + e.target.len();
        self.numbers[t.0] = self.placed;
        self.placed += 1;
        self.group.push(e);
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.group.is_empty() {
            return Ok(());
        }
        self.group_len = 0;
        let g = std::mem::take(&mut self.group);
        self.sink.send(Job::Group(g))
    }

    /// Writes the shared block, then places its members and what waited for them, and closes
    /// their group: it must be the first group after the block (§4.2.1), so entries already in
    /// the open group ride along.
    fn flush_solid(&mut self) -> Result<()> {
        if self.members.is_empty() {
            return Ok(());
        }
        let block = self.next_block;
        self.next_block = block.checked_add(1).ok_or(crate::error::Error::Limit {
            what: "blocks in an archive",
            got: u64::from(block) + 1,
            max: u64::from(u32::MAX),
        })?;
        let data = std::mem::take(&mut self.solid);
        self.sink.send(Job::Shared(data))?;
        for (mut e, t) in std::mem::take(&mut self.members) {
            if let Storage::Shared { offset, .. } = e.storage {
                e.storage = Storage::Shared { block, offset };
            }
            self.place(e, t);
        }
        for (e, t) in std::mem::take(&mut self.deferred_links) {
            self.place(e, t);
        }
        for (mut e, source, t) in std::mem::take(&mut self.deferred_copies) {
            e.storage = Storage::Same {
                entry: self.numbers[source.0],
            };
            self.place(e, t);
        }
        for (e, t) in std::mem::take(&mut self.links_to_copies) {
            self.place(e, t);
        }
        self.member_names.clear();
        self.copy_names.clear();
        self.pending_len = 0;
        self.flush_group()
    }
}

/// One data block, encoded and described by its record header.
pub(crate) fn encode(
    raw: &[u8],
    choice: Choice,
    level: i32,
    dict: Option<(&ZstdDict, u32)>,
) -> Result<Done> {
    let enc = codec::encode_block_with(raw, choice, level, dict)?;
    let info = BlockInfo {
        offset: 0,
        codec: enc.codec,
        flags: 0,
        params: enc.params,
        resource: enc.resource,
        raw_len: raw.len() as u32,
        comp_len: enc.payload.len() as u32,
        crc32: crc32fast::hash(raw),
    };
    Ok(Done::Block(info, enc.payload))
}

/// Encodes one job; `dict`, when there is one, is resource 0 and serves shared blocks.
pub(crate) fn compress_job(
    job: Job,
    choice: Choice,
    level: i32,
    dict: Option<&ZstdDict>,
) -> Result<Done> {
    match job {
        Job::Group(entries) => {
            let (info, payload) = crate::container::writer::encode_group(&entries, level)?;
            Ok(Done::Group(info, payload, entries))
        }
        Job::Shared(raw) => encode(&raw, choice, level, dict.map(|d| (d, 0))),
        Job::Block(raw) => encode(&raw, choice, level, None),
        Job::Zeros(len) => {
            let mut h = crc32fast::Hasher::new();
            let z = [0u8; 65536];
            let mut left = len as usize;
            while left > 0 {
                let n = left.min(z.len());
                h.update(&z[..n]);
                left -= n;
            }
            let info = BlockInfo {
                offset: 0,
                codec: codec::id::ZEROS,
                flags: 0,
                params: 0,
                resource: NO_RESOURCE,
                raw_len: len,
                comp_len: 0,
                crc32: h.finalize(),
            };
            Ok(Done::Block(info, Vec::new()))
        }
    }
}

/// Writes an encoded record; returns the raw bytes of a block (0 for a group), for progress.
pub(crate) fn write_done<W: Write>(w: &mut RecordWriter<W>, d: Done) -> Result<u64> {
    match d {
        Done::Group(info, payload, entries) => w.group(info, &payload, entries).map(|_| 0),
        Done::Block(info, payload) => {
            let raw = u64::from(info.raw_len);
            w.block(info, &payload).map(|_| raw)
        }
    }
}

/// The builder's sink: each job encoded and written on the caller's thread.
pub(crate) struct Direct<W: Write> {
    pub(crate) w: RecordWriter<W>,
    pub(crate) choice: Choice,
    pub(crate) level: i32,
}

impl<W: Write> Sink for Direct<W> {
    fn send(&mut self, job: Job) -> Result<()> {
        let d = compress_job(job, self.choice, self.level, None)?;
        write_done(&mut self.w, d).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::format::Kind;

    fn entry(path: &str, kind: Kind, size: u64) -> Entry {
        Entry {
            size,
            ..Entry::new(path, kind)
        }
    }

    fn file(path: &str, size: u64) -> Entry {
        entry(path, Kind::File, size)
    }

    /// What a layout emitted: groups as (path, storage) lists, blocks as their lengths.
    #[derive(Debug, PartialEq)]
    enum Rec {
        Group(Vec<(String, Storage)>),
        Block(usize),
        Shared(usize),
    }

    fn run(f: impl FnOnce(&mut Layout<&mut dyn FnMut(Job) -> Result<()>>)) -> Vec<Rec> {
        let mut out = Vec::new();
        let mut sink = |job: Job| -> Result<()> {
            out.push(match job {
                Job::Group(g) => Rec::Group(g.into_iter().map(|e| (e.path, e.storage)).collect()),
                Job::Block(b) => Rec::Block(b.len()),
                Job::Shared(b) => Rec::Shared(b.len()),
                Job::Zeros(n) => Rec::Block(n as usize),
            });
            Ok(())
        };
        let mut l: Layout<&mut dyn FnMut(Job) -> Result<()>> = Layout::new(&mut sink, 100, 100);
        f(&mut l);
        l.finish().unwrap();
        out
    }

    #[test]
    fn small_files_and_what_names_them_follow_their_shared_block() {
        let recs = run(|l| {
            let a = l.small(file("a", 10), |_| Ok(())).unwrap();
            let mut link = entry("link", Kind::Hardlink, 0);
            link.target = "a".into();
            l.link(link).unwrap();
            l.copy(file("copy", 10), a).unwrap();
            let big = l.large(file("big", 250)).unwrap();
            for n in [100, 100, 50] {
                l.block(vec![0; n]).unwrap();
            }
            l.copy(file("big-copy", 250), big).unwrap();
            l.entry(entry("dir", Kind::Dir, 0)).unwrap();
        });
        let shared = |offset| Storage::Shared { block: 3, offset };
        assert_eq!(
            recs,
            [
                Rec::Group(vec![("big".into(), Storage::Blocks { first: 0, count: 3 })]),
                Rec::Block(100),
                Rec::Block(100),
                Rec::Block(50),
                Rec::Shared(10),
                // The open group rides along with the members: one group after their block.
                Rec::Group(vec![
                    ("big-copy".into(), Storage::Same { entry: 0 }),
                    ("dir".into(), Storage::None),
                    ("a".into(), shared(0)),
                    ("link".into(), Storage::None),
                    ("copy".into(), Storage::Same { entry: 3 }),
                ]),
            ]
        );
    }

    #[test]
    fn a_full_shared_block_is_written_before_the_next_small_file() {
        let recs = run(|l| {
            assert!(l.shares(99) && !l.shares(100));
            l.small(file("a", 60), |_| Ok(())).unwrap();
            l.small(file("b", 40), |_| Ok(())).unwrap();
            l.small(file("c", 1), |_| Ok(())).unwrap();
            // A failing fill leaves nothing behind.
            let e = l.small(file("d", 5), |_| {
                Err(crate::error::Error::InvalidArgument("x".into()))
            });
            assert!(e.is_err());
        });
        assert_eq!(
            recs,
            [
                Rec::Shared(100),
                Rec::Group(vec![
                    (
                        "a".into(),
                        Storage::Shared {
                            block: 0,
                            offset: 0
                        }
                    ),
                    (
                        "b".into(),
                        Storage::Shared {
                            block: 0,
                            offset: 60
                        }
                    ),
                ]),
                Rec::Shared(1),
                Rec::Group(vec![(
                    "c".into(),
                    Storage::Shared {
                        block: 1,
                        offset: 0
                    }
                )]),
            ]
        );
    }

    #[test]
    fn a_hard_link_to_a_waiting_copy_follows_the_copy() {
        let recs = run(|l| {
            let a = l.small(file("a", 10), |_| Ok(())).unwrap();
            l.copy(file("b", 10), a).unwrap();
            let mut c = entry("c", Kind::Hardlink, 0);
            c.target = "b".into();
            l.link(c).unwrap();
        });
        assert_eq!(
            recs,
            [
                Rec::Shared(10),
                Rec::Group(vec![
                    (
                        "a".into(),
                        Storage::Shared {
                            block: 0,
                            offset: 0
                        }
                    ),
                    ("b".into(), Storage::Same { entry: 0 }),
                    ("c".into(), Storage::None),
                ]),
            ]
        );
    }

    /// A million one-byte files would fit one 64 MiB shared block, but not one group (16 MiB):
    /// the block is written once its waiting entries reach `PENDING_MAX`.
    #[test]
    fn waiting_entries_never_outgrow_a_group() {
        let mut groups = Vec::new();
        let mut shared = 0;
        let mut sink = |job: Job| -> Result<()> {
            match job {
                Job::Group(g) => groups.push(crate::container::format::group_bytes(&g).len()),
                Job::Shared(_) => shared += 1,
                _ => {}
            }
            Ok(())
        };
        let mut l = Layout::new(&mut sink, 1 << 20, 64 << 20);
        for i in 0..200_000 {
            l.small(file(&format!("dir/file-{i:06}"), 1), |_| Ok(()))
                .unwrap();
        }
        l.finish().unwrap();
        assert_eq!(shared, 2);
        assert!(
            groups.iter().all(|&n| n <= PENDING_MAX + GROUP_TARGET),
            "{groups:?}"
        );
        assert!(
            groups
                .iter()
                .all(|&n| n <= crate::container::format::GROUP_RAW_MAX),
            "{groups:?}"
        );
    }
}

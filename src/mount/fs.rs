//! The FUSE file system: requests answered from the tree and from blocks decoded on demand.

use super::*;
use std::os::unix::ffi::OsStrExt;

/// The file system: the tree built from the index, and the data side shared with the
/// prefetch workers.
pub(super) struct ArchiveFs {
    pub(super) data: Arc<Data>,
    /// Indexed by inode number; `None` for the numbers hard links leave unused.
    pub(super) nodes: Vec<Option<Node>>,
    /// Blocks for the prefetch workers to decode ahead of a sequential reader (`None` when
    /// the cache is too small to keep what they decode).
    pub(super) prefetch: Option<crossbeam_channel::Sender<u32>>,
    /// Bytes of file content and number of inodes, for statfs (`df`).
    pub(super) totals: (u64, u64),
    /// Open handles of image entries → the decoded image they hold (see [`Images`]).
    pub(super) handles: Mutex<HashMap<u64, Arc<Vec<u8>>>>,
    pub(super) next_fh: std::sync::atomic::AtomicU64,
}

/// The archive and everything that turns its blocks into file bytes.
pub(super) struct Data {
    pub(super) ar: Archive,
    /// `starts[b]`: where block `b` would begin if all blocks were laid end to end; locates an
    /// entry offset in its run of blocks with one binary search.
    pub(super) starts: Vec<u64>,
    pub(super) cache: BlockCache,
    /// Bad blocks already reported, so a retrying reader does not flood the log.
    pub(super) reported: Mutex<HashSet<u32>>,
    /// Decoded PNGs of lossy image entries.
    pub(super) images: Images,
    /// How they are decoded.
    pub(super) decode: crate::image::codec::DecodeOptions,
}

/// Threads decoding blocks ahead of sequential readers. Two keep one core decoding while the
/// other serves FUSE requests, without starving random readers on small machines.
pub(super) const PREFETCH_WORKERS: usize = 2;
/// How many blocks past the one being read a sequential reader gets decoded ahead.
pub(super) const PREFETCH_DEPTH: u32 = 2;
/// How far past the block being read a sequential reader's compressed bytes are asked from
/// the disk (`MADV_WILLNEED`), so that cold reads do not wait on one page fault at a time.
pub(super) const DISK_AHEAD_BYTES: u64 = 4 << 20;

impl ArchiveFs {
    pub(super) fn new(
        ar: Archive,
        cache_bytes: u64,
        image_bytes: usize,
        decode: crate::image::codec::DecodeOptions,
        stamp: SystemTime,
    ) -> Self {
        let nodes = build_tree(&ar, stamp);
        let mut starts = Vec::with_capacity(ar.blocks().len() + 1);
        let mut at = 0u64;
        let mut largest = 0u64;
        for b in ar.blocks() {
            starts.push(at);
            at += b.raw_len as u64;
            largest = largest.max(b.raw_len as u64);
        }
        starts.push(at);
        let data = Arc::new(Data {
            ar,
            starts,
            cache: BlockCache::new(cache_bytes),
            reported: Mutex::new(HashSet::new()),
            images: Images::new(image_bytes),
            decode,
        });
        // Prefetching only pays if the cache keeps the blocks until the reader gets there.
        let prefetch = (cache_bytes >= largest * 4 * (PREFETCH_DEPTH as u64 + 1)).then(|| {
            let (tx, rx) = crossbeam_channel::bounded::<u32>(64);
            for k in 0..PREFETCH_WORKERS {
                let (rx, data) = (rx.clone(), data.clone());
                // A worker that fails to start only costs speed.
                let _ = std::thread::Builder::new()
                    .name(format!("yoz-prefetch-{k}"))
                    .spawn(move || {
                        // Ends when the file system (the sender) is dropped. Errors are left
                        // for the reader that needs the block, which reports them.
                        for n in rx {
                            let _ = data.block(n);
                        }
                    });
            }
            tx
        });
        let totals = (
            data.ar.entries().iter().map(|e| e.size).sum(),
            nodes.iter().flatten().count() as u64,
        );
        ArchiveFs {
            data,
            nodes,
            prefetch,
            totals,
            handles: Mutex::new(HashMap::new()),
            next_fh: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// A handle for opening file entry `entry`: one of its own for an image entry, which holds
    /// the decoded image from its first read until it is released; 0 otherwise.
    pub(super) fn open_file(&self, entry: usize) -> u64 {
        if self.data.ar.entries()[entry].image.is_none() {
            return 0;
        }
        self.next_fh
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads through handle `fh` (from [`ArchiveFs::open_file`]).
    pub(super) fn read_file(&self, fh: u64, entry: usize, offset: u64, len: u32) -> ReadResult<'_> {
        if let (true, Some(info)) = (fh != 0, &self.data.ar.entries()[entry].image) {
            if !lock(&self.handles).contains_key(&fh) {
                let png = self.data.image_png(entry, info).map_err(|e| (None, e))?;
                lock(&self.handles).insert(fh, png);
            }
        }
        self.data.read(entry, offset, len)
    }

    pub(super) fn release_file(&self, fh: u64) {
        lock(&self.handles).remove(&fh);
    }

    /// The extended attributes of inode `ino` (an entry's own inode, §4.2.3; none for the
    /// directories only paths imply); `None` when there is no such inode.
    pub(super) fn xattrs(&self, ino: INodeNo) -> Option<&[(String, Vec<u8>)]> {
        self.node(ino)?;
        let entries = self.data.ar.entries();
        let i = usize::try_from(ino.0).ok()?.checked_sub(2);
        Some(
            i.and_then(|i| entries.get(i))
                .map_or(&[], |e| &e.xattrs[..]),
        )
    }

    pub(super) fn node(&self, ino: INodeNo) -> Option<&Node> {
        self.nodes.get(usize::try_from(ino.0).ok()?)?.as_ref()
    }

    pub(super) fn child(&self, parent: INodeNo, name: &OsStr) -> std::result::Result<&Node, Errno> {
        let Some(Node {
            what: What::Dir { children, .. },
            ..
        }) = self.node(parent)
        else {
            return Err(Errno::ENOTDIR);
        };
        let name = name.as_bytes();
        let k = children
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .map_err(|_| Errno::ENOENT)?;
        self.node(INodeNo(children[k].1)).ok_or(Errno::ENOENT)
    }

    /// Directory listing with `.` and `..` first; the offset of an item is its position + 1.
    pub(super) fn listing(&self, ino: INodeNo) -> std::result::Result<Vec<(u64, &OsStr)>, Errno> {
        match self.node(ino) {
            Some(Node {
                what: What::Dir { parent, children },
                ..
            }) => {
                let mut v = Vec::with_capacity(children.len() + 2);
                v.push((ino.0, OsStr::new(".")));
                v.push((*parent, OsStr::new("..")));
                v.extend(children.iter().map(|(n, i)| (*i, OsStr::from_bytes(n))));
                Ok(v)
            }
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }
}

impl Data {
    /// Block `n`, decoded and checked, from the cache. A stored block is a private copy too:
    /// bytes served from the map after one check could change under the mount unnoticed.
    pub(super) fn block(&self, n: u32) -> Result<Arc<Vec<u8>>> {
        let info = *self.ar.blocks().get(n as usize).ok_or(Error::OutOfRange {
            what: format!("block {n}"),
        })?;
        let slot = self.cache.slot(n, info.raw_len as u64);
        // Holding the slot while decoding makes other readers of this block wait for the result
        // instead of decoding it again.
        let mut held = lock(&slot);
        if let Some(d) = &*held {
            return Ok(d.clone());
        }
        match self.ar.read_block(n) {
            Ok(data) => {
                let d = Arc::new(data);
                *held = Some(d.clone());
                Ok(d)
            }
            Err(e) => {
                drop(held);
                self.cache.forget(n);
                Err(e)
            }
        }
    }

    /// Bytes `offset..offset + len` of file entry `i` (fewer at the end of the file), and the
    /// blocks worth decoding ahead. An error carries the block it happened in.
    pub(super) fn read(&self, i: usize, offset: u64, len: u32) -> ReadResult<'_> {
        let none = |bytes| Ok(ReadOut { bytes, ahead: 0..0 });
        let e = &self.ar.entries()[i];
        if let Some(info) = &e.image {
            let png = self.image_png(i, info).map_err(|e| (None, e))?;
            let start = (offset as usize).min(png.len());
            let end = start.saturating_add(len as usize).min(png.len());
            return none(Bytes::Part(png, start..end));
        }
        let end = offset.saturating_add(len as u64).min(e.size);
        if offset >= end {
            return none(Bytes::Slice(&[]));
        }
        // A copy (storage 3) reads its source's storage; both have the same size.
        let e = &self.ar.entries()[self.ar.content_of(i)];
        match e.storage {
            Storage::None | Storage::Same { .. } => none(Bytes::Slice(&[])),
            Storage::Shared { block, offset: at } => {
                let data = self.block(block).map_err(|e| (Some(block), e))?;
                let range = (at as u64 + offset) as usize..(at as u64 + end) as usize;
                none(Bytes::of(data, range, block).map_err(|e| (Some(block), e))?)
            }
            Storage::Blocks { first, count } => {
                let (first, count) = (first as usize, count as usize);
                let starts = self.starts.get(first..first + count).ok_or_else(|| {
                    let what = format!("blocks {first}+{count}");
                    (None, Error::OutOfRange { what })
                })?;
                let base = starts[0];
                let (k0, _) = crate::container::archive::locate_in_blocks(starts, base, offset);
                let mut k = k0;
                let mut pos = offset;
                let mut out: Option<Vec<u8>> = None;
                loop {
                    let b = (first + k) as u32;
                    let at = |e| (Some(b), e);
                    let within = pos - (starts[k] - base);
                    let raw = self.ar.blocks()[first + k].raw_len as u64;
                    let n = (end - pos).min(raw - within);
                    let range = within as usize..(within + n) as usize;
                    let data = self.block(b).map_err(at)?;
                    pos += n;
                    let bytes = if pos == end && out.is_none() {
                        // The whole read lies in one block: reply straight from it.
                        Bytes::of(data, range, b).map_err(at)?
                    } else {
                        let buf =
                            out.get_or_insert_with(|| Vec::with_capacity((end - offset) as usize));
                        buf.extend_from_slice(data.get(range).ok_or(short(b)).map_err(at)?);
                        if pos < end {
                            k += 1;
                            continue;
                        }
                        Bytes::Owned(out.take().unwrap_or_default())
                    };
                    // A reader that starts at the beginning of the file, spans blocks, or
                    // starts this block right after reading the one before is sequential:
                    // decode the next blocks for it. (Random readers hit a block start only
                    // now and then, and a block before that happens to be cached rarer still.)
                    let at_block_start = offset == starts[k0] - base;
                    let sequential =
                        offset == 0 || k > k0 || (at_block_start && k > 0 && self.present(b - 1));
                    let last = (first + count) as u32;
                    let ahead = if sequential {
                        self.disk_ahead(b + 1, last);
                        b + 1..(b + 1 + PREFETCH_DEPTH).min(last)
                    } else {
                        0..0
                    };
                    return Ok(ReadOut { bytes, ahead });
                }
            }
        }
    }

    /// The decoded PNG of lossy image entry `i` (see [`Images`]).
    pub(super) fn image_png(
        &self,
        i: usize,
        info: &crate::container::format::ImageInfo,
    ) -> Result<Arc<Vec<u8>>> {
        self.images.get(i, || {
            let mut blob = Vec::new();
            let mut r = self.ar.open_entry_at(i)?;
            std::io::Read::read_to_end(&mut r, &mut blob)
                .map_err(|e| Error::io("reading image", e))?;
            crate::image::entry::png_bytes(&blob, info, &self.decode)
        })
    }

    /// Hints the kernel to read blocks `from..` (up to `end`, at most [`DISK_AHEAD_BYTES`] of
    /// records) from disk.
    pub(super) fn disk_ahead(&self, from: u32, end: u32) {
        let blocks = self.ar.blocks();
        let mut to = from;
        let mut bytes = 0u64;
        while to < end && bytes < DISK_AHEAD_BYTES {
            bytes += blocks[to as usize].record_len();
            to += 1;
        }
        if to > from {
            self.ar.will_need(from..to);
        }
    }

    /// Whether block `n` is decoded (or being decoded).
    pub(super) fn present(&self, n: u32) -> bool {
        self.cache.contains(n)
    }

    /// Logs a failed read, once per bad block.
    pub(super) fn report(&self, path: &str, block: Option<u32>, err: &Error) {
        if let Some(b) = block {
            if !lock(&self.reported).insert(b) {
                return;
            }
        }
        let mut msg = err.to_string();
        let mut src = std::error::Error::source(err);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        eprintln!(
            "yoz mount: error[{}]: reading {path:?}: {msg} (EIO)",
            err.class()
        );
    }
}

pub(super) fn short(block: u32) -> Error {
    Error::SizeMismatch {
        what: format!("block {block} is shorter than its index row says"),
    }
}

/// A read's bytes and the blocks to decode ahead of the reader.
pub(super) struct ReadOut<'a> {
    pub(super) bytes: Bytes<'a>,
    pub(super) ahead: std::ops::Range<u32>,
}

/// What [`Data::read`] returns; an error carries the block it happened in, if any.
pub(super) type ReadResult<'a> = std::result::Result<ReadOut<'a>, (Option<u32>, Error)>;

/// What a read replies with.
pub(super) enum Bytes<'a> {
    Slice(&'a [u8]),
    Part(Arc<Vec<u8>>, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl<'a> Bytes<'a> {
    pub(super) fn of(v: Arc<Vec<u8>>, r: std::ops::Range<usize>, n: u32) -> Result<Self> {
        match v.get(r.clone()) {
            Some(_) => Ok(Bytes::Part(v, r)),
            None => Err(short(n)),
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Slice(s) => s,
            Bytes::Part(v, r) => &v[r.clone()],
            Bytes::Owned(v) => v,
        }
    }
}

impl fuser::Filesystem for ArchiveFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Each is optional: an older kernel without one still mounts, just with more requests.
        for flag in [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_PARALLEL_DIROPS,
        ] {
            let _ = config.add_capabilities(flag);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.child(parent, name) {
            Ok(n) => reply.entry(&TTL, &n.attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.node(ino) {
            Some(n) => reply.attr(&TTL, &n.attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let Some(x) = self.xattrs(ino) else {
            return reply.error(Errno::ENOENT);
        };
        match x.iter().find(|(n, _)| n.as_bytes() == name.as_bytes()) {
            None => reply.error(Errno::NO_XATTR),
            Some((_, v)) => xattr_reply(v, size, reply),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let Some(x) = self.xattrs(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let mut list = Vec::new();
        for (n, _) in x {
            list.extend_from_slice(n.as_bytes());
            list.push(0);
        }
        xattr_reply(&list, size, reply)
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino) {
            Some(Node {
                what: What::Symlink { target },
                ..
            }) => reply.data(target),
            Some(_) => reply.error(Errno::EINVAL),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.node(ino).map(|n| &n.what) {
            Some(What::File { .. }) if flags.acc_mode() != OpenAccMode::O_RDONLY => {
                reply.error(Errno::EROFS)
            }
            Some(What::File { entry }) => reply.opened(
                FileHandle(self.open_file(*entry)),
                FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Some(What::Dir { .. }) => reply.error(Errno::EISDIR),
            Some(What::Symlink { .. }) => reply.error(Errno::ELOOP),
            Some(What::Special) => reply.error(Errno::ENXIO),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(Node {
            what: What::File { entry },
            ..
        }) = self.node(ino)
        else {
            return reply.error(Errno::EINVAL);
        };
        match self.read_file(fh.0, *entry, offset, size) {
            Ok(out) => {
                if let Some(tx) = &self.prefetch {
                    for n in out.ahead.filter(|&n| !self.data.present(n)) {
                        // A full queue means the workers are busy: skip, the reader decodes.
                        let _ = tx.try_send(n);
                    }
                }
                reply.data(out.bytes.as_slice());
            }
            Err((block, e)) => {
                self.data
                    .report(&self.data.ar.entries()[*entry].path, block, &e);
                reply.error(Errno::EIO)
            }
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.release_file(fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.node(ino).map(|n| &n.what) {
            Some(What::Dir { .. }) => reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
            ),
            Some(_) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let list = match self.listing(ino) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        for (k, (child, name)) in list.iter().enumerate().skip(offset as usize) {
            let kind = self
                .node(INodeNo(*child))
                .map_or(FileType::Directory, |n| n.attr.kind);
            if reply.add(INodeNo(*child), k as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let list = match self.listing(ino) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        for (k, (child, name)) in list.iter().enumerate().skip(offset as usize) {
            let Some(n) = self.node(INodeNo(*child)) else {
                continue;
            };
            if reply.add(
                INodeNo(*child),
                k as u64 + 1,
                name,
                &TTL,
                &n.attr,
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let (bytes, files) = self.totals;
        reply.statfs(
            bytes.div_ceil(BLKSIZE as u64),
            0,
            0,
            files,
            0,
            BLKSIZE,
            NAME_MAX,
            BLKSIZE,
        );
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: fuser::AccessFlags, reply: ReplyEmpty) {
        if self.node(ino).is_none() {
            reply.error(Errno::ENOENT)
        } else if mask.contains(fuser::AccessFlags::W_OK) {
            reply.error(Errno::EROFS)
        } else {
            reply.ok()
        }
    }
}

/// Answers an xattr request for `value`: its size when asked with `size` 0, the bytes when they
/// fit, `ERANGE` when they do not.
fn xattr_reply(value: &[u8], size: u32, reply: ReplyXattr) {
    if size == 0 {
        reply.size(value.len() as u32)
    } else if value.len() <= size as usize {
        reply.data(value)
    } else {
        reply.error(Errno::ERANGE)
    }
}

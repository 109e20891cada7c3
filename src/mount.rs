//! `yoz mount`: a read-only FUSE file system over a memory-mapped archive.
//!
//! The whole tree is built from the index when the mount starts, so `ls -lR` never touches a
//! block: sizes, modes, owners, mtimes and symlink targets all come from the entries. Data is
//! read on demand: a `read(offset, len)` decodes only the blocks that overlap it, keeps decoded
//! blocks in a small LRU cache (so a sequential reader decodes each block once, even when the
//! kernel's readahead splits it over several FUSE threads). Stored blocks go through the same
//! cache as checked private copies, so bytes rewritten in the archive later are never served
//! unchecked, and a truncated archive gives EIO (the map's SIGBUS guard, `container::sigbus`). A reader going through a file in order
//! gets the next blocks decoded ahead of it by two prefetch workers, and their compressed bytes
//! requested from the disk (`MADV_WILLNEED`), since the kernel sends FUSE only 128 KiB of
//! readahead at a time. Nothing ever changes under the mount, so attributes and directory
//! entries carry long timeouts and the kernel keeps its page cache.
//!
//! Inode numbers are stable for a given archive: the root is 1, entry `i` (index order) is
//! `i + 2`, a hard link shares its target's inode, and directories that only appear as path
//! prefixes are numbered after all entries, in the order they are first met.
//!
//! A bad block (CRC mismatch, corrupt payload) fails only the reads that need it, with `EIO`
//! and one line on stderr per block; the mount stays up and the other files stay readable.
//!
//! The few system calls std does not wrap (signal masks, `umount2`, `dup2`) live in `sys`.

use crate::container::{Archive, Entry, Kind, Storage};
use crate::error::{Error, IoContext, Result};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, MountOption, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, Request,
    SessionACL,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default budget of the decoded-block cache: 64 MiB (64 blocks of the default 1 MiB).
pub const CACHE_BYTES_DEFAULT: u64 = 64 << 20;
/// Default number of FUSE worker threads. Reads of different blocks decode in parallel; more
/// threads than this mostly wait on the same cores.
pub const THREADS_DEFAULT: usize = 4;
/// What a background daemon prints on stdout once its mount answers requests.
pub const READY_LINE: &str = "yoz-mount-ready";

/// Attribute and entry timeout. The archive cannot change under the mount, so the kernel may
/// keep what it learnt for as long as it likes.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// `st_blksize` reported for files: large enough that `cp`/`cat` ask for big reads.
const BLKSIZE: u32 = 128 << 10;
/// Inode of the root directory (fixed by FUSE).
const ROOT: u64 = 1;
/// Longest name in a directory (spec §3).
const NAME_MAX: u32 = 255;

/// How to serve a mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Budget of the decoded-block cache, in bytes of decoded data (at least one block is
    /// always kept, whatever the budget).
    pub cache_bytes: u64,
    /// FUSE worker threads (at least 1).
    pub threads: usize,
    /// Let users other than the one mounting read the file system (`allow_other`).
    pub allow_other: bool,
    /// Positional reads instead of a memory map.
    pub no_mmap: bool,
    /// Background mode (the daemon [`spawn_daemon`] starts); `None` stays in the foreground
    /// with stdout and stderr untouched.
    pub detach: Option<Detach>,
    /// How lossy image entries are decoded when read.
    pub decode: crate::image::codec::DecodeOptions,
}

/// What a background daemon does once its mount is ready: print [`READY_LINE`] on stdout,
/// move stdout and stderr to `log` (`None`: /dev/null) and leave the working directory.
#[derive(Debug, Clone, Default)]
pub struct Detach {
    /// Where errors (bad blocks) go from then on.
    pub log: Option<PathBuf>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            cache_bytes: CACHE_BYTES_DEFAULT,
            threads: THREADS_DEFAULT,
            allow_other: false,
            no_mmap: false,
            detach: None,
            decode: Default::default(),
        }
    }
}

/// Mounts `archive` read-only at `mountpoint` and serves it until it is unmounted (`yoz
/// umount`, `umount`) or the process gets SIGINT, SIGTERM or SIGHUP, which unmount first so no
/// dead "Transport endpoint is not connected" mount is left behind.
pub fn mount(archive: &Path, mountpoint: &Path, opts: &MountOptions) -> Result<()> {
    // Block the stop signals before any thread starts (prefetch workers, fuser's workers), so
    // that they all inherit the mask and only the watcher thread below ever receives them.
    // Dropping the mask (on any return) restores the caller's.
    let mask = sys::SignalMask::block()?;
    let ar = Archive::open_with(
        archive,
        crate::container::OpenOptions {
            mmap: !opts.no_mmap,
            ..Default::default()
        },
    )?;
    let stamp = std::fs::metadata(archive)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    let fs = ArchiveFs::new(
        ar,
        opts.cache_bytes,
        IMAGES_CACHED_BYTES,
        opts.decode,
        stamp,
    );

    // `allow_other` comes from the ACL below: fuser adds the option itself.
    let options = vec![
        MountOption::RO,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::DefaultPermissions,
        MountOption::FSName(archive.display().to_string()),
        MountOption::Subtype("yoz".into()),
    ];
    let mut config = fuser::Config::default();
    config.mount_options = options;
    config.acl = if opts.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    config.n_threads = Some(opts.threads.max(1));
    config.clone_fd = true;

    let mp_ctx = || format!("mounting {}", mountpoint.display());
    let mut session = fuser::Session::new(fs, mountpoint, &config).ctx(mp_ctx)?;
    let watcher = SignalWatcher::start(mask, session.unmount_callable(), mountpoint)?;
    if let Some(d) = &opts.detach {
        detach_stdio(d.log.as_deref())?;
    }
    let res = session
        .run()
        .ctx(|| format!("serving {}", mountpoint.display()));
    watcher.stop();
    res
}

/// Unmounts a yoz (or any) mount. As root this is `umount2(2)`; otherwise, like libfuse, it
/// goes through the setuid `fusermount3 -u` (Debian package `fuse3`). `lazy` detaches a busy
/// mount now and lets the daemon finish when the last open file is closed.
pub fn unmount(mountpoint: &Path, lazy: bool) -> Result<()> {
    match sys::umount(mountpoint, lazy) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let mut cmd = Command::new("fusermount3");
            cmd.arg("-u");
            if lazy {
                cmd.arg("-z");
            }
            let status = cmd
                .arg("--")
                .arg(mountpoint)
                .status()
                .ctx(|| "running fusermount3 (package fuse3) to unmount as non-root".into())?;
            if status.success() {
                Ok(())
            } else {
                Err(Error::io(
                    format!("unmounting {}", mountpoint.display()),
                    io::Error::other(format!("fusermount3 -u failed ({status})")),
                ))
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(Error::InvalidArgument(format!(
            "{} is not a mount point",
            mountpoint.display()
        ))),
        Err(e) => Err(Error::io(format!("unmounting {}", mountpoint.display()), e)),
    }
}

/// Starts `exe` with `args` (a `yoz mount` command line that sets [`MountOptions::detach`]) as
/// a background daemon in its own process group, and returns once it reports the mount ready.
/// Until then the daemon writes its errors to our stderr; if it exits instead, so do we, with
/// an error.
pub fn spawn_daemon(exe: &Path, args: &[OsString]) -> Result<()> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .ctx(|| format!("starting {}", exe.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        // EOF (or an error) means the daemon is gone before it was ready.
        let _ = io::BufReader::new(out).read_line(&mut line);
    }
    if line.trim_end() == READY_LINE {
        // The daemon lives on; it is reaped by whoever inherits it.
        return Ok(());
    }
    let status = child.wait().ctx(|| "waiting for the mount daemon".into())?;
    Err(Error::io(
        "starting the mount daemon",
        io::Error::other(format!("it exited ({status}) before the mount was ready")),
    ))
}

/// Tells the parent the mount is up and lets go of its stdout, stderr and working directory,
/// so that nothing the parent (a shell, a test harness) waits on stays open.
fn detach_stdio(log: Option<&Path>) -> Result<()> {
    let sink = match log {
        Some(p) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ctx(|| format!("opening log {}", p.display()))?,
        None => std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ctx(|| "opening /dev/null".into())?,
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{READY_LINE}")
        .and_then(|()| out.flush())
        .ctx(|| "telling the parent the mount is ready".into())?;
    drop(out);
    sys::redirect_stdio(&sink).ctx(|| "redirecting stdout and stderr".into())?;
    std::env::set_current_dir("/").ctx(|| "leaving the working directory".into())
}

/// Waits for SIGINT, SIGTERM or SIGHUP on its own thread and unmounts when one comes; the
/// unmount makes the FUSE threads see ENODEV and `Session::run` return.
struct SignalWatcher {
    mask: Arc<sys::SignalMask>,
    stopping: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl SignalWatcher {
    fn start(
        mask: sys::SignalMask,
        mut unmounter: fuser::SessionUnmounter,
        mountpoint: &Path,
    ) -> Result<Self> {
        let mask = Arc::new(mask);
        let stopping = Arc::new(AtomicBool::new(false));
        let (m, s) = (mask.clone(), stopping.clone());
        let mp = mountpoint.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("yoz-signals".into())
            .spawn(move || loop {
                let sig = m.wait();
                if s.load(Ordering::SeqCst) {
                    return;
                }
                eprintln!("yoz mount: signal {sig}, unmounting {}", mp.display());
                if let Err(e) = unmounter.unmount() {
                    // Busy (a file is open): detach now; the daemon ends when it is closed.
                    eprintln!("yoz mount: unmount failed ({e}), detaching lazily");
                    if let Err(e) = sys::umount(&mp, true) {
                        eprintln!("yoz mount: lazy unmount failed too: {e}");
                    }
                }
            })
            .ctx(|| "starting the signal thread".into())?;
        Ok(SignalWatcher {
            mask,
            stopping,
            thread,
        })
    }

    /// Ends the watcher (the session is over); dropping the last handle on the mask then
    /// restores the caller's signal mask.
    fn stop(self) {
        let SignalWatcher {
            mask,
            stopping,
            thread,
        } = self;
        stopping.store(true, Ordering::SeqCst);
        sys::wake(&thread);
        let _ = thread.join();
        drop(mask);
    }
}

/// One node of the mounted tree.
struct Node {
    attr: FileAttr,
    what: What,
}

enum What {
    /// Children sorted by name (for lookup by binary search and a stable readdir order).
    Dir {
        parent: u64,
        children: Vec<(Box<str>, u64)>,
    },
    /// A regular file: the entry holding its bytes.
    File {
        entry: usize,
    },
    Symlink {
        target: Box<str>,
    },
}

/// The file system: the tree built from the index, and the data side shared with the
/// prefetch workers.
struct ArchiveFs {
    data: Arc<Data>,
    /// Indexed by inode number; `None` for the numbers hard links leave unused.
    nodes: Vec<Option<Node>>,
    /// Blocks for the prefetch workers to decode ahead of a sequential reader (`None` when
    /// the cache is too small to keep what they decode).
    prefetch: Option<crossbeam_channel::Sender<u32>>,
    /// Bytes of file content and number of inodes, for statfs (`df`).
    totals: (u64, u64),
    /// Open handles of image entries → the decoded image they hold (see [`Images`]).
    handles: Mutex<HashMap<u64, Arc<Vec<u8>>>>,
    next_fh: std::sync::atomic::AtomicU64,
}

/// The archive and everything that turns its blocks into file bytes.
struct Data {
    ar: Archive,
    /// `starts[b]`: where block `b` would begin if all blocks were laid end to end; locates an
    /// entry offset in its run of blocks with one binary search.
    starts: Vec<u64>,
    cache: BlockCache,
    /// Bad blocks already reported, so a retrying reader does not flood the log.
    reported: Mutex<HashSet<u32>>,
    /// Decoded PNGs of lossy image entries.
    images: Images,
    /// How they are decoded.
    decode: crate::image::codec::DecodeOptions,
}

/// How many recently decoded images the mount keeps for files opened again, and how many bytes
/// of them at most (the last one is kept whatever its size). Images held by open files are
/// kept by their handles beyond this.
const IMAGES_CACHED: usize = 4;
const IMAGES_CACHED_BYTES: usize = 256 << 20;

/// Decoded PNGs of lossy image entries. Each image is decoded once however many readers want
/// it at the same time: readers of one image wait on its slot while the first decodes it, and
/// readers of different images decode in parallel. An open file handle holds its image for as
/// long as it is open, so images that together exceed the budget, read at once, do not evict
/// each other on every read; `recent` keeps the last few for files that are opened again.
struct Images {
    /// Image entry → its slot, locked while decoding; a weak reference, alive while a handle
    /// or `recent` holds the image.
    slots: Mutex<HashMap<usize, Arc<ImageSlot>>>,
    /// Most recently used last.
    recent: Mutex<std::collections::VecDeque<(usize, Arc<Vec<u8>>)>>,
    budget: usize,
    /// Images decoded so far (a decode per image and handle would show up here).
    decodes: std::sync::atomic::AtomicUsize,
}

/// Locked while its image decodes; alive while a handle or `recent` holds the image.
type ImageSlot = Mutex<std::sync::Weak<Vec<u8>>>;

impl Images {
    fn new(budget: usize) -> Images {
        Images {
            slots: Mutex::new(HashMap::new()),
            recent: Mutex::new(std::collections::VecDeque::new()),
            budget,
            decodes: Default::default(),
        }
    }

    /// Image `i`, from a live copy or decoded by `decode` (once, whoever else is waiting).
    fn get(&self, i: usize, decode: impl FnOnce() -> Result<Vec<u8>>) -> Result<Arc<Vec<u8>>> {
        let slot = lock(&self.slots).entry(i).or_default().clone();
        let mut held = lock(&slot);
        let png = match held.upgrade() {
            Some(p) => p,
            None => {
                let p = Arc::new(decode()?);
                self.decodes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *held = Arc::downgrade(&p);
                p
            }
        };
        drop(held);
        let mut recent = lock(&self.recent);
        recent.retain(|(j, _)| *j != i);
        recent.push_back((i, png.clone()));
        while recent.len() > 1
            && (recent.len() > IMAGES_CACHED
                || recent.iter().map(|(_, p)| p.len()).sum::<usize>() > self.budget)
        {
            recent.pop_front();
        }
        Ok(png)
    }
}

/// Threads decoding blocks ahead of sequential readers. Two keep one core decoding while the
/// other serves FUSE requests, without starving random readers on small machines.
const PREFETCH_WORKERS: usize = 2;
/// How many blocks past the one being read a sequential reader gets decoded ahead.
const PREFETCH_DEPTH: u32 = 2;
/// How far past the block being read a sequential reader's compressed bytes are asked from
/// the disk (`MADV_WILLNEED`), so that cold reads do not wait on one page fault at a time.
const DISK_AHEAD_BYTES: u64 = 4 << 20;

impl ArchiveFs {
    fn new(
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
    fn open_file(&self, entry: usize) -> u64 {
        if self.data.ar.entries()[entry].image.is_none() {
            return 0;
        }
        self.next_fh
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads through handle `fh` (from [`ArchiveFs::open_file`]).
    fn read_file(&self, fh: u64, entry: usize, offset: u64, len: u32) -> ReadResult<'_> {
        if let (true, Some(info)) = (fh != 0, &self.data.ar.entries()[entry].image) {
            if !lock(&self.handles).contains_key(&fh) {
                let png = self.data.image_png(entry, info).map_err(|e| (None, e))?;
                lock(&self.handles).insert(fh, png);
            }
        }
        self.data.read(entry, offset, len)
    }

    fn release_file(&self, fh: u64) {
        lock(&self.handles).remove(&fh);
    }

    fn node(&self, ino: INodeNo) -> Option<&Node> {
        self.nodes.get(usize::try_from(ino.0).ok()?)?.as_ref()
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> std::result::Result<&Node, Errno> {
        let Some(Node {
            what: What::Dir { children, .. },
            ..
        }) = self.node(parent)
        else {
            return Err(Errno::ENOTDIR);
        };
        let name = name.to_str().ok_or(Errno::ENOENT)?;
        let k = children
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .map_err(|_| Errno::ENOENT)?;
        self.node(INodeNo(children[k].1)).ok_or(Errno::ENOENT)
    }

    /// Directory listing with `.` and `..` first; the offset of an item is its position + 1.
    fn listing(&self, ino: INodeNo) -> std::result::Result<Vec<(u64, &str)>, Errno> {
        match self.node(ino) {
            Some(Node {
                what: What::Dir { parent, children },
                ..
            }) => {
                let mut v = Vec::with_capacity(children.len() + 2);
                v.push((ino.0, "."));
                v.push((*parent, ".."));
                v.extend(children.iter().map(|(n, i)| (*i, &**n)));
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
    fn block(&self, n: u32) -> Result<Arc<Vec<u8>>> {
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
    fn read(&self, i: usize, offset: u64, len: u32) -> ReadResult<'_> {
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
                // starts[0] == base <= base + offset, so the partition point is at least 1.
                let k0 = starts.partition_point(|&s| s <= base + offset) - 1;
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
    fn image_png(
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
    fn disk_ahead(&self, from: u32, end: u32) {
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
    fn present(&self, n: u32) -> bool {
        self.cache.contains(n)
    }

    /// Logs a failed read, once per bad block.
    fn report(&self, path: &str, block: Option<u32>, err: &Error) {
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

fn short(block: u32) -> Error {
    Error::SizeMismatch {
        what: format!("block {block} is shorter than its index row says"),
    }
}

/// A read's bytes and the blocks to decode ahead of the reader.
struct ReadOut<'a> {
    bytes: Bytes<'a>,
    ahead: std::ops::Range<u32>,
}

/// What [`Data::read`] returns; an error carries the block it happened in, if any.
type ReadResult<'a> = std::result::Result<ReadOut<'a>, (Option<u32>, Error)>;

/// What a read replies with.
enum Bytes<'a> {
    Slice(&'a [u8]),
    Part(Arc<Vec<u8>>, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl<'a> Bytes<'a> {
    fn of(v: Arc<Vec<u8>>, r: std::ops::Range<usize>, n: u32) -> Result<Self> {
        match v.get(r.clone()) {
            Some(_) => Ok(Bytes::Part(v, r)),
            None => Err(short(n)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Slice(s) => s,
            Bytes::Part(v, r) => &v[r.clone()],
            Bytes::Owned(v) => v,
        }
    }
}

/// Decoded blocks, least recently used evicted first once their total exceeds the budget.
/// Each block has a slot that readers lock while it is decoded, so concurrent readers of one
/// block (kernel readahead on several threads) decode it once.
struct BlockCache {
    budget: u64,
    lru: Mutex<Lru>,
}

type Slot = Mutex<Option<Arc<Vec<u8>>>>;

#[derive(Default)]
struct Lru {
    /// Block → (slot, last use, bytes charged).
    map: HashMap<u32, (Arc<Slot>, u64, u64)>,
    /// Last use → block, oldest first.
    order: BTreeMap<u64, u32>,
    bytes: u64,
    clock: u64,
}

impl BlockCache {
    fn new(budget: u64) -> Self {
        BlockCache {
            budget,
            lru: Mutex::new(Lru::default()),
        }
    }

    /// The slot of block `n` (created empty if missing), marked as just used.
    fn slot(&self, n: u32, cost: u64) -> Arc<Slot> {
        let mut l = lock(&self.lru);
        l.clock += 1;
        let now = l.clock;
        if let Some((slot, used, _)) = l.map.get_mut(&n) {
            let (slot, old) = (slot.clone(), std::mem::replace(used, now));
            l.order.remove(&old);
            l.order.insert(now, n);
            return slot;
        }
        while l.bytes + cost > self.budget {
            let Some((_, victim)) = l.order.pop_first() else {
                break;
            };
            if let Some((_, _, c)) = l.map.remove(&victim) {
                l.bytes -= c;
            }
        }
        let slot = Arc::new(Mutex::new(None));
        l.map.insert(n, (slot.clone(), now, cost));
        l.order.insert(now, n);
        l.bytes += cost;
        slot
    }

    /// Whether block `n` has a slot (decoded, or being decoded), without marking it used.
    fn contains(&self, n: u32) -> bool {
        lock(&self.lru).map.contains_key(&n)
    }

    /// Drops block `n` (its decode failed; the next read tries again).
    fn forget(&self, n: u32) {
        let mut l = lock(&self.lru);
        if let Some((_, used, c)) = l.map.remove(&n) {
            l.order.remove(&used);
            l.bytes -= c;
        }
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Builds the inode table from the index (numbering in the module docs).
fn build_tree(ar: &Archive, stamp: SystemTime) -> Vec<Option<Node>> {
    let entries = ar.entries();
    let mut nodes: Vec<Option<Node>> = Vec::with_capacity(entries.len() + 2);
    nodes.push(None);
    nodes.push(Some(synth_dir(ROOT, ROOT, stamp)));
    let mut dirs: HashMap<&str, u64> = HashMap::from([("", ROOT)]);
    for (i, e) in entries.iter().enumerate() {
        let ino = i as u64 + 2;
        let what = match e.kind {
            Kind::File => What::File { entry: i },
            Kind::Symlink => What::Symlink {
                target: e.target.as_str().into(),
            },
            Kind::Dir => {
                dirs.insert(e.path.trim_end_matches('/'), ino);
                What::Dir {
                    parent: ROOT,
                    children: Vec::new(),
                }
            }
            Kind::Hardlink => {
                nodes.push(None);
                continue;
            }
        };
        nodes.push(Some(Node {
            attr: entry_attr(ino, e),
            what,
        }));
    }
    for (i, e) in entries.iter().enumerate() {
        let ino = ar.resolve(i) as u64 + 2;
        let path = e.path.trim_end_matches('/');
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = ensure_dir(&mut nodes, &mut dirs, dir, stamp);
        if e.kind == Kind::Hardlink {
            if let Some(n) = nodes[ino as usize].as_mut() {
                n.attr.nlink += 1;
            }
        }
        if let Some(Node {
            what: What::Dir { parent: p, .. },
            ..
        }) = nodes[ino as usize].as_mut()
        {
            *p = parent;
        }
        add_child(&mut nodes, parent, name, ino);
    }
    // Sorted names serve lookups by binary search; a duplicate name (refused by the archive
    // reader's checks in any case) keeps its first entry.
    let mut subdirs = vec![0u32; nodes.len()];
    for n in nodes.iter_mut().flatten() {
        if let What::Dir { children, .. } = &mut n.what {
            children.sort_by(|a, b| a.0.cmp(&b.0));
            children.dedup_by(|a, b| a.0 == b.0);
        }
    }
    for n in nodes.iter().flatten() {
        if let What::Dir { children, .. } = &n.what {
            for (_, c) in children {
                if let Some(Node {
                    what: What::Dir { .. },
                    ..
                }) = nodes.get(*c as usize).and_then(|x| x.as_ref())
                {
                    subdirs[n.attr.ino.0 as usize] += 1;
                }
            }
        }
    }
    for n in nodes.iter_mut().flatten() {
        if let What::Dir { .. } = n.what {
            n.attr.nlink = 2 + subdirs[n.attr.ino.0 as usize];
        }
    }
    nodes
}

/// The inode of directory `path`, synthesizing it (and its missing parents) if no entry names it.
fn ensure_dir<'a>(
    nodes: &mut Vec<Option<Node>>,
    dirs: &mut HashMap<&'a str, u64>,
    path: &'a str,
    stamp: SystemTime,
) -> u64 {
    if let Some(&ino) = dirs.get(path) {
        return ino;
    }
    let (up, name) = path.rsplit_once('/').unwrap_or(("", path));
    let parent = ensure_dir(nodes, dirs, up, stamp);
    let ino = nodes.len() as u64;
    nodes.push(Some(synth_dir(ino, parent, stamp)));
    dirs.insert(path, ino);
    add_child(nodes, parent, name, ino);
    ino
}

fn add_child(nodes: &mut [Option<Node>], parent: u64, name: &str, ino: u64) {
    if let Some(Node {
        what: What::Dir { children, .. },
        ..
    }) = nodes[parent as usize].as_mut()
    {
        children.push((name.into(), ino));
    }
}

/// A directory no entry describes: the root, or a path prefix. It looks like the archive file.
fn synth_dir(ino: u64, parent: u64, stamp: SystemTime) -> Node {
    Node {
        attr: FileAttr {
            ino: INodeNo(ino),
            size: 0,
            blocks: 0,
            atime: stamp,
            mtime: stamp,
            ctime: stamp,
            crtime: stamp,
            kind: FileType::Directory,
            perm: 0o755,
            nlink: 2,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        },
        what: What::Dir {
            parent,
            children: Vec::new(),
        },
    }
}

fn entry_attr(ino: u64, e: &Entry) -> FileAttr {
    let (kind, size) = match e.kind {
        Kind::Dir => (FileType::Directory, 0),
        Kind::Symlink => (FileType::Symlink, e.target.len() as u64),
        // A lossy image shows as its decoded PNG, whose size the index records.
        Kind::File | Kind::Hardlink => (
            FileType::RegularFile,
            e.image.map_or(e.size, |im| im.output_size),
        ),
    };
    let mtime = time_of(e.mtime, e.mtime_nsec);
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: mtime,
        mtime,
        ctime: mtime,
        crtime: mtime,
        kind,
        perm: (e.mode & 0o7777) as u16,
        nlink: 1,
        uid: e.uid,
        gid: e.gid,
        rdev: 0,
        blksize: BLKSIZE,
        flags: 0,
    }
}

/// Seconds and nanoseconds since the epoch (possibly before it) as a `SystemTime`.
fn time_of(secs: i64, nsec: u32) -> SystemTime {
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole
        .and_then(|t| t.checked_add(Duration::from_nanos(nsec as u64)))
        .unwrap_or(UNIX_EPOCH)
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

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino) {
            Some(Node {
                what: What::Symlink { target },
                ..
            }) => reply.data(target.as_bytes()),
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

/// Thin wrappers over the system calls std does not offer. Each `unsafe` block is one FFI call
/// on values that are valid for it by construction.
mod sys {
    use std::ffi::CString;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::thread::JoinHandleExt;
    use std::path::Path;

    /// The stop signals, blocked in the thread that created this (and the threads it starts).
    pub struct SignalMask {
        set: libc::sigset_t,
        old: libc::sigset_t,
    }

    // SAFETY: sigset_t is plain data; it is only read after construction.
    unsafe impl Send for SignalMask {}
    // SAFETY: as above, shared access only reads it.
    unsafe impl Sync for SignalMask {}

    impl SignalMask {
        /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread.
        pub fn block() -> crate::Result<Self> {
            // SAFETY: an all-zero sigset_t is a valid value to hand to sigemptyset.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            let mut old = set;
            // SAFETY: `set` and `old` are valid, exclusively borrowed sigset_t values; these
            // calls only write into them and change this thread's signal mask.
            let rc = unsafe {
                libc::sigemptyset(&mut set);
                for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                    libc::sigaddset(&mut set, s);
                }
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old)
            };
            if rc != 0 {
                return Err(crate::Error::io(
                    "blocking signals",
                    io::Error::from_raw_os_error(rc),
                ));
            }
            Ok(SignalMask { set, old })
        }

        /// Waits for one of the blocked signals and returns its number.
        pub fn wait(&self) -> i32 {
            let mut sig = 0;
            // SAFETY: `self.set` is an initialized sigset_t and `sig` a valid out pointer.
            unsafe { libc::sigwait(&self.set, &mut sig) };
            sig
        }
    }

    impl Drop for SignalMask {
        /// Restores the mask the creating thread had before [`SignalMask::block`].
        fn drop(&mut self) {
            // SAFETY: `self.old` is the mask pthread_sigmask filled in; a null old-set is allowed.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
        }
    }

    /// Wakes a thread blocked in [`SignalMask::wait`] by sending it SIGTERM (blocked there, so
    /// it is consumed by `sigwait` and never delivered).
    pub fn wake(t: &std::thread::JoinHandle<()>) {
        // SAFETY: the thread has not been joined, so its pthread_t is valid.
        unsafe { libc::pthread_kill(t.as_pthread_t(), libc::SIGTERM) };
    }

    /// `umount2(2)`, with `MNT_DETACH` when `lazy`.
    pub fn umount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
        let c = CString::new(mountpoint.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        let flags = if lazy { libc::MNT_DETACH } else { 0 };
        // Right after the last file is closed the kernel may still hold it for a moment
        // (asynchronous FUSE release): retry EBUSY briefly before giving up.
        for attempt in 0..20 {
            // SAFETY: `c` is a NUL-terminated string that outlives the call.
            if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EBUSY) || attempt == 19 {
                return Err(err);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Points stdout and stderr at `f`.
    pub fn redirect_stdio(f: &std::fs::File) -> io::Result<()> {
        for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
            // SAFETY: both descriptors are open; dup2 atomically replaces `target`.
            if unsafe { libc::dup2(f.as_raw_fd(), target) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_evicts_least_recently_used_within_budget() {
        let c = BlockCache::new(300);
        for n in 0..3 {
            *lock(&c.slot(n, 100)) = Some(Arc::new(vec![n as u8]));
        }
        c.slot(0, 100); // 0 is now the most recent; 1 the oldest
        c.slot(3, 100);
        let l = lock(&c.lru);
        assert!(l.map.contains_key(&0) && !l.map.contains_key(&1));
        assert_eq!(l.bytes, 300);
    }

    #[test]
    fn cache_keeps_one_block_with_zero_budget() {
        let c = BlockCache::new(0);
        c.slot(7, 100);
        c.slot(8, 100);
        let l = lock(&c.lru);
        assert_eq!(l.map.len(), 1);
        assert!(l.map.contains_key(&8));
    }

    /// Two images larger together than the image budget, read at once in small interleaved
    /// reads through open handles, are decoded once each (they used to evict each other on
    /// every read); a handle released lets its image go.
    #[test]
    fn images_read_at_once_are_decoded_once_each() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid/lossy-dct.yoz");
        let open = |budget| {
            ArchiveFs::new(
                Archive::open(&path).unwrap(),
                1 << 20,
                budget,
                Default::default(),
                UNIX_EPOCH,
            )
        };
        let fs = open(usize::MAX);
        let imgs: Vec<usize> = (0..fs.data.ar.entries().len())
            .filter(|&i| fs.data.ar.entries()[i].image.is_some())
            .collect();
        assert_eq!(imgs.len(), 2);
        let sizes: Vec<usize> = imgs
            .iter()
            .map(|&i| {
                fs.read_file(0, i, 0, u32::MAX)
                    .unwrap()
                    .bytes
                    .as_slice()
                    .len()
            })
            .collect();
        // A budget that holds either image but not both.
        let fs = open(sizes[0].max(sizes[1]));
        let fhs: Vec<u64> = imgs.iter().map(|&i| fs.open_file(i)).collect();
        assert!(fhs.iter().all(|&f| f != 0) && fhs[0] != fhs[1]);
        let mut got = [Vec::new(), Vec::new()];
        for step in 0..40u64 {
            for k in 0..2 {
                let out = fs.read_file(fhs[k], imgs[k], step * 64, 64).unwrap();
                got[k].extend_from_slice(out.bytes.as_slice());
            }
        }
        assert_eq!(fs.data.images.decodes.load(Ordering::Relaxed), 2);
        for k in 0..2 {
            let n = got[k].len();
            let whole = fs.read_file(0, imgs[k], 0, u32::MAX).unwrap();
            assert_eq!(&whole.bytes.as_slice()[..n], &got[k][..]);
        }
        for &f in &fhs {
            fs.release_file(f);
        }
        assert!(lock(&fs.handles).is_empty());
    }

    #[test]
    fn times_before_the_epoch() {
        assert_eq!(
            time_of(-1, 500_000_000),
            UNIX_EPOCH - Duration::from_millis(500)
        );
        assert_eq!(time_of(2, 0), UNIX_EPOCH + Duration::from_secs(2));
    }
}

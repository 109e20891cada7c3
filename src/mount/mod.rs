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
//! Layout: `tree` (the inode table), `cache` (decoded blocks and images), `fs` (the FUSE
//! requests), `daemon` (background mode and signals), `sys` (the few system calls std does
//! not wrap: signal masks, `umount2`, `dup2`).

mod cache;
mod daemon;
mod fs;
mod sys;
mod tree;

use cache::*;
pub use daemon::spawn_daemon;
use daemon::*;
use fs::*;
use tree::*;

use crate::container::{Archive, Entry, Kind, Storage};
use crate::error::{Error, IoContext, Result};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, MountOption, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr,
    Request, SessionACL,
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

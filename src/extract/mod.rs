//! Writing entries to the file system, safely (spec §8.4).
//!
//! Never writes outside the destination: archive paths are already validated (no absolute
//! paths, no `..`), every parent on the way is checked not to be a symlink (so a symlink the
//! archive created earlier cannot redirect a later entry), files are created with `O_NOFOLLOW`
//! and `O_EXCL`, and nothing existing is replaced without `force`.

mod at;
mod sink;

use crate::container::{read_stream, Archive, Entry, Kind, Sink};
use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Settings for extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Replace existing files.
    pub force: bool,
    /// Restore owners (only effective as root).
    pub same_owner: bool,
    /// Keep setuid/setgid bits (dropped by default).
    pub keep_setid: bool,
    /// Only entries equal to or under these paths.
    pub only: Vec<String>,
    /// Print each selected entry's path on stdout as it is extracted (tar's `-v`).
    pub verbose: bool,
    /// Drop this many leading path components (tar's `--strip-components`); entries with no
    /// more components are skipped.
    pub strip: usize,
    /// Leave existing files as they are, with a notice, and go on (tar's `-k`).
    pub keep_old: bool,
    /// How lossy image entries are decoded into the PNGs written.
    pub decode: crate::image::codec::DecodeOptions,
    /// Restore extended attributes of every namespace (tar's `--xattrs`); `user.*` only
    /// otherwise.
    pub all_xattrs: bool,
}

/// Totals of one extraction.
#[derive(Debug, Default, Clone)]
pub struct ExtractStats {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    /// Files written as decoded PNGs of lossy image entries.
    pub lossy: u64,
    /// Entries left out as damaged (`unpack --keep-going`).
    pub damaged: u64,
    /// Device nodes not created for lack of privileges (warned about).
    pub skipped: u64,
}

/// What [`Extractor::make_room`] found at an entry's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// Nothing there (or removed).
    Free,
    /// A directory, kept for a directory entry.
    ReuseDir,
    /// A file to replace (`--force`) once the new one is complete.
    Replace,
    /// Something the user had, left as it is (`-k`).
    Keep,
}

/// A sibling name for the replacement of `name`, unique within this process.
fn part_name(name: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(".{name}.yoz-part-{}-{n}", std::process::id())
}

// Entry paths and targets in the extractor's spelling, the escape form of spec §4.2.4: `at`
// turns them back into bytes.
use crate::path::spelled;

/// The last component of an entry path.
fn base_name(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

/// Maps an `openat` failure on ancestor `a` (named `name` in `parent`) of `path` to the
/// spec's classes. `O_NOFOLLOW | O_DIRECTORY` on a symlink gives `ELOOP` or `ENOTDIR`
/// depending on the kernel's check order, so a look at what is there decides.
fn ancestor_error(
    parent: std::os::fd::BorrowedFd,
    name: &str,
    path: &str,
    a: &str,
    err: std::io::Error,
) -> Error {
    match err.raw_os_error() {
        Some(libc::ELOOP | libc::ENOTDIR) => {
            let symlink = at::lstat(parent, name)
                .ok()
                .flatten()
                .is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
            if symlink {
                Error::PathSymlink {
                    path: path.to_string(),
                    link: a.to_string(),
                }
            } else {
                Error::PathConflict {
                    path: path.to_string(),
                    other: a.to_string(),
                    why: "parent exists and is not a directory",
                }
            }
        }
        _ => Error::io(format!("opening directory {a}"), err),
    }
}

/// A directory whose final mode and time wait for its contents.
struct PendingDir {
    /// The entry's path (relative), and the full one for messages.
    rel: String,
    path: PathBuf,
    mode: u32,
    mtime: i64,
    nsec: u32,
    /// `(st_dev, st_ino)` when it was made ready: the final pass touches only that directory,
    /// never what a swap (a concurrent user, a case-insensitive name) put at its path.
    id: (u64, u64),
}

struct Current {
    /// Where the data is written (a temporary sibling when replacing), for messages.
    path: PathBuf,
    /// The entry's parent directory and its name there (the temporary name when replacing).
    parent: Option<OwnedFd>,
    name: String,
    /// The name a replacement is renamed to once complete.
    replaces: Option<String>,
    file: Option<File>,
    /// Keeps the file registered for removal on SIGINT/SIGTERM until it is complete.
    _partial: Option<crate::cleanup::Guard>,
    written: u64,
    skip: bool,
    /// A lossy image entry's blob, gathered until `end` decodes it to PNG.
    blob: Option<Vec<u8>>,
}

/// A [`Sink`] that writes entries under a destination directory.
pub struct Extractor {
    dest: PathBuf,
    /// The destination, opened once: every entry is resolved beneath it.
    root: OwnedFd,
    /// The last parent resolved: consecutive entries of one directory walk it once.
    parent_cache: Option<(String, OwnedFd)>,
    opts: ExtractOptions,
    cur: Option<Current>,
    dirs: Vec<PendingDir>,
    /// Files written so far, with their `(st_dev, st_ino)`: hard links and copies (storage 3)
    /// use only these, and only while they are still the very file written.
    files: HashMap<String, (u64, u64)>,
    selection: crate::path::Selection,
    pub stats: ExtractStats,
}

impl Extractor {
    /// Creates the destination if needed.
    pub fn new(dest: &Path, opts: ExtractOptions) -> Result<Self> {
        fs::create_dir_all(dest).ctx(|| format!("creating {}", dest.display()))?;
        let selection = crate::path::Selection::new(&opts.only)?;
        let root = at::open_root(dest).ctx(|| format!("opening {}", dest.display()))?;
        Ok(Extractor {
            dest: dest.to_path_buf(),
            root,
            parent_cache: None,
            opts,
            cur: None,
            dirs: Vec::new(),
            files: HashMap::new(),
            selection,
            stats: ExtractStats::default(),
        })
    }

    /// Where an entry goes under the destination: its path less `strip` leading components,
    /// `None` when nothing is left.
    fn local<'a>(&self, path: &'a str) -> Option<&'a str> {
        let mut rest = path;
        for _ in 0..self.opts.strip {
            rest = rest.split_once('/')?.1;
        }
        (!rest.is_empty()).then_some(rest)
    }

    /// Whether entry `path` is selected by the `only` list (paths and globs).
    pub fn selects(&mut self, path: &str) -> bool {
        self.selection.selects(path)
    }

    /// Counts an entry left out by `unpack --keep-going` (after [`Self::abort`]).
    pub fn note_damaged(&mut self) {
        self.stats.damaged += 1;
    }

    /// Removes a partially written file after an error.
    pub fn abort(&mut self) {
        if let Some(c) = self.cur.take() {
            if let (Some(_), Some(parent)) = (&c.file, &c.parent) {
                let _ = at::unlink(parent.as_fd(), &c.name, false);
            }
        }
    }

    /// Applies directory modes and times (deepest first) and reports unmatched selections.
    pub fn finish(mut self) -> Result<ExtractStats> {
        // Deepest first: in reverse byte order every directory comes after all below it.
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by(|a, b| b.rel.cmp(&a.rel));
        for d in &dirs {
            let p = &d.path;
            // Through a descriptor of the very directory made ready earlier, reached from the
            // destination one component at a time (no path length limit, no symlink followed):
            // a symlink or another directory now at its place is refused.
            let parent = self.parent(&d.rel)?;
            let f = at::open_dir(parent.as_fd(), base_name(&d.rel)).map(File::from);
            let f = f.map_err(|err| match err.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR) => Error::PathSymlink {
                    path: p.display().to_string(),
                    link: "a directory replaced during extraction".into(),
                },
                _ => Error::io(format!("reopening directory {}", p.display()), err),
            })?;
            let m = f.metadata().ctx(|| format!("stat {}", p.display()))?;
            use std::os::unix::fs::MetadataExt;
            if (m.dev(), m.ino()) != d.id {
                return Err(Error::PathSymlink {
                    path: p.display().to_string(),
                    link: "a directory replaced during extraction".into(),
                });
            }
            // Times first: once the mode is applied (000, say) a non-root user may no longer
            // be able to reach the directory.
            let t = filetime::FileTime::from_unix_time(d.mtime, d.nsec);
            filetime::set_file_handle_times(&f, None, Some(t))
                .ctx(|| format!("setting mtime of {}", p.display()))?;
            f.set_permissions(fs::Permissions::from_mode(d.mode))
                .ctx(|| format!("chmod {}", p.display()))?;
        }
        if let Some(p) = self.selection.unmatched() {
            return Err(Error::NotFound {
                path: p.to_string(),
            });
        }
        Ok(self.stats)
    }

    fn mode(&self, m: u32) -> u32 {
        if self.opts.keep_setid {
            m & 0o7777
        } else {
            m & 0o1777
        }
    }

    /// The directory that will hold `path`, resolved beneath the destination one component at
    /// a time with `O_NOFOLLOW` (a symlink on the way is `path-symlink`, a file
    /// `path-conflict`), creating missing ancestors.
    fn parent(&mut self, path: &str) -> Result<OwnedFd> {
        let dir = path.rfind('/').map_or("", |i| &path[..i]);
        if let Some((p, fd)) = &self.parent_cache {
            if p == dir {
                return fd.try_clone().ctx(|| "duplicating a descriptor".into());
            }
        }
        let mut cur = self
            .root
            .try_clone()
            .ctx(|| "duplicating a descriptor".into())?;
        for a in crate::path::ancestors(path) {
            let name = base_name(a);
            cur = match at::open_dir(cur.as_fd(), name) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match at::mkdir(cur.as_fd(), name, 0o777) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => {
                            return Err(Error::io(
                                format!("creating {}", self.dest.join(a).display()),
                                e,
                            ))
                        }
                    }
                    at::open_dir(cur.as_fd(), name)
                        .map_err(|e| ancestor_error(cur.as_fd(), name, path, a, e))?
                }
                Err(e) => return Err(ancestor_error(cur.as_fd(), name, path, a, e)),
            };
        }
        let keep = cur.try_clone().ctx(|| "duplicating a descriptor".into())?;
        self.parent_cache = Some((dir.to_string(), keep));
        Ok(cur)
    }

    /// Clears the way for a new entry `name` in `parent` (`p` is its path, for messages).
    fn make_room(&self, parent: &OwnedFd, name: &str, p: &Path, e: &Entry) -> Result<Room> {
        let Some(st) = at::lstat(parent.as_fd(), name).ctx(|| format!("stat {}", p.display()))?
        else {
            return Ok(Room::Free);
        };
        let is_dir = at::is_dir(&st);
        if e.kind == Kind::Dir && is_dir {
            return Ok(Room::ReuseDir);
        }
        if self.opts.keep_old {
            return Ok(Room::Keep);
        }
        if !self.opts.force {
            return Err(Error::Exists {
                path: p.display().to_string(),
            });
        }
        if e.kind == Kind::File && !is_dir {
            // Not removed now: the new content goes to a temporary name and replaces the old
            // file only once it is complete and verified.
            return Ok(Room::Replace);
        }
        at::unlink(parent.as_fd(), name, is_dir).ctx(|| {
            if is_dir {
                format!("replacing directory {} (not empty?)", p.display())
            } else {
                format!("replacing {}", p.display())
            }
        })?;
        Ok(Room::Free)
    }

    /// Owner, mode and mtime of a file, through its open handle (no path lookups).
    /// Sets the entry's extended attributes on the open file or directory `f`; one that cannot
    /// be set (a file system without them, a namespace that needs privileges) is a warning.
    fn set_xattrs(&self, p: &Path, e: &Entry, f: &File) {
        for (name, value) in &e.xattrs {
            if !crate::xattr::wanted(name, self.opts.all_xattrs) {
                continue;
            }
            if let Err(err) = crate::xattr::set(f.as_fd(), name, value) {
                eprintln!(
                    "yoz: warning: {}: extended attribute {name} not set ({err})",
                    p.display()
                );
            }
        }
    }

    fn set_file_meta(&self, p: &Path, e: &Entry, f: &File) -> Result<()> {
        self.set_xattrs(p, e, f);
        if self.opts.same_owner {
            std::os::unix::fs::fchown(f, Some(e.uid), Some(e.gid))
                .ctx(|| format!("chown {}", p.display()))?;
        }
        let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
        f.set_permissions(fs::Permissions::from_mode(self.mode(e.mode)))
            .ctx(|| format!("chmod {}", p.display()))?;
        filetime::set_file_handle_times(f, None, Some(t))
            .ctx(|| format!("setting mtime of {}", p.display()))?;
        Ok(())
    }

    /// Owner and mtime of a symlink itself, relative to its parent.
    /// Owner, mode and times of a FIFO or device node just created, none following a symlink.
    fn set_node_meta(&self, c: &Current, e: &Entry) -> Result<()> {
        let parent = c.parent.as_ref().expect("nodes have a parent").as_fd();
        if self.opts.same_owner {
            at::lchown(parent, &c.name, e.uid, e.gid)
                .ctx(|| format!("chown {}", c.path.display()))?;
        }
        at::chmod_nofollow(parent, &c.name, self.mode(e.mode))
            .ctx(|| format!("chmod {}", c.path.display()))?;
        at::set_times_nofollow(parent, &c.name, e.mtime, e.mtime_nsec)
            .ctx(|| format!("setting mtime of {}", c.path.display()))
    }

    fn set_symlink_meta(&self, c: &Current, e: &Entry) -> Result<()> {
        let parent = c.parent.as_ref().expect("symlinks have a parent").as_fd();
        if self.opts.same_owner {
            at::lchown(parent, &c.name, e.uid, e.gid)
                .ctx(|| format!("chown {}", c.path.display()))?;
        }
        at::set_times_nofollow(parent, &c.name, e.mtime, e.mtime_nsec)
            .ctx(|| format!("setting mtime of {}", c.path.display()))
    }
}

/// Extracts every selected entry of `ar` under `dir` (see [`Archive::unpack`]). Without
/// `keep_going` the first error stops it; with it, a damaged entry (its group, its blocks or
/// its checks fail) is removed, warned about on stderr and returned, and extraction goes on.
/// `progress` shows a progress bar on a terminal.
pub fn unpack_archive(
    ar: &Archive,
    dir: &Path,
    opts: ExtractOptions,
    keep_going: bool,
    progress: bool,
) -> Result<(ExtractStats, Vec<Error>)> {
    // What the image decoders load from outside (ONNX Runtime) is decided and loaded before
    // anything is written, so nothing this archive writes can be the library loaded.
    let ids: Vec<u8> = ar
        .entries()
        .iter()
        .filter_map(|e| e.image.map(|i| i.codec))
        .collect();
    crate::image::codec::prepare(Some(&ids), &opts.decode);
    // Every record header against its row before any payload (spec §8.0 phase 3); recovery
    // (--keep-going) takes what it can instead.
    if !keep_going {
        ar.check_records()?;
    }
    let mut x = Extractor::new(dir, opts)?;
    let total = ar.entries().iter().map(|e| e.size).sum();
    let bar = crate::progress::bytes_bar(progress, total, "unpacking");
    let mut checked_group = None;
    let mut bad_group = None;
    let mut damaged = Vec::new();
    for i in 0..ar.entries().len() {
        let e = &ar.entries()[i];
        if !x.selects(&e.path) {
            continue;
        }
        // The index is authoritative, but an entry group that disagrees with it means the
        // archive is damaged: refuse it as `verify` and the streaming reader would.
        let g = ar.group_of(i);
        if bad_group == Some(g) {
            // Only with --keep-going: the group's error was reported at its first entry.
            eprintln!(
                "yoz: warning: entry {:?}: in the damaged entry group above (not extracted)",
                e.path
            );
            x.note_damaged();
            continue;
        }
        let res = if checked_group != Some(g) {
            checked_group = Some(g);
            ar.check_resources_before(ar.index().groups[g as usize].offset)
                .and_then(|()| ar.check_group(g))
                .inspect_err(|_| bad_group = Some(g))
        } else {
            Ok(())
        }
        .map_err(|err| err.in_entry(&e.path))
        .and_then(|_| ar.send_entry(i, &mut x as &mut dyn Sink));
        if let Err(err) = res {
            x.abort();
            if !keep_going {
                return Err(err);
            }
            eprintln!(
                "yoz: warning: error[{}]: {err} (not extracted)",
                err.class()
            );
            x.note_damaged();
            damaged.push(err);
        }
        bar.inc(e.size);
    }
    bar.finish_and_clear();
    // Resources after the last record read are checked too, as a streaming reader checks them.
    if !keep_going {
        ar.check_resources_before(u64::MAX)?;
    }
    Ok((x.finish()?, damaged))
}

/// Extracts an archive read from a stream (a pipe) under `dir`.
pub fn unpack_stream(
    r: impl std::io::Read,
    dir: &Path,
    opts: ExtractOptions,
) -> Result<ExtractStats> {
    // A stream's entries are unknown until read, and its header may understate what they need
    // (that archive is refused, but only once its entry is reached): decide up front, always.
    crate::image::codec::prepare(None, &opts.decode);
    let mut x = Extractor::new(dir, opts)?;
    if let Err(err) = read_stream(r, &mut x, Default::default()) {
        x.abort();
        return Err(err);
    }
    x.finish()
}

impl Archive {
    /// Extracts every entry (or those `opts.only` selects) under `dir`, which is created if
    /// missing: checks first (every record header against the index), nothing written outside
    /// `dir`, nothing existing replaced without `opts.force`. The first error stops it.
    pub fn unpack(&self, dir: impl AsRef<Path>, opts: ExtractOptions) -> Result<ExtractStats> {
        unpack_archive(self, dir.as_ref(), opts, false, false).map(|(stats, _)| stats)
    }
}

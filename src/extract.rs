//! Writing entries to the file system, safely (spec §8.4).
//!
//! Never writes outside the destination: archive paths are already validated (no absolute
//! paths, no `..`), every parent on the way is checked not to be a symlink (so a symlink the
//! archive created earlier cannot redirect a later entry), files are created with `O_NOFOLLOW`
//! and `O_EXCL`, and nothing existing is replaced without `force`.

mod at;

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

impl Sink for Extractor {
    fn begin(&mut self, e: &Entry) -> Result<()> {
        let spelled_path = spelled(e.escaped, &e.path);
        let rel = self.local(&spelled_path).map(str::to_string);
        let skip = |this: &mut Self| {
            this.cur = Some(Current {
                path: this.dest.join(&e.path),
                parent: None,
                name: String::new(),
                file: None,
                replaces: None,
                _partial: None,
                written: 0,
                skip: true,
                blob: None,
            });
            Ok(())
        };
        let Some(rel) = rel.filter(|_| self.selects(&e.path)) else {
            return skip(self);
        };
        let p = self.dest.join(&rel);
        let name = base_name(&rel).to_string();
        if self.opts.verbose {
            use std::io::Write as _;
            // A closed stdout (`| head`) must not stop the extraction.
            let slash = if e.kind == Kind::Dir { "/" } else { "" };
            let _ = writeln!(std::io::stdout().lock(), "{}{slash}", e.path);
        }
        let parent = self.parent(&rel)?;
        let pfd = parent.as_fd();
        let room = self.make_room(&parent, &name, &p, e)?;
        if room == Room::Keep {
            eprintln!("yoz: notice: {} exists; kept (-k)", p.display());
            return skip(self);
        }
        let reuse = room == Room::ReuseDir;
        let (p, name, replaces) = if room == Room::Replace {
            let tmp = part_name(&name);
            (p.with_file_name(&tmp), tmp, Some(name))
        } else {
            (p, name, None)
        };
        let mut file = None;
        let mut partial = None;
        match e.kind {
            Kind::Dir => {
                if !reuse {
                    at::mkdir(pfd, &name, 0o777).ctx(|| format!("creating {}", p.display()))?;
                }
                // A directory the user already had keeps its mode and times unless --force.
                if !reuse || self.opts.force {
                    // Owner-writable while its contents are extracted; final mode at finish.
                    let f = File::from(
                        at::open_dir(pfd, &name).ctx(|| format!("opening {}", p.display()))?,
                    );
                    f.set_permissions(fs::Permissions::from_mode(0o700))
                        .ctx(|| format!("chmod {}", p.display()))?;
                    self.set_xattrs(&p, e, &f);
                    let m = f.metadata().ctx(|| format!("stat {}", p.display()))?;
                    use std::os::unix::fs::MetadataExt;
                    self.dirs.push(PendingDir {
                        rel: rel.clone(),
                        path: p.clone(),
                        mode: self.mode(e.mode),
                        mtime: e.mtime,
                        nsec: e.mtime_nsec,
                        id: (m.dev(), m.ino()),
                    });
                }
            }
            Kind::File => {
                let (f, guard) =
                    crate::cleanup::create(|| at::create_file(pfd, &name, 0o600), |_| p.clone())
                        .ctx(|| format!("creating {}", p.display()))?;
                file = Some(f);
                partial = Some(guard);
            }
            Kind::Symlink => {
                at::symlink(&spelled(e.escaped, &e.target), pfd, &name)
                    .ctx(|| format!("creating symlink {}", p.display()))?;
            }
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => {
                let (kind, what) = match e.kind {
                    Kind::Fifo => (libc::S_IFIFO, "FIFO"),
                    Kind::CharDevice => (libc::S_IFCHR, "character device"),
                    _ => (libc::S_IFBLK, "block device"),
                };
                match at::mknod(pfd, &name, kind, e.device) {
                    Ok(()) => {}
                    // Devices need privileges (tar: "Cannot mknod: Operation not permitted"):
                    // a warning, and the rest extracts.
                    Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                        eprintln!(
                            "yoz: warning: {}: {what} not created ({err}); skipped",
                            p.display()
                        );
                        self.stats.skipped += 1;
                        return skip(self);
                    }
                    Err(err) => {
                        return Err(Error::io(format!("creating {what} {}", p.display()), err))
                    }
                }
            }
            Kind::Hardlink => {
                let target_spelled = spelled(e.escaped, &e.target);
                let target = match self.local(&target_spelled) {
                    Some(t) if self.files.contains_key(t) => t.to_string(),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "hard link target {:?} was not extracted",
                            e.target
                        )))
                    }
                };
                let from = self.parent(&target)?;
                at::hard_link(from.as_fd(), base_name(&target), pfd, &name)
                    .ctx(|| format!("linking {}", p.display()))?;
            }
        }
        self.cur = Some(Current {
            path: p,
            parent: Some(parent),
            name,
            replaces,
            file,
            _partial: partial,
            written: 0,
            skip: false,
            // Bounded: check_shape caps image blobs at IMAGE_BLOB_MAX.
            blob: e
                .image
                .map(|_| Vec::with_capacity(e.size.min(64 << 20) as usize)),
        });
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<()> {
        let c = self.cur.as_mut().expect("data after begin");
        if let Some(b) = c.blob.as_mut() {
            b.extend_from_slice(bytes);
        } else if let Some(f) = c.file.as_mut() {
            f.write_all(bytes)
                .ctx(|| format!("writing {}", c.path.display()))?;
            c.written += bytes.len() as u64;
        }
        Ok(())
    }

    fn hole(&mut self, len: u64) -> Result<()> {
        let c = self.cur.as_mut().expect("hole after begin");
        if let Some(b) = c.blob.as_mut() {
            b.resize(b.len() + len as usize, 0);
        } else if let Some(f) = c.file.as_mut() {
            f.seek(SeekFrom::Current(len as i64))
                .ctx(|| format!("seeking {}", c.path.display()))?;
            c.written += len;
        }
        Ok(())
    }

    /// Copies the source's extracted file (copy_file_range: a reflink where the file system
    /// has them). Declines, so the reader decodes the bytes instead, when the source was not
    /// extracted, cannot be read back (mode 000) or is no longer the file written.
    fn copy(&mut self, source: &Entry) -> Result<bool> {
        let c = self.cur.as_ref().expect("copy after begin");
        if c.skip {
            return Ok(true);
        }
        let source_spelled = spelled(source.escaped, &source.path);
        let Some(src) = self.local(&source_spelled) else {
            return Ok(false);
        };
        let Some(&id) = self.files.get(src) else {
            return Ok(false);
        };
        let parent = self.parent(src)?;
        let mut from = match at::open_read(parent.as_fd(), base_name(src)) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EACCES | libc::ELOOP | libc::ENOENT)
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(Error::io(format!("opening {}", source.path), e)),
        };
        use std::os::unix::fs::MetadataExt;
        let m = from.metadata().ctx(|| format!("stat {}", source.path))?;
        if (m.dev(), m.ino()) != id || m.len() != source.size {
            return Ok(false);
        }
        let c = self.cur.as_mut().expect("copy after begin");
        let Some(to) = c.file.as_mut() else {
            return Ok(false);
        };
        let n = std::io::copy(&mut (&mut from).take(source.size), to)
            .ctx(|| format!("copying {} to {}", source.path, c.path.display()))?;
        if n != source.size {
            // Shrunk under us: start over from the archive's bytes.
            to.set_len(0)
                .and_then(|_| to.seek(SeekFrom::Start(0)))
                .ctx(|| format!("truncating {}", c.path.display()))?;
            return Ok(false);
        }
        c.written += n;
        Ok(true)
    }

    fn end(&mut self, e: &Entry) -> Result<()> {
        let c = self.cur.take().expect("end after begin");
        if c.skip {
            return Ok(());
        }
        self.stats.entries += 1;
        match e.kind {
            Kind::File => {
                let mut c = c;
                if let (Some(blob), Some(info)) = (c.blob.take(), e.image.as_ref()) {
                    // `cur` stays set while the PNG is written, so `abort` removes a partial file.
                    self.cur = Some(c);
                    let n = {
                        let cur = self.cur.as_mut().expect("just set");
                        let path = cur.path.display().to_string();
                        let f = cur.file.as_mut().expect("file entries have a file");
                        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                        let n = crate::image::entry::write_png_compact(
                            &blob,
                            info,
                            &self.opts.decode,
                            &mut w,
                        )?;
                        w.flush().ctx(|| format!("writing {path}"))?;
                        n
                    };
                    c = self.cur.take().expect("just set");
                    c.written = n;
                    self.stats.lossy += 1;
                    self.stats.bytes += n.saturating_sub(e.size);
                }
                let f = c.file.as_ref().expect("file entries have a file");
                // Trailing holes: the length comes from set_len, not from a write.
                f.set_len(c.written)
                    .ctx(|| format!("sizing {}", c.path.display()))?;
                self.cur = Some(c);
                let c = self.cur.as_ref().expect("just set");
                self.set_file_meta(&c.path, e, c.file.as_ref().expect("a file"))?;
                let c = self.cur.take().expect("just set");
                let f = c.file.expect("a file");
                let m = f.metadata().ctx(|| format!("stat {}", c.path.display()))?;
                drop(f);
                if let (Some(target), Some(parent)) = (&c.replaces, &c.parent) {
                    // Complete and verified: now it may take the old file's place.
                    if let Err(err) = at::rename(parent.as_fd(), &c.name, target) {
                        let _ = at::unlink(parent.as_fd(), &c.name, false);
                        return Err(Error::io(format!("replacing {target}"), err));
                    }
                }
                self.stats.files += 1;
                self.stats.bytes += e.size;
                use std::os::unix::fs::MetadataExt;
                let spelled_path = spelled(e.escaped, &e.path);
                if let Some(rel) = self.local(&spelled_path) {
                    self.files.insert(rel.to_string(), (m.dev(), m.ino()));
                }
            }
            Kind::Symlink => self.set_symlink_meta(&c, e)?,
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => self.set_node_meta(&c, e)?,
            Kind::Hardlink | Kind::Dir => {}
        }
        Ok(())
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

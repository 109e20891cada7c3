//! The producer: planned entries read from disk and handed to the builder's layout, which puts
//! them in archive order (spec §4.2.1); what pack adds on top is here — hard links found by
//! inode, copies of identical files, sparse holes, lossy images, inputs that vanish.

use super::*;
use crate::builder::layout::{Layout, Sink, Ticket};

pub(super) fn entry_for(p: &Planned, storage: Storage, size: u64) -> Entry {
    Entry {
        path: p.name.clone(),
        kind: p.kind,
        mode: p.meta.mode() & 0o7777,
        uid: p.meta.uid(),
        gid: p.meta.gid(),
        mtime: p.meta.mtime(),
        mtime_nsec: p.meta.mtime_nsec().clamp(0, 999_999_999) as u32,
        size,
        target: p.target.clone(),
        storage,
        device: if p.kind.is_device() {
            let rdev = p.meta.rdev();
            (libc::major(rdev), libc::minor(rdev))
        } else {
            (0, 0)
        },
        xattrs: p.xattrs.clone(),
        escaped: p.escaped,
        image: None,
    }
}

/// The producer side: reads planned entries into the layout, in plan order.
pub(super) struct Producer<'a, S: Sink> {
    pub(super) layout: Layout<S>,
    /// Files stored so far by (device, inode), for later names of the same inode.
    pub(super) links: HashMap<(u64, u64), String>,
    /// Lossy image coding: quality and the `--lossy` globs.
    pub(super) image: Option<(u8, globset::GlobSet)>,
    /// Neural payloads by content hash, when the image codec is neural.
    pub(super) bundle: Option<&'a Bundle>,
    /// Entries stored as lossy images.
    pub(super) lossy: u64,
    /// Per planned entry: the earlier file it probably duplicates ([`dedup::candidates`]).
    pub(super) dup_of: Vec<Option<usize>>,
    /// Planned files that some later file probably duplicates.
    pub(super) wanted: HashSet<usize>,
    /// Those stored so far, by plan index.
    pub(super) sources: HashMap<usize, dedup::Source>,
    /// Files stored as copies, and their bytes.
    pub(super) copies: (u64, u64),
    /// Files that could not be opened and were left out (warned about).
    pub(super) failed: Vec<String>,
}

/// How much small-file data one shared block holds: the block size, or at the ratio-oriented
/// zstd levels (17 and up, whose window is 8 MiB or more) as much as the window, so a tree of
/// small files loses nothing to `tar | zstd -19` (measured on the Python stdlib: +9.9 % with
/// 1 MiB shared blocks). Reading one small file still decodes one block.
pub(super) fn solid_size(opts: &PackOptions) -> usize {
    let window = match opts.level {
        ..=16 => 0,
        17..=19 => 8 << 20,
        20 => 32 << 20,
        _ => 64 << 20,
    };
    opts.block_size.max(window).min(BLOCK_SIZE_MAX)
}

impl<S: Sink> Producer<'_, S> {
    pub(super) fn put(&mut self, i: usize, p: &Planned) -> Result<u64> {
        match p.kind {
            Kind::Dir | Kind::Symlink | Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => {
                self.layout.entry(entry_for(p, Storage::None, 0))?;
                Ok(0)
            }
            Kind::Hardlink => unreachable!("the walk never plans hard links"),
            Kind::File => {
                let key = (p.meta.dev(), p.meta.ino());
                // A hard link names its target in its own spelling: one whose names are in the
                // escape form is stored as a file (deduplicated) instead.
                let linkable = p.meta.nlink() > 1 && !p.escaped;
                if linkable {
                    if let Some(target) = self.links.get(&key) {
                        let mut e = entry_for(p, Storage::None, 0);
                        e.kind = Kind::Hardlink;
                        e.target = target.clone();
                        self.layout.link(e)?;
                        return Ok(0);
                    }
                }
                // Only a file that was stored can be the target of later hard links.
                let Some(n) = self.file(i, p)? else {
                    return Ok(0);
                };
                if linkable {
                    self.links.insert(key, p.name.clone());
                }
                Ok(n)
            }
        }
    }

    /// Whether a file is a candidate for lossy image coding.
    pub(super) fn wants_image(&self, p: &Planned) -> bool {
        wants_image(&self.image, p)
    }

    /// Stores in-memory content (an image blob, or a file read whole) under `p`'s entry.
    pub(super) fn content(
        &mut self,
        p: &Planned,
        data: Vec<u8>,
        image: Option<ImageInfo>,
    ) -> Result<()> {
        let mut e = entry_for(p, Storage::None, data.len() as u64);
        e.image = image;
        self.layout.data(e, &data).map(|_| ())
    }

    /// Stores a regular file; `None` when it could not be opened (warned about and left out,
    /// as tar does: a file that vanished, became unreadable or is no longer a regular file).
    pub(super) fn file(&mut self, i: usize, p: &Planned) -> Result<Option<u64>> {
        let size = p.meta.len();
        if size == 0 {
            self.layout.entry(entry_for(p, Storage::None, 0))?;
            return Ok(Some(0));
        }
        let mut f = match open_regular(&p.src) {
            Ok(f) => f,
            Err(e) => {
                self.failed.push(left_out(e.to_string()));
                return Ok(None);
            }
        };
        let changed = || input_err(&p.src, "changed while it was read");
        let read_err = |e: Option<std::io::Error>| match e {
            Some(e) => Error::io(format!("reading {}", p.src.display()), e),
            None => changed(),
        };
        let now = f.metadata().ctx(|| format!("stat {}", p.src.display()))?;
        if now.len() != size || now.ino() != p.meta.ino() {
            return Err(changed());
        }
        if self.wants_image(p) {
            let mut data = vec![0u8; size as usize];
            read_full(&mut f, &mut data).map_err(read_err)?;
            ensure_at_end(&mut f).map_err(|_| changed())?;
            let quality = self.image.as_ref().map_or(75, |i| i.0);
            let coded = if !data.starts_with(&crate::image::entry::PNG_SIGNATURE) {
                None
            } else if let Some(bundle) = self.bundle {
                neural_blob(bundle, &data, &p.name)?
            } else {
                crate::image::entry::encode_png_file(&data, &p.name, quality)?
            };
            match coded {
                Some((blob, info)) => {
                    self.lossy += 1;
                    self.content(p, blob, Some(info))?
                }
                None => self.content(p, data, None)?,
            }
            return Ok(Some(size));
        }
        if let Some(source) = self.dup_of[i] {
            if self.copy(p, source, &mut f)? {
                return Ok(Some(size));
            }
            std::io::Seek::rewind(&mut f).ctx(|| format!("seeking {}", p.src.display()))?;
        }
        // Only files a later one may copy are hashed as they are stored.
        let mut hash = self.wanted.contains(&i).then(crc32fast::Hasher::new);
        let entry = entry_for(p, Storage::None, size);
        if self.layout.shares(size) {
            let ticket = self.layout.small(entry, |slot| {
                read_full(&mut f, slot).map_err(read_err)?;
                if let Some(h) = hash.as_mut() {
                    h.update(slot);
                }
                Ok(())
            })?;
            ensure_at_end(&mut f).map_err(|_| changed())?;
            self.keep_source(i, p, hash, ticket);
            return Ok(Some(size));
        }
        let ticket = self.layout.large(entry)?;
        let bs = self.layout.block_size() as u64;
        let fd = f.as_raw_fd();
        let mut off = 0u64;
        while off < size {
            let len = bs.min(size - off) as usize;
            if is_hole(fd, off, len as u64) {
                if let Some(h) = hash.as_mut() {
                    let zeros = vec![0u8; len];
                    h.update(&zeros);
                }
                self.layout.zeros(len as u32)?;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Current(len as i64))
                    .ctx(|| format!("seeking {}", p.src.display()))?;
            } else {
                let mut buf = vec![0u8; len];
                read_full(&mut f, &mut buf).map_err(read_err)?;
                if let Some(h) = hash.as_mut() {
                    h.update(&buf);
                }
                self.layout.block(buf)?;
            }
            off += len as u64;
        }
        ensure_at_end(&mut f).map_err(|_| changed())?;
        self.keep_source(i, p, hash, ticket);
        Ok(Some(size))
    }

    /// Remembers a stored file that a later one may copy.
    pub(super) fn keep_source(
        &mut self,
        i: usize,
        p: &Planned,
        hash: Option<crc32fast::Hasher>,
        ticket: Ticket,
    ) {
        if let Some(h) = hash {
            let source = dedup::Source {
                src: p.src.clone(),
                crc: h.finalize(),
                ticket,
            };
            self.sources.insert(i, source);
        }
    }

    /// Stores `p` as a copy of planned file `source` when their bytes are confirmed equal.
    pub(super) fn copy(&mut self, p: &Planned, source: usize, f: &mut File) -> Result<bool> {
        let size = p.meta.len();
        let Some(s) = self.sources.get(&source) else {
            return Ok(false);
        };
        if !dedup::same_bytes(f, size, &p.src, s)? {
            return Ok(false);
        }
        ensure_at_end(f).map_err(|_| input_err(&p.src, "changed while it was read"))?;
        let ticket = s.ticket;
        self.layout
            .copy(entry_for(p, Storage::None, size), ticket)?;
        self.copies.0 += 1;
        self.copies.1 += size;
        Ok(true)
    }
}
/// True when `[off, off+len)` of the file holds no data (a sparse hole), per SEEK_DATA.
pub(super) fn is_hole(fd: i32, off: u64, len: u64) -> bool {
    // SAFETY: lseek on a valid descriptor has no memory effects; the file position it moves is
    // restored by the caller's explicit seek/read sequence (we re-seek below).
    let cur = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    let data = unsafe { libc::lseek(fd, off as libc::off_t, libc::SEEK_DATA) };
    let err = std::io::Error::last_os_error();
    unsafe { libc::lseek(fd, cur, libc::SEEK_SET) };
    if data < 0 {
        // ENXIO: no data at or after `off`; anything else (EINVAL: unsupported) means "not known".
        return err.raw_os_error() == Some(libc::ENXIO);
    }
    data as u64 >= off + len
}

/// Reads exactly `buf.len()` bytes; `Err(None)` if the file ended early.
pub(super) fn read_full(
    f: &mut File,
    buf: &mut [u8],
) -> std::result::Result<(), Option<std::io::Error>> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => return Err(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(())
}

pub(super) fn ensure_at_end(f: &mut File) -> std::result::Result<(), ()> {
    let mut b = [0u8; 1];
    match f.read(&mut b) {
        Ok(0) => Ok(()),
        _ => Err(()),
    }
}

/// Whether a file is a candidate for lossy image coding.
pub(super) fn wants_image(image: &Option<(u8, globset::GlobSet)>, p: &Planned) -> bool {
    let Some((_, lossy)) = image else {
        return false;
    };
    let base = p.name.rsplit('/').next().unwrap_or(&p.name);
    p.kind == Kind::File
        && p.meta.len() <= IMAGE_INPUT_MAX
        && (lossy.is_empty() || lossy.is_match(&p.name) || lossy.is_match(base))
}

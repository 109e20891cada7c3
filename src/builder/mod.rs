//! Writing an archive from a program: [`Builder`], over any `Write` (a file, a pipe, a
//! `Vec<u8>`), in the manner of tar-rs's `Builder` and zip2's `ZipWriter`.
//!
//! The builder owns the record-ordering rules of the format (spec §4.2.1), in its layout
//! (shared with `yoz pack`, which runs it through a thread pool): small files are gathered into
//! a shared block and listed in the entry group right after it; a file with blocks of its own
//! ends its group, and its blocks follow. Entries land in the archive in the order they are
//! appended, except that a small file (and a hard link to it) waits for its shared block, so it
//! may land after entries appended later; a directory always precedes what is appended into
//! it. Every entry is checked as a reader will check it (path syntax, duplicates, a file used
//! as a directory, hard-link targets, field ranges) when it is appended, so an error names the
//! call that caused it; such a refused entry is not written, and appending goes on. An error
//! after that (reading the content, writing the output) leaves a partial archive: every later
//! call, `finish` included, then fails too.
//!
//! `yoz pack` adds what a tool needs on top (walking a tree, a thread pool, dictionaries,
//! deduplication, sparse files, lossy images).

pub(crate) mod layout;

use crate::codec::{self, Choice};
use crate::container::format::{Entry, Header, Kind};
use crate::container::limits::{EntryChecker, Limits};
use crate::container::RecordWriter;
use crate::error::{Error, Result};
use layout::{Direct, Layout};
use std::io::{Read, Write};
use std::path::Path;

/// How a [`Builder`] compresses.
#[derive(Debug, Clone, Copy)]
pub struct BuilderOptions {
    /// Block codec: [`Choice::Auto`] (zstd, storing what does not shrink) or one fixed codec.
    pub codec: Choice,
    /// Compression level, 1–22 (zstd's scale).
    pub level: i32,
    /// Block size in bytes (4 KiB to 64 MiB): smaller files share blocks.
    pub block_size: usize,
}

impl Default for BuilderOptions {
    fn default() -> Self {
        BuilderOptions {
            codec: Choice::Auto,
            level: 3,
            block_size: 1 << 20,
        }
    }
}

/// Metadata of an appended entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the Unix epoch, and nanoseconds.
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl Default for Meta {
    /// Mode 0644, owned by root, mtime 0: a reproducible default.
    fn default() -> Self {
        Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
        }
    }
}

impl Meta {
    /// The metadata of a file on disk.
    pub fn of(m: &std::fs::Metadata) -> Meta {
        use std::os::unix::fs::MetadataExt;
        Meta {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec().clamp(0, 999_999_999) as u32,
        }
    }

    /// With these permission bits.
    pub fn mode(self, mode: u32) -> Meta {
        Meta { mode, ..self }
    }
}

/// Writes an archive entry by entry.
///
/// ```
/// use yoz::builder::{Builder, Meta};
///
/// let mut b = Builder::new(Vec::new())?;
/// b.append_dir("docs", &Meta::default().mode(0o755))?;
/// b.append_data("docs/hello.txt", b"hello, world\n", &Meta::default())?;
/// b.append_symlink("docs/latest", "hello.txt", &Meta::default())?;
/// let bytes = b.finish()?;
///
/// let ar = yoz::Archive::from_bytes(bytes, Default::default())?;
/// let mut text = String::new();
/// std::io::Read::read_to_string(&mut ar.open_entry("docs/hello.txt")?, &mut text)?;
/// assert_eq!(text, "hello, world\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Builder<W: Write> {
    layout: Layout<Direct<W>>,
    opts: BuilderOptions,
    checker: EntryChecker,
    /// An append failed after its entry was accepted: the output is not an archive.
    broken: bool,
}

impl<W: Write> Builder<W> {
    /// A builder with the default options (zstd level 3, 1 MiB blocks); writes the header.
    pub fn new(out: W) -> Result<Self> {
        Self::with_options(out, BuilderOptions::default())
    }

    /// A builder with explicit options; writes the header, which declares the reader version
    /// the chosen codec needs.
    pub fn with_options(out: W, opts: BuilderOptions) -> Result<Self> {
        if !(1..=22).contains(&opts.level) {
            return Err(Error::InvalidArgument(format!(
                "level {} is outside 1..22",
                opts.level
            )));
        }
        if !(4 << 10..=64 << 20).contains(&opts.block_size) {
            return Err(Error::InvalidArgument(format!(
                "block size {} is outside 4 KiB..64 MiB",
                opts.block_size
            )));
        }
        let minor = codec::choice_reader_minor(opts.codec, opts.level);
        let sink = Direct {
            w: RecordWriter::with_header(out, Header::needing(minor))?,
            choice: opts.codec,
            level: opts.level,
        };
        Ok(Builder {
            layout: Layout::new(sink, opts.block_size, opts.block_size),
            opts,
            checker: EntryChecker::new(Limits::default(), minor),
            broken: false,
        })
    }

    /// Appends a directory.
    pub fn append_dir(&mut self, path: &str, meta: &Meta) -> Result<()> {
        let e = self.entry(path, Kind::Dir, meta)?;
        self.checker.add(&e)?;
        let r = self.layout.entry(e).map(|_| ());
        self.settle(r)
    }

    /// Appends a symbolic link to `target` (stored verbatim; it may point anywhere).
    pub fn append_symlink(&mut self, path: &str, target: &str, meta: &Meta) -> Result<()> {
        if target.is_empty() || target.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidArgument(format!(
                "symlink {path}: a target of {} bytes (1 to 65,535)",
                target.len()
            )));
        }
        let mut e = self.entry(path, Kind::Symlink, meta)?;
        e.target = target.into();
        self.checker.add(&e)?;
        let r = self.layout.entry(e).map(|_| ());
        self.settle(r)
    }

    /// Appends a hard link to `target`, a file appended earlier.
    pub fn append_link(&mut self, path: &str, target: &str, meta: &Meta) -> Result<()> {
        let mut e = self.entry(path, Kind::Hardlink, meta)?;
        e.target = target.into();
        self.checker.add(&e)?;
        let r = self.layout.link(e);
        self.settle(r)
    }

    /// Appends a file whose content is `data`.
    pub fn append_data(&mut self, path: &str, data: &[u8], meta: &Meta) -> Result<()> {
        self.append_reader(path, data, data.len() as u64, meta)
    }

    /// Appends a file of `size` bytes read from `r` (which must hold exactly that many: the
    /// size is written before the content). Large files are read one block at a time.
    pub fn append_reader(
        &mut self,
        path: &str,
        r: impl Read,
        size: u64,
        meta: &Meta,
    ) -> Result<()> {
        let mut e = self.entry(path, Kind::File, meta)?;
        e.size = size;
        self.checker.add(&e)?;
        let r = self.content(e, r, size, path);
        self.settle(r)
    }

    /// Hands an accepted file entry and its `size` bytes from `r` to the layout.
    fn content(&mut self, e: Entry, mut r: impl Read, size: u64, path: &str) -> Result<()> {
        let short = |got: u64| Error::Input {
            path: path.into(),
            why: format!("holds {got} bytes, {size} were declared"),
        };
        let mut read = |buf: &mut [u8], before: u64| -> Result<()> {
            let mut got = 0;
            while got < buf.len() {
                match r.read(&mut buf[got..]) {
                    Ok(0) => return Err(short(before + got as u64)),
                    Ok(n) => got += n,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(Error::io(format!("reading {path}"), err)),
                }
            }
            Ok(())
        };
        if size == 0 {
            self.layout.entry(e)?;
        } else if self.layout.shares(size) {
            self.layout.small(e, |slot| read(slot, 0))?;
        } else {
            self.layout.large(e)?;
            let mut done = 0;
            while done < size {
                let n = (size - done).min(self.opts.block_size as u64) as usize;
                let mut buf = vec![0u8; n];
                read(&mut buf, done)?;
                self.layout.block(buf)?;
                done += n as u64;
            }
        }
        if r.read(&mut [0u8; 1])
            .map_err(|err| Error::io(format!("reading {path}"), err))?
            != 0
        {
            return Err(short(size + 1));
        }
        Ok(())
    }

    /// Appends the file at `fs_path` on disk as `path`, with its metadata.
    pub fn append_file(&mut self, path: &str, fs_path: impl AsRef<Path>) -> Result<()> {
        let fs_path = fs_path.as_ref();
        let f = std::fs::File::open(fs_path)
            .map_err(|err| Error::io(format!("opening {}", fs_path.display()), err))?;
        let m = f
            .metadata()
            .map_err(|err| Error::io(format!("stat {}", fs_path.display()), err))?;
        if !m.is_file() {
            return Err(Error::Input {
                path: fs_path.display().to_string(),
                why: "not a regular file".into(),
            });
        }
        self.append_reader(path, std::io::BufReader::new(f), m.len(), &Meta::of(&m))
    }

    /// Writes what is pending, the end tag, the index and the footer; returns the output.
    pub fn finish(self) -> Result<W> {
        self.usable()?;
        Ok(self.layout.finish()?.w.finish(self.opts.level)?.0)
    }

    /// Refuses every call once an append failed half-way.
    fn usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::InvalidArgument(
                "an earlier append failed after its entry was accepted: the output is not an \
                 archive; drop this builder"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Marks the builder broken when a step after an entry's checks failed.
    fn settle(&mut self, r: Result<()>) -> Result<()> {
        self.broken |= r.is_err();
        r
    }

    /// A checked entry of `kind` at `path` (no storage yet).
    fn entry(&mut self, path: &str, kind: Kind, meta: &Meta) -> Result<Entry> {
        self.usable()?;
        if meta.mtime_nsec >= 1_000_000_000 {
            return Err(Error::InvalidArgument(format!(
                "{path}: mtime_nsec {} is not below 10^9",
                meta.mtime_nsec
            )));
        }
        if meta.mode & !0o7777 != 0 {
            return Err(Error::InvalidArgument(format!(
                "mode {:o} has bits above 0o7777",
                meta.mode
            )));
        }
        crate::path::validate(path)?;
        Ok(Entry {
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            mtime: meta.mtime,
            mtime_nsec: meta.mtime_nsec,
            ..Entry::new(path, kind)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::format::Storage;
    use crate::container::{read_stream, Archive, NullSink};

    fn read(ar: &Archive, path: &str) -> Vec<u8> {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut ar.open_entry(path).unwrap(), &mut v).unwrap();
        v
    }

    /// A builder with 4 KiB blocks, so small tests cross block boundaries.
    fn small_blocks() -> Builder<Vec<u8>> {
        let opts = BuilderOptions {
            block_size: 4096,
            ..Default::default()
        };
        Builder::with_options(Vec::new(), opts).unwrap()
    }

    #[test]
    fn writes_an_archive_both_readers_accept() {
        let mut b = small_blocks();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        b.append_dir("d", &Meta::default().mode(0o755)).unwrap();
        b.append_data("d/a.txt", b"small a", &Meta::default())
            .unwrap();
        b.append_data("d/empty", b"", &Meta::default()).unwrap();
        b.append_data("d/big.bin", &big, &Meta::default()).unwrap();
        b.append_data("d/b.txt", b"small b", &Meta::default().mode(0o600))
            .unwrap();
        b.append_symlink("d/s", "a.txt", &Meta::default()).unwrap();
        b.append_link("d/h", "d/a.txt", &Meta::default()).unwrap();
        b.append_data("top-level.txt", &[0u8; 3000], &Meta::default())
            .unwrap();
        let bytes = b.finish().unwrap();
        read_stream(&bytes[..], &mut NullSink, Default::default()).unwrap();
        let ar = Archive::from_bytes(bytes, Default::default()).unwrap();
        ar.check_records().unwrap();
        let names: Vec<&str> = ar.entries().iter().map(|e| e.path.as_str()).collect();
        // Append order, except that the small files wait for their shared block (written at
        // `finish`) and the hard link to one of them waits with it.
        assert_eq!(
            names,
            [
                "d",
                "d/empty",
                "d/big.bin",
                "d/s",
                "d/a.txt",
                "d/b.txt",
                "top-level.txt",
                "d/h"
            ]
        );
        assert_eq!(read(&ar, "d/big.bin"), big);
        assert_eq!(read(&ar, "d/a.txt"), b"small a");
        assert_eq!(read(&ar, "d/b.txt"), b"small b");
        assert_eq!(read(&ar, "top-level.txt"), vec![0u8; 3000]);
        let e = &ar.entries()[ar.find("d/big.bin").unwrap()];
        assert!(matches!(e.storage, Storage::Blocks { count: 5, .. }));
        assert_eq!(ar.entries()[ar.find("d/b.txt").unwrap()].mode, 0o600);
        assert_eq!(ar.entries()[ar.find("d/s").unwrap()].target, "a.txt");
    }

    /// Files of every size around the block size, in and out of directories, in a random
    /// order: both readers accept the archive and every file reads back.
    #[test]
    fn any_sequence_of_sizes_round_trips() {
        let mut b = small_blocks();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let mut files = Vec::new();
        for d in 0..4 {
            b.append_dir(&format!("d{d}"), &Meta::default()).unwrap();
        }
        for i in 0..150 {
            let size = match next() % 4 {
                0 => next() % 64,
                1 => 2000 + next() % 200,
                2 => 4096 * (1 + next() % 3) + next() % 5 - 2,
                _ => next() % 13_000,
            };
            let data: Vec<u8> = (0..size).map(|_| (next() % 7) as u8 + b'a').collect();
            let path = format!("d{}/f{i}", next() % 4);
            b.append_data(&path, &data, &Meta::default()).unwrap();
            files.push((path, data));
        }
        let bytes = b.finish().unwrap();
        read_stream(&bytes[..], &mut NullSink, Default::default()).unwrap();
        let ar = Archive::from_bytes(bytes, Default::default()).unwrap();
        ar.check_records().unwrap();
        for b in ar.blocks() {
            assert!(b.raw_len as usize <= 4096, "a block of {}", b.raw_len);
        }
        for (path, data) in &files {
            assert!(read(&ar, path) == *data, "{path}");
        }
    }

    #[test]
    fn refuses_what_a_reader_would_refuse() {
        let mut b = Builder::new(Vec::new()).unwrap();
        let m = Meta::default();
        assert_eq!(
            b.append_data("../x", b"1", &m).unwrap_err().class(),
            "path-escape"
        );
        assert_eq!(
            b.append_data("/abs", b"1", &m).unwrap_err().class(),
            "path-escape"
        );
        b.append_data("f", b"1", &m).unwrap();
        assert_eq!(
            b.append_data("f", b"2", &m).unwrap_err().class(),
            "duplicate-path"
        );
        assert_eq!(
            b.append_data("f/g", b"2", &m).unwrap_err().class(),
            "path-conflict"
        );
        assert!(b.append_link("l", "nowhere", &m).is_err());
        assert_eq!(
            b.append_reader("short", &b"abc"[..], 5, &m)
                .unwrap_err()
                .class(),
            "input"
        );
        assert_eq!(
            Builder::with_options(
                Vec::new(),
                BuilderOptions {
                    level: 0,
                    ..Default::default()
                }
            )
            .err()
            .map(|e| e.class()),
            Some("usage")
        );
    }

    #[test]
    fn refuses_fields_a_reader_would_refuse_and_goes_on() {
        let mut b = Builder::new(Vec::new()).unwrap();
        let m = Meta::default();
        let late = Meta {
            mtime_nsec: 1_000_000_000,
            ..m
        };
        for err in [
            b.append_data("a", b"1", &late).unwrap_err(),
            b.append_symlink("s", "", &m).unwrap_err(),
            b.append_symlink("s", &"t".repeat(65_536), &m).unwrap_err(),
        ] {
            assert_eq!(err.class(), "usage", "{err}");
        }
        b.append_symlink("s", &"t".repeat(65_535), &m).unwrap();
        let ar = Archive::from_bytes(b.finish().unwrap(), Default::default()).unwrap();
        assert_eq!(ar.entries().len(), 1);
        assert_eq!(ar.entries()[0].target.len(), 65_535);
    }

    /// A content error leaves a partial archive: every later call says so, `finish` included,
    /// instead of writing an archive with a file's blocks missing.
    #[test]
    fn a_failed_content_read_breaks_the_builder() {
        let mut b = small_blocks();
        let m = Meta::default();
        b.append_data("ok", b"fine", &m).unwrap();
        let err = b
            .append_reader("big", &[0u8; 10_000][..], 20_000, &m)
            .unwrap_err();
        assert_eq!(err.class(), "input");
        assert_eq!(b.append_dir("d", &m).unwrap_err().class(), "usage");
        let err = b.finish().unwrap_err();
        assert!(err.to_string().contains("drop this builder"), "{err}");
    }

    #[test]
    fn lzr_archives_declare_the_version_they_need() {
        let opts = BuilderOptions {
            codec: Choice::Fixed(codec::id::LZR),
            ..Default::default()
        };
        let mut b = Builder::with_options(Vec::new(), opts).unwrap();
        b.append_data("t", &b"the same words again ".repeat(400), &Meta::default())
            .unwrap();
        let ar = Archive::from_bytes(b.finish().unwrap(), Default::default()).unwrap();
        assert_eq!(ar.header().reader_minor, 3);
        assert_eq!(read(&ar, "t"), b"the same words again ".repeat(400));
    }
}

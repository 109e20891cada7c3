//! Packing a tree of files into an archive: walk, plan, then the `pipeline` where the main
//! thread reads, `threads` workers compress blocks, and one writer thread writes them in order,
//! so the bytes are the same for any thread count (spec §4 ordering rules are applied here, by
//! the `Producer`).

use crate::codec::dict::ZstdDict;
use crate::codec::{self, Choice, Encoded};
use crate::container::format::{
    BlockInfo, Entry, ImageInfo, Kind, Storage, BLOCK_SIZE_MAX, BLOCK_SIZE_MIN, NO_RESOURCE,
};
use crate::error::{Error, IoContext, Result};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

mod dedup;
mod dictionary;
mod pipeline;

/// Settings for one pack run.
#[derive(Debug, Clone)]
pub struct PackOptions {
    pub codec: Choice,
    pub level: i32,
    pub block_size: usize,
    pub threads: usize,
    /// Glob patterns; an entry whose path or file name matches is left out (with its subtree).
    pub exclude: Vec<String>,
    /// Show a progress bar on stderr (the CLI sets this when stderr is a terminal).
    pub progress: bool,
    /// Record this owner instead of the files' own (reproducible archives, like tar --owner).
    pub owner: Option<(u32, u32)>,
    /// Record this mtime (seconds) instead of the files' own (like tar --mtime).
    pub mtime: Option<i64>,
    /// Encode PNGs with a lossy image codec (never without being asked).
    pub image: Option<ImageOptions>,
    /// Consider a zstd dictionary for the shared blocks (kept only where a trial says it pays).
    pub dictionary: bool,
    /// Relative inputs are read from this directory and named as given (tar's `-C DIR`).
    pub directory: Option<PathBuf>,
    /// Print each entry's name on stderr as it is packed.
    pub verbose: bool,
    /// Do not descend into directories on another file system than their input's (tar's
    /// `--one-file-system`); the mount point itself is archived, empty.
    pub one_file_system: bool,
}

/// `--image-codec dct [--quality Q] [--lossy GLOB]...`
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// 1..=100, higher is better and bigger (libjpeg's scale).
    pub quality: u8,
    /// Only entries whose path or file name match one of these (all PNGs when empty).
    pub lossy: Vec<String>,
    /// Which lossy codec.
    pub codec: ImageCodec,
}

/// The lossy image codec `pack` uses.
#[derive(Debug, Clone, Default)]
pub enum ImageCodec {
    /// The DCT codec (spec/codec-dct.md), encoded in-process.
    #[default]
    Dct,
    /// The neural codec: payloads from a bundle, or from running `yoz-train` first.
    #[cfg(feature = "neural")]
    Neural {
        train: crate::neural::train::TrainOptions,
        /// `--from-bundle DIR`: pack payloads trained earlier instead of training.
        bundle: Option<PathBuf>,
    },
}

/// Largest input file considered for lossy encoding (it is read whole).
const IMAGE_INPUT_MAX: u64 = 512 << 20;

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            codec: Choice::Auto,
            level: 3,
            block_size: crate::container::format::BLOCK_SIZE_DEFAULT,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            exclude: Vec::new(),
            progress: false,
            owner: None,
            mtime: None,
            image: None,
            dictionary: true,
            directory: None,
            verbose: false,
            one_file_system: false,
        }
    }
}

/// What a pack run did.
#[derive(Debug, Default, Clone)]
pub struct PackStats {
    pub entries: u64,
    pub input_bytes: u64,
    pub archive_bytes: u64,
    pub blocks: u64,
    /// Entries stored as lossy images.
    pub lossy: u64,
    /// Files stored as copies of identical earlier files, and their bytes.
    pub copies: u64,
    pub copied_bytes: u64,
    /// Warnings printed about skipped inputs (FIFOs, sockets, devices).
    pub skipped: Vec<String>,
    /// Inputs that could not be read and were left out (warned about as they were met).
    pub failed: Vec<String>,
}

/// One thing to put in the archive, found by the walk.
struct Planned {
    src: PathBuf,
    name: String,
    kind: Kind,
    meta: Metadata,
    target: String,
}

/// The block size `pack` uses unless told otherwise: as much as the zstd level's match window
/// sees (4 MiB from level 8, 8 MiB from 17), so the ratio levels lose little to block
/// boundaries (`../shared/corpus` at level 19: +3.1 % over `tar | zstd` with 1 MiB blocks,
/// +0.05 % with 8 MiB), and 1 MiB below level 8, where random reads (a mount, `cat` of one
/// file) decode at most 1 MiB.
pub fn default_block_size(level: i32) -> usize {
    match level {
        ..=7 => 1 << 20,
        8..=16 => 4 << 20,
        _ => 8 << 20,
    }
}

/// Parses a `--block-size` value: bytes with an optional K or M suffix (binary units).
pub fn parse_block_size(s: &str) -> Result<usize> {
    let (num, mul) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1usize << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("bad block size {s:?}")))?;
    let n = n.saturating_mul(mul);
    if !(BLOCK_SIZE_MIN..=BLOCK_SIZE_MAX).contains(&n) {
        return Err(Error::InvalidArgument(format!(
            "block size {s} is outside 4K..64M"
        )));
    }
    Ok(n)
}

/// Packs `inputs` into the archive at `out`, through a temporary file renamed at the end, so a
/// failed pack leaves nothing behind and never damages an existing archive.
pub fn pack_to_path(
    inputs: &[PathBuf],
    out: &Path,
    force: bool,
    opts: &PackOptions,
) -> Result<PackStats> {
    // Said before anything is read or compressed, not when the finished archive is renamed.
    if fs::metadata(out).is_ok_and(|m| m.is_dir()) {
        return Err(Error::InvalidArgument(format!(
            "-o {} is a directory; name the archive file",
            out.display()
        )));
    }
    if !force && fs::symlink_metadata(out).is_ok() {
        return Err(Error::Exists {
            path: out.display().to_string(),
        });
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let canon_out = fs::canonicalize(&dir)
        .ctx(|| format!("output directory {}", dir.display()))?
        .join(
            out.file_name()
                .ok_or_else(|| Error::InvalidArgument("output has no file name".into()))?,
        );
    let plan = plan(inputs, Some(&canon_out), opts)?;
    use std::os::unix::fs::PermissionsExt;
    let (tmp, _registered) = crate::cleanup::create(
        || {
            tempfile::Builder::new()
                .prefix(".yoz-tmp-")
                // An archive is an ordinary file: 0666 less the umask, like any file a tool
                // creates.
                .permissions(fs::Permissions::from_mode(0o666))
                .tempfile_in(&dir)
        },
        |t| t.path().to_path_buf(),
    )
    .ctx(|| format!("creating a temporary file in {}", dir.display()))?;
    let w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    let (w, mut stats) = pack_plan(plan, w, opts)?;
    let tmp = w
        .into_inner()
        .map_err(|e| Error::io("flushing archive", e.into_error()))?;
    tmp.as_file().sync_all().ctx(|| "syncing archive".into())?;
    let res = if force {
        tmp.persist(out).map(|_| ())
    } else {
        tmp.persist_noclobber(out).map(|_| ())
    };
    res.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists {
                path: out.display().to_string(),
            }
        } else {
            Error::io(format!("renaming archive to {}", out.display()), e.error)
        }
    })?;
    stats.archive_bytes = fs::metadata(out)
        .map(|m| m.len())
        .unwrap_or(stats.archive_bytes);
    Ok(stats)
}

/// Packs `inputs` into any writer (stdout included); returns the writer when done.
pub fn pack_to_writer<W: Write + Send>(
    inputs: &[PathBuf],
    out: W,
    opts: &PackOptions,
) -> Result<(W, PackStats)> {
    let plan = plan(inputs, None, opts)?;
    pack_plan(plan, out, opts)
}

fn build_excludes(globs: &[String]) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        b.add(
            globset::Glob::new(g)
                .map_err(|e| Error::InvalidArgument(format!("bad --exclude {g:?}: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| Error::InvalidArgument(format!("bad --exclude: {e}")))
}

fn input_err(p: &Path, why: impl Into<String>) -> Error {
    Error::Input {
        path: p.display().to_string(),
        why: why.into(),
    }
}

/// What the walk found: the entries in the order they will be written, and what it left out.
struct Walk {
    excludes: globset::GlobSet,
    plan: Vec<Planned>,
    names: HashMap<String, PathBuf>,
    /// Inputs left out on purpose (FIFOs, sockets, devices), each warned about.
    skipped: Vec<String>,
    /// Inputs that could not be read (tar's "Cannot open"), each warned about; the archive
    /// holds everything else and pack exits 2.
    failed: Vec<String>,
    /// The archive being written, when it lies inside the inputs: (device, inode) of its
    /// directory and its file name. It is left out, as tar does ("file is the archive").
    output: Option<(u64, u64, std::ffi::OsString)>,
    /// With `--one-file-system`: the device of the input being walked.
    one_fs: Option<u64>,
    one_file_system: bool,
}

impl Walk {
    /// Whether `p` is the archive being written (then said, and left out).
    fn is_output(&self, p: &Path) -> bool {
        let Some((dev, ino, name)) = &self.output else {
            return false;
        };
        let parent = match p.parent() {
            Some(d) if d.as_os_str().is_empty() => Path::new("."),
            Some(d) => d,
            None => return false,
        };
        let same = p.file_name() == Some(name.as_os_str())
            && fs::metadata(parent).is_ok_and(|m| (m.dev(), m.ino()) == (*dev, *ino));
        if same {
            eprintln!(
                "yoz: notice: {}: is the archive being written; not packed",
                p.display()
            );
        }
        same
    }

    /// Warns about an input that cannot be read and leaves it out.
    fn fail(&mut self, p: &Path, why: impl std::fmt::Display) {
        self.failed
            .push(left_out(format!("{}: {why}", p.display())));
    }
}

/// Says that an input could not be read and is left out (tar's "Cannot open"); returns the
/// message for the pack's tally ([`PackStats::failed`]).
fn left_out(msg: String) -> String {
    eprintln!("yoz: warning: {msg} (left out)");
    msg
}

/// Walks the inputs into a list of entries, in the order they will be written. An input or a
/// file under one that cannot be read is a warning, not an error (as in tar): the walk goes on.
fn plan(inputs: &[PathBuf], out: Option<&Path>, opts: &PackOptions) -> Result<Walk> {
    let output = out.and_then(|o| {
        let m = fs::metadata(o.parent()?).ok()?;
        Some((m.dev(), m.ino(), o.file_name()?.to_os_string()))
    });
    let mut walk = Walk {
        excludes: build_excludes(&opts.exclude)?,
        plan: Vec::new(),
        names: HashMap::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        output,
        one_fs: None,
        one_file_system: opts.one_file_system,
    };
    for input in inputs {
        // With -C DIR, a relative input is read from DIR and named as given.
        let src = match &opts.directory {
            Some(d) if input.is_relative() => d.join(input),
            _ => input.clone(),
        };
        let meta = match fs::symlink_metadata(&src) {
            Ok(m) => m,
            Err(e) => {
                walk.fail(&src, e);
                continue;
            }
        };
        let Some(s) = input.to_str() else {
            walk.fail(input, "name is not UTF-8");
            continue;
        };
        let name = match crate::path::clean_relative(s) {
            Some(n) => n,
            None => match input.components().next_back() {
                Some(Component::Normal(c)) => match c.to_str() {
                    Some(c) => c.to_string(),
                    None => {
                        walk.fail(input, "name is not UTF-8");
                        continue;
                    }
                },
                _ => return Err(input_err(input, "has no last component to name it by")),
            },
        };
        walk.one_fs = walk.one_file_system.then_some(meta.dev());
        if name.is_empty() {
            if !meta.is_dir() {
                return Err(input_err(input, "is not a directory"));
            }
            walk.dir(&src, "")?;
        } else if !walk.is_output(&src) {
            walk.add(src, name, meta)?;
        }
    }
    Ok(walk)
}

impl Walk {
    /// tar's matching of `--exclude`: a pattern matches the entry's name or any trailing part
    /// of it (`b/c` and `c` of `a/b/c`), and one starting with `/` the file's absolute path
    /// (`--exclude /usr/share/doc/adduser` while packing `/usr/share/doc`).
    fn excluded(&self, src: &Path, name: &str) -> bool {
        let mut rest = name;
        loop {
            if self.excludes.is_match(rest) {
                return true;
            }
            match rest.split_once('/') {
                Some((_, r)) => rest = r,
                None => break,
            }
        }
        std::path::absolute(src).is_ok_and(|abs| self.excludes.is_match(abs))
    }

    fn add(&mut self, src: PathBuf, name: String, meta: Metadata) -> Result<()> {
        if self.excluded(&src, &name) {
            return Ok(());
        }
        crate::path::validate(&name).map_err(|e| input_err(&src, e.to_string()))?;
        if let Some(prev) = self.names.get(&name) {
            return Err(input_err(
                &src,
                format!(
                    "maps to the entry name {name:?}, as {} does",
                    prev.display()
                ),
            ));
        }
        let ft = meta.file_type();
        let (kind, target) = if ft.is_dir() {
            (Kind::Dir, String::new())
        } else if ft.is_file() {
            (Kind::File, String::new())
        } else if ft.is_symlink() {
            let t = match fs::read_link(&src) {
                Ok(t) => t,
                Err(e) => {
                    self.fail(&src, e);
                    return Ok(());
                }
            };
            let Some(t) = t.to_str().map(str::to_string) else {
                self.fail(&src, "symlink target is not UTF-8");
                return Ok(());
            };
            if t.is_empty() || t.len() > crate::container::format::PATH_MAX {
                return Err(input_err(&src, "symlink target is empty or too long"));
            }
            (Kind::Symlink, t)
        } else {
            let what = if ft.is_fifo() {
                "FIFO"
            } else if ft.is_socket() {
                "socket"
            } else {
                "device"
            };
            let msg = format!("skipping {} ({what})", src.display());
            eprintln!("yoz: warning: {msg}");
            self.skipped.push(msg);
            return Ok(());
        };
        self.names.insert(name.clone(), src.clone());
        let is_dir = kind == Kind::Dir;
        self.plan.push(Planned {
            src: src.clone(),
            name: name.clone(),
            kind,
            meta,
            target,
        });
        if is_dir {
            match self.one_fs {
                Some(dev) if self.plan.last().is_some_and(|p| p.meta.dev() != dev) => {
                    eprintln!(
                        "yoz: notice: {}: on another file system; not descended into",
                        src.display()
                    );
                }
                _ => self.dir(&src, &name)?,
            }
        }
        Ok(())
    }

    /// Adds a directory's children, sorted by name. A directory that cannot be listed keeps its
    /// own entry (added by the caller) and is warned about.
    fn dir(&mut self, dir: &Path, prefix: &str) -> Result<()> {
        let mut children = Vec::new();
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.fail(dir, e);
                return Ok(());
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(ent) => ent,
                Err(e) => {
                    self.fail(dir, e);
                    break;
                }
            };
            match ent.file_name().to_str() {
                Some(f) => children.push((f.to_string(), ent.path())),
                None => self.fail(&ent.path(), "name is not UTF-8"),
            }
        }
        children.sort();
        let out_here = self.output.as_ref().is_some_and(|(dev, ino, _)| {
            fs::metadata(dir).is_ok_and(|m| (m.dev(), m.ino()) == (*dev, *ino))
        });
        for (fname, path) in children {
            if out_here && self.is_output(&path) {
                continue;
            }
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.fail(&path, e);
                    continue;
                }
            };
            let name = if prefix.is_empty() {
                fname
            } else {
                format!("{prefix}/{fname}")
            };
            self.add(path, name, meta)?;
        }
        Ok(())
    }
}

enum Job {
    Group(Vec<Entry>),
    Block(Vec<u8>),
    /// A shared block of small files: compressed with the archive's dictionary, if any.
    Shared(Vec<u8>),
    Zeros(u32),
}

enum Done {
    Group(crate::container::format::GroupInfo, Vec<u8>, Vec<Entry>),
    Block(BlockInfo, Vec<u8>),
}

fn entry_for(p: &Planned, storage: Storage, size: u64) -> Entry {
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
        image: None,
    }
}

/// One data block, encoded and described by its record header.
fn encode(raw: &[u8], choice: Choice, level: i32, dict: Option<(&ZstdDict, u32)>) -> Result<Done> {
    let enc: Encoded = codec::encode_block_with(raw, choice, level, dict)?;
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

fn compress_job(job: Job, choice: Choice, level: i32, dict: Option<&ZstdDict>) -> Result<Done> {
    match job {
        Job::Group(entries) => {
            let (info, payload) = crate::container::writer::encode_group(&entries, level)?;
            Ok(Done::Group(info, payload, entries))
        }
        // The dictionary, when there is one, is resource 0, written before any block.
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

/// The producer side: turns planned entries into jobs in archive order.
struct Producer<'a> {
    send: &'a mut dyn FnMut(Job) -> Result<()>,
    block_size: usize,
    next_block: u32,
    solid: Vec<u8>,
    members: Vec<Entry>,
    member_names: HashSet<String>,
    deferred_links: Vec<Entry>,
    links: HashMap<(u64, u64), String>,
    /// Capacity of a shared block (see [`solid_size`]).
    solid_size: usize,
    /// Lossy image coding: quality and the `--lossy` globs.
    image: Option<(u8, globset::GlobSet)>,
    /// Neural payloads by content hash, when the image codec is neural.
    bundle: Option<&'a Bundle>,
    /// Entries stored as lossy images.
    lossy: u64,
    /// Entries waiting to be written as one group, and their approximate encoded size.
    group: Vec<Entry>,
    group_len: usize,
    /// Entries placed in groups so far: the next one's number in archive order.
    placed: u32,
    /// Per planned entry: its number in archive order once placed (`u32::MAX` before).
    archive_index: Vec<u32>,
    /// Plan index of each member of the current shared block.
    member_plan: Vec<usize>,
    /// Per planned entry: the earlier file it probably duplicates ([`dedup::candidates`]).
    dup_of: Vec<Option<usize>>,
    /// Planned files that some later file probably duplicates.
    wanted: HashSet<usize>,
    /// Those stored so far, by plan index.
    sources: HashMap<usize, dedup::Source>,
    /// Copies whose source is a member of the current shared block (placed after it).
    deferred_copies: Vec<(Entry, usize)>,
    /// Files stored as copies, and their bytes.
    copies: (u64, u64),
    /// Files that could not be opened and were left out (warned about).
    failed: Vec<String>,
}

/// How much small-file data one shared block holds: the block size, or at the ratio-oriented
/// zstd levels (17 and up, whose window is 8 MiB or more) as much as the window, so a tree of
/// small files loses nothing to `tar | zstd -19` (measured on the Python stdlib: +9.9 % with
/// 1 MiB shared blocks). Reading one small file still decodes one block.
fn solid_size(opts: &PackOptions) -> usize {
    let window = match opts.level {
        ..=16 => 0,
        17..=19 => 8 << 20,
        20 => 32 << 20,
        _ => 64 << 20,
    };
    opts.block_size.max(window).min(BLOCK_SIZE_MAX)
}

/// A group is flushed once its entries take about this many bytes (before compression).
const GROUP_TARGET: usize = 1 << 20;

impl Producer<'_> {
    fn push(&mut self, e: Entry) -> Result<()> {
        self.place(e, None);
        if self.group_len >= GROUP_TARGET {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Appends an entry to the current group: its number in archive order is now fixed.
    fn place(&mut self, e: Entry, plan: Option<usize>) {
        self.group_len += crate::container::format::ENTRY_MIN_LEN + e.path.len() + e.target.len();
        if let Some(i) = plan {
            self.archive_index[i] = self.placed;
        }
        self.placed += 1;
        self.group.push(e);
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.group.is_empty() {
            return Ok(());
        }
        self.group_len = 0;
        let g = std::mem::take(&mut self.group);
        (self.send)(Job::Group(g))
    }

    fn flush_solid(&mut self) -> Result<()> {
        if self.members.is_empty() {
            return Ok(());
        }
        let block = self.next_block;
        self.next_block += 1;
        let data = std::mem::take(&mut self.solid);
        // The members' group must be the first group after their block (§4.2): pending
        // entries ride along, and the group is closed right away.
        (self.send)(Job::Shared(data))?;
        let plans = std::mem::take(&mut self.member_plan);
        for (mut e, i) in std::mem::take(&mut self.members).into_iter().zip(plans) {
            if let Storage::Shared { offset, .. } = e.storage {
                e.storage = Storage::Shared { block, offset };
            }
            self.place(e, Some(i));
        }
        for e in std::mem::take(&mut self.deferred_links) {
            self.place(e, None);
        }
        for (mut e, source) in std::mem::take(&mut self.deferred_copies) {
            e.storage = Storage::Same {
                entry: self.archive_index[source],
            };
            self.place(e, None);
        }
        self.member_names.clear();
        self.flush_group()
    }

    fn put(&mut self, i: usize, p: &Planned) -> Result<u64> {
        match p.kind {
            Kind::Dir | Kind::Symlink => {
                self.push(entry_for(p, Storage::None, 0))?;
                Ok(0)
            }
            Kind::Hardlink => unreachable!("the walk never plans hard links"),
            Kind::File => {
                let key = (p.meta.dev(), p.meta.ino());
                if p.meta.nlink() > 1 {
                    if let Some(target) = self.links.get(&key) {
                        let mut e = entry_for(p, Storage::None, 0);
                        e.kind = Kind::Hardlink;
                        e.target = target.clone();
                        if self.member_names.contains(target) {
                            self.deferred_links.push(e);
                        } else {
                            self.push(e)?;
                        }
                        return Ok(0);
                    }
                }
                // Only a file that was stored can be the target of later hard links.
                let Some(n) = self.file(i, p)? else {
                    return Ok(0);
                };
                if p.meta.nlink() > 1 {
                    self.links.insert(key, p.name.clone());
                }
                Ok(n)
            }
        }
    }

    /// Whether a file is a candidate for lossy image coding.
    fn wants_image(&self, p: &Planned) -> bool {
        wants_image(&self.image, p)
    }

    /// Stores in-memory content (an image blob, or a file read whole) under `p`'s entry.
    fn content(
        &mut self,
        i: usize,
        p: &Planned,
        data: Vec<u8>,
        image: Option<ImageInfo>,
    ) -> Result<()> {
        let size = data.len() as u64;
        let entry = |storage| {
            let mut e = entry_for(p, storage, size);
            e.image = image;
            e
        };
        if data.len() < self.block_size {
            if self.solid.len() + data.len() > self.solid_size {
                self.flush_solid()?;
            }
            let offset = self.solid.len() as u32;
            self.solid.extend_from_slice(&data);
            self.members
                .push(entry(Storage::Shared { block: 0, offset }));
            self.member_plan.push(i);
            self.member_names.insert(p.name.clone());
            return Ok(());
        }
        let count = data.len().div_ceil(self.block_size) as u32;
        let first = self.next_block;
        self.next_block += count;
        self.place(entry(Storage::Blocks { first, count }), Some(i));
        self.flush_group()?;
        for chunk in data.chunks(self.block_size) {
            (self.send)(Job::Block(chunk.to_vec()))?;
        }
        Ok(())
    }

    /// Stores a regular file; `None` when it could not be opened (warned about and left out,
    /// as tar does: a file that vanished, became unreadable or is no longer a regular file).
    fn file(&mut self, i: usize, p: &Planned) -> Result<Option<u64>> {
        let size = p.meta.len();
        if size == 0 {
            self.push(entry_for(p, Storage::None, 0))?;
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
        let now = f.metadata().ctx(|| format!("stat {}", p.src.display()))?;
        if now.len() != size || now.ino() != p.meta.ino() {
            return Err(changed());
        }
        if self.wants_image(p) {
            let mut data = vec![0u8; size as usize];
            read_full(&mut f, &mut data).map_err(|e| match e {
                Some(e) => Error::io(format!("reading {}", p.src.display()), e),
                None => changed(),
            })?;
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
                    self.content(i, p, blob, Some(info))?
                }
                None => self.content(i, p, data, None)?,
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
        if (size as usize) < self.block_size {
            if self.solid.len() + size as usize > self.solid_size {
                self.flush_solid()?;
            }
            let offset = self.solid.len();
            self.solid.resize(offset + size as usize, 0);
            read_full(&mut f, &mut self.solid[offset..]).map_err(|e| match e {
                Some(e) => Error::io(format!("reading {}", p.src.display()), e),
                None => changed(),
            })?;
            ensure_at_end(&mut f).map_err(|_| changed())?;
            if let Some(h) = hash.as_mut() {
                h.update(&self.solid[offset..]);
            }
            self.members.push(entry_for(
                p,
                Storage::Shared {
                    block: 0,
                    offset: offset as u32,
                },
                size,
            ));
            self.member_plan.push(i);
            self.member_names.insert(p.name.clone());
            self.keep_source(i, p, hash);
            return Ok(Some(size));
        }
        let bs = self.block_size as u64;
        let count = size.div_ceil(bs);
        let first = self.next_block;
        self.next_block += count as u32;
        // An entry with blocks closes its group; its blocks follow the group (§4.2).
        self.place(
            entry_for(
                p,
                Storage::Blocks {
                    first,
                    count: count as u32,
                },
                size,
            ),
            Some(i),
        );
        self.flush_group()?;
        let fd = f.as_raw_fd();
        let mut off = 0u64;
        while off < size {
            let len = bs.min(size - off) as usize;
            if is_hole(fd, off, len as u64) {
                if let Some(h) = hash.as_mut() {
                    let zeros = vec![0u8; len];
                    h.update(&zeros);
                }
                (self.send)(Job::Zeros(len as u32))?;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Current(len as i64))
                    .ctx(|| format!("seeking {}", p.src.display()))?;
            } else {
                let mut buf = vec![0u8; len];
                read_full(&mut f, &mut buf).map_err(|e| match e {
                    Some(e) => Error::io(format!("reading {}", p.src.display()), e),
                    None => changed(),
                })?;
                if let Some(h) = hash.as_mut() {
                    h.update(&buf);
                }
                (self.send)(Job::Block(buf))?;
            }
            off += len as u64;
        }
        ensure_at_end(&mut f).map_err(|_| changed())?;
        self.keep_source(i, p, hash);
        Ok(Some(size))
    }

    /// Remembers a stored file that a later one may copy.
    fn keep_source(&mut self, i: usize, p: &Planned, hash: Option<crc32fast::Hasher>) {
        if let Some(h) = hash {
            let source = dedup::Source {
                src: p.src.clone(),
                crc: h.finalize(),
            };
            self.sources.insert(i, source);
        }
    }

    /// Stores `p` as a copy of planned file `source` when their bytes are confirmed equal.
    fn copy(&mut self, p: &Planned, source: usize, f: &mut File) -> Result<bool> {
        let size = p.meta.len();
        let Some(s) = self.sources.get(&source) else {
            return Ok(false);
        };
        if !dedup::same_bytes(f, size, &p.src, s)? {
            return Ok(false);
        }
        ensure_at_end(f).map_err(|_| input_err(&p.src, "changed while it was read"))?;
        let entry = self.archive_index[source];
        let e = entry_for(p, Storage::Same { entry }, size);
        if entry == u32::MAX {
            // The source waits in the current shared block: the copy follows its group.
            self.deferred_copies.push((e, source));
        } else {
            self.push(e)?;
        }
        self.copies.0 += 1;
        self.copies.1 += size;
        Ok(true)
    }
}

/// True when `[off, off+len)` of the file holds no data (a sparse hole), per SEEK_DATA.
fn is_hole(fd: i32, off: u64, len: u64) -> bool {
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
fn read_full(f: &mut File, buf: &mut [u8]) -> std::result::Result<(), Option<std::io::Error>> {
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

fn ensure_at_end(f: &mut File) -> std::result::Result<(), ()> {
    let mut b = [0u8; 1];
    match f.read(&mut b) {
        Ok(0) => Ok(()),
        _ => Err(()),
    }
}

/// Whether a file is a candidate for lossy image coding.
fn wants_image(image: &Option<(u8, globset::GlobSet)>, p: &Planned) -> bool {
    let Some((_, lossy)) = image else {
        return false;
    };
    let base = p.name.rsplit('/').next().unwrap_or(&p.name);
    p.kind == Kind::File
        && p.meta.len() <= IMAGE_INPUT_MAX
        && (lossy.is_empty() || lossy.is_match(&p.name) || lossy.is_match(base))
}

/// Neural payloads by content hash (nothing, in a build without the neural codec).
#[cfg(feature = "neural")]
type Bundle = crate::neural::bundle::Bundle;
#[cfg(not(feature = "neural"))]
enum Bundle {}

/// The image blob of the PNG `data` from its payload in `bundle`, or `None` (stored losslessly,
/// with a notice saying why) when the bundle has none for it.
#[cfg(feature = "neural")]
fn neural_blob(
    bundle: &Bundle,
    data: &[u8],
    name: &str,
) -> Result<Option<(Vec<u8>, crate::container::format::ImageInfo)>> {
    if let Some(payload) = bundle.payload_for(data)? {
        return Ok(Some(crate::neural::encode_blob(data, name, &payload)?));
    }
    let why = match crate::image::png_io::decode_png(data, name, crate::neural::NEURAL_MAX_PIXELS) {
        Err(e) => e.to_string(),
        Ok(_) => "no neural payload for it in the bundle".into(),
    };
    eprintln!("yoz: notice: {name}: stored losslessly ({why})");
    Ok(None)
}

#[cfg(not(feature = "neural"))]
fn neural_blob(
    bundle: &Bundle,
    _data: &[u8],
    _name: &str,
) -> Result<Option<(Vec<u8>, crate::container::format::ImageInfo)>> {
    match *bundle {}
}

/// Without the neural codec no pack has a bundle.
#[cfg(not(feature = "neural"))]
fn neural_bundle(
    _plan: &[Planned],
    _image: &Option<(u8, globset::GlobSet)>,
    _opts: &PackOptions,
) -> Result<Option<(Bundle, Option<tempfile::TempDir>)>> {
    Ok(None)
}

/// The neural payloads for this pack: read from `--from-bundle`, or trained now by running
/// `yoz-train` on every candidate PNG into a temporary bundle (returned to be kept alive).
#[cfg(feature = "neural")]
fn neural_bundle(
    plan: &[Planned],
    image: &Option<(u8, globset::GlobSet)>,
    opts: &PackOptions,
) -> Result<Option<(Bundle, Option<tempfile::TempDir>)>> {
    let Some(ImageOptions {
        codec: ImageCodec::Neural { train, bundle },
        ..
    }) = &opts.image
    else {
        return Ok(None);
    };
    if let Some(dir) = bundle {
        return Ok(Some((Bundle::open(dir)?, None)));
    }
    // Only PNGs the codec takes go to the trainer (which refuses the others outright); the rest
    // are stored losslessly with the reason, when the producer reaches them.
    let mut pngs = Vec::new();
    for p in plan.iter().filter(|p| wants_image(image, p)) {
        let Ok(mut f) = open_regular(&p.src) else {
            continue;
        };
        let mut data = Vec::new();
        if std::io::Read::read_to_end(&mut f, &mut data).is_err() {
            continue;
        }
        if data.starts_with(&crate::image::entry::PNG_SIGNATURE)
            && crate::image::png_io::decode_png(&data, &p.name, crate::neural::NEURAL_MAX_PIXELS)
                .is_ok()
        {
            pngs.push(p.src.clone());
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix("yoz-train-")
        .tempdir()
        .ctx(|| "creating a temporary bundle directory".into())?;
    let bundle = if pngs.is_empty() {
        Bundle::default()
    } else {
        let mut t = train.clone();
        t.threads = opts.threads.max(1);
        crate::neural::train::train_to_bundle(&pngs, tmp.path(), &t)?
    };
    Ok(Some((bundle, Some(tmp))))
}

fn pack_plan<W: Write + Send>(walk: Walk, out: W, opts: &PackOptions) -> Result<(W, PackStats)> {
    let Walk {
        plan,
        skipped,
        failed: walk_failed,
        ..
    } = walk;
    let threads = opts.threads.max(1);
    let total: u64 = plan
        .iter()
        .filter(|p| p.kind == Kind::File)
        .map(|p| p.meta.len())
        .sum();
    let bar = crate::progress::bytes_bar(opts.progress, total, "packing");
    let (choice, level) = (opts.codec, opts.level);
    let mut stats = PackStats {
        skipped,
        failed: walk_failed,
        ..Default::default()
    };
    let image = match &opts.image {
        Some(io) => Some((io.quality, build_excludes(&io.lossy)?)),
        None => None,
    };
    let neural = neural_bundle(&plan, &image, opts)?;
    let bundle = neural.as_ref().map(|(b, _)| b);
    let dup_of = dedup::candidates(&plan, |p| wants_image(&image, p), threads);
    // Neural image entries are a 1.1 feature, copies of earlier entries a 1.2 one (spec §2.1);
    // a candidate that turns out to differ leaves the header overstated, which is allowed.
    let need = if dup_of.iter().any(Option::is_some) {
        2
    } else {
        u8::from(bundle.is_some())
    };
    // Dictionaries serve zstd blocks of small files (spec §4.3, a 1.2 feature).
    let solid = solid_size(opts);
    let dict = if opts.dictionary
        && matches!(choice, Choice::Auto | Choice::Fixed(codec::id::ZSTD))
        && solid <= dictionary::SOLID_MAX
    {
        let small = small_files(&plan, &dup_of, opts.block_size, |p| wants_image(&image, p));
        dictionary::choose(&plan, &small, solid, level)?
    } else {
        None
    };
    let need = if dict.is_some() { 2 } else { need };
    // Block codecs of 1.3 (lzr): decided by the choice, before any block is compressed.
    let need = need.max(codec::choice_reader_minor(choice, level));
    let dict = dict.as_ref();
    let header = crate::container::format::Header::needing(need);
    let coding = pipeline::Coding {
        choice,
        level,
        dict,
    };
    let (owner, mtime) = (opts.owner, opts.mtime);
    let (w, (bytes, blocks, lossy, copies)) =
        pipeline::run(out, header, coding, threads, &bar, |send| {
            let mut send = |mut job: Job| -> Result<()> {
                if let Job::Group(entries) = &mut job {
                    for e in entries {
                        if let Some((u, g)) = owner {
                            (e.uid, e.gid) = (u, g);
                        }
                        if let Some(t) = mtime {
                            (e.mtime, e.mtime_nsec) = (t, 0);
                        }
                    }
                }
                send(job)
            };
            let mut prod = Producer {
                send: &mut send,
                block_size: opts.block_size,
                next_block: 0,
                solid: Vec::new(),
                members: Vec::new(),
                member_names: HashSet::new(),
                deferred_links: Vec::new(),
                links: HashMap::new(),
                group: Vec::new(),
                group_len: 0,
                solid_size: solid_size(opts),
                image: image.clone(),
                bundle,
                lossy: 0,
                placed: 0,
                archive_index: vec![u32::MAX; plan.len()],
                member_plan: Vec::new(),
                wanted: dup_of.iter().flatten().copied().collect(),
                dup_of,
                sources: HashMap::new(),
                deferred_copies: Vec::new(),
                copies: (0, 0),
                failed: Vec::new(),
            };
            let res = (|| -> Result<(u64, u64, u64, (u64, u64))> {
                let mut bytes = 0;
                for (i, p) in plan.iter().enumerate() {
                    if opts.verbose {
                        let slash = if p.kind == Kind::Dir { "/" } else { "" };
                        eprintln!("{}{slash}", p.name);
                    }
                    bytes += prod.put(i, p).map_err(|e| e.in_entry(&p.name))?;
                }
                prod.flush_solid()?;
                prod.flush_group()?;
                Ok((bytes, prod.next_block as u64, prod.lossy, prod.copies))
            })();
            stats.failed.append(&mut prod.failed);
            res
        })
        .inspect_err(|_| bar.finish_and_clear())?;
    bar.finish_and_clear();
    stats.lossy = lossy;
    (stats.copies, stats.copied_bytes) = copies;
    stats.entries = w.entry_count();
    let (out, _index) = w.finish(level)?;
    stats.input_bytes = bytes;
    stats.blocks = blocks;
    Ok((out, stats))
}

/// Plan indices of the files that will share blocks: small, stored losslessly, not copies,
/// not later names of an inode (those become hard links).
fn small_files(
    plan: &[Planned],
    dup_of: &[Option<usize>],
    block_size: usize,
    lossy: impl Fn(&Planned) -> bool,
) -> Vec<usize> {
    let mut inodes = HashSet::new();
    (0..plan.len())
        .filter(|&i| {
            let p = &plan[i];
            let size = p.meta.len();
            p.kind == Kind::File
                && size > 0
                && (size as usize) < block_size
                && dup_of[i].is_none()
                && !lossy(p)
                && (p.meta.nlink() == 1 || inodes.insert((p.meta.dev(), p.meta.ino())))
        })
        .collect()
}

/// Opens an input planned as a regular file without blocking on what replaced it since the
/// walk: `O_NONBLOCK` makes opening a FIFO return at once (a plain open waits for a writer
/// forever), and anything but a regular file is then refused.
fn open_regular(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ctx(|| format!("opening {}", path.display()))?;
    let m = f.metadata().ctx(|| format!("stat {}", path.display()))?;
    if !m.file_type().is_file() {
        return Err(input_err(path, "is no longer a regular file"));
    }
    Ok(f)
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn a_fifo_in_place_of_a_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("was-a-file");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A plain open would wait for a writer forever; this returns at once.
        let err = open_regular(&fifo).unwrap_err();
        assert_eq!(err.class(), "input");
        let file = dir.path().join("f");
        fs::write(&file, b"data").unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut open_regular(&file).unwrap(), &mut s).unwrap();
        assert_eq!(s, "data");
    }
}

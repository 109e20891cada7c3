//! Packing a tree of files into an archive: walk, plan, then the `pipeline` where the main
//! thread reads, `threads` workers compress blocks, and one writer thread writes them in order,
//! so the bytes are the same for any thread count (spec §4 ordering rules are applied here, by
//! the `Producer`).

use crate::codec::{self, Choice};
use crate::container::format::{Entry, ImageInfo, Kind, Storage, BLOCK_SIZE_MAX, BLOCK_SIZE_MIN};
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
mod producer;
mod walk;

use crate::builder::layout::{Job, Layout};
use producer::*;
use walk::*;

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
    /// Extended attributes of every namespace (tar's `--xattrs`); `user.*` only otherwise.
    pub all_xattrs: bool,
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
            all_xattrs: false,
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
    /// Warnings printed about skipped inputs (sockets).
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
    /// Extended attributes to store (§4.2.3).
    xattrs: Vec<(String, Vec<u8>)>,
    /// `name` (and `target`) are in the escape form of a name that is not UTF-8 (§4.2.4).
    escaped: bool,
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
    // FIFOs and device nodes are 1.4 entry kinds; extended attributes and names that are not
    // UTF-8 1.4 entry flags.
    let need = plan
        .iter()
        .map(|p| {
            let flags = !p.xattrs.is_empty() || p.escaped;
            p.kind.reader_minor().max(if flags { 4 } else { 0 })
        })
        .fold(need, u8::max);
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
                layout: Layout::new(&mut send, opts.block_size, solid_size(opts)),
                links: HashMap::new(),
                image: image.clone(),
                bundle,
                lossy: 0,
                wanted: dup_of.iter().flatten().copied().collect(),
                dup_of,
                sources: HashMap::new(),
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
                prod.layout.flush()?;
                let blocks = prod.layout.blocks() as u64;
                Ok((bytes, blocks, prod.lossy, prod.copies))
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

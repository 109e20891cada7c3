//! `yoz list`, `info`, `verify` and `cat`: read-only views of an archive.

use super::{is_dash, PathArg};
use crate::codec;
use crate::container::{read_stream, Archive, Entry, Kind, NullSink, Sink, Storage};
use crate::error::{Error, IoContext, Result};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Long format, like `tar -tv`: mode, owner/group, size, modification time (local),
    /// path (-> target).
    #[arg(short = 'l', long)]
    pub long: bool,
    /// With -l, numeric owners and groups instead of names from the user database.
    #[arg(long)]
    pub numeric_owner: bool,
    /// With -l, a column after the size with the bytes of compressed data each entry owns (a
    /// share of a shared block; `-` when reading a stream, which has no index).
    #[arg(long, requires = "long")]
    pub stored: bool,
    /// One JSON object per line (JSON Lines) for scripts: path, kind, size, stored (bytes of
    /// compressed data the entry owns, a share of a shared block; from a file only), mode,
    /// mtime, uid, gid, target, copy_of, image.
    #[arg(long, conflicts_with_all = ["long", "numeric_owner"])]
    pub json: bool,
    /// Archive file, or `-` for stdin.
    pub archive: PathArg,
    /// Only these entries and what is under them; `*`, `?` and `[...]` make a glob over whole
    /// paths (`*` does not cross `/`).
    pub paths: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Archive file, or `-` for stdin (copied to a temporary file first).
    pub archive: PathArg,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Read with positional reads instead of a memory map.
    #[arg(long)]
    pub no_mmap: bool,
    /// Also decode every lossy image entry (neural ones through ONNX Runtime).
    #[arg(long)]
    pub decode: bool,
    #[command(flatten)]
    pub decoding: super::DecodeArgs,
    /// Archive file, or `-` for stdin (streaming checks only).
    pub archive: PathArg,
}

#[derive(clap::Args, Debug)]
pub struct CatArgs {
    /// Read with positional reads instead of a memory map.
    #[arg(long)]
    pub no_mmap: bool,
    #[command(flatten)]
    pub decoding: super::DecodeArgs,
    /// Archive file, or `-` for stdin (copied to a temporary file first).
    pub archive: PathArg,
    /// Entries to print, in archive order: paths (a directory selects the files under it) or
    /// globs (`'docs/*.txt'`, `*` not crossing `/`), as `tar -xO` does. A lossy image entry
    /// prints as its decoded PNG; directories and symlinks print nothing.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

/// `tar -tv`'s mode column: the kind, then `rwx` triples with setuid, setgid and sticky.
fn mode_string(kind: Kind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        Kind::File => '-',
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::Hardlink => 'h',
        Kind::Fifo => 'p',
        Kind::CharDevice => 'c',
        Kind::BlockDevice => 'b',
    });
    for (shift, special, set, unset) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `YYYY-MM-DD HH:MM` in the local time zone (as tar prints), or the raw seconds if the
/// system cannot convert them.
fn time_string(secs: i64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return secs.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year as i64 + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}

/// Owner and group names from the system's user database, cached; numbers where unknown.
#[derive(Default)]
struct Owners {
    numeric: bool,
    users: std::collections::HashMap<u32, String>,
    groups: std::collections::HashMap<u32, String>,
}

impl Owners {
    fn name(&mut self, uid: u32, gid: u32) -> String {
        if self.numeric {
            return format!("{uid}/{gid}");
        }
        let user = self
            .users
            .entry(uid)
            .or_insert_with(|| user_name(uid).unwrap_or_else(|| uid.to_string()))
            .clone();
        let group = self
            .groups
            .entry(gid)
            .or_insert_with(|| group_name(gid).unwrap_or_else(|| gid.to_string()));
        format!("{user}/{group}")
    }
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r fills `pw` with pointers into `buf`, both alive until we copy out.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if rc != 0 || res.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    name.to_str().ok().map(str::to_string)
}

fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getgrgid_r fills `gr` with pointers into `buf`, both alive until we copy out.
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut res = std::ptr::null_mut();
    let rc = unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut res) };
    if rc != 0 || res.is_null() || gr.gr_name.is_null() {
        return None;
    }
    // SAFETY: gr_name points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(gr.gr_name) };
    name.to_str().ok().map(str::to_string)
}

fn line(e: &Entry, long: Option<&mut Owners>, stored: Option<Option<u64>>) -> String {
    let Some(owners) = long else {
        return if e.kind == Kind::Dir {
            format!("{}/", e.path)
        } else {
            e.path.clone()
        };
    };
    // tar's layout: owner/group and the size share a column 19 wide, the size right-aligned.
    let owner = owners.name(e.uid, e.gid);
    // A device shows its numbers where the size goes, as tar and ls do.
    let size = if e.kind.is_device() {
        format!("{},{}", e.device.0, e.device.1)
    } else {
        e.size.to_string()
    };
    let pad = 19usize.saturating_sub(owner.len() + size.len()).max(1);
    let stored = match stored {
        Some(Some(n)) => format!(" {n:>10}"),
        Some(None) => format!(" {:>10}", "-"),
        None => String::new(),
    };
    let mut s = format!(
        "{} {owner}{:pad$}{size}{stored} {} {}{}",
        mode_string(e.kind, e.mode),
        "",
        time_string(e.mtime),
        e.path,
        if e.kind == Kind::Dir { "/" } else { "" }
    );
    if let Some(im) = &e.image {
        s.push_str(&format!(
            " [lossy {} {}x{} {}, png {} bytes, input {} bytes]",
            crate::image::codec::name_of(im.codec),
            im.width,
            im.height,
            ["gray", "gray+alpha", "rgb", "rgba"][(im.channels as usize).clamp(1, 4) - 1],
            im.output_size,
            im.input_size
        ));
    }
    match e.kind {
        Kind::Symlink => s.push_str(&format!(" -> {}", e.target)),
        Kind::Hardlink => s.push_str(&format!(" link to {}", e.target)),
        _ => {}
    }
    s
}

/// `list --json`'s object for `e` (without the closing brace, so a copy can add its source);
/// `stored` is `None` when the index is not at hand (a stream).
fn json_line(e: &Entry, stored: Option<u64>) -> String {
    let kind = match e.kind {
        Kind::File => "file",
        Kind::Dir => "dir",
        Kind::Symlink => "symlink",
        Kind::Hardlink => "hardlink",
        Kind::Fifo => "fifo",
        Kind::CharDevice => "chardev",
        Kind::BlockDevice => "blockdev",
    };
    let mut s = format!(
        "{{\"path\":{},\"kind\":\"{kind}\",\"size\":{}",
        json_str(&e.path),
        e.size
    );
    if let Some(n) = stored {
        s.push_str(&format!(",\"stored\":{n}"));
    }
    s.push_str(&format!(
        ",\"mode\":\"{:04o}\",\"mtime\":{},\"uid\":{},\"gid\":{}",
        e.mode, e.mtime, e.uid, e.gid
    ));
    if matches!(e.kind, Kind::Symlink | Kind::Hardlink) {
        s.push_str(&format!(",\"target\":{}", json_str(&e.target)));
    }
    if e.kind.is_device() {
        s.push_str(&format!(
            ",\"major\":{},\"minor\":{}",
            e.device.0, e.device.1
        ));
    }
    if !e.xattrs.is_empty() {
        let names: Vec<String> = e.xattrs.iter().map(|(n, _)| json_str(n)).collect();
        s.push_str(&format!(",\"xattrs\":[{}]", names.join(",")));
    }
    if let Some(im) = &e.image {
        s.push_str(&format!(
            ",\"image\":{{\"codec\":\"{}\",\"width\":{},\"height\":{},\"channels\":{},\"png_size\":{},\"input_size\":{}}}",
            crate::image::codec::name_of(im.codec),
            im.width,
            im.height,
            im.channels,
            im.output_size,
            im.input_size
        ));
    }
    s
}

/// A JSON string literal (RFC 8259 escapes).
fn json_str(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Bytes of compressed data entry `i` owns: its blocks' payloads, or its slice's share of a
/// shared block's payload (rounded); 0 for copies and entries without content.
fn stored_bytes(ar: &Archive, i: usize) -> u64 {
    let b = ar.blocks();
    match ar.entries()[i].storage {
        Storage::Blocks { first, count } => b
            .get(first as usize..(first + count) as usize)
            .map_or(0, |r| r.iter().map(|x| x.comp_len as u64).sum()),
        Storage::Shared { block, .. } => b.get(block as usize).map_or(0, |x| {
            let size = ar.entries()[i].size as u128;
            ((size * x.comp_len as u128 + x.raw_len as u128 / 2) / (x.raw_len as u128).max(1))
                as u64
        }),
        Storage::None | Storage::Same { .. } => 0,
    }
}

/// How `list` prints an entry.
enum Format {
    Short,
    /// `tar -tv`'s layout, with its owner-name cache; `true`: with the stored-bytes column.
    Long(Owners, bool),
    Json,
}

struct ListSink<W: Write> {
    out: W,
    format: Format,
    /// Stored bytes per entry, in archive order, when listing a file (`--json`, `-l --stored`).
    stored: Vec<u64>,
    /// Entries begun so far.
    seen: usize,
    /// The current entry's line, printed at `end` (a copy learns its source in between);
    /// `None` for an entry the selection leaves out.
    pending: Option<String>,
    selection: crate::path::Selection,
}

impl<W: Write> Sink for ListSink<W> {
    fn begin(&mut self, e: &Entry) -> Result<()> {
        let stored = self.stored.get(self.seen).copied();
        self.seen += 1;
        self.pending = self
            .selection
            .selects(&e.path)
            .then(|| match &mut self.format {
                Format::Short => line(e, None, None),
                Format::Long(o, with_stored) => line(e, Some(o), with_stored.then_some(stored)),
                Format::Json => json_line(e, stored),
            });
        Ok(())
    }
    fn data(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn hole(&mut self, _: u64) -> Result<()> {
        Ok(())
    }
    fn copy(&mut self, source: &Entry) -> Result<bool> {
        match (&self.format, &mut self.pending) {
            (Format::Long(..), Some(p)) => p.push_str(&format!(" = {}", source.path)),
            (Format::Json, Some(p)) => {
                p.push_str(&format!(",\"copy_of\":{}", json_str(&source.path)))
            }
            _ => {}
        }
        Ok(true)
    }
    fn end(&mut self, _: &Entry) -> Result<()> {
        let close = if matches!(self.format, Format::Json) {
            "}"
        } else {
            ""
        };
        match self.pending.take() {
            Some(l) => writeln!(self.out, "{l}{close}").ctx(|| "writing listing".into()),
            None => Ok(()),
        }
    }
}

pub fn list(a: ListArgs) -> Result<()> {
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let format = if a.json {
        Format::Json
    } else if a.long {
        Format::Long(
            Owners {
                numeric: a.numeric_owner,
                ..Default::default()
            },
            a.stored,
        )
    } else {
        Format::Short
    };
    let mut sink = ListSink {
        out,
        format,
        stored: Vec::new(),
        seen: 0,
        pending: None,
        selection: crate::path::Selection::new(&a.paths)?,
    };
    if is_dash(&a.archive) {
        read_stream(std::io::stdin().lock(), &mut sink, Default::default())?;
    } else {
        // The index, checked against every entry group before anything is printed, so `list`
        // never shows a name other than the one `unpack` (from a file or a pipe) would write.
        // No file data is read.
        let ar = Archive::open(&a.archive)?;
        let mut checked = None;
        for i in 0..ar.entries().len() {
            let g = ar.group_of(i);
            if checked != Some(g) {
                ar.check_group(g)
                    .map_err(|err| err.in_entry(&ar.entries()[i].path))?;
                checked = Some(g);
            }
        }
        sink.stored = (0..ar.entries().len())
            .map(|i| stored_bytes(&ar, i))
            .collect();
        for e in ar.entries() {
            sink.begin(e)?;
            if let Storage::Same { entry } = e.storage {
                sink.copy(&ar.entries()[entry as usize])?;
            }
            sink.end(e)?;
        }
    }
    sink.out.flush().ctx(|| "writing listing".into())?;
    match sink.selection.unmatched() {
        Some(p) => Err(Error::NotFound {
            path: p.to_string(),
        }),
        None => Ok(()),
    }
}

pub fn info(a: InfoArgs) -> Result<()> {
    let ar = super::open_archive(&a.archive, false)?;
    let h = ar.header();
    let mut kinds = [0u64; 7];
    let mut original = 0u64;
    let (mut copies, mut copied) = (0u64, 0u64);
    for e in ar.entries() {
        kinds[e.kind.code() as usize] += 1;
        original += e.image.map_or(e.size, |im| im.input_size);
        if let Storage::Same { .. } = e.storage {
            copies += 1;
            copied += e.size;
        }
    }
    let mut per_codec: std::collections::BTreeMap<u8, (u64, u64, u64)> = Default::default();
    for b in ar.blocks() {
        let c = per_codec.entry(b.codec).or_default();
        c.0 += 1;
        c.1 += b.raw_len as u64;
        c.2 += b.comp_len as u64;
    }
    let mut o = String::new();
    o += &format!(
        "format      yoz {}.{} (written by {}.{}, needs reader {}.{})\n",
        h.writer_major,
        h.writer_minor,
        h.writer_major,
        h.writer_minor,
        h.reader_major,
        h.reader_minor
    );
    o += &format!(
        "entries     {} ({} files, {} directories, {} symlinks, {} hard links{})\n",
        ar.entries().len(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        if kinds[4..].iter().any(|&n| n > 0) {
            format!(
                ", {} FIFOs, {} character and {} block devices",
                kinds[4], kinds[5], kinds[6]
            )
        } else {
            String::new()
        }
    );
    o += &format!("original    {original} bytes\n");
    if copies > 0 {
        o += &format!(
            "duplicates  {copies} files ({copied} bytes) stored once, as copies of earlier files\n"
        );
    }
    o += &format!(
        "archive     {} bytes (index {} bytes)\n",
        ar.len(),
        ar.footer().index_len
    );
    let ratio = original as f64 / ar.len() as f64;
    o += &format!("ratio       {ratio:.3}x\n");
    o += &format!("blocks      {}\n", ar.blocks().len());
    for r in &ar.index().resources {
        let users = ar.blocks().iter().filter(|b| b.resource == r.id).count();
        o += &format!(
            "  dictionary {}: zstd, {} bytes, used by {users} blocks\n",
            r.id, r.length
        );
    }
    for (id, (n, raw, comp)) in per_codec {
        o += &format!(
            "  {:<8}  {n} blocks, {raw} -> {comp} bytes\n",
            codec::name_of(id)
        );
    }
    for e in ar.entries() {
        if let Some(im) = &e.image {
            let bpp = e.size as f64 * 8.0 / (im.width as f64 * im.height as f64);
            o += &format!(
                "lossy       {} {} {}x{} {:.3} bpp ({} -> {} bytes)\n",
                crate::image::codec::name_of(im.codec),
                e.path,
                im.width,
                im.height,
                bpp,
                im.input_size,
                e.size
            );
        }
    }
    print!("{o}");
    Ok(())
}

pub fn verify(a: VerifyArgs) -> Result<()> {
    let decode = a.decoding.options();
    if a.decode && is_dash(&a.archive) {
        return Err(Error::Usage(
            "verify --decode needs an archive file, not stdin".into(),
        ));
    }
    let sum = if is_dash(&a.archive) {
        read_stream(std::io::stdin().lock(), &mut NullSink, Default::default())?
    } else {
        // The random-access reader validates the index and layout; the streaming pass then
        // decodes every block, checks every CRC and compares the index with the records.
        let ar = super::open_archive(&a.archive, a.no_mmap)?;
        let f =
            std::fs::File::open(&a.archive).ctx(|| format!("opening {}", a.archive.display()))?;
        let sum = read_stream(
            std::io::BufReader::with_capacity(1 << 20, f),
            &mut NullSink,
            Default::default(),
        )?;
        if sum.archive_len != ar.len() {
            return Err(Error::IndexMismatch {
                what: "archive changed during verification".into(),
            });
        }
        sum
    };
    let mut decoded = 0u64;
    if a.decode {
        let ar = super::open_archive(&a.archive, a.no_mmap)?;
        for e in ar.entries() {
            let Some(info) = e.image else { continue };
            let mut blob = Vec::new();
            std::io::Read::read_to_end(&mut ar.open_entry(&e.path)?, &mut blob)
                .map_err(|err| Error::io("reading entry", err).in_entry(&e.path))?;
            crate::image::entry::png_bytes(&blob, &info, &decode)
                .map_err(|err| err.in_entry(&e.path))?;
            decoded += 1;
        }
    }
    println!(
        "ok: {}, {}, {} bytes verified{}",
        super::count(sum.entries, "entry", "entries"),
        super::count(sum.blocks, "block", "blocks"),
        sum.bytes,
        if a.decode {
            format!(", {decoded} images decoded")
        } else {
            String::new()
        }
    );
    Ok(())
}

pub fn cat(a: CatArgs) -> Result<()> {
    let decode = a.decoding.options();
    let ar = super::open_archive(&a.archive, a.no_mmap)?;
    let mut sel = crate::path::Selection::new(&a.paths)?;
    let mut out = std::io::stdout().lock();
    for (i, e) in ar.entries().iter().enumerate() {
        if !sel.selects(&e.path) || ar.entries()[ar.resolve(i)].kind != Kind::File {
            continue;
        }
        // A lossy image entry is shown as its decoded PNG, compressed (as unpack writes it);
        // built in memory first so a failure leaves no partial PNG on stdout.
        if let Some(png) = ar.decoded_png(&e.path, &decode)? {
            out.write_all(&png).ctx(|| "writing stdout".into())?;
        } else {
            copy_entry(&ar, &e.path, &mut out)?;
        }
    }
    out.flush().ctx(|| "writing stdout".into())?;
    // tar's "Not found in archive": what was found is printed, then the usage error.
    match sel.unmatched() {
        Some(p) => Err(Error::NotFound { path: p.into() }),
        None => Ok(()),
    }
}

/// Writes entry `path`'s bytes to `out` as they are read.
fn copy_entry(ar: &Archive, path: &str, out: &mut impl Write) -> Result<()> {
    let mut r = ar.open_entry(path)?;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = std::io::Read::read(&mut r, &mut buf).map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<Error>() {
                Ok(err) => *err,
                Err(other) => Error::io("reading entry", std::io::Error::other(other)),
            },
            None => Error::io("reading entry", std::io::Error::other("read failed")),
        })?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).ctx(|| "writing stdout".into())?;
    }
}

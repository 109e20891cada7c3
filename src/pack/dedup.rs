//! Deduplication at pack time (spec §4.2.1 storage 3): a file byte-identical to one stored
//! earlier becomes a copy of it instead of a second compressed copy.
//!
//! Before the header is written, files of equal size are grouped and read once for a CRC-32:
//! equal (size, CRC) names a candidate source, which decides the header's `reader_minor`
//! (a 1.2 feature must be declared up front, §2.1). When the candidate is packed, it is
//! confirmed byte by byte against its source's file and against the CRC of the bytes stored
//! for the source, so a file that changed in between is stored normally, never mislabelled.

use super::{input_err, open_regular, read_full, Planned};
use crate::container::format::Kind;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Files smaller than this are not deduplicated. Finding candidates costs an open and a read
/// per file of a repeated size, which on 100,000 files of 60–3,000 bytes made a level-3 pack
/// several times slower, while copies under 4 KiB were 2.3 % of the duplicated bytes of a
/// Debian `/usr/include` and 1.6 % of `/usr/share/doc` (and zstd still finds such a copy as
/// one match when it lands in the same shared block as its source).
pub(super) const MIN_SIZE: u64 = 4096;

/// For each planned entry, the earlier planned file it is probably a copy of. Files of equal
/// size are read for their CRC-32 on `threads` threads.
pub(super) fn candidates(
    plan: &[Planned],
    lossy: impl Fn(&Planned) -> bool,
    threads: usize,
) -> Vec<Option<usize>> {
    let mut out = vec![None; plan.len()];
    let mut by_size: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut inodes = std::collections::HashSet::new();
    for (i, p) in plan.iter().enumerate() {
        let size = p.meta.len();
        // Later names of one inode become hard links; lossy images are stored as blobs.
        if p.kind != Kind::File || size < MIN_SIZE || lossy(p) {
            continue;
        }
        if p.meta.nlink() > 1 && !inodes.insert((p.meta.dev(), p.meta.ino())) {
            continue;
        }
        by_size.entry(size).or_default().push(i);
    }
    let mut todo: Vec<usize> = by_size
        .into_values()
        .filter(|g| g.len() > 1)
        .flatten()
        .collect();
    // Plan order, so that the source is always the earliest of its copies.
    todo.sort_unstable();
    let crcs = parallel_crcs(plan, &todo, threads.max(1));
    let mut first: HashMap<(u64, u32), usize> = HashMap::new();
    for (&i, crc) in todo.iter().zip(crcs) {
        // An unreadable file is no candidate; packing it reports the error.
        let Some(crc) = crc else {
            continue;
        };
        match first.get(&(plan[i].meta.len(), crc)) {
            Some(&o) => out[i] = Some(o),
            None => {
                first.insert((plan[i].meta.len(), crc), i);
            }
        }
    }
    out
}

/// The CRC-32 of each file in `todo`, `None` where it cannot be read.
fn parallel_crcs(plan: &[Planned], todo: &[usize], threads: usize) -> Vec<Option<u32>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out = vec![None; todo.len()];
    let results = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..threads.min(todo.len()) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = todo.get(k) else {
                    break;
                };
                let crc = crc_of(&plan[i].src).ok();
                results.lock().unwrap_or_else(|p| p.into_inner())[k] = crc;
            });
        }
    });
    out
}

fn crc_of(path: &Path) -> Result<u32> {
    let mut f = open_regular(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| Error::io("reading", e))?;
        if n == 0 {
            return Ok(h.finalize());
        }
        h.update(&buf[..n]);
    }
}

/// What the producer remembers of a file stored as a source: where to re-read it, and the
/// CRC-32 of the bytes that went into the archive.
pub(super) struct Source {
    pub src: PathBuf,
    pub crc: u32,
    /// The source's entry in the layout (a copy names its number in archive order).
    pub ticket: crate::builder::layout::Ticket,
}

/// Whether the file open as `f` (of `size` bytes, at its start) holds exactly the bytes stored
/// for `source`: compared with the source's file byte by byte, and by CRC with what was stored.
/// `Ok(false)` when they differ or the source cannot be read back; errors reading `f` itself
/// are returned. `f`'s position is left anywhere.
pub(super) fn same_bytes(f: &mut File, size: u64, what: &Path, source: &Source) -> Result<bool> {
    let Ok(mut g) = open_regular(&source.src) else {
        return Ok(false);
    };
    if g.metadata().map(|m| m.len()).ok() != Some(size) {
        return Ok(false);
    }
    let mut h = crc32fast::Hasher::new();
    let chunk = (size.min(1 << 20)) as usize;
    let (mut a, mut b) = (vec![0u8; chunk], vec![0u8; chunk]);
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk as u64) as usize;
        read_full(f, &mut a[..n]).map_err(|e| match e {
            Some(e) => Error::io(format!("reading {}", what.display()), e),
            None => input_err(what, "changed while it was read"),
        })?;
        if read_full(&mut g, &mut b[..n]).is_err() || a[..n] != b[..n] {
            return Ok(false);
        }
        h.update(&a[..n]);
        left -= n as u64;
    }
    Ok(h.finalize() == source.crc)
}

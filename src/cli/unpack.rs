//! `yoz unpack`.

use super::{is_dash, PathArg};
use crate::container::{read_stream, Archive, Sink};
use crate::error::{Error, Result};
use crate::extract::{ExtractOptions, ExtractStats, Extractor};

#[derive(clap::Args, Debug)]
pub struct UnpackArgs {
    /// Destination directory (created if missing).
    #[arg(short = 'C', long = "directory", default_value = ".")]
    pub dir: PathArg,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Keep existing files: skip those entries with a notice instead of failing (tar's -k).
    #[arg(short = 'k', long = "keep-old-files", conflicts_with = "force")]
    pub keep_old: bool,
    /// Drop N leading components from each entry's path (entries with no more are skipped).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub strip_components: usize,
    /// Restore file owners (as root).
    #[arg(long)]
    pub same_owner: bool,
    /// Keep setuid/setgid bits (dropped by default).
    #[arg(long)]
    pub keep_setid: bool,
    /// Read with positional reads instead of a memory map (for files that may change).
    #[arg(long)]
    pub no_mmap: bool,
    /// No summary line (warnings and errors are still printed).
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Recovery: extract every entry that verifies, report each damaged one and go on; exits
    /// 1 with the first damaged entry's class if any was left out (archive files only: the
    /// index says where every entry is).
    #[arg(long)]
    pub keep_going: bool,
    #[command(flatten)]
    pub decoding: super::DecodeArgs,
    /// Archive file, or `-` for stdin.
    pub archive: PathArg,
    /// Only these entries and what is under them; `*`, `?` and `[...]` make a glob over whole
    /// paths (`*` does not cross `/`).
    pub paths: Vec<String>,
}

pub fn run(a: UnpackArgs) -> Result<()> {
    a.decoding.apply();
    let opts = ExtractOptions {
        force: a.force,
        same_owner: a.same_owner,
        keep_setid: a.keep_setid,
        only: a.paths,
        verbose: a.decoding.verbose,
        strip: a.strip_components,
        keep_old: a.keep_old,
    };
    if a.keep_going && is_dash(&a.archive) {
        return Err(Error::Usage(
            "--keep-going needs an archive file (a stream cannot skip past damage)".into(),
        ));
    }
    let (stats, damaged) = if is_dash(&a.archive) {
        (
            unpack_stream(std::io::stdin().lock(), &a.dir, opts)?,
            Vec::new(),
        )
    } else {
        let ar = super::open_archive(&a.archive, a.no_mmap)?;
        unpack_archive(&ar, &a.dir, opts, a.keep_going)?
    };
    if let Some(first) = damaged.into_iter().next() {
        eprintln!(
            "unpacked {} into {}; {} could not be extracted (listed above)",
            super::count(stats.entries, "entry", "entries"),
            a.dir.display(),
            super::count(stats.damaged, "damaged entry", "damaged entries"),
        );
        return Err(first);
    }
    if a.quiet {
        return Ok(());
    }
    if stats.lossy > 0 {
        eprintln!(
            "{} written as decoded PNGs",
            super::count(
                stats.lossy,
                "entry was a lossy image,",
                "entries were lossy images,"
            )
        );
    }
    eprintln!(
        "unpacked {} ({}, {} bytes) into {}",
        super::count(stats.entries, "entry", "entries"),
        super::count(stats.files, "file", "files"),
        stats.bytes,
        a.dir.display()
    );
    Ok(())
}

/// Decides and loads ONNX Runtime (when the chosen engine uses it) before anything is
/// extracted, so a library the archive itself writes can never be the one loaded (the decision is kept for the process). A failure
/// is remembered and reported at the first neural entry; the other entries still extract.
fn preload_runtime() {
    if crate::neural::decode_options().engine.needs_runtime() {
        let _ = crate::neural::runtime::check();
    }
}

/// Extracts every selected entry. Without `keep_going` the first error stops it; with it, a
/// damaged entry (its group, its blocks or its checks fail) is removed, warned about and
/// returned, and extraction goes on.
pub fn unpack_archive(
    ar: &Archive,
    dir: &std::path::Path,
    opts: ExtractOptions,
    keep_going: bool,
) -> Result<(ExtractStats, Vec<Error>)> {
    if ar.entries().iter().any(|e| {
        e.image
            .is_some_and(|i| i.codec == crate::container::format::IMAGE_CODEC_NEURAL)
    }) {
        preload_runtime();
    }
    // Every record header against its row before any payload (spec §8.0 phase 3); recovery
    // (--keep-going) takes what it can instead.
    if !keep_going {
        ar.check_records()?;
    }
    let mut x = Extractor::new(dir, opts)?;
    let total = ar.entries().iter().map(|e| e.size).sum();
    let bar = crate::progress::bytes_bar(super::want_progress(), total, "unpacking");
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

/// Extracts from a stream (stdin).
pub fn unpack_stream(
    r: impl std::io::Read,
    dir: &std::path::Path,
    opts: ExtractOptions,
) -> Result<ExtractStats> {
    // A stream's entries are unknown until read, and its header may understate what they need
    // (that archive is refused, but only once its entry is reached): decide up front, always.
    preload_runtime();
    let mut x = Extractor::new(dir, opts)?;
    if let Err(err) = read_stream(r, &mut x, Default::default()) {
        x.abort();
        return Err(err);
    }
    x.finish()
}

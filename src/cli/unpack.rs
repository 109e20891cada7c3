//! `yoz unpack`.

use super::{is_dash, PathArg};
use crate::error::{Error, Result};
use crate::extract::{unpack_archive, unpack_stream, ExtractOptions};

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
    /// Restore extended attributes of every namespace (security.*, trusted.*, system.*), not
    /// only user.*, as tar's --xattrs; those the file system or privileges refuse are warnings.
    #[arg(long)]
    pub xattrs: bool,
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
    let opts = ExtractOptions {
        force: a.force,
        same_owner: a.same_owner,
        keep_setid: a.keep_setid,
        only: a.paths,
        verbose: a.decoding.verbose,
        strip: a.strip_components,
        keep_old: a.keep_old,
        decode: a.decoding.options(),
        all_xattrs: a.xattrs,
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
        unpack_archive(&ar, &a.dir, opts, a.keep_going, super::want_progress())?
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
    // tar's rule: nodes it may not create are warnings, and the run exits 2.
    let incomplete = (stats.skipped > 0).then(|| Error::Incomplete {
        what: format!(
            "{} not created (creating devices needs privileges)",
            super::count(stats.skipped, "device node was", "device nodes were")
        ),
    });
    if a.quiet {
        return incomplete.map_or(Ok(()), Err);
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
    incomplete.map_or(Ok(()), Err)
}

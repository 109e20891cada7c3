//! `yoz mount` and `yoz umount`.

use super::PathArg;
use crate::error::{Error, IoContext, Result};
use crate::mount::{self, Detach, MountOptions, CACHE_BYTES_DEFAULT, THREADS_DEFAULT};
use std::ffi::OsString;

#[derive(clap::Args, Debug)]
pub struct MountArgs {
    /// Stay in the foreground (default: return once the mount is ready, serving it from a
    /// background process).
    #[arg(short, long)]
    pub foreground: bool,
    /// Budget of the decoded-block cache, in bytes with an optional K, M or G suffix.
    #[arg(long, default_value_t = format!("{}M", CACHE_BYTES_DEFAULT >> 20))]
    pub cache_size: String,
    /// FUSE worker threads.
    #[arg(long, default_value_t = THREADS_DEFAULT)]
    pub threads: usize,
    /// Let other users read the mount (as root, or with user_allow_other in /etc/fuse.conf).
    #[arg(long)]
    pub allow_other: bool,
    /// In the background, append errors (bad blocks) to this file instead of discarding them.
    #[arg(long)]
    pub log: Option<PathArg>,
    /// Read the archive with positional reads instead of a memory map. (Either way, blocks are
    /// served from checked copies and an archive truncated while mounted gives EIO.)
    #[arg(long)]
    pub no_mmap: bool,
    /// Internal: this process is the background daemon started by `yoz mount`.
    #[arg(long, hide = true)]
    pub daemon_child: bool,
    #[command(flatten)]
    pub decoding: super::DecodeArgs,
    /// Archive to mount.
    pub archive: PathArg,
    /// Existing empty directory to mount it on.
    pub mountpoint: PathArg,
}

#[derive(clap::Args, Debug)]
pub struct UmountArgs {
    /// Detach now even if files are open; the daemon exits once they are closed.
    #[arg(short = 'l', long)]
    pub lazy: bool,
    /// Where the archive is mounted.
    pub mountpoint: PathArg,
}

pub fn run(a: MountArgs) -> Result<()> {
    if a.threads == 0 {
        return Err(Error::Usage("--threads must be at least 1".into()));
    }
    let cache_bytes = parse_size(&a.cache_size)?;
    if a.foreground || a.daemon_child {
        let opts = MountOptions {
            cache_bytes,
            threads: a.threads,
            allow_other: a.allow_other,
            no_mmap: a.no_mmap,
            detach: a.daemon_child.then(|| Detach { log: a.log.clone() }),
            decode: a.decoding.options(),
        };
        return mount::mount(&a.archive, &a.mountpoint, &opts);
    }
    // The daemon leaves our working directory, so it gets absolute paths.
    let abs = |p: &PathArg| std::fs::canonicalize(p).ctx(|| format!("resolving {}", p.display()));
    let mut args: Vec<OsString> = vec![
        "mount".into(),
        "--daemon-child".into(),
        "--cache-size".into(),
        a.cache_size.clone().into(),
        "--threads".into(),
        a.threads.to_string().into(),
    ];
    args.extend(a.decoding.to_args());
    if a.allow_other {
        args.push("--allow-other".into());
    }
    if a.no_mmap {
        args.push("--no-mmap".into());
    }
    if let Some(log) = &a.log {
        let log = std::path::absolute(log).ctx(|| format!("resolving {}", log.display()))?;
        args.push("--log".into());
        args.push(log.into());
    }
    args.push("--".into());
    args.push(abs(&a.archive)?.into());
    args.push(abs(&a.mountpoint)?.into());
    let exe = std::env::current_exe().ctx(|| "finding the yoz executable".into())?;
    mount::spawn_daemon(&exe, &args)
}

pub fn umount(a: UmountArgs) -> Result<()> {
    mount::unmount(&a.mountpoint, a.lazy)
}

/// Parses `123`, `64K`, `64M` or `1G` (binary units).
fn parse_size(s: &str) -> Result<u64> {
    let (num, shift) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| Error::Usage(format!("bad size {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}

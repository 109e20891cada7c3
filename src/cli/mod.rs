//! The `yoz` command line: argument definitions and dispatch. Each subcommand lives in its own
//! file and only wires arguments to library calls.

mod conform;
mod docs;
#[cfg(feature = "neural")]
mod doctor;
mod inspect;
#[cfg(feature = "mount")]
mod mount;
mod pack;
mod unpack;

use crate::error::Error;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

/// yoz: archive files into a blocked, indexed, streamable format.
#[derive(Parser, Debug)]
#[command(name = "yoz", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Command,
}

/// Subcommands.
// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pack files and directories into an archive.
    Pack(pack::PackArgs),
    /// Extract an archive (a file, or `-` for stdin).
    Unpack(unpack::UnpackArgs),
    /// List entries.
    List(inspect::ListArgs),
    /// Print archive statistics: version, entries, sizes, ratio, codecs.
    Info(inspect::InfoArgs),
    /// Check every CRC, the index against the records, and every rule of the spec.
    Verify(inspect::VerifyArgs),
    /// Write one entry to stdout, reading only the blocks it needs.
    Cat(inspect::CatArgs),
    /// Run the conformance corpus against yoz or another implementation.
    Conform(conform::ConformArgs),
    /// Mount an archive read-only as a directory (FUSE).
    #[cfg(feature = "mount")]
    Mount(mount::MountArgs),
    /// Unmount a mounted archive.
    #[cfg(feature = "mount")]
    Umount(mount::UmountArgs),
    /// Check the neural codec's runtime (ONNX Runtime): where it is, its version, CUDA.
    #[cfg(feature = "neural")]
    Doctor(doctor::DoctorArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one per subcommand with --out DIR.
    Man(docs::ManArgs),
}

/// How neural image entries are decoded (unpack, cat, mount, verify --decode).
#[derive(clap::Args, Debug, Clone)]
pub struct DecodeArgs {
    /// Where neural image entries are decoded: cpu (yoz's own kernels), ort-cpu (ONNX
    /// Runtime's CPU provider) or cuda (ONNX Runtime's CUDA provider; an error if it cannot
    /// run, never a silent fallback).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "ort-cpu", "cuda"])]
    pub device: String,
    /// Say which device decoded each neural image and how long it took; `unpack -v` also
    /// lists each entry on stdout as it is extracted (tar's -v).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

impl DecodeArgs {
    /// The decode options these arguments ask for.
    pub fn options(&self) -> crate::image::codec::DecodeOptions {
        crate::image::codec::DecodeOptions {
            // The value parser admits only names the engine parses.
            engine: self.device.parse().unwrap_or_default(),
            verbose: self.verbose,
            ..Default::default()
        }
    }

    /// The same options as command-line arguments (for the mount's background process).
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut v = vec!["--device".into(), self.device.clone().into()];
        if self.verbose {
            v.push("-v".into());
        }
        v
    }
}

/// Whether progress bars should be drawn (stderr is a terminal).
pub(crate) fn want_progress() -> bool {
    std::io::stderr().is_terminal()
}

/// Runs the CLI and returns the process exit code (0 ok, 1 error, 2 usage).
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // clap's message in yoz's own form, so scripts see one error format.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("yoz: error[usage]: {text}");
            return 2;
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return 0;
        }
    };
    // Ctrl-C and SIGTERM remove pack's temporary archive or unpack's partial file, then exit
    // 130/143 (mount has its own handling: it unmounts first).
    if matches!(cli.cmd, Command::Pack(_) | Command::Unpack(_)) {
        crate::cleanup::install();
    }
    // A reader whose consumer closed the pipe (`yoz list x.yoz | head -1`) did what was asked:
    // exit 0 silently, as ripgrep does. pack and unpack keep failing: their output is incomplete.
    let output_only = matches!(
        cli.cmd,
        Command::List(_) | Command::Info(_) | Command::Cat(_) | Command::Verify(_)
    );
    let res = match cli.cmd {
        Command::Pack(a) => pack::run(a),
        Command::Unpack(a) => unpack::run(a),
        Command::List(a) => inspect::list(a),
        Command::Info(a) => inspect::info(a),
        Command::Verify(a) => inspect::verify(a),
        Command::Cat(a) => inspect::cat(a),
        Command::Conform(a) => conform::run(a),
        #[cfg(feature = "mount")]
        Command::Mount(a) => mount::run(a),
        #[cfg(feature = "mount")]
        Command::Umount(a) => mount::umount(a),
        #[cfg(feature = "neural")]
        Command::Doctor(a) => doctor::run(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    };
    match res {
        Ok(()) => 0,
        Err(Error::Io { source, .. })
            if output_only && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            0
        }
        Err(e) => report(&e),
    }
}

/// Prints `yoz: error[CLASS]: message` and returns the exit code for it.
pub fn report(e: &Error) -> i32 {
    // A closed stdout (e.g. `yoz cat … | head`) is not worth an error line.
    if let Error::Io { source, .. } = e {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            return 1;
        }
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if !msg.contains(&s.to_string()) {
            msg.push_str(&format!(": {s}"));
        }
        src = s.source();
    }
    eprintln!("yoz: error[{}]: {msg}", e.class());
    // By class, so every variant of a usage error (a path not in the archive included) exits 2.
    if matches!(e.class(), "usage" | "incomplete") {
        2
    } else {
        1
    }
}

/// `n` and the noun in the right number: "1 entry", "2 entries".
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `-` means stdin/stdout.
pub(crate) fn is_dash(p: &std::path::Path) -> bool {
    p.as_os_str() == "-"
}

pub(crate) type PathArg = PathBuf;

/// Opens an archive with the memory map, or with positional reads when `no_mmap`.
/// `-` (stdin) is first copied to an unnamed temporary file, which the random-access reader
/// needs and which disappears when the archive is dropped.
pub(crate) fn open_archive(p: &std::path::Path, no_mmap: bool) -> crate::Result<crate::Archive> {
    if is_dash(p) {
        use crate::error::IoContext;
        let mut f = tempfile::tempfile().ctx(|| "creating a temporary file for stdin".into())?;
        let len = std::io::copy(&mut std::io::stdin().lock(), &mut f)
            .ctx(|| "reading the archive from stdin".into())?;
        return crate::Archive::from_source(
            crate::container::Source::Pread(f),
            len,
            Default::default(),
        );
    }
    crate::Archive::open_with(
        p,
        crate::container::OpenOptions {
            mmap: !no_mmap,
            ..Default::default()
        },
    )
}

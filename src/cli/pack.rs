//! `yoz pack`.

use super::{is_dash, want_progress, PathArg};
use crate::codec::{self, Choice};
use crate::error::{Error, Result};
use crate::pack::{
    default_block_size, pack_to_path, pack_to_writer, parse_block_size, PackOptions,
};
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// Output archive, or `-` for stdout.
    #[arg(short = 'o', long = "output")]
    pub output: PathArg,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Block codec: auto, store, zstd, huffman, lz77, lzr (LZMA-class, `lzr2`; needs a reader of
    /// format 1.7; lzr1 is the version for readers of 1.3) or cm (context mixing, model 3, about
    /// 1 MB/s each way; needs format 1.6; cm2 and cm1 are models 2 and 1, for readers of 1.5 and
    /// 1.3). auto runs zstd and stores blocks that do not
    /// shrink; from --level 19 up it also tries lz77 and huffman where they may win, from
    /// --level 20 lzr too, and keeps the smallest.
    #[arg(long, default_value = "auto")]
    pub codec: String,
    /// Compression level, 1-22 (zstd's scale; lz77 maps it to 1-9; lzr to its search effort;
    /// huffman ignores it).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub level: i32,
    /// Smallest archive whatever the time: level 22, and auto also tries the context-mixing
    /// codec cm on every block (about 1 MB/s to pack and to unpack; needs a 1.6 reader).
    #[arg(long, conflicts_with = "level")]
    pub max: bool,
    /// Block size in bytes, with an optional K or M suffix (4K..64M). Default: 1M up to
    /// level 7, 4M for levels 8-16, 8M from 17 (about what zstd's window sees at that level).
    #[arg(long)]
    pub block_size: Option<String>,
    /// Never store a zstd dictionary. By default one is trained for small shared blocks
    /// (512K or less) and kept when a trial on the archive's own files says it pays.
    #[arg(long)]
    pub no_dictionary: bool,
    /// Compression threads (default: all cores). The output does not depend on it.
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Leave out what matches this glob, as tar does: the entry's name or any trailing part of
    /// it (`--exclude '*.o'`, `--exclude build/tmp`), or, for a pattern starting with `/`, the
    /// file's absolute path; a matched directory leaves out all below it. Repeatable.
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Read relative inputs from DIR, naming them as given (tar's -C): `pack -C /srv -o x.yoz
    /// www` stores www/...
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: Option<PathArg>,
    /// Do not descend into directories on other file systems (tar's --one-file-system).
    #[arg(long)]
    pub one_file_system: bool,
    /// Archive extended attributes of every namespace (security.*, trusted.*, system.*:
    /// SELinux labels, capabilities, ACLs), not only user.*, as tar's --xattrs.
    #[arg(long)]
    pub xattrs: bool,
    /// Read more inputs from FILE, one path per line (`-` for stdin), as tar's -T.
    #[arg(short = 'T', long = "files-from", value_name = "FILE")]
    pub files_from: Option<PathArg>,
    /// List each entry on stderr as it is packed (tar's -v; stdout may be the archive).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// No summary lines (warnings and errors are still printed).
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Record this owner for every entry, as UID:GID (reproducible archives).
    #[arg(long, value_name = "UID:GID")]
    pub owner: Option<String>,
    /// Record this modification time (seconds since the epoch) for every entry.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub mtime: Option<i64>,
    /// Encode PNG images with a lossy image codec: `dct` (JPEG-like, fast) or `neural` (an
    /// overfitted network, trained by yoz-train: slow to pack, smallest at equal quality).
    /// Without it images are stored losslessly: lossy is always an explicit choice.
    #[arg(long, value_name = "CODEC")]
    pub image_codec: Option<String>,
    /// Image quality 1-100, higher is better and bigger (default: 75 for dct, 50 for neural).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: Option<u8>,
    /// Neural codec: rate-distortion trade-off λ (loss = MSE + λ·bpp) instead of --quality.
    #[arg(long, conflicts_with = "quality")]
    pub lambda: Option<f64>,
    /// Neural codec: training budget, fast, medium (the default) or slow. At 768x512 medium
    /// gives what slow gives within about 1 % BD-rate in three quarters of its steps
    /// (docs/neural-rd.md).
    #[arg(long, value_parser = ["fast", "medium", "slow"])]
    pub preset: Option<String>,
    /// Neural codec: training seed (results are reproducible with -j 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Neural codec: the decoder's hidden width, 24 (architecture 2, what the presets train)
    /// or 32 (architecture 3: 1.6x the multiply-adds and about 300 more bytes of weights per
    /// image; pays at high rates, about 0.8 bpp and up, and costs at low ones).
    #[arg(long, value_name = "24|32", value_parser = parse_width)]
    pub neural_width: Option<u8>,
    /// Neural codec: pack payloads that `yoz-train --out DIR` wrote instead of training now
    /// (implies --image-codec neural).
    #[arg(long, value_name = "DIR")]
    pub from_bundle: Option<std::path::PathBuf>,
    /// Only encode images whose path or file name matches this glob lossily; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub lossy: Vec<String>,
    /// Files and directories to pack.
    #[arg(required_unless_present = "files_from")]
    pub inputs: Vec<PathArg>,
}

pub fn run(a: PackArgs) -> Result<()> {
    if !(1..=22).contains(&a.level) {
        return Err(Error::Usage(format!(
            "level {} is outside 1..22 (zstd's scale; 20-22 are its slow --ultra levels)",
            a.level
        )));
    }
    let level = if a.max { codec::LEVEL_MAX } else { a.level };
    let image = image_options(&a)?;
    let inputs = inputs_of(&a)?;
    let mut opts = PackOptions {
        codec: Choice::parse(&a.codec)?,
        level,
        block_size: match &a.block_size {
            Some(b) => parse_block_size(b)?,
            None => default_block_size(level),
        },
        exclude: a.exclude,
        dictionary: !a.no_dictionary,
        owner: a.owner.as_deref().map(parse_owner).transpose()?,
        image,
        mtime: a.mtime,
        directory: a.directory.clone(),
        verbose: a.verbose,
        one_file_system: a.one_file_system,
        all_xattrs: a.xattrs,
        // Names scroll by instead of a bar with -v.
        progress: want_progress() && !a.verbose,
        ..Default::default()
    };
    if let Some(j) = a.jobs {
        if j == 0 {
            return Err(Error::Usage("-j must be at least 1".into()));
        }
        opts.threads = j;
    }
    let stats = if is_dash(&a.output) {
        let out = std::io::stdout();
        if out.is_terminal() {
            return Err(Error::Usage(
                "refusing to write an archive to a terminal".into(),
            ));
        }
        let (_, s) = pack_to_writer(&inputs, std::io::BufWriter::new(out), &opts)?;
        s
    } else {
        pack_to_path(&inputs, &a.output, a.force, &opts)?
    };
    if !is_dash(&a.output) && !a.quiet {
        let ratio = if stats.archive_bytes > 0 {
            stats.input_bytes as f64 / stats.archive_bytes as f64
        } else {
            0.0
        };
        if stats.copies > 0 {
            eprintln!(
                "{} ({} bytes) stored once",
                super::count(stats.copies, "duplicate file", "duplicate files"),
                stats.copied_bytes
            );
        }
        if stats.lossy > 0 {
            eprintln!(
                "{} encoded lossily",
                super::count(stats.lossy, "image", "images")
            );
        }
        eprintln!(
            "packed {}, {} bytes -> {} bytes (ratio {:.2}x) into {}",
            super::count(stats.entries, "entry", "entries"),
            stats.input_bytes,
            stats.archive_bytes,
            ratio,
            a.output.display()
        );
    }
    if !stats.failed.is_empty() {
        return Err(Error::Incomplete {
            what: format!(
                "{} could not be read and {} left out (warnings above); the archive holds everything else",
                super::count(stats.failed.len() as u64, "input", "inputs"),
                if stats.failed.len() == 1 { "was" } else { "were" }
            ),
        });
    }
    Ok(())
}

/// The positional inputs, then those of `-T FILE` (one per line, empty lines skipped; the
/// bytes of a line are the path, so names need not be UTF-8 to be read).
fn inputs_of(a: &PackArgs) -> Result<Vec<PathArg>> {
    use crate::error::IoContext;
    use std::os::unix::ffi::OsStrExt;
    let mut inputs = a.inputs.clone();
    if let Some(f) = &a.files_from {
        let list = if is_dash(f) {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut v)
                .ctx(|| "reading the input list from stdin".into())?;
            v
        } else {
            std::fs::read(f).ctx(|| format!("reading the input list {}", f.display()))?
        };
        for line in list.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                inputs.push(std::ffi::OsStr::from_bytes(line).into());
            }
        }
    }
    Ok(inputs)
}

fn image_options(a: &PackArgs) -> Result<Option<crate::pack::ImageOptions>> {
    let codec = match (a.image_codec.as_deref(), &a.from_bundle) {
        (None | Some("neural"), Some(_)) => "neural",
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "--from-bundle packs neural payloads; it cannot go with another --image-codec"
                    .into(),
            ))
        }
        (Some(c), None) => c,
        (None, None) => {
            if !a.lossy.is_empty() || a.quality.is_some() || a.lambda.is_some() {
                return Err(Error::Usage(
                    "--lossy, --quality and --lambda need --image-codec dct|neural".into(),
                ));
            }
            if a.preset.is_some() || a.seed.is_some() || a.neural_width.is_some() {
                return Err(Error::Usage(
                    "--preset, --seed and --neural-width need --image-codec neural".into(),
                ));
            }
            return Ok(None);
        }
    };
    let codec = match codec {
        "dct" => {
            if a.lambda.is_some()
                || a.preset.is_some()
                || a.seed.is_some()
                || a.neural_width.is_some()
            {
                return Err(Error::Usage(
                    "--lambda, --preset, --seed and --neural-width are for --image-codec neural"
                        .into(),
                ));
            }
            crate::pack::ImageCodec::Dct
        }
        #[cfg(not(feature = "neural"))]
        "neural" => {
            return Err(Error::CodecNotBuilt {
                name: "neural",
                feature: "neural",
            })
        }
        #[cfg(feature = "neural")]
        "neural" => {
            if a.from_bundle.is_some() && a.neural_width.is_some() {
                return Err(Error::Usage(
                    "--neural-width chooses how to train; a bundle's payloads already have theirs"
                        .into(),
                ));
            }
            if let Some(l) = a.lambda {
                if !(l.is_finite() && l > 0.0) {
                    return Err(Error::Usage(format!("--lambda must be positive, got {l}")));
                }
            }
            crate::pack::ImageCodec::Neural {
                train: crate::neural::train::TrainOptions {
                    quality: a.quality.unwrap_or(50),
                    lambda: a.lambda,
                    preset: a.preset.clone().unwrap_or_else(|| "medium".into()),
                    threads: 1,
                    seed: a.seed,
                    hidden: a.neural_width,
                },
                bundle: a.from_bundle.clone(),
            }
        }
        other => {
            return Err(Error::Usage(format!(
                "unknown image codec {other:?} (expected dct or neural)"
            )))
        }
    };
    Ok(Some(crate::pack::ImageOptions {
        quality: a.quality.unwrap_or(75),
        lossy: a.lossy.clone(),
        codec,
    }))
}

/// `--neural-width`: the two synthesis widths the format has (codec-neural.md §2).
fn parse_width(s: &str) -> std::result::Result<u8, String> {
    match s {
        "24" => Ok(24),
        "32" => Ok(32),
        _ => Err(format!("the width is 24 or 32, not {s:?}")),
    }
}

fn parse_owner(s: &str) -> Result<(u32, u32)> {
    let bad = || Error::Usage(format!("--owner wants UID:GID, got {s:?}"));
    let (u, g) = s.split_once(':').ok_or_else(bad)?;
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

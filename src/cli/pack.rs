//! `yoz pack`.

use super::{is_dash, want_progress, PathArg};
use crate::codec::Choice;
use crate::error::{Error, Result};
use crate::pack::{pack_to_path, pack_to_writer, parse_block_size, PackOptions};
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// Output archive, or `-` for stdout.
    #[arg(short = 'o', long = "output")]
    pub output: PathArg,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Block codec: auto, store, zstd, huffman or lz77. auto runs zstd and stores blocks that
    /// do not shrink; from --level 19 up it tries zstd, lz77 and huffman on every block and keeps
    /// the smallest.
    #[arg(long, default_value = "auto")]
    pub codec: String,
    /// Compression level (zstd scale 1-22; lz77 uses 1-9, clamped; huffman ignores it).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub level: i32,
    /// Block size in bytes, with an optional K or M suffix (4K..64M).
    #[arg(long, default_value = "1M")]
    pub block_size: String,
    /// Compression threads (default: all cores). The output does not depend on it.
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Leave out paths (or file names) matching this glob; repeatable.
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Record this owner for every entry, as UID:GID (reproducible archives).
    #[arg(long, value_name = "UID:GID")]
    pub owner: Option<String>,
    /// Record this modification time (seconds since the epoch) for every entry.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub mtime: Option<i64>,
    /// Encode PNG images with a lossy image codec (`dct`). Without it images are stored
    /// losslessly: lossy is always an explicit choice.
    #[arg(long, value_name = "CODEC")]
    pub image_codec: Option<String>,
    /// Image quality 1-100 (higher is better and bigger), libjpeg's scale.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Only encode images whose path or file name matches this glob lossily; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub lossy: Vec<String>,
    /// Files and directories to pack.
    #[arg(required = true)]
    pub inputs: Vec<PathArg>,
}

pub fn run(a: PackArgs) -> Result<()> {
    let mut opts = PackOptions {
        codec: Choice::parse(&a.codec)?,
        level: a.level,
        block_size: parse_block_size(&a.block_size)?,
        exclude: a.exclude,
        progress: want_progress(),
        owner: a.owner.as_deref().map(parse_owner).transpose()?,
        image: match a.image_codec.as_deref() {
            None => {
                if !a.lossy.is_empty() {
                    return Err(Error::Usage("--lossy needs --image-codec dct".into()));
                }
                None
            }
            Some("dct") => Some(crate::pack::ImageOptions {
                quality: a.quality,
                lossy: a.lossy,
            }),
            Some(other) => {
                return Err(Error::Usage(format!(
                    "unknown image codec {other:?} (expected dct)"
                )))
            }
        },
        mtime: a.mtime,
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
        let (_, s) = pack_to_writer(&a.inputs, std::io::BufWriter::new(out), &opts)?;
        s
    } else {
        pack_to_path(&a.inputs, &a.output, a.force, &opts)?
    };
    if !is_dash(&a.output) {
        let ratio = if stats.archive_bytes > 0 {
            stats.input_bytes as f64 / stats.archive_bytes as f64
        } else {
            0.0
        };
        if stats.lossy > 0 {
            eprintln!("{} images encoded lossily", stats.lossy);
        }
        eprintln!(
            "packed {} entries, {} bytes -> {} bytes (ratio {:.2}x) into {}",
            stats.entries,
            stats.input_bytes,
            stats.archive_bytes,
            ratio,
            a.output.display()
        );
    }
    Ok(())
}

fn parse_owner(s: &str) -> Result<(u32, u32)> {
    let bad = || Error::Usage(format!("--owner wants UID:GID, got {s:?}"));
    let (u, g) = s.split_once(':').ok_or_else(bad)?;
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

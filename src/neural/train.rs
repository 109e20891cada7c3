//! Running the trainer (`yoz-train`) from `yoz pack --image-codec neural`.
//!
//! Training is a separate program so it can run on its own (on a faster machine, writing a
//! bundle) and so the archiver stays small; `pack` finds it, runs it on the images it wants
//! coded, and packs from the bundle it wrote.

use super::bundle::Bundle;
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The trainer's executable name.
pub const TRAINER: &str = "yoz-train";
/// What to tell a user who has no trainer.
pub const BUILD_HINT: &str =
    "build it with `cargo build --release` in the yoz source tree (it lands next to `yoz`), or set YOZ_TRAIN";

/// How to train (the CLI's `--quality/--lambda/--preset/--neural-width/-j/--seed`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// 1..=100; ignored when `lambda` is set.
    pub quality: u8,
    pub lambda: Option<f64>,
    /// fast, medium or slow.
    pub preset: String,
    pub threads: usize,
    pub seed: Option<u64>,
    /// The synthesis's hidden width (24: architecture 2, 32: architecture 3); `None` leaves it
    /// to the preset.
    pub hidden: Option<u8>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            quality: 50,
            lambda: None,
            preset: "medium".into(),
            threads: 1,
            seed: None,
            hidden: None,
        }
    }
}

/// Finds `yoz-train`: `YOZ_TRAIN` if set (it must exist), then beside the running executable,
/// then on `PATH`.
pub fn find_trainer() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("YOZ_TRAIN") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(Error::Failed {
            what: format!("YOZ_TRAIN={} is not a file; {BUILD_HINT}", p.display()),
        });
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join(TRAINER);
        if p.is_file() {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(TRAINER);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::Failed {
        what: format!("the neural codec needs {TRAINER}, which was not found next to yoz, on PATH or at YOZ_TRAIN; {BUILD_HINT}"),
    })
}

/// Trains every image in `pngs` into a bundle in `dir` and opens it.
pub fn train_to_bundle(pngs: &[PathBuf], dir: &Path, opts: &TrainOptions) -> Result<Bundle> {
    let exe = find_trainer()?;
    let mut cmd = Command::new(&exe);
    cmd.arg("--out").arg(dir).arg("--force");
    match opts.lambda {
        Some(l) => cmd.arg("--lambda").arg(l.to_string()),
        None => cmd.arg("--quality").arg(opts.quality.to_string()),
    };
    cmd.arg("--preset").arg(&opts.preset);
    cmd.arg("-j").arg(opts.threads.max(1).to_string());
    if let Some(s) = opts.seed {
        cmd.arg("--seed").arg(s.to_string());
    }
    if let Some(h) = opts.hidden {
        cmd.arg("--hidden").arg(h.to_string());
    }
    cmd.arg("--").args(pngs);
    let status = cmd.status().ctx(|| format!("running {}", exe.display()))?;
    if !status.success() {
        return Err(Error::Failed {
            what: format!("{} failed ({status})", exe.display()),
        });
    }
    Bundle::open(dir)
}

//! Whether an archive gets a zstd dictionary for its shared blocks (spec §4.3), and training
//! it. A dictionary pays where blocks are small: each shared block starts cold, and the
//! dictionary gives it what the archive's small files have in common. Measured on the unique
//! files of a Debian `/usr/include` (68 MB) at level 3 with a 110 KB dictionary: 128 KiB
//! blocks −2.4 %, 1 MiB blocks +0.4 % (the block itself already holds that context). So it is
//! considered only for shared blocks of at most [`SOLID_MAX`], and kept only when a trial on
//! files it was not trained on says it pays for its own bytes.

use super::{open_regular, read_full, Planned};
use crate::codec::dict::{self, ZstdDict};
use crate::error::Result;

/// Largest shared block a dictionary is considered for.
pub(super) const SOLID_MAX: usize = 512 << 10;
/// Dictionary size: zstd's default is 110 KB; half of it trains twice as fast and keeps most of
/// the gain on small blocks.
const DICT_SIZE: usize = 64 << 10;
/// Bytes of sample files read for training, and of other files for the trial.
const SAMPLE_BUDGET: u64 = 4 << 20;
const TRIAL_BUDGET: u64 = 1 << 20;
/// Fewer shared blocks than this and the dictionary's own bytes are not worth the trouble.
const MIN_BLOCKS: u64 = 8;

/// Trains a dictionary on some of `small` (plan indices of the files that will share blocks)
/// and returns it when a trial on others says it saves more than it costs.
pub(super) fn choose(
    plan: &[Planned],
    small: &[usize],
    solid_size: usize,
    level: i32,
) -> Result<Option<ZstdDict>> {
    let total: u64 = small.iter().map(|&i| plan[i].meta.len()).sum();
    if solid_size > SOLID_MAX || total / solid_size as u64 / MIN_BLOCKS == 0 {
        return Ok(None);
    }
    // Every k-th file for training, the ones half-way between for the trial: both spread
    // over the whole tree, and never the same files.
    let k = (total / SAMPLE_BUDGET + 1).max(2) as usize;
    let read_some = |phase: usize, budget: u64| -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut bytes = 0;
        for (n, &i) in small.iter().enumerate() {
            if n % k != phase || bytes >= budget {
                continue;
            }
            if let Some(data) = read(&plan[i]) {
                bytes += data.len() as u64;
                got.push(data);
            }
        }
        got
    };
    let samples = read_some(0, SAMPLE_BUDGET);
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    // zstd's trainer wants far more samples than dictionary (it fails below ~10x), and a
    // dictionary is stored whole: at most 1/64 of the small files' bytes.
    let sampled: usize = refs.iter().map(|r| r.len()).sum();
    let size = DICT_SIZE.min(sampled / 16).min((total / 64) as usize);
    if size < 1024 {
        return Ok(None);
    }
    let Some(bytes) = dict::train(&refs, size) else {
        return Ok(None);
    };
    let d = ZstdDict::new(bytes)?;
    let trial: Vec<u8> = read_some(k / 2, TRIAL_BUDGET).concat();
    if trial.is_empty() {
        return Ok(None);
    }
    let zstd = crate::codec::by_id(crate::codec::id::ZSTD)?;
    let (mut with, mut without) = (0u64, 0u64);
    let mut out = Vec::new();
    for chunk in trial.chunks(solid_size) {
        d.compress(chunk, level, &mut out)?;
        with += out.len() as u64;
        out.clear();
        zstd.compress(chunk, level, &mut out)?;
        without += out.len() as u64;
        out.clear();
    }
    // The saving scaled to all the small files, against the dictionary's own bytes; and at
    // least 1 % on the trial, so noise does not decide.
    let saved = without.saturating_sub(with) as f64 * total as f64 / trial.len() as f64;
    let pays = saved > d.bytes().len() as f64 && without.saturating_sub(with) * 100 >= without;
    Ok(pays.then_some(d))
}

fn read(p: &Planned) -> Option<Vec<u8>> {
    let mut f = open_regular(&p.src).ok()?;
    let mut data = vec![0u8; p.meta.len() as usize];
    read_full(&mut f, &mut data).ok()?;
    Some(data)
}

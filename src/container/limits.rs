//! Reader limits (spec §8.3) and the incremental checks every reader applies to entries.

use super::format::{image_codec_reader_minor, Entry, Kind, Storage};
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};

/// Bounds a reader enforces before allocating or writing anything. The defaults are generous;
/// callers reading untrusted archives in constrained places lower them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries an archive may declare.
    pub max_entries: u64,
    /// Most bytes all entries together may expand to.
    pub max_output: u64,
    /// Largest index accepted (bytes).
    pub max_index: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 50_000_000,
            max_output: 1 << 46, // 64 TiB
            max_index: 4 << 30,
        }
    }
}

/// Applies the per-entry rules of §8.2 in archive order: duplicate paths, files used as
/// directories, hard links to earlier files only, the entry and output limits.
#[derive(Default)]
pub struct EntryChecker {
    limits: Limits,
    /// The header's `reader_minor`: entries needing a later minor version are refused.
    reader_minor: u8,
    explicit: HashMap<String, Kind>,
    implied_dirs: HashSet<String>,
    entries: u64,
    output: u64,
}

impl EntryChecker {
    pub fn new(limits: Limits, reader_minor: u8) -> Self {
        EntryChecker {
            limits,
            reader_minor,
            ..Default::default()
        }
    }

    /// Checks one entry against those seen before it.
    pub fn add(&mut self, e: &Entry) -> Result<()> {
        // §2.1: the header must declare every feature the entries use, so that a reader which
        // decides up front (an older reader refusing, a reader loading a decoder) can trust it.
        let need = e.image.map_or(0, |im| image_codec_reader_minor(im.codec));
        if need > self.reader_minor {
            return Err(Error::VersionUnderstated {
                feature: "a neural image entry",
                need_minor: need,
                declared_minor: self.reader_minor,
            });
        }
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Error::Limit {
                what: "entry count",
                got: self.entries,
                max: self.limits.max_entries,
            });
        }
        self.output = self.output.saturating_add(e.size);
        if self.output > self.limits.max_output {
            return Err(Error::Limit {
                what: "total output size",
                got: self.output,
                max: self.limits.max_output,
            });
        }
        if self.explicit.contains_key(&e.path) {
            return Err(Error::DuplicatePath {
                path: e.path.clone(),
            });
        }
        if e.kind != Kind::Dir && self.implied_dirs.contains(&e.path) {
            return Err(Error::PathConflict {
                path: e.path.clone(),
                other: "an earlier entry inside it".into(),
                why: "a non-directory has children",
            });
        }
        for a in crate::path::ancestors(&e.path) {
            if let Some(k @ (Kind::File | Kind::Hardlink)) = self.explicit.get(a) {
                return Err(Error::PathConflict {
                    path: e.path.clone(),
                    other: a.to_string(),
                    why: if *k == Kind::File {
                        "parent is a file"
                    } else {
                        "parent is a hard link"
                    },
                });
            }
            if !self.implied_dirs.contains(a) {
                self.implied_dirs.insert(a.to_string());
            }
        }
        if e.kind == Kind::Hardlink {
            match self.explicit.get(&e.target) {
                Some(Kind::File) => {}
                _ => {
                    return Err(Error::PathInvalid {
                        path: e.path.clone(),
                        why: "hard link target is not an earlier file entry",
                    })
                }
            }
        }
        debug_assert!(e.kind == Kind::File || e.storage == Storage::None);
        self.explicit.insert(e.path.clone(), e.kind);
        Ok(())
    }
}

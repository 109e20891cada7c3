//! Bundles (spec/codec-neural.md §8): what `yoz-train` writes and `yoz pack --from-bundle`
//! reads, so training can run apart from packing (e.g. on a faster machine).
//!
//! `DIR/yoz-bundle.tsv` starts with the line `yoz-bundle<TAB>1`, then one line per image:
//! `<sha256 of the source PNG, lowercase hex><TAB><payload file name><TAB><source path>`.
//! Payload files sit in DIR and hold [`super::payload::encode`] bytes. Images are matched by
//! content hash, not by name, so a renamed or moved tree still finds its payloads and an
//! edited image never gets a stale one.

use crate::error::{Error, IoContext, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The manifest's file name inside a bundle directory.
pub const MANIFEST: &str = "yoz-bundle.tsv";
const FIRST_LINE: &str = "yoz-bundle\t1";
/// Largest payload file accepted from a bundle.
const PAYLOAD_MAX: u64 = 1 << 30;

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A bundle read from disk: content hash -> payload file.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    dir: PathBuf,
    files: HashMap<String, String>,
}

fn bad(dir: &Path, why: impl Into<String>) -> Error {
    Error::Input {
        path: dir.join(MANIFEST).display().to_string(),
        why: why.into(),
    }
}

/// A payload file name is one plain component: the manifest cannot point outside its dir.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

impl Bundle {
    /// Reads `dir/yoz-bundle.tsv`.
    pub fn open(dir: &Path) -> Result<Bundle> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .ctx(|| format!("reading bundle manifest {}", path.display()))?;
        // LF only: a CR stays in the line (the source path's), as the spec says.
        let mut lines = text.split('\n');
        if lines.next() != Some(FIRST_LINE) {
            return Err(bad(dir, format!("first line is not {FIRST_LINE:?}")));
        }
        let mut files = HashMap::new();
        for (n, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            let mut f = line.splitn(3, '\t');
            let (Some(hash), Some(file), Some(_source)) = (f.next(), f.next(), f.next()) else {
                return Err(bad(dir, format!("line {}: expected 3 fields", n + 2)));
            };
            if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad(dir, format!("line {}: bad sha256 {hash:?}", n + 2)));
            }
            if !plain_name(file) {
                return Err(bad(
                    dir,
                    format!("line {}: bad payload name {file:?}", n + 2),
                ));
            }
            // A hash on two lines: the later line counts.
            files.insert(hash.to_string(), file.to_string());
        }
        Ok(Bundle {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// Number of images in the bundle.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the bundle holds no image.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The payload for a source file's bytes, if the bundle has one.
    pub fn payload_for(&self, source: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(file) = self.files.get(&sha256_hex(source)) else {
            return Ok(None);
        };
        let path = self.dir.join(file);
        let len = std::fs::metadata(&path)
            .ctx(|| format!("bundle payload {}", path.display()))?
            .len();
        if len > PAYLOAD_MAX {
            return Err(Error::Limit {
                what: "bundle payload size",
                got: len,
                max: PAYLOAD_MAX,
            });
        }
        std::fs::read(&path)
            .ctx(|| format!("reading bundle payload {}", path.display()))
            .map(Some)
    }
}

/// Writes bundles: payload files then the manifest, each through a temp file and a rename, so
/// a crash never leaves a manifest naming a missing or half-written payload.
pub struct BundleWriter {
    dir: PathBuf,
    lines: Vec<String>,
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).ctx(|| format!("temp file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, data).ctx(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .ctx(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

impl BundleWriter {
    /// Prepares `dir` (created if missing). An existing manifest is an error unless `force`.
    pub fn create(dir: &Path, force: bool) -> Result<BundleWriter> {
        std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
        let m = dir.join(MANIFEST);
        if m.exists() {
            if !force {
                return Err(Error::Exists {
                    path: m.display().to_string(),
                });
            }
            // The old manifest goes first: if training fails halfway it must not be left naming
            // payload files that are being replaced.
            std::fs::remove_file(&m).ctx(|| format!("removing {}", m.display()))?;
        }
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            lines: Vec::new(),
        })
    }

    /// Adds one image's payload; `source` is the PNG file's bytes, `name` its path as given.
    pub fn add(&mut self, source: &[u8], name: &str, payload: &[u8]) -> Result<()> {
        let file = format!("{:04}.ynp", self.lines.len());
        write_atomic(&self.dir.join(&file), payload)?;
        let shown: String = name
            .chars()
            .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
            .collect();
        self.lines
            .push(format!("{}\t{file}\t{shown}", sha256_hex(source)));
        Ok(())
    }

    /// Writes the manifest.
    pub fn finish(self) -> Result<()> {
        let mut text = String::from(FIRST_LINE);
        text.push('\n');
        for l in &self.lines {
            text.push_str(l);
            text.push('\n');
        }
        write_atomic(&self.dir.join(MANIFEST), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let d = tempfile::tempdir().unwrap();
        let mut w = BundleWriter::create(d.path(), false).unwrap();
        w.add(b"png one", "a/b.png", b"payload one").unwrap();
        w.add(b"png two", "c\td.png", b"payload two").unwrap();
        w.finish().unwrap();
        assert!(BundleWriter::create(d.path(), false).is_err());
        // --force drops the old manifest before anything is replaced.
        let _w = BundleWriter::create(d.path(), true).unwrap();
        assert!(!d.path().join(MANIFEST).exists());
        let mut w = BundleWriter::create(d.path(), true).unwrap();
        w.add(b"png one", "a/b.png", b"payload one").unwrap();
        w.add(b"png two", "c\td.png", b"payload two").unwrap();
        w.finish().unwrap();
        let b = Bundle::open(d.path()).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.payload_for(b"png two").unwrap().unwrap(), b"payload two");
        assert_eq!(b.payload_for(b"png three").unwrap(), None);
    }

    #[test]
    fn hostile_manifest_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let h = sha256_hex(b"x");
        for body in [
            "nope\n".to_string(),
            format!("{FIRST_LINE}\n{h}\t../../etc/passwd\tx\n"),
            format!("{FIRST_LINE}\nzz\t0000.ynp\tx\n"),
            format!("{FIRST_LINE}\n{h}\n"),
            format!("{FIRST_LINE}\n{h}\t0000.ynp\n"),
            // Lowercase hex only; LF line ends only (the first line then reads "...1\r").
            format!("{FIRST_LINE}\n{}\t0000.ynp\tx\n", h.to_ascii_uppercase()),
            format!("{FIRST_LINE}\r\n{h}\t0000.ynp\tx\r\n"),
        ] {
            std::fs::write(d.path().join(MANIFEST), body).unwrap();
            assert_eq!(Bundle::open(d.path()).unwrap_err().class(), "input");
        }
    }

    #[test]
    fn later_lines_win_and_empty_lines_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let h = sha256_hex(b"x");
        std::fs::write(d.path().join("a.ynp"), b"first").unwrap();
        std::fs::write(d.path().join("b.ynp"), b"second").unwrap();
        // The source path is the rest of the line: tabs and a CR before the LF belong to it.
        let body = format!("{FIRST_LINE}\n\n{h}\ta.ynp\tx\ty\r\n{h}\tb.ynp\tz\n\n");
        std::fs::write(d.path().join(MANIFEST), body).unwrap();
        let b = Bundle::open(d.path()).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.payload_for(b"x").unwrap().unwrap(), b"second");
    }
}

//! The walk: inputs and directories turned into the plan of entries, in archive order, with
//! exclusions, the output itself left out, and unreadable inputs warned about and skipped.

use super::*;
use std::os::unix::ffi::OsStrExt;

pub(super) fn build_excludes(globs: &[String]) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        b.add(
            globset::Glob::new(g)
                .map_err(|e| Error::InvalidArgument(format!("bad --exclude {g:?}: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| Error::InvalidArgument(format!("bad --exclude: {e}")))
}

pub(super) fn input_err(p: &Path, why: impl Into<String>) -> Error {
    Error::Input {
        path: p.display().to_string(),
        why: why.into(),
    }
}

/// What the walk found: the entries in the order they will be written, and what it left out.
pub(super) struct Walk {
    pub(super) excludes: globset::GlobSet,
    pub(super) plan: Vec<Planned>,
    pub(super) names: HashMap<String, PathBuf>,
    /// Inputs left out on purpose (sockets), each warned about.
    pub(super) skipped: Vec<String>,
    /// Inputs that could not be read (tar's "Cannot open"), each warned about; the archive
    /// holds everything else and pack exits 2.
    pub(super) failed: Vec<String>,
    /// The archive being written, when it lies inside the inputs: (device, inode) of its
    /// directory and its file name. It is left out, as tar does ("file is the archive").
    pub(super) output: Option<(u64, u64, std::ffi::OsString)>,
    /// With `--one-file-system`: the device of the input being walked.
    pub(super) one_fs: Option<u64>,
    pub(super) one_file_system: bool,
    /// Every namespace of extended attributes, not only `user.*`.
    pub(super) all_xattrs: bool,
}

impl Walk {
    /// Whether `p` is the archive being written (then said, and left out).
    pub(super) fn is_output(&self, p: &Path) -> bool {
        let Some((dev, ino, name)) = &self.output else {
            return false;
        };
        let parent = match p.parent() {
            Some(d) if d.as_os_str().is_empty() => Path::new("."),
            Some(d) => d,
            None => return false,
        };
        let same = p.file_name() == Some(name.as_os_str())
            && fs::metadata(parent).is_ok_and(|m| (m.dev(), m.ino()) == (*dev, *ino));
        if same {
            eprintln!(
                "yoz: notice: {}: is the archive being written; not packed",
                p.display()
            );
        }
        same
    }

    /// Warns about an input that cannot be read and leaves it out.
    pub(super) fn fail(&mut self, p: &Path, why: impl std::fmt::Display) {
        self.failed
            .push(left_out(format!("{}: {why}", p.display())));
    }
}

/// Says that an input could not be read and is left out (tar's "Cannot open"); returns the
/// message for the pack's tally ([`PackStats::failed`]).
pub(super) fn left_out(msg: String) -> String {
    eprintln!("yoz: warning: {msg} (left out)");
    msg
}

/// Walks the inputs into a list of entries, in the order they will be written. An input or a
/// file under one that cannot be read is a warning, not an error (as in tar): the walk goes on.
pub(super) fn plan(inputs: &[PathBuf], out: Option<&Path>, opts: &PackOptions) -> Result<Walk> {
    let output = out.and_then(|o| {
        let m = fs::metadata(o.parent()?).ok()?;
        Some((m.dev(), m.ino(), o.file_name()?.to_os_string()))
    });
    let mut walk = Walk {
        excludes: build_excludes(&opts.exclude)?,
        plan: Vec::new(),
        names: HashMap::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        output,
        one_fs: None,
        one_file_system: opts.one_file_system,
        all_xattrs: opts.all_xattrs,
    };
    for input in inputs {
        // With -C DIR, a relative input is read from DIR and named as given.
        let src = match &opts.directory {
            Some(d) if input.is_relative() => d.join(input),
            _ => input.clone(),
        };
        let meta = match fs::symlink_metadata(&src) {
            Ok(m) => m,
            Err(e) => {
                walk.fail(&src, e);
                continue;
            }
        };
        // An input that is not UTF-8 is named in the escape form, which keeps `/` and `.`.
        let spell = |b: &std::ffi::OsStr| match b.to_str() {
            Some(s) => (s.to_string(), false),
            None => (crate::path::escape_bytes(b.as_bytes()), true),
        };
        let (s, esc) = spell(input.as_os_str());
        let (name, escaped) = match crate::path::clean_relative(&s) {
            Some(n) => (n, esc),
            None => match input.components().next_back() {
                Some(Component::Normal(c)) => spell(c),
                _ => return Err(input_err(input, "has no last component to name it by")),
            },
        };
        walk.one_fs = walk.one_file_system.then_some(meta.dev());
        if name.is_empty() {
            if !meta.is_dir() {
                return Err(input_err(input, "is not a directory"));
            }
            walk.dir(&src, "", escaped)?;
        } else if !walk.is_output(&src) {
            walk.add(src, name, escaped, meta)?;
        }
    }
    Ok(walk)
}

impl Walk {
    /// tar's matching of `--exclude`: a pattern matches the entry's name or any trailing part
    /// of it (`b/c` and `c` of `a/b/c`), and one starting with `/` the file's absolute path
    /// (`--exclude /usr/share/doc/adduser` while packing `/usr/share/doc`).
    pub(super) fn excluded(&self, src: &Path, name: &str) -> bool {
        let mut rest = name;
        loop {
            if self.excludes.is_match(rest) {
                return true;
            }
            match rest.split_once('/') {
                Some((_, r)) => rest = r,
                None => break,
            }
        }
        std::path::absolute(src).is_ok_and(|abs| self.excludes.is_match(abs))
    }

    /// Adds `src` as entry `name` (`escaped`: in the escape form of a name that is not UTF-8,
    /// §4.2.4), and a directory's contents after it.
    pub(super) fn add(
        &mut self,
        src: PathBuf,
        mut name: String,
        mut escaped: bool,
        meta: Metadata,
    ) -> Result<()> {
        // A symlink whose target is not UTF-8 puts its whole entry in the escape form.
        let mut raw_target = None;
        if meta.file_type().is_symlink() {
            let t = match fs::read_link(&src) {
                Ok(t) => t,
                Err(e) => {
                    self.fail(&src, e);
                    return Ok(());
                }
            };
            if t.to_str().is_none() && !escaped {
                name = crate::path::escape_bytes(name.as_bytes());
                escaped = true;
            }
            raw_target = Some(t);
        }
        if self.excluded(&src, &name) {
            return Ok(());
        }
        crate::path::validate(&name).map_err(|e| input_err(&src, e.to_string()))?;
        if let Some(prev) = self.names.get(&name) {
            return Err(input_err(
                &src,
                format!(
                    "maps to the entry name {name:?}, as {} does",
                    prev.display()
                ),
            ));
        }
        let ft = meta.file_type();
        let (kind, target) = if ft.is_dir() {
            (Kind::Dir, String::new())
        } else if ft.is_file() {
            (Kind::File, String::new())
        } else if let Some(raw) = raw_target {
            let t = if escaped {
                crate::path::escape_bytes(raw.as_os_str().as_bytes())
            } else {
                raw.to_str().unwrap_or_default().to_string()
            };
            if t.is_empty() || t.len() > crate::container::format::PATH_MAX {
                return Err(input_err(&src, "symlink target is empty or too long"));
            }
            (Kind::Symlink, t)
        } else if ft.is_fifo() {
            (Kind::Fifo, String::new())
        } else if ft.is_char_device() {
            (Kind::CharDevice, String::new())
        } else if ft.is_block_device() {
            (Kind::BlockDevice, String::new())
        } else {
            // A socket belongs to a running process and cannot be recreated (tar: "socket
            // ignored").
            let msg = format!("skipping {} (socket)", src.display());
            eprintln!("yoz: warning: {msg}");
            self.skipped.push(msg);
            return Ok(());
        };
        self.names.insert(name.clone(), src.clone());
        let is_dir = kind == Kind::Dir;
        // Symlinks carry no user attributes, and what else they have is not restored.
        let xattrs = if kind == Kind::Symlink {
            Vec::new()
        } else {
            let (x, problems) = crate::xattr::read(&src, self.all_xattrs);
            for p in problems {
                eprintln!("yoz: warning: {}: {p}; not archived", src.display());
            }
            x
        };
        self.plan.push(Planned {
            src: src.clone(),
            name: name.clone(),
            kind,
            meta,
            target,
            xattrs,
            escaped,
        });
        if is_dir {
            match self.one_fs {
                Some(dev) if self.plan.last().is_some_and(|p| p.meta.dev() != dev) => {
                    eprintln!(
                        "yoz: notice: {}: on another file system; not descended into",
                        src.display()
                    );
                }
                _ => self.dir(&src, &name, escaped)?,
            }
        }
        Ok(())
    }

    /// Adds a directory's children, sorted by name. A directory that cannot be listed keeps its
    /// own entry (added by the caller) and is warned about.
    pub(super) fn dir(&mut self, dir: &Path, prefix: &str, escaped: bool) -> Result<()> {
        let mut children = Vec::new();
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.fail(dir, e);
                return Ok(());
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(ent) => ent,
                Err(e) => {
                    self.fail(dir, e);
                    break;
                }
            };
            children.push((ent.file_name(), ent.path()));
        }
        // By the names' bytes: the order of their UTF-8 text where they have one.
        children.sort();
        let out_here = self.output.as_ref().is_some_and(|(dev, ino, _)| {
            fs::metadata(dir).is_ok_and(|m| (m.dev(), m.ino()) == (*dev, *ino))
        });
        for (fname, path) in children {
            if out_here && self.is_output(&path) {
                continue;
            }
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.fail(&path, e);
                    continue;
                }
            };
            // A name that is not UTF-8, or any name under one, is stored in the escape form.
            let (name, esc) = match (escaped, fname.to_str()) {
                (false, Some(f)) if prefix.is_empty() => (f.to_string(), false),
                (false, Some(f)) => (format!("{prefix}/{f}"), false),
                (true, _) => {
                    let f = crate::path::escape_bytes(fname.as_bytes());
                    (format!("{prefix}/{f}"), true)
                }
                (false, None) => {
                    let mut raw = prefix.as_bytes().to_vec();
                    if !raw.is_empty() {
                        raw.push(b'/');
                    }
                    raw.extend_from_slice(fname.as_bytes());
                    (crate::path::escape_bytes(&raw), true)
                }
            };
            self.add(path, name, esc, meta)?;
        }
        Ok(())
    }
}

//! The extractor as a [`Sink`]: each entry's metadata, data and end, as either reader
//! delivers them.

use super::*;

impl Sink for Extractor {
    fn begin(&mut self, e: &Entry) -> Result<()> {
        let spelled_path = spelled(e.escaped, &e.path);
        let rel = self.local(&spelled_path).map(str::to_string);
        let skip = |this: &mut Self| {
            this.cur = Some(Current {
                path: this.dest.join(&e.path),
                parent: None,
                name: String::new(),
                file: None,
                replaces: None,
                _partial: None,
                written: 0,
                skip: true,
                blob: None,
            });
            Ok(())
        };
        let Some(rel) = rel.filter(|_| self.selects(&e.path)) else {
            return skip(self);
        };
        let p = self.dest.join(&rel);
        let name = base_name(&rel).to_string();
        if self.opts.verbose {
            use std::io::Write as _;
            // A closed stdout (`| head`) must not stop the extraction.
            let slash = if e.kind == Kind::Dir { "/" } else { "" };
            let _ = writeln!(std::io::stdout().lock(), "{}{slash}", e.path);
        }
        let parent = self.parent(&rel)?;
        let pfd = parent.as_fd();
        let room = self.make_room(&parent, &name, &p, e)?;
        if room == Room::Keep {
            eprintln!("yoz: notice: {} exists; kept (-k)", p.display());
            return skip(self);
        }
        let reuse = room == Room::ReuseDir;
        let (p, name, replaces) = if room == Room::Replace {
            let tmp = part_name(&name);
            (p.with_file_name(&tmp), tmp, Some(name))
        } else {
            (p, name, None)
        };
        let mut file = None;
        let mut partial = None;
        match e.kind {
            Kind::Dir => {
                if !reuse {
                    at::mkdir(pfd, &name, 0o777).ctx(|| format!("creating {}", p.display()))?;
                }
                // A directory the user already had keeps its mode and times unless --force.
                if !reuse || self.opts.force {
                    // Owner-writable while its contents are extracted; final mode at finish.
                    let f = File::from(
                        at::open_dir(pfd, &name).ctx(|| format!("opening {}", p.display()))?,
                    );
                    f.set_permissions(fs::Permissions::from_mode(0o700))
                        .ctx(|| format!("chmod {}", p.display()))?;
                    self.set_xattrs(&p, e, &f);
                    let m = f.metadata().ctx(|| format!("stat {}", p.display()))?;
                    use std::os::unix::fs::MetadataExt;
                    self.dirs.push(PendingDir {
                        rel: rel.clone(),
                        path: p.clone(),
                        mode: self.mode(e.mode),
                        mtime: e.mtime,
                        nsec: e.mtime_nsec,
                        id: (m.dev(), m.ino()),
                    });
                }
            }
            Kind::File => {
                let (f, guard) =
                    crate::cleanup::create(|| at::create_file(pfd, &name, 0o600), |_| p.clone())
                        .ctx(|| format!("creating {}", p.display()))?;
                file = Some(f);
                partial = Some(guard);
            }
            Kind::Symlink => {
                at::symlink(&spelled(e.escaped, &e.target), pfd, &name)
                    .ctx(|| format!("creating symlink {}", p.display()))?;
            }
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => {
                let (kind, what) = match e.kind {
                    Kind::Fifo => (libc::S_IFIFO, "FIFO"),
                    Kind::CharDevice => (libc::S_IFCHR, "character device"),
                    _ => (libc::S_IFBLK, "block device"),
                };
                match at::mknod(pfd, &name, kind, e.device) {
                    Ok(()) => {}
                    // Devices need privileges (tar: "Cannot mknod: Operation not permitted"):
                    // a warning, and the rest extracts.
                    Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                        eprintln!(
                            "yoz: warning: {}: {what} not created ({err}); skipped",
                            p.display()
                        );
                        self.stats.skipped += 1;
                        return skip(self);
                    }
                    Err(err) => {
                        return Err(Error::io(format!("creating {what} {}", p.display()), err))
                    }
                }
            }
            Kind::Hardlink => {
                let target_spelled = spelled(e.escaped, &e.target);
                let target = match self.local(&target_spelled) {
                    Some(t) if self.files.contains_key(t) => t.to_string(),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "hard link target {:?} was not extracted",
                            e.target
                        )))
                    }
                };
                let from = self.parent(&target)?;
                at::hard_link(from.as_fd(), base_name(&target), pfd, &name)
                    .ctx(|| format!("linking {}", p.display()))?;
            }
        }
        self.cur = Some(Current {
            path: p,
            parent: Some(parent),
            name,
            replaces,
            file,
            _partial: partial,
            written: 0,
            skip: false,
            // Bounded: check_shape caps image blobs at IMAGE_BLOB_MAX.
            blob: e
                .image
                .map(|_| Vec::with_capacity(e.size.min(64 << 20) as usize)),
        });
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<()> {
        let c = self.cur.as_mut().expect("data after begin");
        if let Some(b) = c.blob.as_mut() {
            b.extend_from_slice(bytes);
        } else if let Some(f) = c.file.as_mut() {
            f.write_all(bytes)
                .ctx(|| format!("writing {}", c.path.display()))?;
            c.written += bytes.len() as u64;
        }
        Ok(())
    }

    fn hole(&mut self, len: u64) -> Result<()> {
        let c = self.cur.as_mut().expect("hole after begin");
        if let Some(b) = c.blob.as_mut() {
            b.resize(b.len() + len as usize, 0);
        } else if let Some(f) = c.file.as_mut() {
            f.seek(SeekFrom::Current(len as i64))
                .ctx(|| format!("seeking {}", c.path.display()))?;
            c.written += len;
        }
        Ok(())
    }

    /// Copies the source's extracted file (copy_file_range: a reflink where the file system
    /// has them). Declines, so the reader decodes the bytes instead, when the source was not
    /// extracted, cannot be read back (mode 000) or is no longer the file written.
    fn copy(&mut self, source: &Entry) -> Result<bool> {
        let c = self.cur.as_ref().expect("copy after begin");
        if c.skip {
            return Ok(true);
        }
        let source_spelled = spelled(source.escaped, &source.path);
        let Some(src) = self.local(&source_spelled) else {
            return Ok(false);
        };
        let Some(&id) = self.files.get(src) else {
            return Ok(false);
        };
        let parent = self.parent(src)?;
        let mut from = match at::open_read(parent.as_fd(), base_name(src)) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EACCES | libc::ELOOP | libc::ENOENT)
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(Error::io(format!("opening {}", source.path), e)),
        };
        use std::os::unix::fs::MetadataExt;
        let m = from.metadata().ctx(|| format!("stat {}", source.path))?;
        if (m.dev(), m.ino()) != id || m.len() != source.size {
            return Ok(false);
        }
        let c = self.cur.as_mut().expect("copy after begin");
        let Some(to) = c.file.as_mut() else {
            return Ok(false);
        };
        let n = std::io::copy(&mut (&mut from).take(source.size), to)
            .ctx(|| format!("copying {} to {}", source.path, c.path.display()))?;
        if n != source.size {
            // Shrunk under us: start over from the archive's bytes.
            to.set_len(0)
                .and_then(|_| to.seek(SeekFrom::Start(0)))
                .ctx(|| format!("truncating {}", c.path.display()))?;
            return Ok(false);
        }
        c.written += n;
        Ok(true)
    }

    fn end(&mut self, e: &Entry) -> Result<()> {
        let c = self.cur.take().expect("end after begin");
        if c.skip {
            return Ok(());
        }
        self.stats.entries += 1;
        match e.kind {
            Kind::File => {
                let mut c = c;
                if let (Some(blob), Some(info)) = (c.blob.take(), e.image.as_ref()) {
                    // `cur` stays set while the PNG is written, so `abort` removes a partial file.
                    self.cur = Some(c);
                    let n = {
                        let cur = self.cur.as_mut().expect("just set");
                        let path = cur.path.display().to_string();
                        let f = cur.file.as_mut().expect("file entries have a file");
                        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                        let n = crate::image::entry::write_png_compact(
                            &blob,
                            info,
                            &self.opts.decode,
                            &mut w,
                        )?;
                        w.flush().ctx(|| format!("writing {path}"))?;
                        n
                    };
                    c = self.cur.take().expect("just set");
                    c.written = n;
                    self.stats.lossy += 1;
                    self.stats.bytes += n.saturating_sub(e.size);
                }
                let f = c.file.as_ref().expect("file entries have a file");
                // Trailing holes: the length comes from set_len, not from a write.
                f.set_len(c.written)
                    .ctx(|| format!("sizing {}", c.path.display()))?;
                self.cur = Some(c);
                let c = self.cur.as_ref().expect("just set");
                self.set_file_meta(&c.path, e, c.file.as_ref().expect("a file"))?;
                let c = self.cur.take().expect("just set");
                let f = c.file.expect("a file");
                let m = f.metadata().ctx(|| format!("stat {}", c.path.display()))?;
                drop(f);
                if let (Some(target), Some(parent)) = (&c.replaces, &c.parent) {
                    // Complete and verified: now it may take the old file's place.
                    if let Err(err) = at::rename(parent.as_fd(), &c.name, target) {
                        let _ = at::unlink(parent.as_fd(), &c.name, false);
                        return Err(Error::io(format!("replacing {target}"), err));
                    }
                }
                self.stats.files += 1;
                self.stats.bytes += e.size;
                use std::os::unix::fs::MetadataExt;
                let spelled_path = spelled(e.escaped, &e.path);
                if let Some(rel) = self.local(&spelled_path) {
                    self.files.insert(rel.to_string(), (m.dev(), m.ino()));
                }
            }
            Kind::Symlink => self.set_symlink_meta(&c, e)?,
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => self.set_node_meta(&c, e)?,
            Kind::Hardlink | Kind::Dir => {}
        }
        Ok(())
    }
}

//! The inode table, built from the index when the mount starts.
//!
//! Paths are handled in the escape form of spec §4.2.4 (what an entry with flag bit 2 stores,
//! and a plain path with its backslashes doubled), so names that are not UTF-8 are one case;
//! the names and symlink targets the kernel sees are the bytes they stand for.

use super::*;

use crate::path::spelled;

/// The bytes a name in the escape form stands for (checked canonical when the archive was read).
fn raw(s: &str) -> Box<[u8]> {
    crate::path::unescape(s)
        .unwrap_or_else(|| s.as_bytes().to_vec())
        .into_boxed_slice()
}

/// One node of the mounted tree.
pub(super) struct Node {
    pub(super) attr: FileAttr,
    pub(super) what: What,
}

pub(super) enum What {
    /// Children sorted by name (for lookup by binary search and a stable readdir order).
    Dir {
        parent: u64,
        children: Vec<(Box<[u8]>, u64)>,
    },
    /// A regular file: the entry holding its bytes.
    File {
        entry: usize,
    },
    Symlink {
        target: Box<[u8]>,
    },
    /// A FIFO or device node: attributes only (the kernel, not the mount, serves its opens).
    Special,
}

/// Builds the inode table from the index (numbering in the module docs).
pub(super) fn build_tree(ar: &Archive, stamp: SystemTime) -> Vec<Option<Node>> {
    let entries = ar.entries();
    let mut nodes: Vec<Option<Node>> = Vec::with_capacity(entries.len() + 2);
    nodes.push(None);
    nodes.push(Some(synth_dir(ROOT, ROOT, stamp)));
    let paths: Vec<std::borrow::Cow<str>> = entries
        .iter()
        .map(|e| spelled(e.escaped, &e.path))
        .collect();
    let mut dirs: HashMap<&str, u64> = HashMap::from([("", ROOT)]);
    for (i, e) in entries.iter().enumerate() {
        let ino = i as u64 + 2;
        let what = match e.kind {
            Kind::File => What::File { entry: i },
            Kind::Symlink => What::Symlink {
                target: raw(&spelled(e.escaped, &e.target)),
            },
            Kind::Dir => {
                dirs.insert(paths[i].trim_end_matches('/'), ino);
                What::Dir {
                    parent: ROOT,
                    children: Vec::new(),
                }
            }
            Kind::Hardlink => {
                nodes.push(None);
                continue;
            }
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => What::Special,
        };
        nodes.push(Some(Node {
            attr: entry_attr(ino, e),
            what,
        }));
    }
    for (i, e) in entries.iter().enumerate() {
        let ino = ar.resolve(i) as u64 + 2;
        let path = paths[i].trim_end_matches('/');
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = ensure_dir(&mut nodes, &mut dirs, dir, stamp);
        if e.kind == Kind::Hardlink {
            if let Some(n) = nodes[ino as usize].as_mut() {
                n.attr.nlink += 1;
            }
        }
        if let Some(Node {
            what: What::Dir { parent: p, .. },
            ..
        }) = nodes[ino as usize].as_mut()
        {
            *p = parent;
        }
        add_child(&mut nodes, parent, name, ino);
    }
    // Sorted names serve lookups by binary search; a duplicate name (refused by the archive
    // reader's checks in any case) keeps its first entry.
    let mut subdirs = vec![0u32; nodes.len()];
    for n in nodes.iter_mut().flatten() {
        if let What::Dir { children, .. } = &mut n.what {
            children.sort_by(|a, b| a.0.cmp(&b.0));
            children.dedup_by(|a, b| a.0 == b.0);
        }
    }
    for n in nodes.iter().flatten() {
        if let What::Dir { children, .. } = &n.what {
            for (_, c) in children {
                if let Some(Node {
                    what: What::Dir { .. },
                    ..
                }) = nodes.get(*c as usize).and_then(|x| x.as_ref())
                {
                    subdirs[n.attr.ino.0 as usize] += 1;
                }
            }
        }
    }
    for n in nodes.iter_mut().flatten() {
        if let What::Dir { .. } = n.what {
            n.attr.nlink = 2 + subdirs[n.attr.ino.0 as usize];
        }
    }
    nodes
}

/// The inode of directory `path`, synthesizing it (and its missing parents) if no entry names it.
pub(super) fn ensure_dir<'a>(
    nodes: &mut Vec<Option<Node>>,
    dirs: &mut HashMap<&'a str, u64>,
    path: &'a str,
    stamp: SystemTime,
) -> u64 {
    if let Some(&ino) = dirs.get(path) {
        return ino;
    }
    let (up, name) = path.rsplit_once('/').unwrap_or(("", path));
    let parent = ensure_dir(nodes, dirs, up, stamp);
    let ino = nodes.len() as u64;
    nodes.push(Some(synth_dir(ino, parent, stamp)));
    dirs.insert(path, ino);
    add_child(nodes, parent, name, ino);
    ino
}

pub(super) fn add_child(nodes: &mut [Option<Node>], parent: u64, name: &str, ino: u64) {
    if let Some(Node {
        what: What::Dir { children, .. },
        ..
    }) = nodes[parent as usize].as_mut()
    {
        children.push((raw(name), ino));
    }
}

/// A directory no entry describes: the root, or a path prefix. It looks like the archive file.
pub(super) fn synth_dir(ino: u64, parent: u64, stamp: SystemTime) -> Node {
    Node {
        attr: FileAttr {
            ino: INodeNo(ino),
            size: 0,
            blocks: 0,
            atime: stamp,
            mtime: stamp,
            ctime: stamp,
            crtime: stamp,
            kind: FileType::Directory,
            perm: 0o755,
            nlink: 2,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        },
        what: What::Dir {
            parent,
            children: Vec::new(),
        },
    }
}

pub(super) fn entry_attr(ino: u64, e: &Entry) -> FileAttr {
    let (kind, size) = match e.kind {
        Kind::Dir => (FileType::Directory, 0),
        Kind::Symlink => (
            FileType::Symlink,
            raw(&spelled(e.escaped, &e.target)).len() as u64,
        ),
        // A lossy image shows as its decoded PNG, whose size the index records.
        Kind::File | Kind::Hardlink => (
            FileType::RegularFile,
            e.image.map_or(e.size, |im| im.output_size),
        ),
        Kind::Fifo => (FileType::NamedPipe, 0),
        Kind::CharDevice => (FileType::CharDevice, 0),
        Kind::BlockDevice => (FileType::BlockDevice, 0),
    };
    // The kernel's 32-bit device encoding (`new_encode_dev`).
    let (major, minor) = e.device;
    let rdev = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12);
    let mtime = time_of(e.mtime, e.mtime_nsec);
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: mtime,
        mtime,
        ctime: mtime,
        crtime: mtime,
        kind,
        perm: (e.mode & 0o7777) as u16,
        nlink: 1,
        uid: e.uid,
        gid: e.gid,
        rdev,
        blksize: BLKSIZE,
        flags: 0,
    }
}

/// Seconds and nanoseconds since the epoch (possibly before it) as a `SystemTime`.
pub(super) fn time_of(secs: i64, nsec: u32) -> SystemTime {
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole
        .and_then(|t| t.checked_add(Duration::from_nanos(nsec as u64)))
        .unwrap_or(UNIX_EPOCH)
}

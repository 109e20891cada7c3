//! §4.2.1–4.2.4: entries — kinds, storage, the image and xattr trailers, escaped names.

use super::*;

/// §4.2 entry kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// A named pipe (since 1.4).
    Fifo,
    /// A character device (since 1.4); its numbers are [`Entry::device`].
    CharDevice,
    /// A block device (since 1.4); its numbers are [`Entry::device`].
    BlockDevice,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::File => 0,
            Kind::Dir => 1,
            Kind::Symlink => 2,
            Kind::Hardlink => 3,
            Kind::Fifo => 4,
            Kind::CharDevice => 5,
            Kind::BlockDevice => 6,
        }
    }

    /// The `reader_minor` an entry of this kind needs in the header (§2.1).
    pub fn reader_minor(self) -> u8 {
        match self {
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => 4,
            _ => 0,
        }
    }

    /// A device node: its entry carries major and minor numbers.
    pub fn is_device(self) -> bool {
        matches!(self, Kind::CharDevice | Kind::BlockDevice)
    }

    pub fn from_code(c: u8) -> Result<Self> {
        Ok(match c {
            0 => Kind::File,
            1 => Kind::Dir,
            2 => Kind::Symlink,
            3 => Kind::Hardlink,
            4 => Kind::Fifo,
            5 => Kind::CharDevice,
            6 => Kind::BlockDevice,
            _ => {
                return Err(Error::UnknownKind {
                    what: "entry kind",
                    value: c as u64,
                })
            }
        })
    }
}

/// §4.2 where an entry's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// No data (directories, links, empty files).
    None,
    /// `count` consecutive blocks starting at ordinal `first`, owned by this entry alone.
    Blocks { first: u32, count: u32 },
    /// A slice of a shared block: `size` bytes at `offset` in block `block`.
    Shared { block: u32, offset: u32 },
    /// The same content as entry number `entry` (archive order), an earlier file stored once
    /// (deduplication, since 1.2): identical files cost one entry, not a second copy.
    Same { entry: u32 },
}

/// The `reader_minor` a storage kind needs in the header (§2.1): 2 for storage 3 (same).
pub fn storage_reader_minor(s: Storage) -> u8 {
    if matches!(s, Storage::Same { .. }) {
        2
    } else {
        0
    }
}

/// §4.2 an entry (file, directory, link) as recorded locally and in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// Unix permission bits and setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Length of the file's content; 0 for everything but files.
    pub size: u64,
    /// Symlink target, or the path of the earlier entry a hard link names.
    pub target: String,
    pub storage: Storage,
    /// Major and minor number of a character or block device (fields `x`, `y` of storage 0);
    /// `(0, 0)` for every other kind.
    pub device: (u32, u32),
    /// Extended attributes (§4.2.3, since 1.4), names in increasing byte order.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// `path` and `target` are in the escape form of names that are not UTF-8 (§4.2.4, since
    /// 1.4): the file system's names are [`crate::path::unescape`] of them.
    pub escaped: bool,
    /// Set for lossy image entries (§4.2.2): the content is an image blob, and unpack writes
    /// the decoded PNG instead.
    pub image: Option<ImageInfo>,
}

/// §4.2.2 what a lossy image entry decodes to. Present when entry flag bit 0 is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Image codec of the blob: 1 = dct (spec/codec-dct.md).
    pub codec: u8,
    /// 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    pub width: u32,
    pub height: u32,
    /// Size of the file that was packed (the original PNG).
    pub input_size: u64,
    /// Exact size of the PNG an extractor writes (stored deflate, so it follows from the shape
    /// and the kept chunks): what `list` and a mount report without decoding.
    pub output_size: u64,
}

/// §4.2.3 the rules of an xattr trailer of `n` attributes whose names and values lie at
/// `spans` in `b`, in their order: the count, then per attribute its name, its value length,
/// its place after the previous name.
fn parse_xattrs(
    b: &[u8],
    n: usize,
    spans: &[(std::ops::Range<usize>, std::ops::Range<usize>)],
) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |what: String| Err(Error::OutOfRange { what });
    if n == 0 || n > XATTRS_MAX {
        return bad(format!(
            "{n} extended attributes (1..={XATTRS_MAX} with flag bit 1)"
        ));
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(n);
    for (name, value) in spans {
        let name = &b[name.clone()];
        let ok = std::str::from_utf8(name).ok().filter(|s| {
            !s.contains('\0')
                && XATTR_NAMESPACES
                    .iter()
                    .any(|ns| s.len() > ns.len() && s.starts_with(ns))
        });
        let Some(name) = ok else {
            return bad(format!(
                "extended attribute name {:?}",
                String::from_utf8_lossy(name)
            ));
        };
        if value.len() > XATTR_VALUE_MAX {
            return Err(Error::Limit {
                what: "extended attribute value",
                got: value.len() as u64,
                max: XATTR_VALUE_MAX as u64,
            });
        }
        if out
            .last()
            .is_some_and(|(prev, _)| prev.as_bytes() >= name.as_bytes())
        {
            return bad(format!("extended attribute {name:?} out of order"));
        }
        out.push((name.to_string(), b[value.clone()].to_vec()));
    }
    Ok(out)
}

/// §4.2.2 length of the image trailer.
pub const IMAGE_TRAILER_LEN: usize = 26;
/// Largest image blob an entry may carry (the extractor holds one in memory).
pub const IMAGE_BLOB_MAX: u64 = 1 << 30;

/// The largest image blob an entry of this shape may carry (§4.2.2): twice its raw pixels plus
/// 16 MiB for the kept chunks, and never above [`IMAGE_BLOB_MAX`]. A lossy payload is smaller
/// than the raw pixels in practice; the bound keeps a tiny image from making an extractor
/// gather a gigabyte of blob (a 629-byte archive of zeros blocks cost 1.2 GB).
pub fn image_blob_max(width: u32, height: u32, channels: u8) -> u64 {
    // In 128 bits: 2·W·H·C reaches 2^67, which wrapped in 64 (spec §1: checks are exact).
    (2 * u128::from(width) * u128::from(height) * u128::from(channels) + (1 << 24))
        .min(u128::from(IMAGE_BLOB_MAX)) as u64
}
/// Image codec ids (§4.2.2).
pub const IMAGE_CODEC_DCT: u8 = 1;
/// Image codec 2: the neural codec (spec/codec-neural.md), since format 1.1.
pub const IMAGE_CODEC_NEURAL: u8 = 2;

/// The `reader_minor` an image codec needs in the header (§2.1, §4.2.2): 0 for DCT (1.0), 1 for
/// the neural codec (1.1).
pub fn image_codec_reader_minor(codec: u8) -> u8 {
    u8::from(codec == IMAGE_CODEC_NEURAL)
}

/// Entry flag bits (§4.2).
pub const ENTRY_FLAGS_KNOWN: u8 = ENTRY_FLAG_IMAGE | ENTRY_FLAG_XATTRS | ENTRY_FLAG_ESCAPED;
/// Entry flag bit 0: a lossy image entry; the image trailer follows `y` (§4.2.2).
pub const ENTRY_FLAG_IMAGE: u8 = 1;
/// Entry flag bit 1 (since 1.4): extended attributes; the xattr trailer follows (§4.2.3).
pub const ENTRY_FLAG_XATTRS: u8 = 2;
/// Entry flag bit 2 (since 1.4): `path` and `target` are in the escape form of names that are
/// not UTF-8 (§4.2.4).
pub const ENTRY_FLAG_ESCAPED: u8 = 4;
/// §4.2.3 most attributes one entry carries, and the largest value (Linux's own limit).
pub const XATTRS_MAX: usize = 1024;
pub const XATTR_VALUE_MAX: usize = 65_536;
/// §4.2.3 the namespaces an attribute name may start with.
pub const XATTR_NAMESPACES: [&str; 4] = ["security.", "system.", "trusted.", "user."];

impl Entry {
    /// An entry of `kind` at `path` with nothing else set: mode 0, owned by root, mtime 0, no
    /// data, target, storage, attributes or image; callers fill in what they have.
    pub fn new(path: impl Into<String>, kind: Kind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nsec: 0,
            size: 0,
            target: String::new(),
            storage: Storage::None,
            device: (0, 0),
            xattrs: Vec::new(),
            escaped: false,
            image: None,
        }
    }

    /// Length of the entry's encoding (§4.2.1): what [`Self::write_to`] appends.
    pub fn encoded_len(&self) -> usize {
        let image = if self.image.is_some() {
            IMAGE_TRAILER_LEN
        } else {
            0
        };
        let xattrs = if self.xattrs.is_empty() {
            0
        } else {
            2 + self
                .xattrs
                .iter()
                .map(|(n, v)| 1 + n.len() + 4 + v.len())
                .sum::<usize>()
        };
        ENTRY_MIN_LEN + self.path.len() + self.target.len() + image + xattrs
    }

    /// Serializes the entry (§4.2.1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(ENTRY_MIN_LEN + self.path.len() + self.target.len());
        self.write_to(&mut b);
        b
    }

    /// Appends the entry's bytes (§4.2.1) to `b`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let b = out;
        b.push(self.kind.code());
        b.push(
            if self.image.is_some() {
                ENTRY_FLAG_IMAGE
            } else {
                0
            } | if self.xattrs.is_empty() {
                0
            } else {
                ENTRY_FLAG_XATTRS
            } | if self.escaped { ENTRY_FLAG_ESCAPED } else { 0 },
        );
        let mut n = [0u8; 8];
        LE::write_u32(&mut n[..4], self.mode);
        b.extend_from_slice(&n[..4]);
        LE::write_u32(&mut n[..4], self.uid);
        b.extend_from_slice(&n[..4]);
        LE::write_u32(&mut n[..4], self.gid);
        b.extend_from_slice(&n[..4]);
        LE::write_i64(&mut n, self.mtime);
        b.extend_from_slice(&n);
        LE::write_u32(&mut n[..4], self.mtime_nsec);
        b.extend_from_slice(&n[..4]);
        LE::write_u64(&mut n, self.size);
        b.extend_from_slice(&n);
        LE::write_u16(&mut n[..2], self.path.len() as u16);
        b.extend_from_slice(&n[..2]);
        b.extend_from_slice(self.path.as_bytes());
        LE::write_u16(&mut n[..2], self.target.len() as u16);
        b.extend_from_slice(&n[..2]);
        b.extend_from_slice(self.target.as_bytes());
        let (st, x, y) = match self.storage {
            Storage::None => (0u8, self.device.0, self.device.1),
            Storage::Blocks { first, count } => (1, first, count),
            Storage::Shared { block, offset } => (2, block, offset),
            Storage::Same { entry } => (3, entry, 0),
        };
        b.push(st);
        LE::write_u32(&mut n[..4], x);
        b.extend_from_slice(&n[..4]);
        LE::write_u32(&mut n[..4], y);
        b.extend_from_slice(&n[..4]);
        if let Some(im) = &self.image {
            b.push(im.codec);
            b.push(im.channels);
            b.extend_from_slice(&im.width.to_le_bytes());
            b.extend_from_slice(&im.height.to_le_bytes());
            b.extend_from_slice(&im.input_size.to_le_bytes());
            b.extend_from_slice(&im.output_size.to_le_bytes());
        }
        if !self.xattrs.is_empty() {
            b.extend_from_slice(&(self.xattrs.len() as u16).to_le_bytes());
            for (name, value) in &self.xattrs {
                b.push(name.len() as u8);
                b.extend_from_slice(name.as_bytes());
                b.extend_from_slice(&(value.len() as u32).to_le_bytes());
                b.extend_from_slice(value);
            }
        }
    }

    /// Parses one entry from the start of `b`; returns it and its length.
    pub fn parse(b: &[u8]) -> Result<(Self, usize)> {
        let need = |n: usize| {
            if b.len() < n {
                Err(Error::truncated("entry record"))
            } else {
                Ok(())
            }
        };
        need(36)?;
        let path_len = LE::read_u16(&b[34..36]) as usize;
        need(36 + path_len + 2)?;
        let target_len = LE::read_u16(&b[36 + path_len..38 + path_len]) as usize;
        let mut end = 38 + path_len + target_len + 9;
        need(end)?;
        let has_image = b[1] & ENTRY_FLAG_IMAGE != 0;
        if has_image {
            end += IMAGE_TRAILER_LEN;
            need(end)?;
        }
        let image_end = end;
        // The xattr trailer's lengths, checked against the bytes before anything else.
        let mut xattr_spans = Vec::new();
        let mut xattr_count = None;
        if b[1] & ENTRY_FLAG_XATTRS != 0 {
            need(end + 2)?;
            let n = LE::read_u16(&b[end..end + 2]) as usize;
            xattr_count = Some(n);
            end += 2;
            for _ in 0..n {
                need(end + 1)?;
                let name_len = b[end] as usize;
                need(end + 1 + name_len + 4)?;
                let v = LE::read_u32(&b[end + 1 + name_len..end + 5 + name_len]) as usize;
                let value_at = end + 5 + name_len;
                need(value_at.saturating_add(v))?;
                xattr_spans.push((end + 1..end + 1 + name_len, value_at..value_at + v));
                end = value_at + v;
            }
        }
        let kind = Kind::from_code(b[0])?;
        if b[1] & !ENTRY_FLAGS_KNOWN != 0 {
            return Err(Error::UnknownFlag {
                what: "entry",
                bits: b[1] as u64,
            });
        }
        let text = |s: &[u8]| {
            String::from_utf8(s.to_vec()).map_err(|_| Error::PathInvalid {
                path: String::from_utf8_lossy(s).into_owned(),
                why: "not UTF-8",
            })
        };
        let path = text(&b[36..36 + path_len])?;
        let target = text(&b[38 + path_len..38 + path_len + target_len])?;
        let escaped = b[1] & ENTRY_FLAG_ESCAPED != 0;
        if escaped {
            for s in [&path, &target] {
                if !crate::path::is_canonical_escape(s) {
                    return Err(Error::PathInvalid {
                        path: s.clone(),
                        why: "not the canonical escape form of a name (flag bit 2)",
                    });
                }
            }
        }
        let s = 38 + path_len + target_len;
        let x = LE::read_u32(&b[s + 1..s + 5]);
        let y = LE::read_u32(&b[s + 5..s + 9]);
        let mut device = (0, 0);
        let storage = match b[s] {
            0 if kind.is_device() => {
                device = (x, y);
                Storage::None
            }
            0 if x == 0 && y == 0 => Storage::None,
            0 => {
                return Err(Error::Reserved {
                    what: "entry storage fields",
                })
            }
            1 => Storage::Blocks { first: x, count: y },
            2 => Storage::Shared {
                block: x,
                offset: y,
            },
            3 if y == 0 => Storage::Same { entry: x },
            3 => {
                return Err(Error::Reserved {
                    what: "entry storage field y of a copy",
                })
            }
            v => {
                return Err(Error::UnknownKind {
                    what: "entry storage",
                    value: v as u64,
                })
            }
        };
        let mode = LE::read_u32(&b[2..6]);
        if mode & !0o7777 != 0 {
            return Err(Error::Reserved {
                what: "entry mode high bits",
            });
        }
        let mtime_nsec = LE::read_u32(&b[22..26]);
        if mtime_nsec >= 1_000_000_000 {
            return Err(Error::OutOfRange {
                what: format!("mtime nanoseconds {mtime_nsec}"),
            });
        }
        let xattrs = match xattr_count {
            Some(n) => parse_xattrs(b, n, &xattr_spans)?,
            None => Vec::new(),
        };
        let e = Entry {
            path,
            kind,
            mode,
            uid: LE::read_u32(&b[6..10]),
            gid: LE::read_u32(&b[10..14]),
            mtime: LE::read_i64(&b[14..22]),
            mtime_nsec,
            size: LE::read_u64(&b[26..34]),
            target,
            storage,
            device,
            xattrs,
            escaped,
            image: has_image.then(|| {
                let t = &b[image_end - IMAGE_TRAILER_LEN..image_end];
                ImageInfo {
                    codec: t[0],
                    channels: t[1],
                    width: LE::read_u32(&t[2..6]),
                    height: LE::read_u32(&t[6..10]),
                    input_size: LE::read_u64(&t[10..18]),
                    output_size: LE::read_u64(&t[18..26]),
                }
            }),
        };
        e.check_shape()?;
        Ok((e, end))
    }

    /// Rules of §4.2 that concern one entry alone.
    fn check_shape(&self) -> Result<()> {
        crate::path::validate(&self.path)?;
        if let Some(im) = &self.image {
            if self.kind != Kind::File || self.size == 0 {
                return Err(Error::SizeMismatch {
                    what: format!("{}: an image entry must be a non-empty file", self.path),
                });
            }
            if im.codec != IMAGE_CODEC_DCT && im.codec != IMAGE_CODEC_NEURAL {
                return Err(Error::UnknownCodec { id: im.codec });
            }
            if !(1..=4).contains(&im.channels) || im.width == 0 || im.height == 0 {
                return Err(Error::OutOfRange {
                    what: format!(
                        "{}: image {}x{} with {} channels",
                        self.path, im.width, im.height, im.channels
                    ),
                });
            }
            let max = image_blob_max(im.width, im.height, im.channels);
            if self.size > max {
                return Err(Error::Limit {
                    what: "image blob size for the image's dimensions",
                    got: self.size,
                    max,
                });
            }
        }
        let bad = |why: &'static str| {
            Err(Error::SizeMismatch {
                what: format!("{}: {why}", self.path),
            })
        };
        match self.kind {
            Kind::File => {
                if self.size > 0 && self.storage == Storage::None {
                    return bad("non-empty file without data");
                }
                if self.size == 0 && self.storage != Storage::None {
                    return bad("empty file with data");
                }
                if let Storage::Blocks { count, .. } = self.storage {
                    // Every block holds at least one byte and at most BLOCK_SIZE_MAX.
                    if count == 0
                        || (count as u64) > self.size
                        || self.size > count as u64 * BLOCK_SIZE_MAX as u64
                    {
                        return bad("block count does not fit the size");
                    }
                }
                if let Storage::Shared { offset, .. } = self.storage {
                    if (offset as u64).saturating_add(self.size) > BLOCK_SIZE_MAX as u64 {
                        return bad("shared slice past the largest block");
                    }
                }
                if !self.target.is_empty() {
                    return Err(Error::Reserved {
                        what: "file target",
                    });
                }
                if self.image.is_some() && matches!(self.storage, Storage::Same { .. }) {
                    return Err(Error::IndexMismatch {
                        what: format!("{}: a lossy image entry stored as a copy", self.path),
                    });
                }
            }
            Kind::Dir
            | Kind::Symlink
            | Kind::Hardlink
            | Kind::Fifo
            | Kind::CharDevice
            | Kind::BlockDevice => {
                if self.size != 0 || self.storage != Storage::None {
                    return bad("only files carry data");
                }
                if !self.kind.is_device() && self.device != (0, 0) {
                    return Err(Error::Reserved {
                        what: "entry storage fields",
                    });
                }
                if !matches!(self.kind, Kind::Symlink | Kind::Hardlink) && !self.target.is_empty() {
                    return Err(Error::Reserved {
                        what: "target of an entry that is not a link",
                    });
                }
                if self.kind == Kind::Symlink && self.target.is_empty() {
                    return Err(Error::PathInvalid {
                        path: self.path.clone(),
                        why: "empty symlink target",
                    });
                }
                if self.kind == Kind::Hardlink {
                    crate::path::validate(&self.target)?;
                }
            }
        }
        Ok(())
    }
}

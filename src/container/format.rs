//! On-disk structures of yoz v1, mirroring spec/yoz-v1.md table by table.
//!
//! Everything here parses from and serializes to byte slices; no I/O. All integers are
//! little-endian. Section numbers refer to the spec.

use crate::error::{Error, Result};

/// §2: the 8-byte magic that opens every archive (PNG-style: high bit, CR LF, ^Z, LF).
pub const MAGIC: [u8; 8] = *b"\x89YOZ\r\n\x1a\n";
/// §7: the 8-byte magic that closes every archive.
pub const FOOTER_MAGIC: [u8; 8] = *b"YOZ-IDX\n";
/// §6: magic at the start of the index.
pub const INDEX_MAGIC: [u8; 4] = *b"YIDX";

/// Format version this code writes and reads.
pub const VERSION_MAJOR: u8 = 1;
/// Minor version this code writes and reads.
pub const VERSION_MINOR: u8 = 4;

/// §2 header length in bytes.
pub const HEADER_LEN: usize = 16;
/// §7 footer length in bytes.
pub const FOOTER_LEN: usize = 32;
/// §4.1 block record header length, tag included.
pub const BLOCK_HEADER_LEN: usize = 21;
/// §6.1 block table row length.
pub const BLOCK_ROW_LEN: usize = 28;
/// §6.2 resource table row length.
pub const RESOURCE_ROW_LEN: usize = 24;
/// §6 on-disk index envelope: magic, codec, reserved, raw length.
pub const INDEX_ENVELOPE_LEN: usize = 12;
/// §6.1 fixed part of the decoded index before the tables.
pub const INDEX_FIXED_LEN: usize = 16;
/// §4.2 smallest possible entry (empty path and target), used to bound declared counts.
pub const ENTRY_MIN_LEN: usize = 47;
/// §4.2 entry group record header length, tag included.
pub const GROUP_HEADER_LEN: usize = 19;
/// §6.4 group table row length.
pub const GROUP_ROW_LEN: usize = 26;
/// Largest decoded entry group (§4.2); writers start a new group well before.
pub const GROUP_RAW_MAX: usize = 16 << 20;

/// Smallest and largest block size a writer may use (§4.1); readers refuse blocks whose
/// original length exceeds the maximum.
pub const BLOCK_SIZE_MIN: usize = 4 << 10;
/// Largest block size (64 MiB).
pub const BLOCK_SIZE_MAX: usize = 64 << 20;
/// Default block size (1 MiB).
pub const BLOCK_SIZE_DEFAULT: usize = 1 << 20;

/// Longest path in bytes (§3).
pub const PATH_MAX: usize = 4096;
/// Longest path component in bytes (§3).
pub const NAME_MAX: usize = 255;

/// Record tags (§4).
pub mod tag {
    use crate::error::{Error, Result};

    /// Checks that the record at `offset` carries tag `want`: a byte that is no record tag at
    /// all is `unknown-kind` (as a streaming reader reports it), a record of another kind where
    /// the index expects this one is `index-mismatch`.
    pub fn expect(got: u8, want: u8, offset: u64) -> Result<()> {
        match got {
            g if g == want => Ok(()),
            ENTRY | BLOCK | RESOURCE | END => Err(Error::IndexMismatch {
                what: format!(
                    "the record at offset {offset} is {:?}, the index expects {:?}",
                    got as char, want as char
                ),
            }),
            other => Err(Error::UnknownKind {
                what: "record tag",
                value: other as u64,
            }),
        }
    }

    /// An entry group record (§4.2).
    pub const ENTRY: u8 = b'E';
    /// A block record (§4.1).
    pub const BLOCK: u8 = b'B';
    /// A shared resource record (§4.3).
    pub const RESOURCE: u8 = b'R';
    /// End of records; the index follows (§4.4).
    pub const END: u8 = b'Z';
}

/// Block id meaning "no resource".
pub const NO_RESOURCE: u32 = u32::MAX;

/// §2 archive header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub writer_major: u8,
    pub writer_minor: u8,
    /// Minimum reader version needed to read this archive.
    pub reader_major: u8,
    pub reader_minor: u8,
    /// No flags are defined in 1.0; all bits are reserved.
    pub flags: u32,
}

impl Header {
    /// The header this implementation writes.
    pub fn current() -> Self {
        Header {
            writer_major: VERSION_MAJOR,
            writer_minor: VERSION_MINOR,
            reader_major: VERSION_MAJOR,
            reader_minor: 0,
            flags: 0,
        }
    }

    /// The header for an archive that uses features of minor version `reader_minor` (§2.1):
    /// 1.1 for neural image entries.
    pub fn needing(reader_minor: u8) -> Self {
        Header {
            reader_minor,
            ..Self::current()
        }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8] = self.writer_major;
        b[9] = self.writer_minor;
        b[10] = self.reader_major;
        b[11] = self.reader_minor;
        LE::write_u32(&mut b[12..16], self.flags);
        b
    }

    /// Parses and applies the version rules of §2.1.
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < 8 || b[..8] != MAGIC {
            if b.len() < 8 && MAGIC.starts_with(b) {
                return Err(Error::truncated("header"));
            }
            return Err(Error::BadMagic { offset: 0 });
        }
        if b.len() < HEADER_LEN {
            return Err(Error::truncated("header"));
        }
        let h = Header {
            writer_major: b[8],
            writer_minor: b[9],
            reader_major: b[10],
            reader_minor: b[11],
            flags: LE::read_u32(&b[12..16]),
        };
        if h.reader_major != VERSION_MAJOR
            || h.reader_minor > VERSION_MINOR
            || h.writer_major < h.reader_major
        {
            return Err(Error::UnsupportedVersion {
                need_major: h.reader_major,
                need_minor: h.reader_minor,
                have_major: VERSION_MAJOR,
                have_minor: VERSION_MINOR,
            });
        }
        if h.flags != 0 {
            return Err(Error::UnknownFlag {
                what: "header",
                bits: h.flags as u64,
            });
        }
        Ok(h)
    }
}

/// §4.1 block record header (everything but the payload), also a block table row (§6.1)
/// together with `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Offset of the block record's tag byte from the start of the archive (index only).
    pub offset: u64,
    pub codec: u8,
    pub flags: u8,
    pub params: u16,
    pub resource: u32,
    pub raw_len: u32,
    pub comp_len: u32,
    pub crc32: u32,
}

impl BlockInfo {
    /// Serializes the record header, tag included.
    pub fn header_bytes(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0] = tag::BLOCK;
        b[1] = self.codec;
        b[2] = self.flags;
        LE::write_u16(&mut b[3..5], self.params);
        LE::write_u32(&mut b[5..9], self.resource);
        LE::write_u32(&mut b[9..13], self.raw_len);
        LE::write_u32(&mut b[13..17], self.comp_len);
        LE::write_u32(&mut b[17..21], self.crc32);
        b
    }

    /// Parses a record header (tag included) found at `offset`.
    pub fn parse_header(b: &[u8], offset: u64) -> Result<Self> {
        if b.len() < BLOCK_HEADER_LEN {
            return Err(Error::truncated("block header"));
        }
        tag::expect(b[0], tag::BLOCK, offset)?;
        let info = BlockInfo {
            offset,
            codec: b[1],
            flags: b[2],
            params: LE::read_u16(&b[3..5]),
            resource: LE::read_u32(&b[5..9]),
            raw_len: LE::read_u32(&b[9..13]),
            comp_len: LE::read_u32(&b[13..17]),
            crc32: LE::read_u32(&b[17..21]),
        };
        info.check()?;
        Ok(info)
    }

    /// §2.1, §5: a block whose codec a later minor version registered needs the header to
    /// declare it (`version-mismatch`).
    pub fn check_version(&self, reader_minor: u8) -> Result<()> {
        let need = crate::codec::reader_minor(self.codec);
        if need > reader_minor {
            return Err(Error::VersionUnderstated {
                feature: "a block codec of a later minor version",
                need_minor: need,
                declared_minor: reader_minor,
            });
        }
        Ok(())
    }

    /// Checks the fields that do not depend on the rest of the archive.
    pub fn check(&self) -> Result<()> {
        if self.flags != 0 {
            return Err(Error::UnknownFlag {
                what: "block",
                bits: self.flags as u64,
            });
        }
        crate::codec::by_id(self.codec)?;
        if self.resource != NO_RESOURCE && self.codec != crate::codec::id::ZSTD {
            // Only zstd blocks take a resource (a dictionary, §4.3).
            return Err(Error::Reserved {
                what: "resource of a block whose codec takes none",
            });
        }
        if self.codec == crate::codec::id::ZEROS && self.comp_len != 0 {
            return Err(Error::SizeMismatch {
                what: format!("zeros block with a {}-byte payload", self.comp_len),
            });
        }
        if self.raw_len as usize > BLOCK_SIZE_MAX {
            return Err(Error::Limit {
                what: "block original length",
                got: self.raw_len as u64,
                max: BLOCK_SIZE_MAX as u64,
            });
        }
        if self.raw_len == 0 {
            return Err(Error::SizeMismatch {
                what: "a block of zero bytes".into(),
            });
        }
        // No codec expands a block by more than this; a larger payload is hostile.
        let max_comp = self.raw_len as u64 + self.raw_len as u64 / 8 + 1024;
        if self.comp_len as u64 > max_comp {
            return Err(Error::Limit {
                what: "block payload length",
                got: self.comp_len as u64,
                max: max_comp,
            });
        }
        if self.codec == crate::codec::id::STORE && self.comp_len != self.raw_len {
            return Err(Error::SizeMismatch {
                what: format!(
                    "stored block of {} bytes with a {}-byte payload",
                    self.raw_len, self.comp_len
                ),
            });
        }
        Ok(())
    }

    /// Serializes a block table row.
    pub fn row_bytes(&self) -> [u8; BLOCK_ROW_LEN] {
        let mut b = [0u8; BLOCK_ROW_LEN];
        LE::write_u64(&mut b[0..8], self.offset);
        b[8..28].copy_from_slice(&self.header_bytes()[1..]);
        b
    }

    /// Parses a block table row.
    pub fn parse_row(b: &[u8]) -> Result<Self> {
        let mut hdr = [0u8; BLOCK_HEADER_LEN];
        hdr[0] = tag::BLOCK;
        hdr[1..].copy_from_slice(&b[8..28]);
        Self::parse_header(&hdr, LE::read_u64(&b[0..8]))
    }

    /// Total bytes of the block record, header plus payload.
    pub fn record_len(&self) -> u64 {
        BLOCK_HEADER_LEN as u64 + self.comp_len as u64
    }
}

/// §4.3 / §6.3 shared resource: since 1.2, kind 1, a zstd dictionary that zstd blocks name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    pub offset: u64,
    pub id: u32,
    pub kind: u16,
    pub flags: u16,
    pub length: u32,
    pub crc32: u32,
}

/// Resource record header length (tag included).
pub const RESOURCE_HEADER_LEN: usize = 17;
/// Resource kind 1 (§4.3.1): a zstd dictionary, since 1.2.
pub const RESOURCE_ZSTD_DICT: u16 = 1;
/// Largest resource payload (§4.3): a reader holds every resource of an archive.
pub const RESOURCE_LEN_MAX: u32 = 1 << 20;
/// Most resource records an archive may hold (§4.3).
pub const RESOURCES_MAX: u64 = 16;

impl ResourceInfo {
    /// Parses a resource record header (tag included).
    pub fn parse_header(b: &[u8], offset: u64) -> Result<Self> {
        if b.len() < RESOURCE_HEADER_LEN {
            return Err(Error::truncated("resource header"));
        }
        tag::expect(b[0], tag::RESOURCE, offset)?;
        let r = ResourceInfo {
            offset,
            id: LE::read_u32(&b[1..5]),
            kind: LE::read_u16(&b[5..7]),
            flags: LE::read_u16(&b[7..9]),
            length: LE::read_u32(&b[9..13]),
            crc32: LE::read_u32(&b[13..17]),
        };
        r.check()?;
        Ok(r)
    }

    /// Parses a resource table row.
    pub fn parse_row(b: &[u8]) -> Result<Self> {
        let mut hdr = [0u8; RESOURCE_HEADER_LEN];
        hdr[0] = tag::RESOURCE;
        hdr[1..].copy_from_slice(&b[8..24]);
        Self::parse_header(&hdr, LE::read_u64(&b[0..8]))
    }

    /// The rules of §4.3 that concern the record alone, in the order the spec gives.
    fn check(&self) -> Result<()> {
        if self.kind != RESOURCE_ZSTD_DICT {
            return Err(Error::UnknownKind {
                what: "resource kind",
                value: self.kind as u64,
            });
        }
        if self.flags != 0 {
            return Err(Error::UnknownFlag {
                what: "resource",
                bits: self.flags as u64,
            });
        }
        if self.length == 0 || self.length > RESOURCE_LEN_MAX {
            return Err(Error::Limit {
                what: "resource length",
                got: self.length as u64,
                max: RESOURCE_LEN_MAX as u64,
            });
        }
        Ok(())
    }

    /// Serializes the record header, tag included.
    pub fn header_bytes(&self) -> [u8; RESOURCE_HEADER_LEN] {
        let mut b = [0u8; RESOURCE_HEADER_LEN];
        b[0] = tag::RESOURCE;
        LE::write_u32(&mut b[1..5], self.id);
        LE::write_u16(&mut b[5..7], self.kind);
        LE::write_u16(&mut b[7..9], self.flags);
        LE::write_u32(&mut b[9..13], self.length);
        LE::write_u32(&mut b[13..17], self.crc32);
        b
    }

    /// Serializes a resource table row.
    pub fn row_bytes(&self) -> [u8; RESOURCE_ROW_LEN] {
        let mut b = [0u8; RESOURCE_ROW_LEN];
        LE::write_u64(&mut b[0..8], self.offset);
        b[8..24].copy_from_slice(&self.header_bytes()[1..]);
        b
    }

    /// Total bytes of the resource record, header plus payload.
    pub fn record_len(&self) -> u64 {
        RESOURCE_HEADER_LEN as u64 + self.length as u64
    }

    /// The `reader_minor` this resource's kind needs (§2.1).
    pub fn reader_minor(&self) -> u8 {
        2
    }
}

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
    (2 * width as u64 * height as u64 * channels as u64 + (1 << 24)).min(IMAGE_BLOB_MAX)
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
                    if offset as u64 + self.size > BLOCK_SIZE_MAX as u64 {
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

/// §7: the index CRC covers the 16 header bytes followed by the index, so that a damaged
/// header (even its informative fields) is detected by every reader.
pub fn index_crc(header: &[u8], index: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(index);
    h.finalize()
}

/// §7 footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub index_offset: u64,
    pub index_len: u64,
    pub index_crc: u32,
}

impl Footer {
    pub fn to_bytes(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        LE::write_u64(&mut b[0..8], self.index_offset);
        LE::write_u64(&mut b[8..16], self.index_len);
        LE::write_u32(&mut b[16..20], self.index_crc);
        b[24..32].copy_from_slice(&FOOTER_MAGIC);
        b
    }

    pub fn parse(b: &[u8], file_len: u64) -> Result<Self> {
        if b.len() < FOOTER_LEN || b[24..32] != FOOTER_MAGIC {
            return Err(Error::Truncated {
                what: "footer (missing end magic)",
            });
        }
        if LE::read_u32(&b[20..24]) != 0 {
            return Err(Error::Reserved { what: "footer" });
        }
        let f = Footer {
            index_offset: LE::read_u64(&b[0..8]),
            index_len: LE::read_u64(&b[8..16]),
            index_crc: LE::read_u32(&b[16..20]),
        };
        let end = f
            .index_offset
            .checked_add(f.index_len)
            .and_then(|x| x.checked_add(FOOTER_LEN as u64));
        if f.index_offset < HEADER_LEN as u64 + 1 || end != Some(file_len) {
            return Err(Error::OutOfRange {
                what: format!(
                    "index at {}+{} does not end at the footer (file is {file_len} bytes)",
                    f.index_offset, f.index_len
                ),
            });
        }
        Ok(f)
    }
}

/// §4.2 entry group record header (everything but the payload), also a group table row
/// (§6.4) together with `offset`. Entries travel in groups so their metadata compresses
/// together (paths share prefixes), as tar headers do inside a tar.zst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupInfo {
    /// Offset of the group record's tag byte (index only).
    pub offset: u64,
    /// 0 store or 1 zstd (§5).
    pub codec: u8,
    pub flags: u8,
    /// Number of entries in the group, at least 1.
    pub count: u32,
    pub raw_len: u32,
    pub comp_len: u32,
    /// CRC-32 of the decoded entry bytes.
    pub crc32: u32,
}

impl GroupInfo {
    /// Serializes the record header, tag included.
    pub fn header_bytes(&self) -> [u8; GROUP_HEADER_LEN] {
        let mut b = [0u8; GROUP_HEADER_LEN];
        b[0] = tag::ENTRY;
        b[1] = self.codec;
        b[2] = self.flags;
        LE::write_u32(&mut b[3..7], self.count);
        LE::write_u32(&mut b[7..11], self.raw_len);
        LE::write_u32(&mut b[11..15], self.comp_len);
        LE::write_u32(&mut b[15..19], self.crc32);
        b
    }

    /// Parses a record header (tag included) found at `offset`.
    pub fn parse_header(b: &[u8], offset: u64) -> Result<Self> {
        if b.len() < GROUP_HEADER_LEN {
            return Err(Error::truncated("entry group header"));
        }
        tag::expect(b[0], tag::ENTRY, offset)?;
        let g = GroupInfo {
            offset,
            codec: b[1],
            flags: b[2],
            count: LE::read_u32(&b[3..7]),
            raw_len: LE::read_u32(&b[7..11]),
            comp_len: LE::read_u32(&b[11..15]),
            crc32: LE::read_u32(&b[15..19]),
        };
        g.check()?;
        Ok(g)
    }

    fn check(&self) -> Result<()> {
        if self.flags != 0 {
            return Err(Error::UnknownFlag {
                what: "entry group",
                bits: self.flags as u64,
            });
        }
        if !matches!(self.codec, crate::codec::id::STORE | crate::codec::id::ZSTD) {
            return Err(Error::UnknownCodec { id: self.codec });
        }
        if self.raw_len as usize > GROUP_RAW_MAX {
            return Err(Error::Limit {
                what: "entry group length",
                got: self.raw_len as u64,
                max: GROUP_RAW_MAX as u64,
            });
        }
        if self.count == 0 || (self.count as u64) * ENTRY_MIN_LEN as u64 > self.raw_len as u64 {
            return Err(Error::SizeMismatch {
                what: format!(
                    "{} entries cannot fit in {} bytes",
                    self.count, self.raw_len
                ),
            });
        }
        let max_comp = self.raw_len as u64 + self.raw_len as u64 / 8 + 1024;
        if self.comp_len as u64 > max_comp {
            return Err(Error::Limit {
                what: "entry group payload length",
                got: self.comp_len as u64,
                max: max_comp,
            });
        }
        Ok(())
    }

    /// Serializes a group table row.
    pub fn row_bytes(&self) -> [u8; GROUP_ROW_LEN] {
        let mut b = [0u8; GROUP_ROW_LEN];
        LE::write_u64(&mut b[0..8], self.offset);
        b[8..26].copy_from_slice(&self.header_bytes()[1..]);
        b
    }

    /// Parses a group table row.
    pub fn parse_row(b: &[u8]) -> Result<Self> {
        let mut hdr = [0u8; GROUP_HEADER_LEN];
        hdr[0] = tag::ENTRY;
        hdr[1..].copy_from_slice(&b[8..26]);
        Self::parse_header(&hdr, LE::read_u64(&b[0..8]))
    }

    /// Total bytes of the group record.
    pub fn record_len(&self) -> u64 {
        GROUP_HEADER_LEN as u64 + self.comp_len as u64
    }

    /// Decodes the payload and checks the CRC (`record-crc`).
    pub fn decode(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        crate::codec::by_id(self.codec)?.decompress(payload, self.raw_len as usize, 0, &mut out)?;
        if crc32fast::hash(&out) != self.crc32 {
            return Err(Error::RecordCrc {
                offset: self.offset,
            });
        }
        Ok(out)
    }

    /// Parses the decoded bytes into exactly `count` entries.
    pub fn entries(&self, raw: &[u8]) -> Result<Vec<Entry>> {
        let mut out = Vec::with_capacity(self.count as usize);
        let mut pos = 0;
        for _ in 0..self.count {
            let (e, n) = Entry::parse(&raw[pos..])?;
            out.push(e);
            pos += n;
        }
        if pos != raw.len() {
            return Err(Error::SizeMismatch {
                what: format!("{} bytes after the last entry of a group", raw.len() - pos),
            });
        }
        Ok(out)
    }
}

/// Encodes entries as a group payload (uncompressed) and its header fields but the codec.
pub fn group_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut b = Vec::new();
    for e in entries {
        e.write_to(&mut b);
    }
    b
}

/// §6 the decoded index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    pub blocks: Vec<BlockInfo>,
    pub resources: Vec<ResourceInfo>,
    pub groups: Vec<GroupInfo>,
    /// All entries in stream order; group `g` holds the next `groups[g].count` of them.
    pub entries: Vec<Entry>,
}

impl Index {
    /// Group ordinal of every entry, parallel to `entries`.
    pub fn entry_groups(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.entries.len());
        for (g, info) in self.groups.iter().enumerate() {
            v.extend(std::iter::repeat_n(g as u32, info.count as usize));
        }
        v
    }

    /// The decoded index body (§6.1).
    pub fn body(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let mut n = [0u8; 4];
        for c in [
            self.entries.len() as u32,
            self.blocks.len() as u32,
            self.resources.len() as u32,
            self.groups.len() as u32,
        ] {
            LE::write_u32(&mut n, c);
            b.extend_from_slice(&n);
        }
        for blk in &self.blocks {
            b.extend_from_slice(&blk.row_bytes());
        }
        for r in &self.resources {
            b.extend_from_slice(&r.row_bytes());
        }
        for g in &self.groups {
            b.extend_from_slice(&g.row_bytes());
        }
        for e in &self.entries {
            e.write_to(&mut b);
        }
        b
    }

    /// The on-disk index (§6): envelope and body, compressed with zstd at `level` or stored
    /// when `level` is `None`.
    pub fn to_bytes(&self, level: Option<i32>) -> Vec<u8> {
        let body = self.body();
        let mut b = Vec::with_capacity(INDEX_ENVELOPE_LEN + body.len() / 4);
        b.extend_from_slice(&INDEX_MAGIC);
        let mut payload = Vec::new();
        let codec = match level {
            Some(l)
                if crate::codec::by_id(crate::codec::id::ZSTD)
                    .and_then(|c| c.compress(&body, l, &mut payload))
                    .is_ok()
                    && payload.len() < body.len() =>
            {
                crate::codec::id::ZSTD
            }
            _ => {
                payload = body.clone();
                crate::codec::id::STORE
            }
        };
        b.extend_from_slice(&[codec, 0, 0, 0]);
        b.extend_from_slice(&(body.len() as u32).to_le_bytes());
        b.extend_from_slice(&payload);
        b
    }

    /// Decodes an on-disk index, bounding every count by the bytes present before allocating.
    pub fn parse(b: &[u8], limits: &crate::container::Limits) -> Result<Self> {
        if b.len() < INDEX_ENVELOPE_LEN {
            return Err(Error::truncated("index"));
        }
        if b[..4] != INDEX_MAGIC {
            return Err(Error::BadMagic { offset: 0 });
        }
        if b[5..8] != [0, 0, 0] {
            return Err(Error::Reserved {
                what: "index envelope",
            });
        }
        let raw_len = LE::read_u32(&b[8..12]) as u64;
        if raw_len > limits.max_index {
            return Err(Error::Limit {
                what: "index size",
                got: raw_len,
                max: limits.max_index,
            });
        }
        let payload = &b[INDEX_ENVELOPE_LEN..];
        let body = match b[4] {
            crate::codec::id::STORE => {
                let mut out = Vec::new();
                crate::codec::by_id(b[4])?.decompress(payload, raw_len as usize, 0, &mut out)?;
                out
            }
            // Memory follows the bytes decoded, not the declared size (a 125-byte archive
            // claiming a 4 GiB index cost 4.1 GB).
            crate::codec::id::ZSTD => {
                crate::codec::zstd_codec::decompress_growing(payload, raw_len)?
            }
            id => return Err(Error::UnknownCodec { id }),
        };
        Self::parse_body(&body, limits.max_entries)
    }

    fn parse_body(b: &[u8], max_entries: u64) -> Result<Self> {
        if b.len() < INDEX_FIXED_LEN {
            return Err(Error::truncated("index"));
        }
        let ne = LE::read_u32(&b[0..4]) as u64;
        let nb = LE::read_u32(&b[4..8]) as u64;
        let nr = LE::read_u32(&b[8..12]) as u64;
        let ng = LE::read_u32(&b[12..16]) as u64;
        if ne > max_entries {
            return Err(Error::Limit {
                what: "entry count",
                got: ne,
                max: max_entries,
            });
        }
        if nr > RESOURCES_MAX {
            return Err(Error::Limit {
                what: "resource count",
                got: nr,
                max: RESOURCES_MAX,
            });
        }
        let need = INDEX_FIXED_LEN as u64
            + nb * BLOCK_ROW_LEN as u64
            + nr * RESOURCE_ROW_LEN as u64
            + ng * GROUP_ROW_LEN as u64
            + ne * ENTRY_MIN_LEN as u64;
        if need > b.len() as u64 {
            return Err(Error::Truncated {
                what: "index (declared counts need more bytes than the index holds)",
            });
        }
        let mut pos = INDEX_FIXED_LEN;
        let mut blocks = Vec::with_capacity(nb as usize);
        for _ in 0..nb {
            blocks.push(BlockInfo::parse_row(&b[pos..pos + BLOCK_ROW_LEN])?);
            pos += BLOCK_ROW_LEN;
        }
        let mut resources = Vec::with_capacity(nr as usize);
        for i in 0..nr {
            let r = ResourceInfo::parse_row(&b[pos..pos + RESOURCE_ROW_LEN])?;
            // Ids are the resources' ordinals (§4.3); rows follow the stream (§6.3).
            if r.id as u64 != i
                || resources
                    .last()
                    .is_some_and(|p: &ResourceInfo| p.offset >= r.offset)
            {
                return Err(Error::IndexMismatch {
                    what: format!("resource row {i} (id {}, offset {})", r.id, r.offset),
                });
            }
            resources.push(r);
            pos += RESOURCE_ROW_LEN;
        }
        let mut groups = Vec::with_capacity(ng as usize);
        let mut total = 0u64;
        for _ in 0..ng {
            let g = GroupInfo::parse_row(&b[pos..pos + GROUP_ROW_LEN])?;
            total += g.count as u64;
            groups.push(g);
            pos += GROUP_ROW_LEN;
        }
        if total != ne {
            return Err(Error::IndexMismatch {
                what: format!("groups hold {total} entries, the index declares {ne}"),
            });
        }
        let mut entries = Vec::with_capacity(ne as usize);
        for _ in 0..ne {
            let (e, n) = Entry::parse(&b[pos..])?;
            entries.push(e);
            pos += n;
        }
        if pos != b.len() {
            return Err(Error::SizeMismatch {
                what: format!("{} trailing bytes after the index tables", b.len() - pos),
            });
        }
        Ok(Index {
            blocks,
            resources,
            groups,
            entries,
        })
    }
}

/// Little-endian field access for the fixed layouts above (every integer of the format is
/// little-endian, spec §1). Callers pass slices of exactly the field's width.
struct LE;

macro_rules! le_fields {
    ($($read:ident, $write:ident, $t:ty);*) => {
        impl LE {
            $(
                #[inline]
                fn $read(b: &[u8]) -> $t {
                    <$t>::from_le_bytes(b.try_into().expect("field slice has the field's width"))
                }
                #[inline]
                fn $write(b: &mut [u8], v: $t) {
                    b.copy_from_slice(&v.to_le_bytes());
                }
            )*
        }
    };
}
le_fields!(read_u16, write_u16, u16; read_u32, write_u32, u32; read_u64, write_u64, u64; read_i64, write_i64, i64);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        Entry {
            path: "dir/file.txt".into(),
            kind: Kind::File,
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            mtime: 1_700_000_000,
            mtime_nsec: 5,
            size: 10,
            target: String::new(),
            storage: Storage::Shared {
                block: 3,
                offset: 7,
            },
            device: (0, 0),
            xattrs: Vec::new(),
            escaped: false,
            image: None,
        }
    }

    #[test]
    fn device_numbers_round_trip_in_x_and_y_and_only_devices_have_them() {
        let mut e = sample();
        (e.kind, e.size, e.storage, e.device) = (Kind::BlockDevice, 0, Storage::None, (259, 70000));
        let (back, n) = Entry::parse(&e.to_bytes()).unwrap();
        assert_eq!((back, n), (e.clone(), e.to_bytes().len()));
        assert_eq!(Kind::BlockDevice.reader_minor(), 4);
        e.kind = Kind::Fifo;
        assert_eq!(Entry::parse(&e.to_bytes()).unwrap_err().class(), "reserved");
        e.device = (0, 0);
        e.size = 1;
        assert_eq!(
            Entry::parse(&e.to_bytes()).unwrap_err().class(),
            "size-mismatch"
        );
    }

    #[test]
    fn xattrs_round_trip_after_the_image_trailer() {
        let mut e = sample();
        e.image = Some(ImageInfo {
            codec: IMAGE_CODEC_DCT,
            channels: 3,
            width: 2,
            height: 1,
            input_size: 10,
            output_size: 1234,
        });
        e.xattrs = vec![
            ("security.selinux".into(), b"ctx\0".to_vec()),
            ("user.a".into(), Vec::new()),
        ];
        let b = e.to_bytes();
        assert_eq!(b[1], ENTRY_FLAG_IMAGE | ENTRY_FLAG_XATTRS);
        let (back, n) = Entry::parse(&b).unwrap();
        assert_eq!((back, n), (e, b.len()));
    }

    #[test]
    fn entry_roundtrip_and_crc() {
        let e = sample();
        let b = e.to_bytes();
        assert_eq!(b.len(), ENTRY_MIN_LEN + e.path.len());
        let (p, n) = Entry::parse(&b).unwrap();
        assert_eq!((p, n), (e, b.len()));
        // Truncated anywhere: an error, never a panic.
        for i in 0..b.len() {
            assert!(Entry::parse(&b[..i]).is_err(), "{i}-byte prefix accepted");
        }
    }

    #[test]
    fn header_versions() {
        let mut h = Header::current().to_bytes();
        assert!(Header::parse(&h).is_ok());
        h[10] = 2;
        assert_eq!(
            Header::parse(&h).unwrap_err().class(),
            "unsupported-version"
        );
        let mut h = Header::current().to_bytes();
        h[11] = 9;
        assert_eq!(
            Header::parse(&h).unwrap_err().class(),
            "unsupported-version"
        );
        let mut h = Header::current().to_bytes();
        h[12] = 1;
        assert_eq!(Header::parse(&h).unwrap_err().class(), "unknown-flag");
        assert_eq!(
            Header::parse(b"PK\x03\x04xxxxxxxxxxxx")
                .unwrap_err()
                .class(),
            "bad-magic"
        );
    }

    #[test]
    fn index_counts_bounded() {
        let mut b = Index::default().to_bytes(None);
        LE::write_u32(&mut b[12..16], u32::MAX);
        let lim = |max_entries| crate::container::Limits {
            max_entries,
            ..Default::default()
        };
        assert_eq!(
            Index::parse(&b, &lim(u64::MAX)).unwrap_err().class(),
            "truncated"
        );
        assert_eq!(Index::parse(&b, &lim(1000)).unwrap_err().class(), "limit");
    }

    #[test]
    fn index_roundtrip_compressed() {
        let e = sample();
        let idx = Index {
            groups: vec![GroupInfo {
                offset: 16,
                codec: 0,
                flags: 0,
                count: 1,
                raw_len: e.to_bytes().len() as u32,
                comp_len: e.to_bytes().len() as u32,
                crc32: 0,
            }],
            entries: vec![e],
            ..Default::default()
        };
        for level in [None, Some(3)] {
            let b = idx.to_bytes(level);
            assert_eq!(Index::parse(&b, &Default::default()).unwrap(), idx);
        }
    }
}

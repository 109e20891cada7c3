//! On-disk structures of yoz v1, mirroring spec/yoz-v1.md table by table.
//!
//! Everything here parses from and serializes to byte slices; no I/O. All integers are
//! little-endian. Section numbers refer to the spec.

use crate::error::{Error, Result};

mod entry;
mod index;
mod records;

pub use entry::*;
pub use index::*;
pub use records::*;

/// §2: the 8-byte magic that opens every archive (PNG-style: high bit, CR LF, ^Z, LF).
pub const MAGIC: [u8; 8] = *b"\x89YOZ\r\n\x1a\n";
/// §7: the 8-byte magic that closes every archive.
pub const FOOTER_MAGIC: [u8; 8] = *b"YOZ-IDX\n";
/// §6: magic at the start of the index.
pub const INDEX_MAGIC: [u8; 4] = *b"YIDX";

/// Format version this code writes and reads.
pub const VERSION_MAJOR: u8 = 1;
/// Minor version this code writes and reads.
pub const VERSION_MINOR: u8 = 7;

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
    fn encoded_len_is_the_length_written() {
        let mut e = sample();
        assert_eq!(e.encoded_len(), e.to_bytes().len());
        e.target = "somewhere".into();
        e.xattrs = vec![
            ("user.a".into(), vec![1, 2, 3]),
            ("user.bb".into(), Vec::new()),
        ];
        e.image = Some(ImageInfo {
            codec: IMAGE_CODEC_DCT,
            channels: 3,
            width: 4,
            height: 4,
            input_size: 100,
            output_size: 10,
        });
        assert_eq!(e.encoded_len(), e.to_bytes().len());
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

    /// Size checks are exact (spec §1): a shared slice at offset 1 of 2^64 − 1 bytes does not
    /// wrap to 0 and pass, and an image of 2^32 − 1 squared RGBA pixels has the largest blob
    /// bound, not one wrapped below it.
    #[test]
    fn size_checks_do_not_wrap() {
        let mut e = sample();
        (e.size, e.storage) = (
            u64::MAX,
            Storage::Shared {
                block: 0,
                offset: 1,
            },
        );
        assert_eq!(
            Entry::parse(&e.to_bytes()).unwrap_err().class(),
            "size-mismatch"
        );
        assert_eq!(image_blob_max(u32::MAX, u32::MAX, 4), IMAGE_BLOB_MAX);
        assert_eq!(image_blob_max(1 << 31, 1 << 31, 4), IMAGE_BLOB_MAX);
        assert_eq!(image_blob_max(1, 1, 3), 6 + (1 << 24));
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

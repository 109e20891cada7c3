//! §4.1, §4.3, §4.2 and §6.2–6.4: the block, resource and entry group record headers, which
//! double as rows of the index tables.

use super::*;

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

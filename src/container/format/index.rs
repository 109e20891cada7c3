//! §6: the decoded index and its tables.

use super::*;

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

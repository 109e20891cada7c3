//! Builds archives record by record, with no validation, so conformance vectors can break
//! exactly one rule each. Only the corpus generator and tests use it.

use crate::codec;
use crate::container::format::*;

/// One record of a forged archive, in stream order.
#[derive(Clone, Debug)]
pub enum Rec {
    Entry(Entry),
    Block(BlockInfo, Vec<u8>),
    /// Bytes written as they are and not listed in the index.
    Raw(Vec<u8>),
}

/// A forged archive under construction.
#[derive(Clone, Debug, Default)]
pub struct Forge {
    pub recs: Vec<Rec>,
    next_block: u32,
}

/// A built archive and where its parts are.
pub struct Built {
    pub bytes: Vec<u8>,
    pub index: Index,
    pub index_offset: usize,
}

/// Entry metadata used by every forged entry (fixed, so vectors are reproducible).
pub fn meta(path: &str, kind: Kind) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode: if kind == Kind::Dir { 0o755 } else { 0o644 },
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
        mtime_nsec: 0,
        size: 0,
        target: String::new(),
        storage: Storage::None,
    }
}

/// A block record encoding `raw` with codec `id` (level 3 where it matters).
pub fn block(raw: &[u8], id: u8) -> (BlockInfo, Vec<u8>) {
    let (codec, params, payload) = if id == codec::id::ZEROS {
        (id, 0, Vec::new())
    } else {
        let mut payload = Vec::new();
        let params = codec::by_id(id)
            .and_then(|c| c.compress(raw, 3, &mut payload))
            .expect("forging with a registered codec");
        (id, params, payload)
    };
    (
        BlockInfo {
            offset: 0,
            codec,
            flags: 0,
            params,
            resource: NO_RESOURCE,
            raw_len: raw.len() as u32,
            comp_len: payload.len() as u32,
            crc32: crc32fast::hash(raw),
        },
        payload,
    )
}

impl Forge {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.recs.push(Rec::Entry(meta(path, Kind::Dir)));
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut e = meta(path, Kind::Symlink);
        e.target = target.into();
        self.recs.push(Rec::Entry(e));
        self
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut e = meta(path, Kind::Hardlink);
        e.target = target.into();
        self.recs.push(Rec::Entry(e));
        self
    }

    /// A file with its own blocks of `block_size` bytes, each coded with `codec_id`.
    pub fn file(&mut self, path: &str, data: &[u8], codec_id: u8, block_size: usize) -> &mut Self {
        let mut e = meta(path, Kind::File);
        e.size = data.len() as u64;
        if data.is_empty() {
            self.recs.push(Rec::Entry(e));
            return self;
        }
        let chunks: Vec<&[u8]> = data.chunks(block_size).collect();
        e.storage = Storage::Blocks {
            first: self.next_block,
            count: chunks.len() as u32,
        };
        self.recs.push(Rec::Entry(e));
        for c in chunks {
            let (info, payload) = block(c, codec_id);
            self.push_block(info, payload);
        }
        self
    }

    /// Small files sharing one block.
    pub fn shared(&mut self, files: &[(&str, &[u8])], codec_id: u8) -> &mut Self {
        let all: Vec<u8> = files.iter().flat_map(|f| f.1.iter().copied()).collect();
        let (info, payload) = block(&all, codec_id);
        let b = self.push_block(info, payload);
        let mut off = 0u32;
        for (path, data) in files {
            let mut e = meta(path, Kind::File);
            e.size = data.len() as u64;
            e.storage = Storage::Shared {
                block: b,
                offset: off,
            };
            off += data.len() as u32;
            self.recs.push(Rec::Entry(e));
        }
        self
    }

    pub fn push_block(&mut self, info: BlockInfo, payload: Vec<u8>) -> u32 {
        self.recs.push(Rec::Block(info, payload));
        self.next_block += 1;
        self.next_block - 1
    }

    /// The last entry record, to tweak.
    pub fn last_entry(&mut self) -> &mut Entry {
        self.recs
            .iter_mut()
            .rev()
            .find_map(|r| match r {
                Rec::Entry(e) => Some(e),
                _ => None,
            })
            .expect("an entry was added")
    }

    /// Serializes header, records, end tag, index and footer.
    pub fn build(&self) -> Built {
        self.build_with(|_| {})
    }

    /// Like `build`, letting the caller change the index (a lying index) before it is written.
    pub fn build_with(&self, tweak: impl FnOnce(&mut Index)) -> Built {
        let mut b = Header::current().to_bytes().to_vec();
        let mut index = Index::default();
        for r in &self.recs {
            match r {
                Rec::Entry(e) => {
                    index.entry_offsets.push(b.len() as u64);
                    b.push(tag::ENTRY);
                    b.extend_from_slice(&e.to_bytes());
                    index.entries.push(e.clone());
                }
                Rec::Block(info, payload) => {
                    let mut info = *info;
                    info.offset = b.len() as u64;
                    b.extend_from_slice(&info.header_bytes());
                    b.extend_from_slice(payload);
                    index.blocks.push(info);
                }
                Rec::Raw(bytes) => b.extend_from_slice(bytes),
            }
        }
        b.push(tag::END);
        tweak(&mut index);
        let index_offset = b.len();
        let idx = index.to_bytes();
        let footer = Footer {
            index_offset: index_offset as u64,
            index_len: idx.len() as u64,
            index_crc: index_crc(&b[..HEADER_LEN], &idx),
        };
        b.extend_from_slice(&idx);
        b.extend_from_slice(&footer.to_bytes());
        Built {
            bytes: b,
            index,
            index_offset,
        }
    }
}

impl Built {
    /// Recomputes the footer's index CRC after the header or index bytes were edited.
    pub fn fix_crc(&mut self) {
        let n = self.bytes.len();
        let idx = &self.bytes[self.index_offset..n - FOOTER_LEN];
        let crc = index_crc(&self.bytes[..HEADER_LEN], idx);
        self.bytes[n - 16..n - 12].copy_from_slice(&crc.to_le_bytes());
    }

    /// Offset of the `n`th block's record.
    pub fn block_at(&self, n: usize) -> usize {
        self.index.blocks[n].offset as usize
    }

    /// Offset of the `n`th entry's record.
    pub fn entry_at(&self, n: usize) -> usize {
        self.index.entry_offsets[n] as usize
    }

    /// Applies `f` to the bytes of entry `n`'s local record and its index copy (after the tag),
    /// then recomputes both record CRCs and the index CRC: a consistent, lying archive.
    pub fn edit_entry_both(&mut self, n: usize, f: impl Fn(&mut [u8])) {
        let local = self.entry_at(n) + 1;
        let len = self.index.entries[n].to_bytes().len();
        let mut in_index = None;
        // Find the index copy: the same bytes after the index's 8-byte offset field.
        let copy = self.bytes[local..local + len].to_vec();
        if let Some(p) = find(&self.bytes[self.index_offset..], &copy) {
            in_index = Some(self.index_offset + p);
        }
        for start in [Some(local), in_index].into_iter().flatten() {
            let rec = &mut self.bytes[start..start + len];
            f(rec);
            let crc = crc32fast::hash(&rec[..len - 4]);
            rec[len - 4..].copy_from_slice(&crc.to_le_bytes());
        }
        self.fix_crc();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

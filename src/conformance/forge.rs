//! Builds archives record by record, with no validation, so conformance vectors can break
//! exactly one rule each. Only the corpus generator and tests use it.

use crate::codec;
use crate::container::format::*;

/// One record of a forged archive, in stream order.
#[derive(Clone, Debug)]
pub enum Rec {
    Entry(Entry),
    Block(BlockInfo, Vec<u8>),
    /// A resource record (§4.3); `offset` is filled in when built.
    Resource(ResourceInfo, Vec<u8>),
    /// Bytes written as they are and not listed in the index.
    Raw(Vec<u8>),
    /// Closes the current entry group (consecutive entries otherwise share one).
    EndGroup,
}

/// A forged archive under construction.
#[derive(Clone, Debug, Default)]
pub struct Forge {
    pub recs: Vec<Rec>,
    next_block: u32,
    /// `reader_minor` of the header (0 unless a 1.1 feature is used).
    pub reader_minor: u8,
}

/// A built archive and where its parts are.
pub struct Built {
    pub bytes: Vec<u8>,
    pub index: Index,
    pub index_offset: usize,
}

/// Changes the serialized bytes of entry `n` (group payload and index copy alike).
pub type EntryHook<'a> = &'a dyn Fn(usize, &mut Vec<u8>);

/// Entry metadata used by every forged entry (fixed, so vectors are reproducible).
pub fn meta(path: &str, kind: Kind) -> Entry {
    Entry {
        mode: if kind == Kind::Dir { 0o755 } else { 0o644 },
        mtime: 1_700_000_000,
        ..Entry::new(path, kind)
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

    /// A FIFO or device node (kinds 4–6, format 1.4) with device numbers `device`.
    pub fn node(&mut self, path: &str, kind: Kind, device: (u32, u32)) -> &mut Self {
        let mut e = meta(path, kind);
        e.device = device;
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
        self.shared_block(info, payload, files)
    }

    /// A shared block record followed by the entries of the files it holds, in order.
    fn shared_block(
        &mut self,
        info: BlockInfo,
        payload: Vec<u8>,
        files: &[(&str, &[u8])],
    ) -> &mut Self {
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

    /// A zstd dictionary as resource record `id` (kind 1), CRC computed.
    pub fn dictionary(&mut self, id: u32, dict: &[u8]) -> &mut Self {
        let info = ResourceInfo {
            offset: 0,
            id,
            kind: RESOURCE_ZSTD_DICT,
            flags: 0,
            length: dict.len() as u32,
            crc32: crc32fast::hash(dict),
        };
        self.recs.push(Rec::Resource(info, dict.to_vec()));
        self
    }

    /// Small files sharing one zstd block compressed with dictionary `dict`, resource `id`.
    pub fn shared_with_dict(
        &mut self,
        files: &[(&str, &[u8])],
        dict: &crate::codec::dict::ZstdDict,
        id: u32,
    ) -> &mut Self {
        let all: Vec<u8> = files.iter().flat_map(|f| f.1.iter().copied()).collect();
        let (mut info, mut payload) = block(&all, codec::id::ZSTD);
        info.params = dict.compress(&all, 3, &mut payload).expect("compresses");
        info.comp_len = payload.len() as u32;
        info.resource = id;
        self.shared_block(info, payload, files)
    }

    /// A file stored as a copy of entry number `source` (storage 3, format 1.2).
    pub fn copy(&mut self, path: &str, source: u32, size: usize) -> &mut Self {
        let mut e = meta(path, Kind::File);
        e.size = size as u64;
        e.storage = Storage::Same { entry: source };
        self.recs.push(Rec::Entry(e));
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

    /// Serializes header, records, end tag, index and footer. Groups and the index are
    /// stored (codec 0) so that vectors can point at their bytes.
    pub fn build(&self) -> Built {
        self.build_full(|_| {}, &|_, _| {})
    }

    /// Like `build`, letting the caller change the index (a lying index) before it is written.
    pub fn build_with(&self, tweak: impl FnOnce(&mut Index)) -> Built {
        self.build_full(tweak, &|_, _| {})
    }

    /// Like `build`, with the bytes of each entry passed through `hook` (in its group and in
    /// the index), CRCs computed afterwards: a consistent archive carrying odd entry bytes.
    pub fn build_hooked(&self, hook: EntryHook) -> Built {
        self.build_full(|_| {}, hook)
    }

    fn build_full(&self, tweak: impl FnOnce(&mut Index), hook: EntryHook) -> Built {
        let mut b = Header::needing(self.reader_minor).to_bytes().to_vec();
        let mut index = Index::default();
        let mut pending: Vec<Entry> = Vec::new();
        let mut raws: Vec<Vec<u8>> = Vec::new();
        let flush = |b: &mut Vec<u8>,
                     index: &mut Index,
                     pending: &mut Vec<Entry>,
                     raws: &mut Vec<Vec<u8>>| {
            if pending.is_empty() {
                return;
            }
            let mut raw = Vec::new();
            for e in pending.iter() {
                let mut eb = e.to_bytes();
                hook(raws.len(), &mut eb);
                raw.extend_from_slice(&eb);
                raws.push(eb);
            }
            let info = GroupInfo {
                offset: b.len() as u64,
                codec: codec::id::STORE,
                flags: 0,
                count: pending.len() as u32,
                raw_len: raw.len() as u32,
                comp_len: raw.len() as u32,
                crc32: crc32fast::hash(&raw),
            };
            b.extend_from_slice(&info.header_bytes());
            b.extend_from_slice(&raw);
            index.groups.push(info);
            index.entries.append(pending);
            // Keep `raws` aligned with entries for the index body.
            debug_assert_eq!(raws.len(), index.entries.len());
        };
        for r in &self.recs {
            match r {
                Rec::Entry(e) => pending.push(e.clone()),
                Rec::EndGroup => flush(&mut b, &mut index, &mut pending, &mut raws),
                Rec::Block(info, payload) => {
                    flush(&mut b, &mut index, &mut pending, &mut raws);
                    let mut info = *info;
                    info.offset = b.len() as u64;
                    b.extend_from_slice(&info.header_bytes());
                    b.extend_from_slice(payload);
                    index.blocks.push(info);
                }
                Rec::Raw(bytes) => {
                    flush(&mut b, &mut index, &mut pending, &mut raws);
                    b.extend_from_slice(bytes);
                }
                Rec::Resource(info, payload) => {
                    flush(&mut b, &mut index, &mut pending, &mut raws);
                    let mut info = *info;
                    info.offset = b.len() as u64;
                    b.extend_from_slice(&info.header_bytes());
                    b.extend_from_slice(payload);
                    index.resources.push(info);
                }
            }
        }
        flush(&mut b, &mut index, &mut pending, &mut raws);
        b.push(tag::END);
        let before = index.entries.clone();
        tweak(&mut index);
        // A tweak that changed the entries re-serializes them (without the hook).
        if index.entries != before {
            raws = index.entries.iter().map(|e| e.to_bytes()).collect();
        }
        let index_offset = b.len();
        let mut body = Vec::new();
        for c in [
            index.entries.len(),
            index.blocks.len(),
            index.resources.len(),
            index.groups.len(),
        ] {
            body.extend_from_slice(&(c as u32).to_le_bytes());
        }
        for blk in &index.blocks {
            body.extend_from_slice(&blk.row_bytes());
        }
        for r in &index.resources {
            body.extend_from_slice(&r.row_bytes());
        }
        for g in &index.groups {
            body.extend_from_slice(&g.row_bytes());
        }
        for r in &raws {
            body.extend_from_slice(r);
        }
        let mut idx = INDEX_MAGIC.to_vec();
        idx.extend_from_slice(&[codec::id::STORE, 0, 0, 0]);
        idx.extend_from_slice(&(body.len() as u32).to_le_bytes());
        idx.extend_from_slice(&body);
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

    /// Applies `f` (which must keep the length) to entry `n`'s bytes in its stored group and in
    /// the stored index, then recomputes the group CRC (header and row) and the index CRC.
    pub fn edit_entry_both(&mut self, n: usize, f: impl Fn(&mut [u8])) {
        self.edit_entry(n, f, true)
    }

    /// Like [`Self::edit_entry_both`], but only the entry group's copy changes (its CRCs made
    /// right), so the group and the index disagree while every CRC holds.
    pub fn edit_entry_in_group(&mut self, n: usize, f: impl Fn(&mut [u8])) {
        self.edit_entry(n, f, false)
    }

    fn edit_entry(&mut self, n: usize, f: impl Fn(&mut [u8]), index_too: bool) {
        let groups = self.index.entry_groups();
        let g = groups[n] as usize;
        let first = groups.partition_point(|&x| (x as usize) < g);
        let lens: Vec<usize> = self
            .index
            .entries
            .iter()
            .map(|e| e.to_bytes().len())
            .collect();
        let ginfo = self.index.groups[g];
        let local = ginfo.offset as usize + GROUP_HEADER_LEN + lens[first..n].iter().sum::<usize>();
        let idx = self.index_offset;
        let rows = INDEX_ENVELOPE_LEN
            + INDEX_FIXED_LEN
            + self.index.blocks.len() * BLOCK_ROW_LEN
            + self.index.groups.len() * GROUP_ROW_LEN;
        let in_index = idx + rows + lens[..n].iter().sum::<usize>();
        for at in [local, in_index]
            .into_iter()
            .take(1 + usize::from(index_too))
        {
            f(&mut self.bytes[at..at + lens[n]]);
        }
        let gstart = ginfo.offset as usize + GROUP_HEADER_LEN;
        let crc = crc32fast::hash(&self.bytes[gstart..gstart + ginfo.raw_len as usize]);
        let h = ginfo.offset as usize;
        self.bytes[h + 15..h + 19].copy_from_slice(&crc.to_le_bytes());
        let row = idx
            + INDEX_ENVELOPE_LEN
            + INDEX_FIXED_LEN
            + self.index.blocks.len() * BLOCK_ROW_LEN
            + g * GROUP_ROW_LEN;
        self.bytes[row + 22..row + 26].copy_from_slice(&crc.to_le_bytes());
        self.fix_crc();
    }

    /// Offset of the `n`th entry group's record.
    pub fn group_at(&self, n: usize) -> usize {
        self.index.groups[n].offset as usize
    }
}

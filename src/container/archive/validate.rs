//! The random-access reader's checks: the archive-level ones on a parsed index before any
//! payload is read (spec §8.0, §8.1: records tiling the body, resources, entries), and those
//! of `verify` and the extractors over the records themselves.

use super::*;

/// Checks of a whole opened archive (verify, and what the extractors run first).
impl Archive {
    /// Reads entry group `g` and checks that it carries exactly the entries the index lists.
    pub fn check_group(&self, g: u32) -> Result<()> {
        let info = self.index.groups[g as usize];
        let hdr = self.src.get(info.offset, GROUP_HEADER_LEN)?;
        if GroupInfo::parse_header(&hdr, info.offset)? != info {
            return Err(Error::IndexMismatch {
                what: format!("entry group {g}'s header differs from its index row"),
            });
        }
        let payload = self.src.get(
            info.offset + GROUP_HEADER_LEN as u64,
            info.comp_len as usize,
        )?;
        let local = info.entries(&info.decode(&payload)?)?;
        let first = self.entry_group.partition_point(|&x| x < g);
        if local[..] != self.index.entries[first..first + info.count as usize] {
            return Err(Error::IndexMismatch {
                what: format!("entry group {g} differs from the index"),
            });
        }
        Ok(())
    }

    /// Checks the whole archive without extracting anything, in the order of spec §8.0: the
    /// index was checked when it was opened; then every record header against its row, then
    /// every record's content in file order (resources, entry groups against the index, every
    /// block decoded and its CRC checked; zeros blocks by arithmetic). Images are not decoded.
    pub fn verify(&self) -> Result<VerifySummary> {
        self.check_records()?;
        let mut sum = VerifySummary {
            entries: self.index.entries.len() as u64,
            ..Default::default()
        };
        // Groups and blocks in file order; a shared block after the group that follows it.
        let shared: std::collections::HashSet<u32> = self
            .index
            .entries
            .iter()
            .filter_map(|e| match e.storage {
                Storage::Shared { block, .. } => Some(block),
                _ => None,
            })
            .collect();
        let mut recs: Vec<(u64, bool, u32)> = self
            .index
            .groups
            .iter()
            .enumerate()
            .map(|(g, x)| (x.offset, true, g as u32))
            .chain(
                self.index
                    .blocks
                    .iter()
                    .enumerate()
                    .map(|(b, x)| (x.offset, false, b as u32)),
            )
            .collect();
        recs.sort_unstable();
        let mut deferred = None;
        for (offset, is_group, n) in recs {
            self.check_resources_before(offset)?;
            if is_group {
                self.check_group(n)?;
                if let Some(b) = deferred.take() {
                    self.verify_block(b, &mut sum)?;
                }
            } else if shared.contains(&n) {
                deferred = Some(n);
            } else {
                self.verify_block(n, &mut sum)?;
            }
        }
        if let Some(b) = deferred {
            self.verify_block(b, &mut sum)?;
        }
        self.check_resources_before(u64::MAX)?;
        Ok(sum)
    }

    fn verify_block(&self, n: u32, sum: &mut VerifySummary) -> Result<()> {
        let (info, payload) = self.block_record(n)?;
        if info.codec == codec::id::ZEROS {
            codec::zeros::check_block(&payload, info.raw_len as u64, info.crc32, n as u64)?;
        } else {
            drop(payload);
            self.read_block(n)?;
        }
        sum.blocks += 1;
        sum.bytes += info.raw_len as u64;
        Ok(())
    }

    /// Spec §8.0 phase 3: every record's header, in file order, parsed (tag, fields) and
    /// compared with its index row. Reads only the headers. Extractors of the whole archive run
    /// it before any payload, so a broken header anywhere outranks a damaged payload, as it does
    /// for a streaming reader.
    pub fn check_records(&self) -> Result<()> {
        let ix = &self.index;
        let mut recs: Vec<(u64, u8, usize)> =
            Vec::with_capacity(ix.groups.len() + ix.blocks.len() + ix.resources.len());
        recs.extend(
            ix.groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.offset, tag::ENTRY, i)),
        );
        recs.extend(
            ix.blocks
                .iter()
                .enumerate()
                .map(|(i, b)| (b.offset, tag::BLOCK, i)),
        );
        recs.extend(
            ix.resources
                .iter()
                .enumerate()
                .map(|(i, r)| (r.offset, tag::RESOURCE, i)),
        );
        recs.sort_unstable();
        let mismatch = |what: String| Error::IndexMismatch {
            what: format!("{what}'s header differs from its index row"),
        };
        for (off, kind, i) in recs {
            match kind {
                tag::ENTRY => {
                    let h = self.src.get(off, GROUP_HEADER_LEN)?;
                    if GroupInfo::parse_header(&h, off)? != ix.groups[i] {
                        return Err(mismatch(format!("entry group {i}")));
                    }
                }
                tag::BLOCK => {
                    let h = self.src.get(off, BLOCK_HEADER_LEN)?;
                    if BlockInfo::parse_header(&h, off)? != ix.blocks[i] {
                        return Err(mismatch(format!("block {i}")));
                    }
                }
                _ => {
                    let h = self.src.get(off, RESOURCE_HEADER_LEN)?;
                    if ResourceInfo::parse_header(&h, off)? != ix.resources[i] {
                        return Err(mismatch(format!("resource {i}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Loads (and so checks) every resource recorded before `offset`: the random-access reader
    /// meets resources where a streaming reader does, before any later record's payload
    /// (spec §8.0 phase 4).
    pub fn check_resources_before(&self, offset: u64) -> Result<()> {
        for r in &self.index.resources {
            if r.offset < offset {
                self.dict(r.id)?;
            }
        }
        Ok(())
    }
}

/// The cross-structure rules of §8.1, applied to a parsed index: first the layout (records
/// tile the body: this is what catches overlapping payloads), then the entries.
pub(super) fn validate(
    index: &Index,
    groups: &[u32],
    index_offset: u64,
    file_len: u64,
    limits: Limits,
    reader_minor: u8,
) -> Result<()> {
    check_tiling(index, index_offset - 1, file_len)?;
    check_resources(index, reader_minor)?;
    for b in &index.blocks {
        b.check_version(reader_minor)?;
    }
    check_entries(index, groups, limits, reader_minor)
}

/// §4.3: the header declares the resources' version, and a block names only a resource
/// recorded before it.
pub(super) fn check_resources(index: &Index, reader_minor: u8) -> Result<()> {
    for r in &index.resources {
        if r.reader_minor() > reader_minor {
            return Err(Error::VersionUnderstated {
                feature: "a resource record (zstd dictionary)",
                need_minor: r.reader_minor(),
                declared_minor: reader_minor,
            });
        }
    }
    for (n, b) in index.blocks.iter().enumerate() {
        if b.resource != NO_RESOURCE
            && index
                .resources
                .get(b.resource as usize)
                .is_none_or(|r| r.offset > b.offset)
        {
            return Err(Error::IndexMismatch {
                what: format!(
                    "block {n} names resource {}, not recorded before it",
                    b.resource
                ),
            });
        }
    }
    Ok(())
}

/// Checks a resource's payload against its record (CRC) and loads it (§4.3).
/// The random-access reader's archive-level checks (spec §8.0 phase 2: footer, index limit,
/// end tag, index CRC, index body, §8.1 steps 1-3) on what a streaming reader kept: the
/// header and the bytes from `start` to the end (`len` bytes in all). Returns the index.
pub(crate) fn check_tail(
    head: &[u8],
    start: u64,
    bytes: Vec<u8>,
    len: u64,
    limits: Limits,
) -> Result<Index> {
    let src = Source::Tail {
        head: head.to_vec(),
        start,
        bytes,
    };
    Ok(Archive::from_source(src, len, limits)?.index)
}

pub(crate) fn load_resource(info: &ResourceInfo, payload: &[u8]) -> Result<ZstdDict> {
    let computed = crc32fast::hash(payload);
    if computed != info.crc32 {
        return Err(Error::RecordCrc {
            offset: info.offset,
        });
    }
    ZstdDict::new(payload.to_vec())
}

fn check_tiling(index: &Index, end_tag: u64, file_len: u64) -> Result<()> {
    let mut extents: Vec<(u64, u64, String)> =
        Vec::with_capacity(index.groups.len() + index.blocks.len());
    for (n, b) in index.blocks.iter().enumerate() {
        extents.push((
            b.offset,
            b.offset.saturating_add(b.record_len()),
            format!("block {n}"),
        ));
    }
    for (n, g) in index.groups.iter().enumerate() {
        extents.push((
            g.offset,
            g.offset.saturating_add(g.record_len()),
            format!("entry group {n}"),
        ));
    }
    for (n, r) in index.resources.iter().enumerate() {
        extents.push((
            r.offset,
            r.offset.saturating_add(r.record_len()),
            format!("resource {n}"),
        ));
    }
    extents.sort_by_key(|x| x.0);
    let mut cur = HEADER_LEN as u64;
    for (start, end, what) in &extents {
        if *start >= file_len || *end > file_len {
            return Err(Error::OutOfRange {
                what: format!("{what} at {start}..{end} is past the end of the file"),
            });
        }
        if *start < cur || *end > end_tag {
            return Err(Error::Overlap {
                what: format!("{what} at {start}..{end} overlaps another record or the index"),
            });
        }
        if *start > cur {
            return Err(Error::IndexMismatch {
                what: format!("bytes {cur}..{start} belong to no record"),
            });
        }
        cur = *end;
    }
    if cur != end_tag {
        return Err(Error::IndexMismatch {
            what: format!("bytes {cur}..{end_tag} belong to no record"),
        });
    }
    // Tables list records in stream order (§6.2, §6.4).
    let increasing = |v: &[u64]| v.windows(2).all(|w| w[0] < w[1]);
    let block_offsets: Vec<u64> = index.blocks.iter().map(|b| b.offset).collect();
    let group_offsets: Vec<u64> = index.groups.iter().map(|g| g.offset).collect();
    if !increasing(&block_offsets) || !increasing(&group_offsets) {
        return Err(Error::IndexMismatch {
            what: "the index does not list records in stream order".into(),
        });
    }
    Ok(())
}

fn check_entries(index: &Index, groups: &[u32], limits: Limits, reader_minor: u8) -> Result<()> {
    let mut checker = EntryChecker::new(limits, reader_minor);
    let nb = index.blocks.len();
    // 0 = unowned, 1 = owned by a storage-1 entry, 2 = shared with members
    let mut owner = vec![0u8; nb];
    let mut shared_end: HashMap<u32, u64> = HashMap::new();
    for (i, e) in index.entries.iter().enumerate() {
        checker.add(e)?;
        let g = &index.groups[groups[i] as usize];
        let last_in_group = groups.get(i + 1) != Some(&groups[i]);
        let ctx = |err: Error| err.in_entry(&e.path);
        match e.storage {
            // Copies own no blocks; the checker has tied them to their source.
            Storage::None | Storage::Same { .. } => {}
            Storage::Blocks { first, count } => {
                if !last_in_group {
                    return Err(ctx(Error::IndexMismatch {
                        what: "an entry with blocks is not the last of its group".into(),
                    }));
                }
                let last = first as u64 + count as u64;
                if last > nb as u64 {
                    return Err(ctx(Error::OutOfRange {
                        what: format!("blocks {first}..{last} of {nb}"),
                    }));
                }
                let mut total = 0u64;
                let mut expect = g.offset.saturating_add(g.record_len());
                for b in first..first + count {
                    let info = &index.blocks[b as usize];
                    if owner[b as usize] != 0 {
                        return Err(ctx(Error::Overlap {
                            what: format!("block {b} is used by more than one entry"),
                        }));
                    }
                    owner[b as usize] = 1;
                    if info.offset != expect {
                        return Err(ctx(Error::IndexMismatch {
                            what: format!("block {b} does not follow its entry's group"),
                        }));
                    }
                    expect = info.offset.saturating_add(info.record_len());
                    if info.raw_len == 0 {
                        return Err(ctx(Error::SizeMismatch {
                            what: format!("block {b} is empty"),
                        }));
                    }
                    total += info.raw_len as u64;
                }
                if total != e.size {
                    return Err(ctx(Error::SizeMismatch {
                        what: format!("blocks hold {total} bytes, entry declares {}", e.size),
                    }));
                }
            }
            Storage::Shared { block, offset } => {
                let info = index.blocks.get(block as usize).ok_or_else(|| {
                    ctx(Error::OutOfRange {
                        what: format!("shared block {block} of {nb}"),
                    })
                })?;
                if owner[block as usize] == 1 {
                    return Err(ctx(Error::Overlap {
                        what: format!("block {block} is both owned and shared"),
                    }));
                }
                owner[block as usize] = 2;
                let next_after = index
                    .blocks
                    .get(block as usize + 1)
                    .is_none_or(|n| n.offset > g.offset);
                // The first group after the block is the entry's own: one shared block serves
                // one group (§4.2.1), as a streaming reader requires.
                let first_group = index.groups.partition_point(|x| x.offset <= info.offset);
                let its_group = index.groups.get(first_group).map(|x| x.offset) == Some(g.offset);
                if info.offset >= g.offset || !next_after || !its_group {
                    return Err(ctx(Error::IndexMismatch {
                        what: format!(
                            "shared block {block} is not the block before the entry's group"
                        ),
                    }));
                }
                let end = (offset as u64).saturating_add(e.size);
                if end > info.raw_len as u64 {
                    return Err(ctx(Error::SizeMismatch {
                        what: format!(
                            "slice {offset}+{} is past block {block}'s {} bytes",
                            e.size, info.raw_len
                        ),
                    }));
                }
                let prev = shared_end.entry(block).or_insert(0);
                if (offset as u64) < *prev {
                    return Err(ctx(Error::Overlap {
                        what: format!("slice of block {block} overlaps an earlier entry's"),
                    }));
                }
                *prev = end;
            }
        }
    }
    if let Some(n) = owner.iter().position(|&o| o == 0) {
        return Err(Error::IndexMismatch {
            what: format!("block {n} belongs to no entry"),
        });
    }
    Ok(())
}

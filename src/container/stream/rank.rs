//! Which failure a streaming reader reports (spec §8.0): after the first one it meets, it walks
//! the rest of the input's record headers, checks the index at the end, and compares every
//! header it read with its row; the first failure in that order wins.

use super::*;

/// How many of the input's last bytes a streaming reader keeps for the archive-level checks:
/// the largest index, the end tag and footer, and [`KEPT_BEFORE_FAILURE`].
pub(super) fn tail_cap(limits: &Limits) -> u64 {
    limits
        .max_index
        .saturating_add(FOOTER_LEN as u64 + 1 + KEPT_BEFORE_FAILURE as u64)
}

/// Ranks failure `e` as spec §8.0 says: walk the remaining record headers (while the framing
/// holds), then the archive-level checks on the index at the end, then every record header
/// read against its index row; the first failure in that order is the one reported.
pub(super) fn rank<R: Read>(
    e: Error,
    r: &mut Counting<R>,
    head: &[u8; HEADER_LEN],
    limits: Limits,
    walk: &mut Walk,
) -> Error {
    if r.failed || walk.phase == Phase::Index {
        return e;
    }
    let mut e = e;
    // Whether the failure is a record header's (step 3) rather than a content's (step 4).
    let mut header_failed = walk.phase == Phase::Header;
    if walk.phase == Phase::Content {
        if let Err(later) = skip_records(r, &mut walk.seen, &mut walk.at) {
            if r.failed {
                return e;
            }
            // A record header after the failure is broken: headers outrank contents.
            e = later;
            header_failed = true;
        }
    }
    let Ok((len, start, bytes)) = r.rest(tail_cap(&limits)) else {
        return e;
    };
    let index = match check_tail(head, start, bytes, len, limits) {
        Ok(index) => index,
        Err(archive_level) => return archive_level,
    };
    let seen = &walk.seen;
    let mismatch = |what: &str| Error::IndexMismatch {
        what: what.to_string(),
    };
    // Step 3: the headers read, in file order, against their rows.
    if !(is_prefix(&seen.groups, &index.groups)
        && is_prefix(&seen.blocks, &index.blocks)
        && is_prefix(&seen.resources, &index.resources))
    {
        return mismatch("a record header read differs from its index row");
    }
    if header_failed {
        // The header that failed: where the index expects a record of another kind, that
        // mismatch is what a reader going by the index meets first.
        let (at, t) = walk.at;
        let expected = [
            (tag::ENTRY, index.groups.iter().any(|g| g.offset == at)),
            (tag::BLOCK, index.blocks.iter().any(|b| b.offset == at)),
            (
                tag::RESOURCE,
                index.resources.iter().any(|x| x.offset == at),
            ),
        ];
        if let Some(&(want, _)) = expected.iter().find(|(_, here)| *here) {
            if let Err(other) = tag::expect(t, want, at) {
                return other;
            }
        }
        return e;
    }
    // Step 4: the decoded groups' entries against the index, before the failure itself.
    if !is_prefix(&seen.entries, &index.entries) {
        return mismatch("an entry group read differs from the index");
    }
    e
}

fn is_prefix<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

/// Walks the remaining records to the end tag, reading their headers into `seen` and skipping
/// their payloads.
fn skip_records<R: Read>(
    r: &mut Counting<R>,
    seen: &mut Index,
    last: &mut (u64, u8),
) -> Result<()> {
    loop {
        let at = r.pos;
        *last = (at, 0);
        let mut t = [0u8; 1];
        r.exact(&mut t, "record tag (no end-of-records)")?;
        *last = (at, t[0]);
        match t[0] {
            tag::ENTRY => {
                let info = group_header(r, at)?;
                seen.groups.push(info);
                r.skip(info.comp_len as u64, "entry group payload")?;
            }
            tag::BLOCK => {
                let info = block_header(r, at)?;
                seen.blocks.push(info);
                r.skip(info.comp_len as u64, "block payload")?;
            }
            tag::RESOURCE => {
                let info = resource_header(r, at)?;
                seen.resources.push(info);
                r.skip(info.length as u64, "resource payload")?;
            }
            tag::END => return Ok(()),
            other => {
                return Err(Error::UnknownKind {
                    what: "record tag",
                    value: other as u64,
                })
            }
        }
    }
}

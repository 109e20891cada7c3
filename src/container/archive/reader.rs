//! Reading one file entry: `Read + Seek` that decodes only the blocks it touches.

use super::*;

/// Where byte `pos` of a file stored in blocks lies: `starts` are where each of its blocks
/// begins, less `base` (an entry's own offsets with `base` 0, or a slice of offsets over all
/// blocks with `base` its first); returns the block's index in `starts` and the offset in it.
/// The one lookup both [`EntryReader`] and the mount use. `pos` must lie in the file.
pub fn locate_in_blocks(starts: &[u64], base: u64, pos: u64) -> (usize, u64) {
    // starts[0] == base <= base + pos, so the partition point is at least 1.
    let k = starts.partition_point(|&s| s <= base + pos) - 1;
    (k, pos - (starts[k] - base))
}

/// `Read + Seek` over one file entry; decodes only the blocks it touches and keeps the last.
pub struct EntryReader<'a> {
    pub(super) ar: &'a Archive,
    pub(super) entry: usize,
    pub(super) size: u64,
    pub(super) pos: u64,
    /// Offset within the entry where each of its blocks starts (chunked storage).
    pub(super) starts: Vec<u64>,
    pub(super) cache: Option<(u32, Vec<u8>)>,
}

impl EntryReader<'_> {
    /// Length of the entry's content.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads at `pos` into `buf`, returning bytes read (0 at end).
    fn read_at(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let e = &self.ar.index.entries[self.entry];
        let (block, within, avail) = match e.storage {
            Storage::Blocks { first, .. } => {
                let (k, within) = locate_in_blocks(&self.starts, 0, self.pos);
                let raw = self.ar.index.blocks[first as usize + k].raw_len as u64;
                (first + k as u32, within as usize, (raw - within) as usize)
            }
            Storage::Shared { block, offset } => (
                block,
                (offset as u64 + self.pos) as usize,
                (self.size - self.pos) as usize,
            ),
            Storage::None | Storage::Same { .. } => return Ok(0),
        };
        if self.cache.as_ref().map(|c| c.0) != Some(block) {
            let data = self.ar.read_block(block).map_err(|x| x.in_entry(&e.path))?;
            self.cache = Some((block, data));
        }
        let data = &self.cache.as_ref().expect("just filled").1;
        let n = buf.len().min(avail);
        buf[..n].copy_from_slice(&data[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_at(buf).map_err(io::Error::other)
    }
}

impl Seek for EntryReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            )),
        }
    }
}

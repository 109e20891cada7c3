//! The yoz container (spec/yoz-v1.md): on-disk structures, the writer, the streaming reader and
//! the random-access reader.

pub mod archive;
pub mod format;
pub mod limits;
pub mod sigbus;
pub mod stream;
pub mod writer;

pub use archive::{Archive, EntryReader, OpenOptions, Source, VerifySummary};
pub use format::{BlockInfo, Entry, Kind, Storage};
pub use limits::Limits;
pub use stream::{read_stream, StreamSummary};
pub use writer::RecordWriter;

use crate::error::Result;

/// Receives entries from a reader, in archive order: `begin`, then the entry's bytes as `data`
/// and `hole` calls in order, then `end`. Used by unpack, verify and list alike.
pub trait Sink {
    fn begin(&mut self, e: &Entry) -> Result<()>;
    fn data(&mut self, bytes: &[u8]) -> Result<()>;
    /// `len` zero bytes that the archive stores as a hole.
    fn hole(&mut self, len: u64) -> Result<()> {
        let zeros = [0u8; 8192];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.data(&zeros[..n])?;
            left -= n as u64;
        }
        Ok(())
    }
    /// The current entry's content is that of `source`, an earlier file of the archive
    /// (storage 3). Returns false when the sink does not have those bytes at hand (then the
    /// random-access reader decodes them again and feeds them through `data`; the streaming
    /// reader, which no longer has them, fails).
    fn copy(&mut self, source: &Entry) -> Result<bool>;
    fn end(&mut self, e: &Entry) -> Result<()>;
}

/// A sink that discards everything (verification passes).
pub struct NullSink;

impl Sink for NullSink {
    fn begin(&mut self, _: &Entry) -> Result<()> {
        Ok(())
    }
    fn data(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn hole(&mut self, _: u64) -> Result<()> {
        Ok(())
    }
    /// Nothing to check: the source's blocks are checked with the source.
    fn copy(&mut self, _: &Entry) -> Result<bool> {
        Ok(true)
    }
    fn end(&mut self, _: &Entry) -> Result<()> {
        Ok(())
    }
}

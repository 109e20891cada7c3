//! Errors at the library boundary.
//!
//! Every error maps to one stable *error class* (spec/yoz-v1.md, appendix A). The class is what a
//! conformance runner compares, so a variant's class never changes once published; the message is
//! for humans and may be reworded.

use std::io;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, writing or extracting an archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not a yoz archive (bad magic at offset {offset})")]
    BadMagic { offset: u64 },
    #[error("archive needs reader version {need_major}.{need_minor}; this reader supports {have_major}.{have_minor}")]
    UnsupportedVersion {
        need_major: u8,
        need_minor: u8,
        have_major: u8,
        have_minor: u8,
    },
    #[error(
        "{feature} needs reader version 1.{need_minor}, but the header declares 1.{declared_minor}"
    )]
    VersionUnderstated {
        feature: &'static str,
        need_minor: u8,
        declared_minor: u8,
    },
    #[error("unknown {what} flag bits {bits:#x}")]
    UnknownFlag { what: &'static str, bits: u64 },
    #[error("reserved field {what} is not zero")]
    Reserved { what: &'static str },
    #[error("unknown codec id {id}")]
    UnknownCodec { id: u8 },
    /// A codec the format defines but this build left out (a cargo feature); class
    /// `unknown-codec`, since this reader cannot decode it.
    #[error("the {name} codec is not in this build of yoz (rebuild with `--features {feature}`)")]
    CodecNotBuilt {
        name: &'static str,
        feature: &'static str,
    },
    #[error("unknown {what} {value}")]
    UnknownKind { what: &'static str, value: u64 },
    #[error("truncated: {what}")]
    Truncated { what: &'static str },
    #[error("CRC mismatch in block {block}: stored {stored:#010x}, computed {computed:#010x}")]
    BlockCrc {
        block: u64,
        stored: u32,
        computed: u32,
    },
    #[error("index CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    IndexCrc { stored: u32, computed: u32 },
    #[error("record CRC mismatch at offset {offset}")]
    RecordCrc { offset: u64 },
    #[error("index disagrees with the archive body: {what}")]
    IndexMismatch { what: String },
    #[error("overlapping data: {what}")]
    Overlap { what: String },
    #[error("out of range: {what}")]
    OutOfRange { what: String },
    #[error("sizes do not add up: {what}")]
    SizeMismatch { what: String },
    #[error("invalid path {path:?}: {why}")]
    PathInvalid { path: String, why: &'static str },
    #[error("path {path:?} escapes the destination ({why})")]
    PathEscape { path: String, why: &'static str },
    #[error("path {path:?} goes through a symlink ({link})")]
    PathSymlink { path: String, link: String },
    #[error("duplicate path {path:?}")]
    DuplicatePath { path: String },
    #[error("path {path:?} conflicts with {other:?} ({why})")]
    PathConflict {
        path: String,
        other: String,
        why: &'static str,
    },
    #[error("limit exceeded: {what} ({got} > {max})")]
    Limit {
        what: &'static str,
        got: u64,
        max: u64,
    },
    #[error("corrupt {codec} payload: {why}")]
    Corrupt { codec: &'static str, why: String },
    #[error("{path} already exists (use --force to overwrite)")]
    Exists { path: String },
    #[error("input {path}: {why}")]
    Input { path: String, why: String },
    /// The command line asks for something impossible (class `usage`, exit status 2).
    #[error("{0}")]
    Usage(String),
    /// A library caller (or the command line through it) passed an argument the operation
    /// cannot take: a bad pattern, block size or codec name, a non-file to read (class `usage`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A path the caller named is not in the archive (class `usage`, as tar's "not found in
    /// archive" is a usage error: exit status 2).
    #[error("{path:?} is not in the archive")]
    NotFound { path: String },
    #[error("{what}")]
    Failed { what: String },
    /// The command finished, but left some inputs out (pack: files it could not read, each
    /// warned about); exit status 2, as tar's.
    #[error("{what}")]
    Incomplete { what: String },
    /// ONNX Runtime is missing, cannot be loaded, or failed to build or run a graph (the neural
    /// codec's synthesis, `neural::runtime`); `what` says which and how to fix it.
    #[error("ONNX Runtime: {what}")]
    Runtime { what: String },
    #[error("entry {entry:?}: {source}")]
    InEntry {
        entry: String,
        #[source]
        source: Box<Error>,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The stable error class from the spec's appendix A.
    pub fn class(&self) -> &'static str {
        match self {
            Error::BadMagic { .. } => "bad-magic",
            Error::UnsupportedVersion { .. } => "unsupported-version",
            Error::VersionUnderstated { .. } => "version-mismatch",
            Error::UnknownFlag { .. } => "unknown-flag",
            Error::Reserved { .. } => "reserved",
            Error::UnknownCodec { .. } | Error::CodecNotBuilt { .. } => "unknown-codec",
            Error::UnknownKind { .. } => "unknown-kind",
            Error::Truncated { .. } => "truncated",
            Error::BlockCrc { .. } => "crc",
            Error::IndexCrc { .. } => "index-crc",
            Error::RecordCrc { .. } => "record-crc",
            Error::IndexMismatch { .. } => "index-mismatch",
            Error::Overlap { .. } => "overlap",
            Error::OutOfRange { .. } => "out-of-range",
            Error::SizeMismatch { .. } => "size-mismatch",
            Error::PathInvalid { .. } => "path-invalid",
            Error::PathEscape { .. } => "path-escape",
            Error::PathSymlink { .. } => "path-symlink",
            Error::DuplicatePath { .. } => "duplicate-path",
            Error::PathConflict { .. } => "path-conflict",
            Error::Limit { .. } => "limit",
            Error::Corrupt { .. } => "corrupt",
            Error::Exists { .. } => "exists",
            Error::Input { .. } => "input",
            Error::Usage(_) | Error::InvalidArgument(_) | Error::NotFound { .. } => "usage",
            Error::Failed { .. } => "failed",
            Error::Incomplete { .. } => "incomplete",
            Error::Runtime { .. } => "runtime",
            Error::InEntry { source, .. } => source.class(),
            Error::Io { .. } => "io",
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Attaches the entry path an error happened in (idempotent).
    pub fn in_entry(self, entry: &str) -> Self {
        match self {
            e @ Error::InEntry { .. } => e,
            e => Error::InEntry {
                entry: entry.to_string(),
                source: Box::new(e),
            },
        }
    }

    pub(crate) fn truncated(what: &'static str) -> Self {
        Error::Truncated { what }
    }
}

/// Convenience for `map_err` on I/O results.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

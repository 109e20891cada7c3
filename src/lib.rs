//! yoz: a blocked, indexed, streamable archive format with classical and neural codecs.
//!
//! The format is specified in `spec/yoz-v1.md`; this crate is its reference implementation.
//! Layout: [`container`] (format, writer, readers), [`codec`] (block codecs behind one trait),
//! [`entropy`] (Huffman and range coders), [`image`] (pixels, PNG, the DCT image codec),
//! [`path`] (path safety), [`pack`] and [`extract`] (the file-system sides), [`mount`]
//! (read-only FUSE), [`cli`].

pub mod cleanup;
pub mod cli;
pub mod codec;
pub mod conformance;
pub mod container;
pub mod entropy;
pub mod error;
pub mod extract;
/// Check bodies shared by the cargo-fuzz targets and the regression replays: not API.
#[doc(hidden)]
pub mod fuzzing;
pub mod image;
pub mod mount;
pub mod neural;
pub mod pack;
pub mod path;
pub mod progress;

pub use container::{Archive, Entry, EntryReader, Kind, Limits};
pub use error::{Error, Result};

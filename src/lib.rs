//! yoz: a blocked, indexed, streamable archive format with classical and neural codecs.
//!
//! The format is specified in `spec/yoz-v1.md`; this crate is its reference implementation.
//! Layout: [`container`] (format, writer, readers), [`codec`] (block codecs behind one trait),
//! [`entropy`] (range coder), [`image`] (pixels, PNG, the DCT image codec),
//! [`path`] (path safety), [`pack`] and [`extract`] (the file-system sides), [`cli`].

pub mod cli;
pub mod codec;
pub mod container;
pub mod entropy;
pub mod error;
pub mod extract;
pub mod image;
pub mod pack;
pub mod path;

pub use container::{Archive, Entry, EntryReader, Kind, Limits};
pub use error::{Error, Result};

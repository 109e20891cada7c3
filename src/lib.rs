//! yoz: a blocked, indexed, streamable archive format with classical and neural codecs.
//!
//! The format is specified in `spec/yoz-v1.md`; this crate is its reference implementation.
//! Layout: [`container`] (format, writer, readers), [`builder`] (writing an archive from a
//! program), [`codec`] (block codecs behind one trait), [`entropy`] (Huffman and range coders),
//! [`image`] (pixels, PNG, the DCT image codec, the seam every image codec decodes behind),
//! `neural` (the overfitted image codec), [`path`] (path safety; the escape form of names that
//! are not UTF-8), [`xattr`] (extended attributes), [`pack`] and [`extract`] (the file-system
//! sides), `mount` (read-only FUSE), `cli`.
//!
//! Reading: [`Archive::open`] (a file, memory-mapped) or [`Archive::from_bytes`], then
//! [`Archive::open_entry`] for any entry's bytes; [`container::read_stream`] reads from a pipe.
//! Writing: [`Builder`].
//!
//! Cargo features: `cli` (the command line), `mount` (FUSE), `neural` (the neural image codec,
//! ONNX Runtime loaded at run time), `cuda` (its CUDA provider); all on by default. With
//! `default-features = false` the crate is the container and the classical codecs, with no
//! dependency on clap, indicatif, fuser, ort or safetensors.

pub mod builder;
pub mod cleanup;
#[cfg(feature = "cli")]
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
#[cfg(feature = "mount")]
pub mod mount;
#[cfg(feature = "neural")]
pub mod neural;
pub mod pack;
pub mod path;
pub mod progress;
pub mod xattr;

pub use builder::{Builder, BuilderOptions, Meta};
pub use container::{Archive, Entry, EntryReader, Kind, Limits};
pub use error::{Error, Result};

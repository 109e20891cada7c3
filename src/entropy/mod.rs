//! Entropy coders shared by the codecs.
//!
//! [`huffman`] holds the canonical, length-limited Huffman coder with its bit writer and reader;
//! the `huffman` codec uses it over bytes and the `lz77` codec over its literal/length and
//! distance alphabets. The bit-level layout is specified in spec/codec-huffman.md.

pub mod huffman;

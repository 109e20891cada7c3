//! Entropy coders shared by the codecs.
//!
//! [`huffman`] holds the canonical, length-limited Huffman coder with its bit writer and reader;
//! the `huffman` codec uses it over bytes and the `lz77` codec over its literal/length and
//! distance alphabets. The bit-level layout is specified in spec/codec-huffman.md.
//!
//! One range-coder core ([`range`], specified in `spec/entropy-range.md`) with two front ends:
//! [`binary`] (adaptive binary contexts, used by the DCT image codec) and [`multi`] (multi-symbol
//! coding from caller-supplied integer frequency tables, for the neural codec's latents).

pub mod binary;
pub mod huffman;
pub mod multi;
pub mod range;

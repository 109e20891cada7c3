//! Entropy coders shared by the codecs.
//!
//! One range-coder core ([`range`], specified in `spec/entropy-range.md`) with two front ends:
//! [`binary`] (adaptive binary contexts, used by the DCT image codec) and [`multi`] (multi-symbol
//! coding from caller-supplied integer frequency tables, for the neural codec's latents).

pub mod binary;
pub mod multi;
pub mod range;

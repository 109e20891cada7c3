//! yoz-train: overfits yoz's neural image codec (architecture 2, or 3 with the wide synthesis;
//! `yoz::neural::arch`) to images, with hand-written fused forward and backward passes.
//!
//! [`fused`] is the synthesis kernel, [`rate`] the entropy model's rate, [`train`] the loop
//! (Adam, noise then straight-through rounding, real-size checks), [`coded`] the quantized
//! model and its payload, [`cli`] the command line and bundle writing.

pub mod armfit;
pub mod cli;
pub mod coded;
pub mod fused;
pub mod prior;
pub mod quant;
pub mod rate;
pub mod rdoq;
pub mod refine;
pub mod residual;
pub use simd::round_latent;
/// The lane helpers live in yoz beside the decoder's kernels that share them.
pub use yoz::neural::simd;
pub mod train;
pub mod ups;

/// Whether `YOZ_TRAIN_TRACE` is set: the trainer then prints its internal measurements
/// (candidates, checks, weight steps, refits) to stderr, for the experiments in
/// docs/neural-rd.md.
pub fn tracing() -> bool {
    std::env::var_os("YOZ_TRAIN_TRACE").is_some()
}

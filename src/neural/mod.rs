//! The neural image codec (spec/codec-neural.md): an overfitted synthesis network plus
//! integer latent grids coded with an integer auto-regressive entropy model.
//!
//! One module per concern: [`arch`] is the single definition of the architecture that the
//! trainer (`tools/trainer`) and the decoder share; [`synth`] is the float reference synthesis
//! (what ONNX Runtime must match within the spec's tolerance); [`arm`] is the fixed-point
//! entropy model and latent coding; [`payload`] the byte layout; [`runtime`] finds and drives
//! ONNX Runtime.

pub mod arch;
pub mod arm;
pub mod payload;
pub mod synth;

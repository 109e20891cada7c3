//! PLACEHOLDER until the ONNX Runtime backend lands (branch `ort`): same API, reference
//! synthesis underneath. Replaced wholesale by the merge.

use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

pub struct RunReport {
    pub device: &'static str,
    pub millis: f64,
}

pub fn synthesize(
    grids: &[Vec<f32>],
    params: &[f32],
    c: usize,
    w: usize,
    h: usize,
    _device: Device,
    _threads: usize,
) -> Result<(Vec<f32>, RunReport)> {
    let t = std::time::Instant::now();
    let out = super::synth::synthesize(grids, params, c, w, h);
    Ok((
        out,
        RunReport {
            device: "reference",
            millis: t.elapsed().as_secs_f64() * 1e3,
        },
    ))
}

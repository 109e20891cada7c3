//! `yoz doctor`: says whether the neural codec's runtime (ONNX Runtime) can be used, where it
//! was found, and how to install it when it was not.

use crate::error::Result;
use crate::neural::runtime;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {}

/// Prints the report; fails (exit 1, class `runtime`) when ONNX Runtime cannot be loaded.
pub fn run(_a: DoctorArgs) -> Result<()> {
    print!("{}", runtime::doctor_report());
    runtime::check()
}

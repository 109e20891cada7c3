//! ONNX Runtime synthesis (src/neural/runtime.rs) against the float reference
//! (src/neural/synth.rs), and the runtime's failure modes as the user sees them.
//!
//! These tests need ONNX Runtime: `./tools/setup.sh` provides it (CI runs it), and they FAIL
//! without it rather than skip — a missing runtime must not pass unnoticed.

mod common;

use yoz::neural::arch::{grid_dims, syn_layout, syn_param_count};
use yoz::neural::runtime::{self, Device};
use yoz::neural::synth;

/// xorshift32, so the inputs are the same on every run.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// Parameters scaled like a trained network's (uniform, 1/sqrt(fan-in)), so outputs are O(1)
/// as real decodes are; and integer latents in [-6, 6], as coded latents mostly are.
fn random_case(c: usize, w: usize, h: usize, seed: u32) -> (Vec<Vec<f32>>, Vec<f32>) {
    random_case_h(24, c, w, h, seed)
}

/// [`random_case`] for a synthesis of hidden width `hid` (24: architectures 1 and 2; 32: 3).
fn random_case_h(hid: usize, c: usize, w: usize, h: usize, seed: u32) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut rng = Rng(seed);
    let mut params = vec![0f32; syn_param_count(hid, c)];
    for t in syn_layout(hid, c) {
        let fan_in: usize = if t.rank == 1 {
            1
        } else {
            t.shape[1..t.rank].iter().product()
        };
        let scale = 1.0 / (fan_in as f32).sqrt();
        for p in &mut params[t.offset..t.offset + t.len()] {
            *p = rng.unit() * scale;
        }
    }
    let grids = grid_dims(w, h)
        .iter()
        .map(|&(gw, gh)| (0..gw * gh).map(|_| (rng.unit() * 6.5).round()).collect())
        .collect();
    (grids, params)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_matches_reference(c: usize, w: usize, h: usize, seed: u32) {
    check_width_matches_reference(24, c, w, h, seed);
}

fn check_width_matches_reference(hid: usize, c: usize, w: usize, h: usize, seed: u32) {
    let (grids, params) = random_case_h(hid, c, w, h, seed);
    let want = synth::synthesize(&grids, &params, c, w, h);
    let (got, report) = runtime::synthesize(&grids, &params, c, w, h, Device::Cpu, 2)
        .unwrap_or_else(|e| panic!("ONNX Runtime synthesis failed (run ./tools/setup.sh): {e}"));
    assert_eq!(report.device, "cpu");
    let d = max_abs_diff(&got, &want);
    let range = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(range > 0.1, "degenerate case: outputs all near zero");
    assert!(
        d <= 1e-4,
        "{w}x{h} c={c}: max abs diff {d} (outputs up to {range})"
    );
    // The spec's tolerance, in pixels: within 1 code value of the reference.
    let n = w * h;
    let (pg, pw) = (synth::to_pixels(&got, c, n), synth::to_pixels(&want, c, n));
    assert!(pg.iter().zip(&pw).all(|(a, b)| a.abs_diff(*b) <= 1));
}

#[test]
fn ort_matches_reference_odd_size_gray() {
    check_matches_reference(1, 37, 23, 1);
}

#[test]
fn ort_matches_reference_odd_size_rgb() {
    check_matches_reference(3, 37, 23, 2);
}

#[test]
fn ort_matches_reference_64_gray() {
    check_matches_reference(1, 64, 64, 3);
}

#[test]
fn ort_matches_reference_64_rgb() {
    check_matches_reference(3, 64, 64, 4);
}

#[test]
fn ort_matches_reference_tiny_and_thin() {
    // Every coarse grid is 1x1; a one-pixel-high image exercises the clamped rows.
    check_matches_reference(3, 1, 1, 5);
    check_matches_reference(3, 130, 1, 6);
    check_matches_reference(1, 3, 70, 7);
}

/// Architecture 3's 32-wide synthesis: the graph takes its width from the parameters.
#[test]
fn ort_matches_reference_wide_synthesis() {
    check_width_matches_reference(32, 3, 37, 23, 11);
    check_width_matches_reference(32, 1, 64, 64, 12);
}

#[test]
fn cuda_without_a_gpu_fails_clearly() {
    let (w, h) = (16, 16);
    let (grids, params) = random_case(3, w, h, 8);
    let cuda_usable = std::path::Path::new("/dev/nvidia0").exists()
        && runtime::doctor_report().contains("CUDA provider: available");
    match runtime::synthesize(&grids, &params, 3, w, h, Device::Cuda, 2) {
        Ok((out, report)) => {
            // Only a machine with a GPU and the GPU build of ORT may get here, and then the
            // report must say CUDA ran, and the result must still match.
            assert!(cuda_usable, "--device cuda succeeded without a usable GPU");
            assert_eq!(report.device, "cuda");
            let want = synth::synthesize(&grids, &params, 3, w, h);
            assert!(max_abs_diff(&out, &want) <= 1e-3);
        }
        Err(e) => {
            assert!(!cuda_usable, "CUDA is available but failed: {e}");
            assert_eq!(e.class(), "runtime");
            let msg = e.to_string();
            eprintln!("--device cuda here: {msg}");
            assert!(msg.contains("--device cuda"), "{msg}");
            assert!(msg.contains("onnxruntime-gpu"), "{msg}");
        }
    }
}

#[test]
fn wrong_sizes_are_errors_not_panics() {
    let (w, h) = (9, 7);
    let (mut grids, params) = random_case(1, w, h, 9);
    assert!(runtime::synthesize(&grids, &params[1..], 1, w, h, Device::Cpu, 1).is_err());
    grids[3].pop();
    assert!(runtime::synthesize(&grids, &params, 1, w, h, Device::Cpu, 1).is_err());
    assert!(runtime::synthesize(&grids, &params, 1, 0, h, Device::Cpu, 1).is_err());
}

#[test]
fn doctor_reports_the_runtime() {
    let out = common::run(&["doctor"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "yoz doctor failed (run ./tools/setup.sh):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("status: ok"), "{stdout}");
    assert!(stdout.contains("version: 1."), "{stdout}");
    assert!(stdout.contains("CUDA provider:"), "{stdout}");
}

#[test]
fn doctor_with_a_missing_library_says_how_to_install() {
    let out = common::yoz()
        .arg("doctor")
        .env(
            "ORT_DYLIB_PATH",
            "/nonexistent/yoz-test/libonnxruntime.so.1.31.1",
        )
        .output()
        .expect("spawn yoz");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::class_of(&out).as_deref(), Some("runtime"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/yoz-test/libonnxruntime.so.1.31.1"),
        "{stderr}"
    );
    assert!(stderr.contains("./tools/setup.sh"), "{stderr}");
    assert!(
        stderr.contains("pip install onnxruntime==1.31.1"),
        "{stderr}"
    );
}

#[test]
fn doctor_with_a_library_that_is_not_onnxruntime_fails_clearly() {
    // A file that exists but is no shared library: a load error, not a crash.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let out = common::yoz()
        .arg("doctor")
        .env("ORT_DYLIB_PATH", &fake)
        .output()
        .expect("spawn yoz");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::class_of(&out).as_deref(), Some("runtime"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot load"), "{stderr}");
    assert!(stderr.contains("./tools/setup.sh"), "{stderr}");
}

#[test]
fn doctor_with_no_runtime_anywhere_says_how_to_install() {
    // A copy of yoz outside the checkout, no ORT_DYLIB_PATH, and no python3 on
    // PATH: every rule of the search comes up empty.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("yoz");
    std::fs::copy(env!("CARGO_BIN_EXE_yoz"), &exe).unwrap();
    let empty = dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = std::process::Command::new(&exe)
        .arg("doctor")
        .env_remove("ORT_DYLIB_PATH")
        .env("PATH", &empty)
        .output()
        .expect("spawn the copy of yoz");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(common::class_of(&out).as_deref(), Some("runtime"));
    assert!(stderr.contains("library not found"), "{stderr}");
    assert!(stderr.contains("./tools/setup.sh"), "{stderr}");
    assert!(stdout.contains("status: not found"), "{stdout}");
}

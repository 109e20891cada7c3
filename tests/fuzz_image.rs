//! Replays fuzz inputs on stable `cargo test`: crashers found by `cargo +nightly fuzz run`
//! (fuzz/) are committed under tests/fuzz_regressions/<target>/ and must never panic again.
//! Each directory also holds a few inputs from the fuzz corpus that reach deep code paths.

use std::path::Path;

use yoz::image::{dct, DecodeLimits};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// Same body as fuzz/fuzz_targets/dct_decode.rs.
#[test]
fn dct_decode_regressions() {
    let limits = DecodeLimits {
        max_pixels: 1 << 16,
    };
    for (name, data) in inputs("dct_decode") {
        if let Ok(img) = dct::decode(&data, &limits) {
            assert_eq!(
                img.data.len(),
                img.width as usize * img.height as usize * img.channels as usize,
                "{name}"
            );
        }
    }
}

/// Same body as fuzz/fuzz_targets/range_decode.rs.
#[test]
fn range_decode_regressions() {
    for (_, data) in inputs("range_decode") {
        yoz::fuzzing::range_decode(&data);
    }
}

/// Same body as fuzz/fuzz_targets/neural_decode.rs.
#[test]
fn neural_decode_regressions() {
    let seeds = inputs("neural_decode");
    assert!(seeds.len() >= 3, "seed inputs are committed");
    for (name, data) in seeds {
        // Payload seeds are whole valid payloads (the fuzzer then reaches the synthesis).
        let file = Path::new(&name).file_name().unwrap().to_string_lossy();
        if file.starts_with("payload-") {
            yoz::neural::payload::decode(&data[1..], 1 << 16)
                .unwrap_or_else(|e| panic!("seed {name} does not decode: {e}"));
        }
        yoz::fuzzing::neural_decode(&data);
    }
}

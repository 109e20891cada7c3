//! Fuzzes the range decoder and both front ends (body in `yoz::fuzzing::range_decode`, which
//! `tests/fuzz_image.rs` replays under plain `cargo test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::fuzzing::range_decode(data);
});

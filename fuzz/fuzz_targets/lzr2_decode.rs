//! Decodes arbitrary bytes as an `lzr2` payload. The first three input bytes choose the declared
//! block size (≤ 1 MiB); the rest is the payload. Must never panic, and a successful decode must
//! produce exactly the declared size (`yoz::codec::fuzz::decode_one` asserts both).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::codec::fuzz::decode_one(yoz::codec::id::LZR2, data);
});

//! Random tree → pack → unpack (both readers) → equal.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::fuzzing::roundtrip(data);
});

//! Compresses arbitrary bytes with `lzr2` (the first byte picks the level) and checks that they
//! decode back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::codec::fuzz::roundtrip_one(yoz::codec::id::LZR2, data);
});

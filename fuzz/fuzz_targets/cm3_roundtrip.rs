//! Compresses arbitrary bytes with `cm3` and checks that they
//! decode back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::codec::fuzz::roundtrip_one(yoz::codec::id::CM3, data);
});

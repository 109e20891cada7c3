//! zstd blocks that name a dictionary (resource kind 1): arbitrary dictionaries and payloads.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::fuzzing::zstd_dict_decode(data);
});

//! The zstd block decoder on arbitrary payloads and declared lengths.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::fuzzing::codec_decode(yoz::codec::id::ZSTD, data);
});

//! The streaming reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::fuzzing::archive_stream(data);
});

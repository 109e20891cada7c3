//! The random-access reader on arbitrary bytes: open, then read every entry.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    yoz::fuzzing::archive_random_access(data);
});

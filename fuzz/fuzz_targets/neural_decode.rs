//! Fuzzes the neural payload parser and the integer latent decoder (yoz::fuzzing::neural_decode).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| yoz::fuzzing::neural_decode(data));

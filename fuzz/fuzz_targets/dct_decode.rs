//! Fuzzes the DCT image payload decoder: any input must decode or fail with a typed error,
//! never panic, hang or allocate beyond the pixel limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yoz::image::{dct, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_pixels: 1 << 16,
    };
    if let Ok(img) = dct::decode(data, &limits) {
        assert_eq!(
            img.data.len(),
            img.width as usize * img.height as usize * img.channels as usize
        );
    }
});

//! Fuzzes the range decoder and both front ends: the first byte picks a frequency table
//! shape, the rest is the stream. Decoding garbage must never panic or loop forever.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yoz::entropy::binary::{BinDecoder, Context};
use yoz::entropy::multi::FreqTable;
use yoz::entropy::range::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&shape, stream)) = data.split_first() else {
        return;
    };
    let n = usize::from(shape % 40) + 1;
    let freqs: Vec<u32> = (0..n as u32).map(|i| 1 + (i * 977 + u32::from(shape)) % 3000).collect();
    let table = FreqTable::new(&freqs).expect("frequencies are 1..=3000, at most 40 of them");
    let mut dec = Decoder::new(stream);
    for _ in 0..4 * stream.len() + 8 {
        match table.decode(&mut dec) {
            Some(s) => assert!(s < n),
            None => break,
        }
        dec.decode_direct(3);
    }
    let mut ctx = [Context::default(); 4];
    let mut bin = BinDecoder::new(stream);
    for i in 0..8 * stream.len() + 8 {
        bin.get(&mut ctx[i % 4]);
    }
    let _ = bin.is_bad();
});

//! Archives packed with the `huffman` and `lz77` codecs (and `auto` at an exhaustive level) read
//! back byte for byte through the mmap reader, and their index records those codec ids — the
//! counts `yoz info` prints per codec.

use std::io::Read;

use yoz::codec::{self, id, Choice};
use yoz::pack::{pack_to_path, PackOptions};
use yoz::Archive;

/// Text with repeats, a run, and pseudo-random bytes: every codec mode gets used somewhere.
fn sample() -> Vec<u8> {
    let mut v = b"yoz archive codec test line, repeated with small changes: ".repeat(400);
    v.extend(std::iter::repeat_n(b'=', 70_000));
    let mut x = 7u32;
    v.extend((0..30_000).map(|_| {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        (x >> 24) as u8
    }));
    v
}

fn pack_and_read(choice: Choice, level: i32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("sample.bin");
    let data = sample();
    std::fs::write(&input, &data).expect("write sample");
    let out = dir.path().join("a.yoz");
    let opts = PackOptions {
        codec: choice,
        level,
        block_size: 16 * 1024,
        threads: 2,
        ..PackOptions::default()
    };
    pack_to_path(&[input], &out, false, &opts).expect("pack");
    let ar = Archive::open(&out).expect("open");
    let i = ar
        .entries()
        .iter()
        .position(|e| e.path.ends_with("sample.bin"))
        .expect("entry present");
    let mut got = Vec::new();
    ar.open_entry_at(i)
        .expect("open entry")
        .read_to_end(&mut got)
        .expect("read entry");
    assert!(got == data, "{choice:?} level {level}: content differs");
    ar.blocks().iter().map(|b| b.codec).collect()
}

#[test]
fn lz77_archive_roundtrips() {
    for level in [1, 5, 9] {
        let codecs = pack_and_read(Choice::Fixed(id::LZ77), level);
        assert!(codecs.contains(&id::LZ77));
        assert_eq!(codec::name_of(id::LZ77), "lz77");
    }
}

#[test]
fn huffman_archive_roundtrips() {
    let codecs = pack_and_read(Choice::Fixed(id::HUFFMAN), 3);
    assert!(codecs.contains(&id::HUFFMAN));
    assert_eq!(codec::name_of(id::HUFFMAN), "huffman");
}

#[test]
fn auto_exhaustive_archive_roundtrips() {
    let codecs = pack_and_read(Choice::Auto, codec::AUTO_EXHAUSTIVE_LEVEL);
    assert!(!codecs.is_empty());
}

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
    pack_and_read_header(choice, level).0
}

/// The block codecs of the packed archive and its header's `reader_minor`.
fn pack_and_read_header(choice: Choice, level: i32) -> (Vec<u8>, u8) {
    pack_data(choice, level, &sample())
}

fn pack_data(choice: Choice, level: i32, data: &[u8]) -> (Vec<u8>, u8) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("sample.bin");
    std::fs::write(&input, data).expect("write sample");
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
    let minor = std::fs::read(&out).expect("archive readable")[11];
    (ar.blocks().iter().map(|b| b.codec).collect(), minor)
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

#[test]
fn lzr_archives_roundtrip_and_declare_their_formats() {
    for level in [3, 19] {
        let (codecs, minor) = pack_and_read_header(Choice::Fixed(id::LZR), level);
        assert!(codecs.contains(&id::LZR));
        assert_eq!(minor, 3, "lzr1 blocks need reader 1.3");
        let (codecs, minor) = pack_and_read_header(Choice::Fixed(id::LZR2), level);
        assert!(codecs.contains(&id::LZR2));
        assert_eq!(minor, 7, "lzr2 blocks need reader 1.7");
    }
    assert_eq!(codec::name_of(id::LZR), "lzr1");
    assert_eq!(codec::name_of(id::LZR2), "lzr2");
    assert_eq!(Choice::parse("lzr").unwrap(), Choice::Fixed(id::LZR2));
    assert_eq!(Choice::parse("lzr2").unwrap(), Choice::Fixed(id::LZR2));
    assert_eq!(Choice::parse("lzr1").unwrap(), Choice::Fixed(id::LZR));
}

#[test]
fn auto_tries_lzr_from_level_20_only() {
    // At 19 the header stays at the 1.0 codecs and no block is lzr; at 20 lzr wins the text.
    let (codecs, minor) = pack_and_read_header(Choice::Auto, 19);
    assert!(!codecs.contains(&id::LZR2));
    assert_eq!(minor, 0);
    // Log-like text, where lzr's adaptive contexts beat zstd, lz77 and huffman.
    let log: Vec<u8> = (0..3000u32)
        .flat_map(|i| {
            format!(
                "2026-12-01 12:{:02}:{:02} job {} state {}\n",
                i / 60 % 60,
                i % 60,
                i * 7 % 97,
                ["ok", "retry", "fail"][(i % 3) as usize]
            )
            .into_bytes()
        })
        .collect();
    let (codecs, minor) = pack_data(Choice::Auto, codec::AUTO_LZR_LEVEL, &log);
    assert!(codecs.iter().all(|&c| c == id::LZR2), "{codecs:?}");
    assert_eq!(minor, 7);
}

#[test]
fn cm_archive_roundtrips_and_max_keeps_the_smallest() {
    let (codecs, minor) = pack_and_read_header(Choice::Fixed(id::CM), 3);
    assert!(codecs.contains(&id::CM));
    assert_eq!(minor, 3);
    assert_eq!(codec::name_of(id::CM), "cm1");
    // Model 2 is format 1.5, model 3 format 1.6; `--codec cm` means model 3, `cm2` and `cm1`
    // the models readers of 1.5 and 1.3 decode.
    let (codecs, minor) = pack_and_read_header(Choice::Fixed(id::CM2), 3);
    assert!(codecs.contains(&id::CM2));
    assert_eq!(minor, 5);
    assert_eq!(codec::name_of(id::CM2), "cm2");
    let (codecs, minor) = pack_and_read_header(Choice::Fixed(id::CM3), 3);
    assert!(codecs.contains(&id::CM3));
    assert_eq!(minor, 6);
    assert_eq!(codec::name_of(id::CM3), "cm3");
    assert_eq!(Choice::parse("cm").unwrap(), Choice::Fixed(id::CM3));
    assert_eq!(Choice::parse("cm3").unwrap(), Choice::Fixed(id::CM3));
    assert_eq!(Choice::parse("cm2").unwrap(), Choice::Fixed(id::CM2));
    assert_eq!(Choice::parse("cm1").unwrap(), Choice::Fixed(id::CM));
    // At the top level auto tries everything: on text cm wins, and no block is larger than
    // lzr's (or any other candidate's) payload for it.
    let text: Vec<u8> = (0..3000u32)
        .flat_map(|i| {
            format!(
                "entry {} of {} is {}\n",
                i,
                i % 41,
                ["red", "green", "blue"][(i % 3) as usize]
            )
            .into_bytes()
        })
        .collect();
    let (codecs, minor) = pack_data(Choice::Auto, codec::LEVEL_MAX, &text);
    assert!(codecs.contains(&id::CM3), "{codecs:?}");
    assert_eq!(minor, 7, "auto at the top level may write lzr2 blocks");
    for block in text.chunks(16 * 1024) {
        let auto = codec::encode_block(block, Choice::Auto, codec::LEVEL_MAX).unwrap();
        for id in [id::LZR2, id::ZSTD, id::LZ77, id::CM3] {
            let one = codec::encode_block(block, Choice::Fixed(id), 22).unwrap();
            assert!(auto.payload.len() <= one.payload.len(), "codec {id}");
        }
    }
}

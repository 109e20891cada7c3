//! Hostile inputs, named after the attack they try. Each asserts the error class a reader must
//! report (spec appendix A) and that nothing is written outside the destination.

mod common;

use std::fs;
use yoz::container::format::{BlockInfo, Entry, Kind, Storage, NO_RESOURCE};
use yoz::container::{read_stream, Archive, Limits, NullSink, RecordWriter};
use yoz::extract::{ExtractOptions, Extractor};
use yoz::pack::{pack_to_writer, PackOptions};

fn entry(path: &str, kind: Kind, size: u64, storage: Storage) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        mtime_nsec: 0,
        size,
        target: String::new(),
        storage,
    }
}

fn stored(data: &[u8]) -> BlockInfo {
    BlockInfo {
        offset: 0,
        codec: 0,
        flags: 0,
        params: 0,
        resource: NO_RESOURCE,
        raw_len: data.len() as u32,
        comp_len: data.len() as u32,
        crc32: crc32fast::hash(data),
    }
}

/// Builds an archive from (entry, blocks) pairs, in order, without any validation.
fn forge(items: Vec<(Entry, Vec<Vec<u8>>)>) -> Vec<u8> {
    let mut w = RecordWriter::new(Vec::new()).unwrap();
    for (e, blocks) in items {
        let shared = matches!(e.storage, Storage::Shared { .. });
        if shared {
            for b in &blocks {
                w.block(stored(b), b).unwrap();
            }
            w.entry(e).unwrap();
        } else {
            w.entry(e).unwrap();
            for b in &blocks {
                w.block(stored(b), b).unwrap();
            }
        }
    }
    w.finish().unwrap().0
}

/// The class both readers report, asserting they agree or one of `alts` is acceptable.
fn classes(bytes: &[u8]) -> (String, String) {
    let ra = Archive::from_bytes(bytes.to_vec(), Limits::default())
        .and_then(|ar| {
            for i in 0..ar.entries().len() {
                ar.send_entry(i, &mut NullSink)?;
            }
            Ok(())
        })
        .err()
        .map(|e| e.class().to_string())
        .unwrap_or_else(|| "ok".into());
    let st = read_stream(bytes, &mut NullSink, Limits::default())
        .err()
        .map(|e| e.class().to_string())
        .unwrap_or_else(|| "ok".into());
    (ra, st)
}

fn assert_class(bytes: &[u8], class: &str) {
    let (ra, st) = classes(bytes);
    assert_eq!((ra.as_str(), st.as_str()), (class, class));
}

#[test]
fn absolute_path_is_path_escape() {
    let a = forge(vec![(
        entry(
            "/etc/passwd",
            Kind::File,
            3,
            Storage::Blocks { first: 0, count: 1 },
        ),
        vec![b"pwn".to_vec()],
    )]);
    assert_class(&a, "path-escape");
}

#[test]
fn dotdot_path_is_path_escape() {
    let a = forge(vec![(
        entry("a/../../evil", Kind::Dir, 0, Storage::None),
        vec![],
    )]);
    assert_class(&a, "path-escape");
}

#[test]
fn duplicate_names_are_rejected() {
    let a = forge(vec![
        (entry("x", Kind::Dir, 0, Storage::None), vec![]),
        (entry("x", Kind::Dir, 0, Storage::None), vec![]),
    ]);
    assert_class(&a, "duplicate-path");
}

#[test]
fn file_used_as_directory_is_a_conflict() {
    let a = forge(vec![
        (
            entry("f", Kind::File, 1, Storage::Blocks { first: 0, count: 1 }),
            vec![b"x".to_vec()],
        ),
        (entry("f/g", Kind::Dir, 0, Storage::None), vec![]),
    ]);
    assert_class(&a, "path-conflict");
}

#[test]
fn size_field_of_two_to_the_63_is_rejected() {
    let a = forge(vec![(
        entry(
            "big",
            Kind::File,
            1 << 63,
            Storage::Blocks { first: 0, count: 1 },
        ),
        vec![b"x".to_vec()],
    )]);
    assert_class(&a, "size-mismatch");
}

#[test]
fn declared_size_larger_than_blocks_is_rejected() {
    let a = forge(vec![(
        entry("f", Kind::File, 10, Storage::Blocks { first: 0, count: 1 }),
        vec![b"12345".to_vec()],
    )]);
    assert_class(&a, "size-mismatch");
}

#[test]
fn zip_bomb_reusing_one_shared_slice_is_overlap() {
    // Two entries claim the same bytes of one shared block: one payload expanded twice.
    let mut w = RecordWriter::new(Vec::new()).unwrap();
    let data = vec![b'A'; 1000];
    w.block(stored(&data), &data).unwrap();
    for name in ["a", "b"] {
        w.entry(entry(
            name,
            Kind::File,
            1000,
            Storage::Shared {
                block: 0,
                offset: 0,
            },
        ))
        .unwrap();
    }
    let a = w.finish().unwrap().0;
    assert_class(&a, "overlap");
}

#[test]
fn zip_bomb_block_table_reusing_one_payload_is_rejected() {
    // The index points two block rows at the same record (the 42 kB → 5.5 GB overlap trick).
    let data = b"payload".to_vec();
    let a = forge(vec![
        (
            entry("a", Kind::File, 7, Storage::Blocks { first: 0, count: 1 }),
            vec![data.clone()],
        ),
        (
            entry("b", Kind::File, 7, Storage::Blocks { first: 1, count: 1 }),
            vec![data],
        ),
    ]);
    // Rewrite block 1's row offset to block 0's and fix up the CRCs.
    let mut ar = yoz::container::format::Index::parse(&index_bytes(&a), u64::MAX).unwrap();
    ar.blocks[1].offset = ar.blocks[0].offset;
    let b = replace_index(&a, &ar.to_bytes());
    let (ra, st) = classes(&b);
    assert_eq!(ra, "overlap");
    // The streaming reader sees the real records and then an index that does not list them.
    assert_eq!(st, "index-mismatch");
}

#[test]
fn huge_entry_count_with_tiny_file_is_rejected_before_allocating() {
    let a = forge(vec![(entry("x", Kind::Dir, 0, Storage::None), vec![])]);
    let mut idx = index_bytes(&a);
    idx[4..8].copy_from_slice(&10_000_000u32.to_le_bytes());
    let b = replace_index(&a, &idx);
    assert_class(&b, "truncated");
}

#[test]
fn block_decoding_beyond_declared_size_is_rejected() {
    let raw = vec![7u8; 5000];
    let frame = zstd::bulk::compress(&raw, 3).unwrap();
    let mut w = RecordWriter::new(Vec::new()).unwrap();
    w.entry(entry(
        "f",
        Kind::File,
        100,
        Storage::Blocks { first: 0, count: 1 },
    ))
    .unwrap();
    let info = BlockInfo {
        codec: 1,
        raw_len: 100,
        comp_len: frame.len() as u32,
        crc32: crc32fast::hash(&raw[..100]),
        ..stored(b"")
    };
    w.block(info, &frame).unwrap();
    let a = w.finish().unwrap().0;
    assert_class(&a, "size-mismatch");
}

#[test]
fn unknown_codec_is_named() {
    let mut w = RecordWriter::new(Vec::new()).unwrap();
    w.entry(entry(
        "f",
        Kind::File,
        3,
        Storage::Blocks { first: 0, count: 1 },
    ))
    .unwrap();
    w.block(
        BlockInfo {
            codec: 200,
            ..stored(b"abc")
        },
        b"abc",
    )
    .unwrap();
    let a = w.finish().unwrap().0;
    assert_class(&a, "unknown-codec");
}

pub fn index_bytes(a: &[u8]) -> Vec<u8> {
    let f = yoz::container::format::Footer::parse(&a[a.len() - 32..], a.len() as u64).unwrap();
    a[f.index_offset as usize..(f.index_offset + f.index_len) as usize].to_vec()
}

pub fn replace_index(a: &[u8], idx: &[u8]) -> Vec<u8> {
    let f = yoz::container::format::Footer::parse(&a[a.len() - 32..], a.len() as u64).unwrap();
    let mut out = a[..f.index_offset as usize].to_vec();
    out.extend_from_slice(idx);
    let footer = yoz::container::format::Footer {
        index_offset: f.index_offset,
        index_len: idx.len() as u64,
        index_crc: yoz::container::format::index_crc(&a[..16], idx),
    };
    out.extend_from_slice(&footer.to_bytes());
    out
}

fn small_archive() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("t");
    common::sample_tree(&src);
    let opts = PackOptions {
        block_size: 4096,
        ..Default::default()
    };
    pack_to_writer(&[src], Vec::new(), &opts).unwrap().0
}

#[test]
fn every_truncation_point_is_an_error() {
    let a = small_archive();
    for n in 0..a.len() {
        let (ra, st) = classes(&a[..n]);
        assert_ne!(ra, "ok", "random-access reader accepted a {n}-byte prefix");
        assert_ne!(st, "ok", "streaming reader accepted a {n}-byte prefix");
    }
}

#[test]
fn every_single_byte_flip_is_an_error() {
    let a = small_archive();
    assert_eq!(classes(&a), ("ok".into(), "ok".into()));
    // The random-access reader works from the index and never reads local entry records
    // (`verify` compares them); a flip there must be caught by the streaming pass.
    let ar = Archive::from_bytes(a.clone(), Limits::default()).unwrap();
    let local: Vec<(usize, usize)> = ar
        .entries()
        .iter()
        .zip(&ar.index().entry_offsets)
        .map(|(e, &o)| (o as usize, o as usize + 1 + e.to_bytes().len()))
        .collect();
    for i in 0..a.len() {
        for x in [0x01u8, 0x80] {
            let mut b = a.clone();
            b[i] ^= x;
            let (ra, st) = classes(&b);
            let in_local = local.iter().any(|&(s, e)| (s..e).contains(&i));
            assert!(
                ra != "ok" || in_local,
                "random-access reader accepted a flip of bit {x:#x} at {i}"
            );
            assert_ne!(
                st, "ok",
                "streaming reader accepted a flip of bit {x:#x} at {i}"
            );
        }
    }
}

#[test]
fn modify_outside_through_archive_symlink_is_refused() {
    // Entry 1 makes `link` → the parent of the destination; entry 2 writes `link/escaped`.
    let tmp = tempfile::tempdir().unwrap();
    let mut l = entry("link", Kind::Symlink, 0, Storage::None);
    l.target = tmp.path().display().to_string();
    let a = forge(vec![
        (l, vec![]),
        (
            entry(
                "link/escaped",
                Kind::File,
                3,
                Storage::Blocks { first: 0, count: 1 },
            ),
            vec![b"pwn".to_vec()],
        ),
    ]);
    // The archive itself is valid: list and verify work.
    assert_eq!(classes(&a).1, "ok");
    let dest = tmp.path().join("dest");
    for stream in [false, true] {
        let _ = fs::remove_dir_all(&dest);
        let mut x = Extractor::new(&dest, ExtractOptions::default()).unwrap();
        let err = if stream {
            read_stream(&a[..], &mut x, Limits::default()).unwrap_err()
        } else {
            let ar = Archive::from_bytes(a.clone(), Limits::default()).unwrap();
            ar.send_entry(0, &mut x).unwrap();
            ar.send_entry(1, &mut x).unwrap_err()
        };
        assert_eq!(err.class(), "path-symlink");
        assert!(
            !tmp.path().join("escaped").exists(),
            "wrote through the symlink"
        );
    }
}

#[test]
fn limits_are_enforced() {
    let a = small_archive();
    let tight = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    assert_eq!(
        Archive::from_bytes(a.clone(), tight).err().unwrap().class(),
        "limit"
    );
    assert_eq!(
        read_stream(&a[..], &mut NullSink, tight)
            .unwrap_err()
            .class(),
        "limit"
    );
    let tight = Limits {
        max_output: 100,
        ..Limits::default()
    };
    assert_eq!(
        Archive::from_bytes(a.clone(), tight).err().unwrap().class(),
        "limit"
    );
}

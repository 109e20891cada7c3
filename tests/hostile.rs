//! Hostile inputs, named after the attack they try. Each asserts the error class a reader must
//! report (spec appendix A) and that nothing is written outside the destination.

mod common;

use std::fs;
use yoz::conformance::forge::{block, meta, Forge, Rec};
use yoz::container::format::{BlockInfo, Entry, Kind, Storage};

// Attacks on the index and block table are conformance vectors (corpus/invalid); these tests
// cover what needs a file system or a whole packed tree.
use yoz::container::{read_stream, Archive, Limits, NullSink};
use yoz::extract::{ExtractOptions, Extractor};
use yoz::pack::{pack_to_writer, PackOptions};

fn entry(path: &str, kind: Kind, size: u64, storage: Storage) -> Entry {
    let mut e = meta(path, kind);
    e.size = size;
    e.storage = storage;
    e
}

fn stored(data: &[u8]) -> BlockInfo {
    block(data, 0).0
}

/// Builds an archive from (entry, blocks) pairs, in order, without any validation: an entry
/// with blocks closes its group and its blocks follow; a shared entry follows its block.
fn forge(items: Vec<(Entry, Vec<Vec<u8>>)>) -> Vec<u8> {
    let mut f = Forge::new();
    for (e, blocks) in items {
        if matches!(e.storage, Storage::Shared { .. }) {
            for b in &blocks {
                f.push_block(stored(b), b.clone());
            }
            f.recs.push(Rec::Entry(e));
        } else {
            f.recs.push(Rec::Entry(e));
            for b in &blocks {
                f.push_block(stored(b), b.clone());
            }
        }
    }
    f.build().bytes
}

/// The class both readers report, asserting they agree or one of `alts` is acceptable.
fn classes(bytes: &[u8]) -> (String, String) {
    let ra = Archive::from_bytes(bytes.to_vec(), Limits::default())
        .and_then(|ar| {
            for i in 0..ar.entries().len() {
                ar.check_group(ar.group_of(i))?;
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
    for i in 0..a.len() {
        for x in [0x01u8, 0x80] {
            let mut b = a.clone();
            b[i] ^= x;
            let (ra, st) = classes(&b);
            assert_ne!(
                ra, "ok",
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

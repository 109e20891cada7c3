//! Deduplication (spec §4.2.1 storage 3): identical files are stored once and come back as
//! separate files, through every reader.

mod common;

use common::{noise, run, run_with_stdin};
use std::fs;
use std::path::Path;
use yoz::container::{Archive, Storage};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Copies of a small file (same shared block, and a later one), of a file with blocks (and a
/// sparse one), a hard link, a file that differs only in its last byte, and one of equal size.
fn tree(root: &Path) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    // At least 4 KiB (smaller files are not deduplicated), less than the 16 KiB blocks.
    let small = "a line that repeats\n".repeat(250);
    fs::write(root.join("a/one.txt"), &small).unwrap();
    fs::write(root.join("a/b/two.txt"), &small).unwrap();
    let mut near = small.clone().into_bytes();
    *near.last_mut().unwrap() = b'!';
    fs::write(root.join("a/near.txt"), &near).unwrap();
    let big = noise(7, 70_000);
    fs::write(root.join("big1.bin"), &big).unwrap();
    fs::write(root.join("z-big2.bin"), &big).unwrap();
    fs::hard_link(root.join("big1.bin"), root.join("hard.bin")).unwrap();
    let f = fs::File::create(root.join("sparse1")).unwrap();
    f.set_len(300_000).unwrap();
    fs::copy(root.join("sparse1"), root.join("sparse2")).unwrap();
    // Below 4 KiB identical files stay ordinary files.
    fs::write(root.join("tiny1"), "tiny\n".repeat(100)).unwrap();
    fs::write(root.join("tiny2"), "tiny\n".repeat(100)).unwrap();
    // Many copies of one small file, so some land after the shared block closes.
    for i in 0..40 {
        fs::write(root.join(format!("a/many{i:02}.txt")), &small).unwrap();
        fs::write(
            root.join(format!("a/filler{i:02}.bin")),
            noise(100 + i, 3000),
        )
        .unwrap();
    }
}

fn pack(src: &Path, a: &Path) -> String {
    let out = run(&["pack", "-o", s(a), "--block-size", "16K", s(src)]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn copies_are_stored_once_and_read_back_everywhere() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    tree(&src);
    let a = t.path().join("a.yoz");
    let err = pack(&src, &a);
    assert!(err.contains("duplicate files"), "{err}");

    let ar = Archive::open(&a).unwrap();
    assert_eq!(ar.header().reader_minor, 2, "copies are a 1.2 feature");
    let copy_of = |p: &str| match ar.entries()[ar.find(p).unwrap()].storage {
        Storage::Same { entry } => Some(ar.entries()[entry as usize].path.clone()),
        _ => None,
    };
    // 40 small copies + two.txt, the big copy, the sparse copy.
    let copies = ar
        .entries()
        .iter()
        .filter(|e| matches!(e.storage, Storage::Same { .. }))
        .count();
    assert_eq!(copies, 43);
    assert_eq!(copy_of("tree/z-big2.bin").as_deref(), Some("tree/big1.bin"));
    assert_eq!(copy_of("tree/sparse2").as_deref(), Some("tree/sparse1"));
    assert_eq!(copy_of("tree/a/near.txt"), None, "differs in one byte");
    assert_eq!(copy_of("tree/tiny2"), None, "under 4 KiB");
    assert_eq!(
        copy_of("tree/hard.bin"),
        None,
        "a hard link stays a hard link"
    );
    assert_eq!(
        ar.entries()[ar.find("tree/hard.bin").unwrap()].kind,
        yoz::container::Kind::Hardlink
    );

    assert!(run(&["verify", s(&a)]).status.success());
    let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
    assert!(info.contains("duplicates  43 files"), "{info}");
    let long = String::from_utf8(run(&["list", "-l", s(&a)]).stdout).unwrap();
    assert!(
        long.lines()
            .any(|l| l.ends_with("tree/z-big2.bin = tree/big1.bin")),
        "{long}"
    );
    let cat = run(&["cat", s(&a), "tree/a/many39.txt"]);
    assert_eq!(cat.stdout, fs::read(src.join("a/one.txt")).unwrap());

    // From a file, and from a pipe (the streaming extractor copies what it wrote).
    common::assert_unpacks_both_ways(&a, t.path(), "tree", &src);
    let dest = t.path().join("out");
    // Separate files, not links.
    use std::os::unix::fs::MetadataExt;
    let (m1, m2) = (
        fs::metadata(dest.join("tree/big1.bin")).unwrap(),
        fs::metadata(dest.join("tree/z-big2.bin")).unwrap(),
    );
    assert_ne!(m1.ino(), m2.ino());
    assert_eq!(m2.nlink(), 1);
}

#[test]
fn selecting_only_a_copy() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    tree(&src);
    let a = t.path().join("a.yoz");
    pack(&src, &a);
    // From a file the source's bytes are decoded again.
    let dest = t.path().join("out");
    let out = run(&["unpack", "-C", s(&dest), s(&a), "tree/z-big2.bin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(dest.join("tree/z-big2.bin")).unwrap(),
        fs::read(src.join("big1.bin")).unwrap()
    );
    assert!(!dest.join("tree/big1.bin").exists());
    // A pipe no longer has them: a clear error, like tar's for a hard link.
    let dest2 = t.path().join("out2");
    let out = run_with_stdin(
        &["unpack", "-C", s(&dest2), "-", "tree/z-big2.bin"],
        &fs::read(&a).unwrap(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("copy of \"tree/big1.bin\""), "{err}");
}

#[test]
fn no_duplicates_no_new_version() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    let a = t.path().join("a.yoz");
    pack(&src, &a);
    // Equal sizes with different bytes make candidates only, not copies.
    let ar = Archive::open(&a).unwrap();
    assert_eq!(ar.header().reader_minor, 0);
}

/// A hard link to a file stored as a copy of a file still waiting for its shared block: the
/// link must follow the copy (its target must be an earlier entry). Before the fix the link was
/// placed at once, ahead of the copy, and every reader refused the archive (`path-invalid`).
#[test]
fn a_hard_link_to_a_waiting_copy_follows_it() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    fs::create_dir_all(&src).unwrap();
    let data = noise(11, 5000);
    fs::write(src.join("a"), &data).unwrap();
    fs::write(src.join("b"), &data).unwrap();
    fs::hard_link(src.join("b"), src.join("c")).unwrap();
    let a = t.path().join("a.yoz");
    pack(&src, &a);
    let ar = Archive::open(&a).unwrap();
    let names: Vec<&str> = ar.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["tree", "tree/a", "tree/b", "tree/c"]);
    assert!(matches!(
        ar.entries()[ar.find("tree/b").unwrap()].storage,
        Storage::Same { .. }
    ));
    assert!(run(&["verify", s(&a)]).status.success());
    common::assert_unpacks_both_ways(&a, t.path(), "tree", &src);
}

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

/// Digests everything a reader yields (metadata and bytes), to tell a harmless flip (one that
/// changes no decoded byte, e.g. a bit a zstd frame ignores) from an undetected change.
#[derive(Default)]
struct Digest(crc32fast::Hasher);

impl yoz::container::Sink for Digest {
    fn begin(&mut self, e: &Entry) -> yoz::Result<()> {
        self.0.update(&e.to_bytes());
        Ok(())
    }
    fn data(&mut self, b: &[u8]) -> yoz::Result<()> {
        self.0.update(b);
        Ok(())
    }
    fn copy(&mut self, source: &Entry) -> yoz::Result<bool> {
        self.0.update(b"copy of ");
        self.0.update(source.path.as_bytes());
        Ok(true)
    }
    fn end(&mut self, _: &Entry) -> yoz::Result<()> {
        Ok(())
    }
}

/// The class both readers report ("ok:DIGEST" when they accept, with what they yielded).
fn classes(bytes: &[u8]) -> (String, String) {
    let ra = Archive::from_bytes(bytes.to_vec(), Limits::default()).and_then(|ar| {
        let mut d = Digest::default();
        for i in 0..ar.entries().len() {
            ar.check_group(ar.group_of(i))?;
            ar.send_entry(i, &mut d)?;
        }
        Ok(d.0.finalize())
    });
    let mut d = Digest::default();
    let st = read_stream(bytes, &mut d, Limits::default()).map(|_| d.0.finalize());
    let show = |r: yoz::Result<u32>| match r {
        Ok(d) => format!("ok:{d:08x}"),
        Err(e) => e.class().to_string(),
    };
    (show(ra), show(st))
}

fn assert_class(bytes: &[u8], class: &str) {
    let (ra, st) = classes(bytes);
    let ra = if ra.starts_with("ok") {
        "ok".to_string()
    } else {
        ra
    };
    let st = if st.starts_with("ok") {
        "ok".to_string()
    } else {
        st
    };
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
        assert!(
            !ra.starts_with("ok"),
            "random-access reader accepted a {n}-byte prefix"
        );
        assert!(
            !st.starts_with("ok"),
            "streaming reader accepted a {n}-byte prefix"
        );
    }
}

/// Every single-bit flip (two bits per byte) is an error, or — only inside a compressed
/// payload, where some bits do not influence the output — yields exactly the original entries
/// and bytes (the CRCs cover the decoded data, which is what must not change unnoticed).
#[test]
fn every_single_byte_flip_is_an_error() {
    let a = small_archive();
    let (ra0, st0) = classes(&a);
    assert!(ra0.starts_with("ok") && ra0 == st0, "{ra0} {st0}");
    let mut harmless = 0;
    for i in 0..a.len() {
        for x in [0x01u8, 0x80] {
            let mut b = a.clone();
            b[i] ^= x;
            let (ra, st) = classes(&b);
            for (who, got) in [("random-access", &ra), ("streaming", &st)] {
                if got.starts_with("ok") {
                    assert_eq!(
                        got, &ra0,
                        "{who} reader yielded different data after a flip of bit {x:#x} at {i}"
                    );
                    harmless += 1;
                }
            }
        }
    }
    // Harmless flips exist only in zstd payloads; they must stay rare.
    assert!(
        harmless * 50 < a.len() * 4,
        "{harmless} harmless flips in {} bytes",
        a.len()
    );
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
    assert!(classes(&a).1.starts_with("ok"));
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

/// Spec §8.0 makes the class a property of the input: for every small hostile input (the
/// corpus and damaged copies of its valid archives), `verify` and `unpack` report the same
/// class from the file (random-access reader) as from a pipe (streaming reader).
#[test]
fn file_and_pipe_report_the_same_class() {
    let t = tempfile::tempdir().unwrap();
    let inputs = t.path().join("inputs");
    fs::create_dir(&inputs).unwrap();
    let class = |out: &std::process::Output| {
        if out.status.success() {
            "ok".to_string()
        } else {
            common::class_of(out).unwrap_or_else(|| "?".into())
        }
    };
    let mut differ = Vec::new();
    let mut n = 0;
    for (k, f) in common::hostile_inputs(&inputs).into_iter().enumerate() {
        let bytes = fs::read(&f).unwrap();
        let fs_ = f.to_str().unwrap();
        let d1 = t.path().join(format!("f{k}"));
        let d2 = t.path().join(format!("p{k}"));
        let pairs = [
            (
                common::run(&["verify", fs_]),
                common::run_with_stdin(&["verify", "-"], &bytes),
            ),
            (
                common::run(&["unpack", "-C", d1.to_str().unwrap(), fs_]),
                common::run_with_stdin(&["unpack", "-C", d2.to_str().unwrap(), "-"], &bytes),
            ),
        ];
        for (cmd, (a, b)) in ["verify", "unpack"].iter().zip(pairs) {
            let (ca, cb) = (class(&a), class(&b));
            if ca != cb {
                differ.push(format!("{} {cmd}: file {ca}, pipe {cb}", f.display()));
            }
            n += 1;
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {n}:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

//! Roundtrip property tests over random trees: pack, then unpack through the random-access
//! reader and the streaming reader, and compare with the original.

mod common;

use common::{noise, snapshot};
use proptest::prelude::*;
use std::fs;
use std::path::PathBuf;
use yoz::codec::Choice;
use yoz::container::{read_stream, Archive, Limits, NullSink};
use yoz::extract::{ExtractOptions, Extractor};
use yoz::pack::{pack_to_path, pack_to_writer, PackOptions};

#[derive(Debug, Clone)]
enum Node {
    File {
        size: usize,
        repetitive: bool,
        seed: u64,
    },
    Dir(Vec<(String, Node)>),
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "data.bin",
        "ünï",
        "日本語",
        "sp ace",
        "x.txt",
        "long-name-with-many-characters-to-test-paths",
    ])
    .prop_map(|s| s.to_string())
}

fn node() -> impl Strategy<Value = Node> {
    let size = prop::sample::select(vec![0usize, 1, 100, 4095, 4096, 4097, 8192, 12_345, 40_000]);
    let leaf =
        (size, any::<bool>(), any::<u64>()).prop_map(|(size, repetitive, seed)| Node::File {
            size,
            repetitive,
            seed,
        });
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop::collection::vec((name(), inner), 0..5).prop_map(Node::Dir)
    })
}

fn build(dir: &std::path::Path, children: &[(String, Node)]) {
    fs::create_dir_all(dir).unwrap();
    for (n, node) in children {
        let p = dir.join(n);
        if p.exists() {
            continue;
        }
        match node {
            Node::File {
                size,
                repetitive,
                seed,
            } => {
                let data = if *repetitive {
                    b"abcabcabd".iter().cycle().take(*size).copied().collect()
                } else {
                    noise(*seed, *size)
                };
                fs::write(&p, data).unwrap();
            }
            Node::Dir(c) => build(&p, c),
        }
    }
}

fn unpack_both(archive: &std::path::Path, tmp: &std::path::Path) -> (PathBuf, PathBuf) {
    let a = tmp.join("out-mmap");
    let ar = Archive::open(archive).unwrap();
    let mut x = Extractor::new(&a, ExtractOptions::default()).unwrap();
    for i in 0..ar.entries().len() {
        ar.send_entry(i, &mut x).unwrap();
    }
    x.finish().unwrap();
    let b = tmp.join("out-stream");
    let mut x = Extractor::new(&b, ExtractOptions::default()).unwrap();
    read_stream(fs::File::open(archive).unwrap(), &mut x, Limits::default()).unwrap();
    x.finish().unwrap();
    (a, b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn pack_unpack_roundtrip(tree in prop::collection::vec((name(), node()), 1..6),
                             codec in prop::sample::select(vec!["auto", "store", "zstd"]),
                             threads in 1usize..3) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        build(&src, &tree);
        let archive = tmp.path().join("a.yoz");
        let opts = PackOptions { codec: Choice::parse(codec).unwrap(), block_size: 4096, threads, ..Default::default() };
        pack_to_path(std::slice::from_ref(&src), &archive, false, &opts).unwrap();
        let (a, b) = unpack_both(&archive, tmp.path());
        let want = snapshot(tmp.path().join("src").parent().unwrap());
        let want: std::collections::BTreeMap<_, _> = want.into_iter().filter(|(k, _)| k.starts_with("src")).collect();
        prop_assert_eq!(&snapshot(&a), &want);
        prop_assert_eq!(&snapshot(&b), &want);
        // The same bytes whatever the thread count, and through a pipe-like writer.
        let (bytes, _) = pack_to_writer(&[src], Vec::new(), &PackOptions { threads: 3 - threads, ..opts }).unwrap();
        prop_assert_eq!(bytes, fs::read(&archive).unwrap());
    }
}

#[test]
fn every_entry_kind_roundtrips_with_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    common::sample_tree(&src);
    let archive = tmp.path().join("a.yoz");
    pack_to_path(
        std::slice::from_ref(&src),
        &archive,
        false,
        &PackOptions {
            block_size: 4096,
            ..Default::default()
        },
    )
    .unwrap();
    let ar = Archive::open(&archive).unwrap();
    let hard = ar
        .entries()
        .iter()
        .find(|e| e.path == "src/hello.txt" || e.path == "src/dir/hard.txt")
        .unwrap();
    assert_eq!(
        hard.kind,
        yoz::Kind::File,
        "the first of two hard links is stored as the file"
    );
    assert!(ar.entries().iter().any(|e| e.kind == yoz::Kind::Hardlink));
    let (a, b) = unpack_both(&archive, tmp.path());
    let want = snapshot(&src);
    assert_eq!(snapshot(&a.join("src")), want);
    assert_eq!(snapshot(&b.join("src")), want);
    use std::os::unix::fs::MetadataExt;
    let ino = |p: PathBuf| fs::metadata(p).unwrap().ino();
    assert_eq!(
        ino(a.join("src/hello.txt")),
        ino(a.join("src/dir/hard.txt"))
    );
    read_stream(
        fs::File::open(&archive).unwrap(),
        &mut NullSink,
        Limits::default(),
    )
    .unwrap();
}

#[test]
fn sparse_file_keeps_holes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    let f = fs::File::create(src.join("sparse")).unwrap();
    f.set_len(64 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_at(b"middle", 32 << 20).unwrap();
    drop(f);
    let archive = tmp.path().join("a.yoz");
    pack_to_path(
        std::slice::from_ref(&src),
        &archive,
        false,
        &PackOptions::default(),
    )
    .unwrap();
    assert!(
        fs::metadata(&archive).unwrap().len() < 100_000,
        "holes must not be stored as data"
    );
    let (a, _) = unpack_both(&archive, tmp.path());
    let out = a.join("src/sparse");
    let data = fs::read(&out).unwrap();
    assert_eq!(data.len(), 64 << 20);
    assert_eq!(&data[32 << 20..(32 << 20) + 6], b"middle");
    use std::os::unix::fs::MetadataExt;
    assert!(
        fs::metadata(&out).unwrap().blocks() * 512 < 8 << 20,
        "unpacked file must stay sparse"
    );
}

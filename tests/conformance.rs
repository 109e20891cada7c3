//! The conformance corpus: yoz passes it through both readers, and the committed corpus is
//! exactly what the generator produces from the current description (so it stays in step with
//! the spec).

mod common;

use std::fs;
use std::path::Path;

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        let mut names: Vec<_> = fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // Reference pixels of neural vectors sit in NAME.ref/ directories.
        for d in names.clone().into_iter().filter(|p| p.is_dir()) {
            names.extend(fs::read_dir(d).unwrap().map(|e| e.unwrap().path()));
        }
        names.retain(|p| p.is_file());
        names.sort();
        for p in names {
            out.push((
                p.strip_prefix(root).unwrap().display().to_string(),
                fs::read(&p).unwrap(),
            ));
        }
    }
    out.push((
        "README.md".into(),
        fs::read(root.join("README.md")).unwrap(),
    ));
    out
}

#[test]
fn committed_corpus_matches_the_generator() {
    let tmp = tempfile::tempdir().unwrap();
    let (v, i, _) = yoz::conformance::generate(tmp.path()).unwrap();
    assert!(
        i >= 60,
        "the issue asks for at least 60 invalid vectors, have {i}"
    );
    assert!(v >= 10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let want = files(tmp.path());
    let have = files(&root);
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&have),
        names(&want),
        "corpus file list is stale: run `cargo run --example gen-corpus -- corpus spec`"
    );
    for ((n, a), (_, b)) in have.iter().zip(&want) {
        assert!(
            a == b,
            "{n} is stale: run `cargo run --example gen-corpus -- corpus spec`"
        );
    }
}

#[test]
fn yoz_passes_its_own_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let out = common::run(&["conform", root.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn conform_reports_a_broken_implementation() {
    // An "implementation" that accepts everything must fail every invalid vector.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let out = common::run(&["conform", "--impl", "true", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().filter(|l| l.starts_with("FAIL")).count() >= 60 * 4,
        "{text}"
    );
}

/// The error classes of spec/yoz-v1.md Appendix A, the classes the code can emit
/// (`Error::class`) and the classes the invalid vectors expect agree: every class the code
/// emits is specified, every specified class is emitted, and every format-level class (all
/// but the ones the table marks tool-level) is produced by at least one invalid vector.
#[test]
fn error_classes_are_specified_emitted_and_exercised() {
    use std::collections::BTreeSet;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("spec/yoz-v1.md")).unwrap();
    let appendix = spec
        .split("## Appendix A")
        .nth(1)
        .expect("Appendix A")
        .split("\n## ")
        .next()
        .unwrap();
    let mut specified = BTreeSet::new();
    let mut tool_level = BTreeSet::new();
    for line in appendix.lines() {
        if let Some(rest) = line.strip_prefix("| `") {
            let class = rest.split('`').next().unwrap().to_string();
            if line.contains("tool-level") {
                tool_level.insert(class.clone());
            }
            specified.insert(class);
        }
    }
    assert!(specified.len() >= 25, "{specified:?}");
    let error_rs = std::fs::read_to_string(root.join("src/error.rs")).unwrap();
    let class_fn = error_rs
        .split("pub fn class(&self)")
        .nth(1)
        .expect("Error::class")
        .split("\n    }\n")
        .next()
        .unwrap();
    let emitted: BTreeSet<String> = class_fn
        .split("=> \"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(emitted, specified, "Error::class vs Appendix A");
    let manifest = std::fs::read_to_string(root.join("corpus/invalid/MANIFEST.tsv")).unwrap();
    let expected: BTreeSet<String> = manifest
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            [f[1], f[2]]
                .into_iter()
                .flat_map(|c| c.split(','))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    for class in specified.difference(&tool_level) {
        assert!(
            expected.contains(class),
            "no invalid vector produces the format class {class}"
        );
    }
    for class in &expected {
        assert!(
            class == "ok" || specified.contains(class),
            "a vector expects {class}, which Appendix A does not list"
        );
    }
}

/// Spec §8.0 decides one class for every invalid vector, whichever reader (file or stream)
/// and command meets it: the manifest names exactly one, except where the spec leaves the
/// choice to the reader's configured limit or to the zstd library's checks.
#[test]
fn every_invalid_vector_expects_one_class() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/invalid/MANIFEST.tsv");
    let text = std::fs::read_to_string(manifest).unwrap();
    let open = ["index-raw-len", "zstd-payload-damaged"];
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let single = !f[1].contains(',') && !f[2].contains(',');
        assert!(
            single || open.contains(&f[0]),
            "{} expects several classes: {} / {}",
            f[0],
            f[1],
            f[2]
        );
        assert!(!open.contains(&f[0]) || !single, "{} is decided now", f[0]);
        n += 1;
    }
    assert!(n > 150, "{n} vectors");
}

/// The library's `Archive::verify` and `Archive::unpack` give the classes the manifest expects
/// of `verify` and `unpack` for every vector (file side), and unpack the valid ones.
#[test]
fn library_verify_and_unpack_follow_the_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let t = tempfile::tempdir().unwrap();
    let manifest = fs::read_to_string(root.join("invalid/MANIFEST.tsv")).unwrap();
    let class = |r: yoz::Result<()>| r.err().map_or("ok".to_string(), |e| e.class().to_string());
    let mut n = 0;
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let path = root.join("invalid").join(format!("{}.yoz", f[0]));
        let verify = class(yoz::Archive::open(&path).and_then(|a| a.verify().map(|_| ())));
        assert!(
            f[1].split(',').any(|c| c == verify),
            "{}: verify gave {verify}, expected {}",
            f[0],
            f[1]
        );
        let dest = t.path().join(f[0]);
        let unpack = class(
            yoz::Archive::open(&path).and_then(|a| a.unpack(&dest, Default::default()).map(|_| ())),
        );
        assert!(
            f[2].split(',').any(|c| c == unpack),
            "{}: unpack gave {unpack}, expected {}",
            f[0],
            f[2]
        );
        n += 1;
    }
    for e in fs::read_dir(root.join("valid")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yoz") {
            let ar = yoz::Archive::open(&p).unwrap();
            for e in ar.entries() {
                let png = ar.decoded_png(&e.path, &Default::default()).unwrap();
                assert_eq!(png.is_some(), e.image.is_some(), "{}", e.path);
                assert!(png.is_none_or(|b| b.starts_with(b"\x89PNG\r\n\x1a\n")));
            }
            let sum = ar.verify().unwrap();
            assert_eq!(sum.entries, ar.entries().len() as u64);
            let dest = t.path().join(p.file_stem().unwrap());
            ar.unpack(&dest, Default::default()).unwrap();
            n += 1;
        }
    }
    assert!(n > 170, "{n}");
}

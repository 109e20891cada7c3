//! zstd dictionaries for shared blocks (spec §4.3): trained at pack time where small blocks make
//! them pay, read back through every reader.

mod common;

use common::run;
use std::fs;
use std::path::Path;
use yoz::container::Archive;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 1,800 small C headers that share their boilerplate, each with a body of its own.
fn headers(root: &Path) {
    for d in 0..18 {
        let dir = root.join(format!("inc{d}"));
        fs::create_dir_all(&dir).unwrap();
        for i in 0..100u32 {
            let n = d * 100 + i;
            let body: String = (0..(n % 7 + 3))
                .map(|k| format!("int yoz_fn_{n}_{k}(int a, long b); /* {} */\n", n * 31 + k))
                .collect();
            let text = format!(
                "/* SPDX-License-Identifier: MIT OR Apache-2.0 */\n\
                 /* This header is part of a generated test tree for yoz. */\n\
                 #ifndef YOZ_HEADER_{n}_H\n#define YOZ_HEADER_{n}_H\n#include <stddef.h>\n\
                 #include <stdint.h>\n#ifdef __cplusplus\nextern \"C\" {{\n#endif\n{body}\
                 #ifdef __cplusplus\n}}\n#endif\n#endif /* YOZ_HEADER_{n}_H */\n"
            );
            fs::write(dir.join(format!("h{i}.h")), text).unwrap();
        }
    }
}

fn pack(src: &Path, a: &Path, extra: &[&str]) {
    let mut args = vec!["pack", "-o", s(a), "--force"];
    args.extend_from_slice(extra);
    args.push(s(src));
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn small_blocks_get_a_dictionary_that_pays_and_reads_back() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    headers(&src);
    let (a, plain) = (t.path().join("a.yoz"), t.path().join("plain.yoz"));
    pack(&src, &a, &["--block-size", "4K"]);
    pack(&src, &plain, &["--block-size", "4K", "--no-dictionary"]);

    let ar = Archive::open(&a).unwrap();
    assert_eq!(ar.index().resources.len(), 1, "one dictionary");
    assert_eq!(ar.header().reader_minor, 2);
    let users = ar.blocks().iter().filter(|b| b.resource == 0).count();
    assert!(users >= 8, "{users} blocks use it");
    let (with, without) = (
        fs::metadata(&a).unwrap().len(),
        fs::metadata(&plain).unwrap().len(),
    );
    assert!(with < without, "{with} >= {without}");
    let p = Archive::open(&plain).unwrap();
    assert!(p.index().resources.is_empty());
    assert_eq!(p.header().reader_minor, 0);

    let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
    assert!(info.contains("dictionary 0: zstd"), "{info}");
    assert!(run(&["verify", s(&a)]).status.success());
    let cat = run(&["cat", s(&a), "tree/inc3/h42.h"]);
    assert_eq!(cat.stdout, fs::read(src.join("inc3/h42.h")).unwrap());
    common::assert_unpacks_both_ways(&a, t.path(), "tree", &src);
}

#[test]
fn large_blocks_get_none() {
    // 1 MiB shared blocks already hold the context a dictionary would give.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    headers(&src);
    let a = t.path().join("a.yoz");
    pack(&src, &a, &[]);
    assert!(Archive::open(&a).unwrap().index().resources.is_empty());
}

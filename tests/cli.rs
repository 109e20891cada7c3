//! The command line, end to end: exit codes, error lines, naming rules, safety rules.

mod common;

use common::{assert_ok, class_of, run, snapshot, yoz};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn pack_verify_unpack_list_info_cat() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    let a = t.path().join("a.yoz");
    let out = run(&["pack", "-o", s(&a), "--block-size", "4K", s(&src)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run(&["verify", s(&a)]).status.success());
    let list = run(&["list", s(&a)]);
    let names = String::from_utf8(list.stdout).unwrap();
    assert!(
        names.lines().any(|l| l.ends_with("tree/dir/ünïcødé ✓.txt")),
        "{names}"
    );
    let long = String::from_utf8(run(&["list", "-l", s(&a)]).stdout).unwrap();
    assert!(long.contains("-> ../hello.txt"), "{long}");
    let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
    assert!(info.contains("ratio") && info.contains("zstd"), "{info}");
    let cat = run(&["cat", s(&a), "tree/dir/text.txt"]);
    assert_eq!(cat.stdout, fs::read(src.join("dir/text.txt")).unwrap());
    let dest = t.path().join("out");
    assert!(run(&["unpack", "-C", s(&dest), s(&a)]).status.success());
    assert_eq!(snapshot(&dest.join("tree")), snapshot(&src));
}

#[test]
fn strong_codecs_end_to_end() {
    // --codec lzr and --max (auto with cm): verify, info's per-codec counts, identical unpack.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    // Log-like text, predictable but not repetitive (cm stores blocks it would code better
    // than 64:1 raw, so a too-regular log would leave it nothing to win).
    let words = [
        "open", "read", "close", "user", "disk", "cache", "miss", "ok", "retry",
    ];
    let text: String = (0u64..4000)
        .map(|i| {
            let r = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                >> 33;
            let w = |k: u64| words[((r >> (5 * k)) % words.len() as u64) as usize];
            format!(
                "{} {} {} {} id={}\n",
                i * 17 % 1009,
                w(0),
                w(1),
                w(2),
                r % 997
            )
        })
        .collect();
    fs::write(src.join("log.txt"), text).unwrap();
    for (args, name) in [(&["--codec", "lzr"][..], "lzr2"), (&["--max"][..], "cm3")] {
        let a = t.path().join(format!("{name}.yoz"));
        let mut argv = vec!["pack", "-q", "-o", s(&a), "--block-size", "16K"];
        argv.extend_from_slice(args);
        argv.push(s(&src));
        assert_ok(&run(&argv));
        assert_ok(&run(&["verify", s(&a)]));
        let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
        assert!(info.contains(&format!("  {name} ")), "{info}");
        let dest = t.path().join(format!("out-{name}"));
        assert_ok(&run(&["unpack", "-C", s(&dest), s(&a)]));
        assert_eq!(snapshot(&dest.join("tree")), snapshot(&src));
    }
}

#[test]
fn pipe_in_and_out() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    let packed = yoz().args(["pack", "-o", "-", s(&src)]).output().unwrap();
    assert!(packed.status.success());
    let dest = t.path().join("out");
    let mut child = yoz()
        .args(["unpack", "-C", s(&dest), "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&packed.stdout)
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(snapshot(&dest.join("tree")), snapshot(&src));
}

#[test]
fn deterministic_across_thread_counts() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    fs::write(src.join("big.bin"), common::noise(7, 300_000)).unwrap();
    let a1 = t.path().join("1.yoz");
    let a2 = t.path().join("2.yoz");
    assert!(run(&[
        "pack",
        "-j",
        "1",
        "--block-size",
        "4K",
        "-o",
        s(&a1),
        s(&src)
    ])
    .status
    .success());
    assert!(run(&[
        "pack",
        "-j",
        "2",
        "--block-size",
        "4K",
        "-o",
        s(&a2),
        s(&src)
    ])
    .status
    .success());
    assert_eq!(fs::read(&a1).unwrap(), fs::read(&a2).unwrap());
}

#[test]
fn existing_output_needs_force_and_survives_failure() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.yoz");
    fs::write(&a, b"precious").unwrap();
    let src = t.path().join("x.txt");
    fs::write(&src, b"data").unwrap();
    let out = run(&["pack", "-o", s(&a), s(&src)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(class_of(&out).as_deref(), Some("exists"));
    assert_eq!(fs::read(&a).unwrap(), b"precious");
    // A pack that fails (two inputs named alike) leaves the old archive and no temp file.
    fs::create_dir(t.path().join("other")).unwrap();
    fs::write(t.path().join("other/x.txt"), b"other").unwrap();
    let out = run(&[
        "pack",
        "--force",
        "-o",
        s(&a),
        s(&src),
        s(&t.path().join("other/x.txt")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(class_of(&out).as_deref(), Some("input"));
    assert_eq!(fs::read(&a).unwrap(), b"precious");
    let names: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "temporary file left behind: {names:?}");
    // A missing input is a warning (as in tar): the rest is archived, exit 2.
    let out = run(&[
        "pack",
        "--force",
        "-o",
        s(&a),
        s(&src),
        s(&t.path().join("missing")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(class_of(&out).as_deref(), Some("incomplete"));
    assert_eq!(run(&["list", s(&a)]).stdout, b"x.txt\n");
    assert!(run(&["pack", "--force", "-o", s(&a), s(&src)])
        .status
        .success());
    assert!(run(&["verify", s(&a)]).status.success());
}

#[test]
fn unpack_does_not_overwrite_without_force() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("f.txt");
    fs::write(&src, b"new").unwrap();
    let a = t.path().join("a.yoz");
    assert!(yoz()
        .current_dir(t.path())
        .args(["pack", "-o", "a.yoz", "f.txt"])
        .status()
        .unwrap()
        .success());
    let dest = t.path().join("d");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("f.txt"), b"old").unwrap();
    let out = run(&["unpack", "-C", s(&dest), s(&a)]);
    assert_eq!(class_of(&out).as_deref(), Some("exists"));
    assert_eq!(fs::read(dest.join("f.txt")).unwrap(), b"old");
    assert!(run(&["unpack", "--force", "-C", s(&dest), s(&a)])
        .status
        .success());
    assert_eq!(fs::read(dest.join("f.txt")).unwrap(), b"new");
}

#[test]
fn entry_naming_rules() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("w");
    fs::create_dir_all(d.join("dir/sub")).unwrap();
    fs::write(d.join("dir/sub/f"), b"1").unwrap();
    fs::create_dir_all(t.path().join("other/sub")).unwrap();
    let list = |args: &[&str]| {
        let a = d.join("n.yoz");
        let _ = fs::remove_file(&a);
        let mut full = vec!["pack", "-o", "n.yoz"];
        full.extend_from_slice(args);
        let out = yoz().current_dir(&d).args(&full).output().unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(
            yoz()
                .current_dir(&d)
                .args(["list", "n.yoz"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    assert_eq!(list(&["./dir/"]), "dir/\ndir/sub/\ndir/sub/f\n");
    assert_eq!(list(&["dir/sub"]), "dir/sub/\ndir/sub/f\n");
    assert_eq!(list(&["../w/dir/sub"]), "sub/\nsub/f\n");
    assert_eq!(list(&[s(&d.join("dir"))]), "dir/\ndir/sub/\ndir/sub/f\n");
    // `.` stores the folder's contents.
    let out = yoz()
        .current_dir(d.join("dir"))
        .args(["pack", "-o", "../n2.yoz", "."])
        .output()
        .unwrap();
    assert!(out.status.success());
    let l = yoz()
        .current_dir(&d)
        .args(["list", "n2.yoz"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8(l).unwrap(), "sub/\nsub/f\n");
    // Two inputs mapping to one name.
    let out = yoz()
        .current_dir(&d)
        .args([
            "pack",
            "-o",
            "x.yoz",
            "../w/dir/sub",
            s(&t.path().join("other/sub")),
        ])
        .output()
        .unwrap();
    assert_eq!(
        class_of(&out).as_deref(),
        Some("input"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The output inside an input is written, and not into itself (as tar).
    let out = yoz()
        .current_dir(&d)
        .args(["pack", "-o", "dir/in.yoz", "dir"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(d.join("dir/in.yoz").exists());
}

#[test]
fn exclude_globs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir_all(d.join("target")).unwrap();
    fs::write(d.join("keep.rs"), b"1").unwrap();
    fs::write(d.join("skip.o"), b"1").unwrap();
    fs::write(d.join("target/x"), b"1").unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&[
        "pack",
        "-o",
        s(&a),
        "--exclude",
        "*.o",
        "--exclude",
        "target",
        s(&d)
    ])
    .status
    .success());
    let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
    assert_eq!(l, "d/\nd/keep.rs\n");
}

/// tar's exclusion rules: a pattern matches any trailing part of the entry's name, and one
/// starting with `/` matches the file's absolute path.
#[test]
fn exclude_matches_like_tar() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    for p in [
        "sub/drop.txt",
        "sub/keep.txt",
        "other/drop.txt",
        "deep/a/b/c.txt",
        "deep/x/b/k.txt",
    ] {
        let f = d.join(p);
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(f, b"1").unwrap();
    }
    let a = t.path().join("a.yoz");
    let anchored = d.join("sub/drop.txt");
    assert_ok(&run(&[
        "pack",
        "-q",
        "-o",
        s(&a),
        "--exclude",
        s(&anchored),
        "--exclude",
        "a/b",
        s(&d),
    ]));
    let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
    assert!(!l.contains("d/sub/drop.txt"), "{l}");
    assert!(
        l.contains("d/other/drop.txt") && l.contains("d/sub/keep.txt"),
        "{l}"
    );
    assert!(!l.contains("deep/a/b"), "{l}");
    assert!(
        l.contains("d/deep/a/\n") && l.contains("d/deep/x/b/k.txt"),
        "{l}"
    );
}

#[test]
fn setuid_dropped_unless_asked() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("suid"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(d.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&d)]).status.success());
    let mode = |p: std::path::PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let o1 = t.path().join("o1");
    assert!(run(&["unpack", "-C", s(&o1), s(&a)]).status.success());
    assert_eq!(mode(o1.join("d/suid")), 0o755);
    let o2 = t.path().join("o2");
    assert!(run(&["unpack", "--keep-setid", "-C", s(&o2), s(&a)])
        .status
        .success());
    assert_eq!(mode(o2.join("d/suid")), 0o4755);
}

#[test]
fn list_and_cat_read_only_what_they_need() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a.bin"), common::noise(1, 50_000)).unwrap();
    fs::write(d.join("b.bin"), common::noise(2, 50_000)).unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&[
        "pack",
        "--codec",
        "store",
        "--block-size",
        "16K",
        "-o",
        s(&a),
        s(&d)
    ])
    .status
    .success());
    // Damage a payload byte in the middle of a.bin's data.
    let mut bytes = fs::read(&a).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &common::noise(1, 50_000)[30_000..30_064])
        .unwrap();
    bytes[at] ^= 0xff;
    fs::write(&a, &bytes).unwrap();
    assert!(run(&["list", s(&a)]).status.success());
    let cat = run(&["cat", s(&a), "d/b.bin"]);
    assert!(cat.status.success());
    assert_eq!(cat.stdout, common::noise(2, 50_000));
    let bad = run(&["cat", s(&a), "d/a.bin"]);
    assert_eq!(class_of(&bad).as_deref(), Some("crc"));
    let v = run(&["verify", s(&a)]);
    assert_eq!(v.status.code(), Some(1));
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(
        err.starts_with("yoz: error[crc]: entry \"d/a.bin\""),
        "{err}"
    );
    // Unpack fails on that entry and removes its partial file.
    let dest = t.path().join("out");
    let out = run(&["unpack", "-C", s(&dest), s(&a)]);
    assert_eq!(class_of(&out).as_deref(), Some("crc"));
    assert!(!dest.join("d/a.bin").exists(), "partial file left behind");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["pack"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    // clap's own errors come in yoz's form too.
    let out = run(&["pack", "--no-such-flag"]);
    assert_eq!(class_of(&out).as_deref(), Some("usage"));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("yoz: error[usage]: "));
    assert_eq!(run(&["--version"]).status.code(), Some(0));
    let out = run(&["pack", "-o", "/tmp/never.yoz", "--block-size", "1K", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(class_of(&out).as_deref(), Some("usage"));
    // Levels outside zstd's 1..22 are refused before anything is read or written.
    for level in ["0", "-5", "23", "99"] {
        let out = run(&["pack", "-o", "/tmp/never.yoz", "--level", level, "x"]);
        assert_eq!(out.status.code(), Some(2), "level {level}");
        assert_eq!(class_of(&out).as_deref(), Some("usage"), "level {level}");
    }
    // --max is a level of its own.
    let out = run(&["pack", "-o", "/tmp/never.yoz", "--max", "--level", "5", "x"]);
    assert_eq!(class_of(&out).as_deref(), Some("usage"));
    assert!(!std::path::Path::new("/tmp/never.yoz").exists());
}

#[test]
fn a_failing_input_is_reported_not_the_pipeline_cancellation() {
    // A sysfs file says 4096 bytes and holds a few: "changed while it was read", an input
    // error that stops pack while earlier files' blocks are queued. The user must see that
    // error (class input, exit 1), not the cancellation of the queued jobs.
    let sys = std::path::Path::new("/sys/devices/system/cpu/online");
    if fs::metadata(sys).map(|m| m.len()).unwrap_or(0) <= 64 {
        eprintln!("skipped: no sysfs file with a size larger than its content on this machine");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let big = t.path().join("big");
    fs::create_dir(&big).unwrap();
    let mut x = 1u32;
    for i in 0..24 {
        let data: Vec<u8> = (0..200_000)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                (x >> 24) as u8
            })
            .collect();
        fs::write(big.join(format!("f{i:02}")), data).unwrap();
    }
    let a = t.path().join("x.yoz");
    let out = run(&[
        "pack",
        "-o",
        s(&a),
        "--block-size",
        "64K",
        "-j",
        "2",
        s(&big),
        s(sys),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(class_of(&out).as_deref(), Some("input"), "{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changed while it was read"), "{err}");
    assert!(!a.exists(), "no archive is left behind");
}

#[test]
fn not_an_archive() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("x");
    fs::write(&p, b"PK\x03\x04 this is a zip file, not yoz").unwrap();
    for cmd in ["list", "verify", "info"] {
        let out = run(&[cmd, s(&p)]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(class_of(&out).as_deref(), Some("bad-magic"), "{cmd}");
    }
}

#[test]
fn selective_unpack() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&src)]).status.success());
    let dest = t.path().join("o");
    assert!(run(&["unpack", "-C", s(&dest), s(&a), "tree/dir/sub"])
        .status
        .success());
    assert!(dest.join("tree/dir/sub/noise.bin").exists());
    assert!(!dest.join("tree/hello.txt").exists());
    let out = run(&["unpack", "-C", s(&dest), s(&a), "tree/nope"]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn fifos_and_devices_are_entries_and_sockets_are_skipped() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), b"x").unwrap();
    let fifo = d.join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o640) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    let a = t.path().join("a.yoz");
    // /dev/null is a character device (1, 3) on every Linux.
    let out = run(&["pack", "-o", s(&a), s(&d), "/dev/null"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: skipping") && err.contains("(socket)"),
        "{err}"
    );
    // An absolute input is named by its last component (README: where yoz differs from tar).
    let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
    let mut names: Vec<&str> = l.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["d/", "d/f", "d/pipe", "null"]);
    let long = String::from_utf8(run(&["list", "-l", "--numeric-owner", s(&a)]).stdout).unwrap();
    assert!(
        long.lines()
            .any(|l| l.starts_with("prw-r-----") && l.ends_with("d/pipe")),
        "{long}"
    );
    assert!(
        long.lines()
            .any(|l| l.starts_with("crw-rw-rw-") && l.contains(" 1,3 ")),
        "{long}"
    );
    let json = String::from_utf8(run(&["list", "--json", s(&a)]).stdout).unwrap();
    assert!(
        json.contains(r#""kind":"chardev""#) && json.contains(r#""major":1,"minor":3"#),
        "{json}"
    );
    // A 1.4 feature: the header says so.
    let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
    assert!(info.contains("1.4"), "{info}");
    assert_ok(&run(&["verify", s(&a)]));
    // Whether this process may create device nodes (root, with the capability a container may
    // withhold): the device half below expects what that says.
    let probe = std::ffi::CString::new(t.path().join("probe").to_str().unwrap()).unwrap();
    // SAFETY: mknod on a NUL-terminated path in our temporary directory.
    let root =
        unsafe { libc::mknod(probe.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) } == 0;
    let _ = fs::remove_file(t.path().join("probe"));
    for from_pipe in [false, true] {
        let dest = t.path().join(format!("out-{from_pipe}"));
        let out = if from_pipe {
            common::run_with_stdin(&["unpack", "-C", s(&dest), "-"], &fs::read(&a).unwrap())
        } else {
            run(&["unpack", "-C", s(&dest), s(&a)])
        };
        assert_eq!(
            out.status.code(),
            Some(if root { 0 } else { 2 }),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = fs::symlink_metadata(dest.join("d/pipe")).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.mode() & 0o7777, 0o640);
        if root {
            let m = fs::symlink_metadata(dest.join("null")).unwrap();
            assert!(m.file_type().is_char_device());
            assert_eq!((libc::major(m.rdev()), libc::minor(m.rdev())), (1, 3));
        }
    }
    // Unprivileged (as nobody where the tests run as root): the FIFO is made, the device is a
    // warning and the run exits 2, as tar's "Cannot mknod: Operation not permitted".
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(&a, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_unprivileged(&["unpack", "-C", "nobody-out", "a.yoz"], t.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(class_of(&out).as_deref(), Some("incomplete"), "{err}");
    assert!(err.contains("null") && err.contains("not created"), "{err}");
    let dest = t.path().join("nobody-out");
    assert!(fs::symlink_metadata(dest.join("d/pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(fs::read(dest.join("d/f")).unwrap(), b"x");
    assert!(fs::symlink_metadata(dest.join("null")).is_err());
}

#[test]
fn owners_restored_only_when_asked() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), b"x").unwrap();
    let a = t.path().join("a.yoz");
    let out = run(&[
        "pack",
        "--owner",
        "1234:5678",
        "--mtime",
        "1000000000",
        "-o",
        s(&a),
        s(&d),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    let o1 = t.path().join("o1");
    assert!(run(&["unpack", "-C", s(&o1), s(&a)]).status.success());
    let m = fs::metadata(o1.join("d/f")).unwrap();
    assert_eq!(m.mtime(), 1_000_000_000);
    let me = fs::metadata(t.path()).unwrap().uid();
    assert_eq!(m.uid(), me, "owner changed without --same-owner");
    if me == 0 {
        let o2 = t.path().join("o2");
        assert!(run(&["unpack", "--same-owner", "-C", s(&o2), s(&a)])
            .status
            .success());
        let m = fs::metadata(o2.join("d/f")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
    } else {
        println!("not root: --same-owner restore not checked");
    }
}

#[test]
fn archive_gets_ordinary_file_permissions() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("x");
    fs::write(&f, b"x").unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&f)]).status.success());
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .unwrap();
    let mode = fs::metadata(&a).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask);
}

#[test]
fn summaries_count_in_the_right_number() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("one.txt");
    fs::write(&f, "just one file\n").unwrap();
    let a = t.path().join("a.yoz");
    let out = yoz()
        .current_dir(t.path())
        .args(["pack", "-o", s(&a), "one.txt"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("packed 1 entry,"), "{err}");
    let out = run(&["verify", s(&a)]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("ok: 1 entry, 1 block,"), "{said}");
    let out = run(&["unpack", "-C", s(&t.path().join("o")), s(&a)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unpacked 1 entry (1 file,"), "{err}");
}

#[test]
fn info_and_cat_read_stdin() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&src)]).status.success());
    let bytes = fs::read(&a).unwrap();
    let info = common::run_with_stdin(&["info", "-"], &bytes);
    assert!(info.status.success());
    assert_eq!(info.stdout, run(&["info", s(&a)]).stdout);
    let cat = common::run_with_stdin(&["cat", "-", "tree/dir/text.txt"], &bytes);
    assert_eq!(cat.stdout, fs::read(src.join("dir/text.txt")).unwrap());
    // Not an archive on stdin: the usual error class.
    let bad = common::run_with_stdin(&["info", "-"], b"not an archive at all");
    assert_eq!(class_of(&bad).as_deref(), Some("bad-magic"));
}

#[test]
fn output_that_is_a_directory_is_refused_up_front() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    common::sample_tree(&src);
    for force in [false, true] {
        let mut args = vec!["pack", "-o", s(t.path())];
        if force {
            args.push("--force");
        }
        args.push(s(&src));
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "force {force}");
        assert_eq!(class_of(&out).as_deref(), Some("usage"));
        assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
    }
    assert!(src.join("hello.txt").exists());
}

/// Runs yoz as an unprivileged user when the tests run as root (where mode 000 does not stop
/// reads), so permission errors are real.
fn run_unprivileged(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let mut c = if root {
        // The build folder may sit under a home the unprivileged user cannot enter (/root is
        // 0700): run a copy of the binary from `cwd`, which the caller made world-readable.
        let exe = cwd.join("yoz-unprivileged");
        fs::copy(env!("CARGO_BIN_EXE_yoz"), &exe).unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        std::process::Command::new(exe)
    } else {
        yoz()
    };
    c.args(args).current_dir(cwd);
    if root {
        // SAFETY: setgid/setuid are async-signal-safe and affect only the child.
        unsafe {
            c.pre_exec(|| {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // The copied executable may still be open for writing in a child another test thread
    // forked meanwhile (ETXTBSY until that child execs): retry briefly.
    for _ in 0..100 {
        match c.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r.unwrap(),
        }
    }
    panic!("executable stayed busy")
}

#[test]
fn unreadable_inputs_are_warnings_and_the_rest_is_archived() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a.txt"), b"readable").unwrap();
    fs::write(d.join("secret"), b"no").unwrap();
    fs::set_permissions(d.join("secret"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::create_dir(d.join("locked")).unwrap();
    fs::write(d.join("locked/inner"), b"x").unwrap();
    fs::set_permissions(d.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
    fs::write(d.join(bad), b"y").unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_unprivileged(&["pack", "-o", "a.yoz", "d", "missing"], t.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(class_of(&out).as_deref(), Some("incomplete"), "{err}");
    for name in ["d/secret", "d/locked", "missing"] {
        assert!(
            err.lines()
                .any(|l| l.contains("warning") && l.contains(name)),
            "no warning naming {name}: {err}"
        );
    }
    assert!(err.contains("3 inputs could not be read"), "{err}");
    // A name that is not UTF-8 is stored, in the escape form (format 1.4).
    let l = String::from_utf8(run(&["list", s(&t.path().join("a.yoz"))]).stdout).unwrap();
    let mut l: Vec<&str> = l.lines().collect();
    l.sort();
    assert_eq!(l, ["d/", "d/a.txt", "d/bad\\xffname", "d/locked/"]);
    fs::set_permissions(d.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn list_into_a_closed_pipe_exits_quietly() {
    use std::io::{BufRead, BufReader};
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    // Far more listing than a pipe buffers (64 KiB), so the writer meets the closed pipe.
    for i in 0..4000 {
        fs::write(
            d.join(format!("{i:06}-a-rather-long-file-name-for-the-listing")),
            b"x",
        )
        .unwrap();
    }
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&d)]).status.success());
    let mut child = yoz()
        .args(["list", "-l", s(&a)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe closes after one line, as with `| head -1`.
    assert!(first.contains("d"), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn pack_dash_c_reads_inputs_from_a_directory() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("srv/www/img")).unwrap();
    fs::write(t.path().join("srv/www/index.html"), b"<p>hi</p>").unwrap();
    fs::write(t.path().join("srv/www/img/x"), b"x").unwrap();
    let a = t.path().join("a.yoz");
    let out = run(&["pack", "-C", s(&t.path().join("srv")), "-o", s(&a), "www"]);
    assert_ok(&out);
    let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
    let mut l: Vec<&str> = l.lines().collect();
    l.sort();
    assert_eq!(l, ["www/", "www/img/", "www/img/x", "www/index.html"]);
    // A relative input that is not under DIR is not found there.
    let out = run(&[
        "pack",
        "-C",
        s(&t.path().join("srv")),
        "-o",
        s(&a),
        "--force",
        "nope",
    ]);
    assert_eq!(class_of(&out).as_deref(), Some("incomplete"));
}

#[test]
fn the_archive_being_written_is_left_out_of_its_own_inputs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), b"data").unwrap();
    let a = d.join("self.yoz");
    // First pack: the archive does not exist yet. Second: it does, inside the input tree.
    for force in [false, true] {
        let mut args = vec!["pack", "-o", s(&a), s(&d)];
        if force {
            args.insert(1, "--force");
        }
        let out = run(&args);
        assert_ok(&out);
        if force {
            assert!(String::from_utf8_lossy(&out.stderr).contains("is the archive being written"));
        }
        let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
        assert_eq!(l, "d/\nd/f\n");
    }
    // Named directly, and with an --exclude naming it (tar's idiom), it is left out too.
    let out = run(&[
        "pack",
        "--force",
        "--exclude",
        "self.yoz",
        "-o",
        s(&a),
        s(&a),
        s(&d.join("f")),
    ]);
    assert!(out.status.success());
    assert_eq!(run(&["list", s(&a)]).stdout, b"f\n");
}

#[test]
fn verbose_lists_names_and_quiet_silences_summaries() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a"), b"a").unwrap();
    let a = t.path().join("a.yoz");
    let out = run(&["pack", "-v", "-o", s(&a), s(&d)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("d/\nd/a\npacked 2 entries"), "{err}");
    let out = run(&["pack", "-q", "--force", "-o", s(&a), s(&d)]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let out = run(&["unpack", "-v", "-C", s(&t.path().join("x")), s(&a)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "d/\nd/a\n");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("unpacked 2 entries"));
    let out = run(&["unpack", "-q", "-C", s(&t.path().join("y")), s(&a)]);
    assert!(out.status.success());
    assert_eq!((out.stdout.len(), out.stderr.len()), (0, 0));
    assert_eq!(
        class_of(&run(&["pack", "-v", "-q", "-o", s(&a), s(&d)])).as_deref(),
        Some("usage")
    );
}

/// `list --json`: one object per line with the stored bytes each entry owns (from a file; a
/// stream has no index yet when it prints, so no `stored`), copies naming their source.
#[test]
fn list_json_lines_with_stored_sizes() {
    let a = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid/copies.yoz");
    let out = run(&["list", "--json", s(&a)]);
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(
        lines[0],
        r#"{"path":"big.txt","kind":"file","size":9000,"stored":1539,"mode":"0644","mtime":1700000000,"uid":0,"gid":0}"#
    );
    assert!(
        lines[3].ends_with(
            r#","stored":0,"mode":"0644","mtime":1700000000,"uid":0,"gid":0,"copy_of":"big.txt"}"#
        ),
        "{}",
        lines[3]
    );
    let piped = common::run_with_stdin(&["list", "--json", "-"], &fs::read(&a).unwrap());
    assert_ok(&piped);
    let first = String::from_utf8(piped.stdout).unwrap();
    assert!(
        first.starts_with(r#"{"path":"big.txt","kind":"file","size":9000,"mode":"#),
        "{first}"
    );
    // Names are JSON-escaped.
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("quote\"back\\slash\ttab"), b"x").unwrap();
    let b = t.path().join("b.yoz");
    assert_ok(&run(&["pack", "-q", "-o", s(&b), s(&d)]));
    let j = String::from_utf8(run(&["list", "--json", s(&b)]).stdout).unwrap();
    assert!(j.contains(r#""path":"d/quote\"back\\slash\ttab""#), "{j}");
    // -l and --json do not mix; a directory is not an archive.
    assert_eq!(
        class_of(&run(&["list", "-l", "--json", s(&b)])).as_deref(),
        Some("usage")
    );
    let err = run(&["list", s(&d)]);
    assert_eq!(class_of(&err).as_deref(), Some("io"));
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("Is a directory"),
        "{err:?}"
    );
}

#[test]
fn list_long_is_tar_tv_format() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), b"hello").unwrap();
    fs::set_permissions(d.join("f"), fs::Permissions::from_mode(0o4751)).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("f", d.join("l")).unwrap();
    let a = t.path().join("a.yoz");
    let pack = run(&[
        "pack",
        "--owner",
        "1234:5678",
        "--mtime",
        "123456",
        "-o",
        s(&a),
        s(&d),
    ]);
    assert!(pack.status.success());
    let out = yoz()
        .args(["list", "-l", "--numeric-owner", s(&a)])
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "-rwsr-x--x 1234/5678         5 1970-01-02 10:17 d/f",
            "drwxrwxrwt 1234/5678         0 1970-01-02 10:17 d/",
            "lrwxrwxrwx 1234/5678         0 1970-01-02 10:17 d/l -> f",
        ]
    );
    // Names from the user database: uid 0 is root everywhere.
    let pack = run(&["pack", "--force", "--owner", "0:0", "-o", s(&a), s(&d)]);
    assert!(pack.status.success());
    let l = String::from_utf8(run(&["list", "-l", s(&a)]).stdout).unwrap();
    assert!(l.lines().all(|l| l.contains(" root/root ")), "{l}");
}

#[test]
fn completions_and_man_page_come_from_the_real_options() {
    for (shell, marker) in [
        ("bash", "_yoz()"),
        ("zsh", "#compdef yoz"),
        ("fish", "complete -c yoz"),
    ] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        // Options added to the parser show up without anyone editing the completions.
        assert!(text.contains("numeric-owner"), "{shell}");
    }
    assert_eq!(
        class_of(&run(&["completions", "tcsh"])).as_deref(),
        Some("usage")
    );
    let man = String::from_utf8(run(&["man"]).stdout).unwrap();
    assert!(man.contains(".TH yoz 1") && man.contains("unpack"), "{man}");
    let t = tempfile::tempdir().unwrap();
    assert!(run(&["man", "--out", s(t.path())]).status.success());
    let page = fs::read_to_string(t.path().join("yoz-pack.1")).unwrap();
    assert!(page.contains("exclude"), "{page}");
}

#[test]
fn keep_going_extracts_everything_that_verifies() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    let content = |c: u8| {
        let mut v = vec![c; 10_000];
        v[5000..5015].copy_from_slice(format!("MARKER-{}-MARKER", c as char).as_bytes());
        v
    };
    for c in [b'a', b'b', b'c'] {
        fs::write(d.join(format!("{}", c as char)), content(c)).unwrap();
    }
    let a = t.path().join("a.yoz");
    let out = run(&[
        "pack",
        "--codec",
        "store",
        "--block-size",
        "4K",
        "-o",
        s(&a),
        s(&d),
    ]);
    assert!(out.status.success());
    let mut bytes = fs::read(&a).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"MARKER-b-MARKER")
        .unwrap();
    bytes[at] ^= 1;
    fs::write(&a, &bytes).unwrap();
    // Without --keep-going the damage stops the extraction.
    let out = run(&["unpack", "-C", s(&t.path().join("x")), s(&a)]);
    assert_eq!(class_of(&out).as_deref(), Some("crc"));
    // With it, everything else comes out intact, the damaged file is not left half-written.
    let x = t.path().join("y");
    let out = run(&["unpack", "--keep-going", "-C", s(&x), s(&a)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(class_of(&out).as_deref(), Some("crc"), "{err}");
    assert!(err.contains("1 damaged entry"), "{err}");
    assert_eq!(fs::read(x.join("d/a")).unwrap(), content(b'a'));
    assert_eq!(fs::read(x.join("d/c")).unwrap(), content(b'c'));
    assert!(!x.join("d/b").exists());
    assert_eq!(
        class_of(&run(&["unpack", "--keep-going", "-C", s(&x), "-"])).as_deref(),
        Some("usage")
    );
}

#[test]
fn strip_components_and_keep_old_files() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("top");
    fs::create_dir_all(d.join("a")).unwrap();
    fs::write(d.join("a/b.txt"), b"bee").unwrap();
    fs::write(d.join("c.txt"), b"sea").unwrap();
    fs::hard_link(d.join("a/b.txt"), d.join("a/h")).unwrap();
    // Big enough to be deduplicated: a copy entry names its source by path.
    let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(d.join("big1"), &big).unwrap();
    fs::write(d.join("big2"), &big).unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&d)]).status.success());
    let x = t.path().join("x");
    let out = run(&["unpack", "--strip-components", "1", "-C", s(&x), s(&a)]);
    assert_ok(&out);
    let mut names: Vec<String> = Vec::new();
    for e in fs::read_dir(&x).unwrap() {
        names.push(e.unwrap().file_name().into_string().unwrap());
    }
    names.sort();
    assert_eq!(names, ["a", "big1", "big2", "c.txt"]);
    assert_eq!(fs::read(x.join("a/b.txt")).unwrap(), b"bee");
    assert_eq!(fs::read(x.join("big2")).unwrap(), big);
    let (m1, m2) = (
        fs::metadata(x.join("a/b.txt")).unwrap(),
        fs::metadata(x.join("a/h")).unwrap(),
    );
    assert_eq!(m1.ino(), m2.ino(), "the hard link survives stripping");
    // Stripping everything leaves nothing.
    let y = t.path().join("y");
    assert!(
        run(&["unpack", "--strip-components", "5", "-C", s(&y), s(&a)])
            .status
            .success()
    );
    assert_eq!(fs::read_dir(&y).unwrap().count(), 0);
    // -k: what the user has stays, the rest is extracted, exit 0.
    fs::write(x.join("c.txt"), b"mine").unwrap();
    fs::remove_file(x.join("big1")).unwrap();
    let out = run(&[
        "unpack",
        "-k",
        "--strip-components",
        "1",
        "-C",
        s(&x),
        s(&a),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("c.txt exists; kept"), "{err}");
    assert_eq!(fs::read(x.join("c.txt")).unwrap(), b"mine");
    assert_eq!(fs::read(x.join("big1")).unwrap(), big);
    assert_eq!(
        class_of(&run(&["unpack", "-k", "--force", "-C", s(&x), s(&a)])).as_deref(),
        Some("usage")
    );
}

#[test]
fn files_from_lists_inputs() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), b"a").unwrap();
    fs::write(t.path().join("b"), b"b").unwrap();
    fs::write(t.path().join("list"), b"a\n\nb\r\n").unwrap();
    let out = yoz()
        .current_dir(t.path())
        .args(["pack", "-o", "x.yoz", "-T", "list"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(run(&["list", s(&t.path().join("x.yoz"))]).stdout, b"a\nb\n");
    // From stdin, after positional inputs.
    let mut c = yoz();
    c.current_dir(t.path())
        .args(["pack", "--force", "-o", "x.yoz", "list", "-T", "-"]);
    let out = {
        let mut child = c
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"b\n").unwrap();
        child.wait_with_output().unwrap()
    };
    assert_ok(&out);
    assert_eq!(
        run(&["list", s(&t.path().join("x.yoz"))]).stdout,
        b"list\nb\n"
    );
    // No inputs at all is still a usage error.
    assert_eq!(
        class_of(&run(&["pack", "-o", s(&t.path().join("y.yoz"))])).as_deref(),
        Some("usage")
    );
}

#[test]
fn one_file_system_does_not_descend_into_other_mounts() {
    use std::os::unix::fs::MetadataExt;
    // /dev holds mount points of other file systems (/dev/shm, /dev/pts) on Linux machines.
    let dev = fs::metadata("/dev").unwrap().dev();
    let Some(other) = fs::read_dir("/dev").unwrap().flatten().find(|e| {
        e.file_type().is_ok_and(|t| t.is_dir())
            && fs::symlink_metadata(e.path()).is_ok_and(|m| m.dev() != dev)
    }) else {
        eprintln!("skipped: no mount point under /dev on this machine");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("x.yoz");
    let out = run(&["pack", "--one-file-system", "-o", s(&a), "/dev"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let name = other.file_name().into_string().unwrap();
    assert!(
        err.contains(&format!("/dev/{name}: on another file system")),
        "{err}"
    );
    let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
    assert!(l.lines().any(|x| x == format!("dev/{name}/")), "{l}");
    assert!(
        !l.lines()
            .any(|x| x.starts_with(&format!("dev/{name}/")) && x.len() > name.len() + 5),
        "{l}"
    );
}

#[test]
fn list_and_unpack_take_paths_and_globs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir_all(d.join("img/sub")).unwrap();
    fs::write(d.join("img/a.png"), b"a").unwrap();
    fs::write(d.join("img/sub/b.png"), b"b").unwrap();
    fs::write(d.join("notes.txt"), b"n").unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&d)]).status.success());
    let list = |pats: &[&str]| {
        let mut args = vec!["list", s(&a)];
        args.extend_from_slice(pats);
        let out = run(&args);
        let mut l: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        l.sort();
        (out.status.code(), l)
    };
    assert_eq!(
        list(&["d/img/*.png"]),
        (Some(0), vec!["d/img/a.png".to_string()])
    );
    assert_eq!(
        list(&["d/im?"]).1,
        ["d/img/", "d/img/a.png", "d/img/sub/", "d/img/sub/b.png"]
    );
    assert_eq!(list(&["d/notes.txt"]).1, ["d/notes.txt"]);
    assert_eq!(
        list(&["d/*.md"]).0,
        Some(2),
        "a pattern that matches nothing"
    );
    let x = t.path().join("x");
    let out = run(&["unpack", "-C", s(&x), s(&a), "d/img/*/*.png"]);
    assert_ok(&out);
    assert!(x.join("d/img/sub/b.png").exists());
    assert!(!x.join("d/img/a.png").exists() && !x.join("d/notes.txt").exists());
}

#[test]
fn cat_takes_several_paths_globs_and_directories_in_archive_order() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("a.txt"), b"A\n").unwrap();
    fs::write(d.join("b.log"), b"B\n").unwrap();
    fs::write(d.join("sub/c.txt"), b"C\n").unwrap();
    std::os::unix::fs::symlink("a.txt", d.join("link")).unwrap();
    let a = t.path().join("x.yoz");
    assert_ok(&run(&["pack", "-o", s(&a), s(&d)]));
    let names: Vec<String> = String::from_utf8(run(&["list", s(&a)]).stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    // Archive order, whatever the order of the arguments.
    let mut want = [("d/a.txt", b"A\n"), ("d/sub/c.txt", b"C\n")];
    want.sort_by_key(|(n, _)| pos(n));
    let want: Vec<u8> = want.iter().flat_map(|(_, b)| b.to_vec()).collect();
    let both = run(&["cat", s(&a), "d/sub/c.txt", "d/a.txt"]);
    assert_ok(&both);
    assert_eq!(both.stdout, want);
    // A glob: `*` stays within one directory level.
    let glob = run(&["cat", s(&a), "d/*.txt"]);
    assert_ok(&glob);
    assert_eq!(glob.stdout, b"A\n");
    // A directory selects the files under it; the symlink prints nothing.
    let dir = run(&["cat", s(&a), "d/sub", "d/link"]);
    assert_ok(&dir);
    assert_eq!(dir.stdout, b"C\n");
    // A pattern that matches nothing: what matched is printed, then tar's "not found" (exit 2).
    let miss = run(&["cat", s(&a), "d/b.log", "d/nope"]);
    assert_eq!(miss.stdout, b"B\n");
    assert_eq!(miss.status.code(), Some(2));
    assert_eq!(class_of(&miss).as_deref(), Some("usage"));
    assert!(String::from_utf8_lossy(&miss.stderr).contains("d/nope"));
}

#[test]
fn extended_attributes_round_trip_user_by_default_all_with_xattrs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), b"x").unwrap();
    if !common::xattr::set(&d.join("f"), "user.comment", b"hello") {
        eprintln!("skipping: the temporary directory's file system keeps no user.* attributes");
        return;
    }
    assert!(common::xattr::set(&d, "user.dir", b""));
    // trusted.* needs privileges; where it cannot be set, the --xattrs half checks user.* only.
    let trusted = common::xattr::set(&d.join("f"), "trusted.t", b"T");
    let a = t.path().join("a.yoz");
    assert_ok(&run(&["pack", "-o", s(&a), s(&d)]));
    let json = String::from_utf8(run(&["list", "--json", s(&a)]).stdout).unwrap();
    assert!(json.contains(r#""xattrs":["user.comment"]"#), "{json}");
    assert!(
        !json.contains("trusted.t"),
        "only user.* without --xattrs: {json}"
    );
    for from_pipe in [false, true] {
        let dest = t.path().join(format!("out-{from_pipe}"));
        let out = if from_pipe {
            common::run_with_stdin(&["unpack", "-C", s(&dest), "-"], &fs::read(&a).unwrap())
        } else {
            run(&["unpack", "-C", s(&dest), s(&a)])
        };
        assert_ok(&out);
        assert_eq!(
            common::xattr::get(&dest.join("d/f"), "user.comment").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            common::xattr::get(&dest.join("d"), "user.dir").as_deref(),
            Some(&b""[..])
        );
        assert_eq!(common::xattr::get(&dest.join("d/f"), "trusted.t"), None);
    }
    let b = t.path().join("b.yoz");
    assert_ok(&run(&["pack", "--xattrs", "-o", s(&b), s(&d)]));
    let dest = t.path().join("all");
    assert_ok(&run(&["unpack", "--xattrs", "-C", s(&dest), s(&b)]));
    assert_eq!(
        common::xattr::get(&dest.join("d/f"), "user.comment").as_deref(),
        Some(&b"hello"[..])
    );
    if trusted {
        assert_eq!(
            common::xattr::get(&dest.join("d/f"), "trusted.t").as_deref(),
            Some(&b"T"[..])
        );
        // Without --xattrs on unpack, the archive's trusted.* is not restored.
        let dest = t.path().join("user-only");
        assert_ok(&run(&["unpack", "-C", s(&dest), s(&b)]));
        assert_eq!(common::xattr::get(&dest.join("d/f"), "trusted.t"), None);
    }
    let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
    assert!(info.contains("needs reader 1.4"), "{info}");
}

#[test]
fn names_that_are_not_utf8_come_back_byte_for_byte() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    let bad_dir = d.join(OsStr::from_bytes(b"caf\xe9"));
    fs::create_dir_all(&bad_dir).unwrap();
    fs::write(bad_dir.join("x.txt"), b"X").unwrap();
    fs::write(d.join(OsStr::from_bytes(b"\xff\xfe")), b"FF").unwrap();
    fs::write(d.join("a\\b.txt"), b"B").unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"caf\xe9/x.txt"), d.join("link")).unwrap();
    let a = t.path().join("a.yoz");
    assert_ok(&run(&["pack", "-o", s(&a), s(&d)]));
    let l = String::from_utf8(run(&["list", s(&a)]).stdout).unwrap();
    for want in [
        "d/caf\\xe9/",
        "d/caf\\xe9/x.txt",
        "d/\\xff\\xfe",
        "d/a\\b.txt",
        "d/link",
    ] {
        assert!(l.lines().any(|x| x == want), "{want} in {l}");
    }
    assert_ok(&run(&["verify", s(&a)]));
    for from_pipe in [false, true] {
        let dest = t.path().join(format!("out-{from_pipe}"));
        let out = if from_pipe {
            common::run_with_stdin(&["unpack", "-C", s(&dest), "-"], &fs::read(&a).unwrap())
        } else {
            run(&["unpack", "-C", s(&dest), s(&a)])
        };
        assert_ok(&out);
        let o = dest.join("d");
        assert_eq!(
            fs::read(o.join(OsStr::from_bytes(b"caf\xe9/x.txt"))).unwrap(),
            b"X"
        );
        assert_eq!(
            fs::read(o.join(OsStr::from_bytes(b"\xff\xfe"))).unwrap(),
            b"FF"
        );
        assert_eq!(fs::read(o.join("a\\b.txt")).unwrap(), b"B");
        assert_eq!(
            fs::read_link(o.join("link"))
                .unwrap()
                .as_os_str()
                .as_bytes(),
            b"caf\xe9/x.txt"
        );
    }
    // cat names the entry in its listed (escaped) spelling.
    assert_eq!(run(&["cat", s(&a), "d/caf\\xe9/x.txt"]).stdout, b"X");
}

#[test]
fn list_long_stored_column_shows_compressed_bytes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("zeros.txt"), vec![b'a'; 200_000]).unwrap();
    let a = t.path().join("a.yoz");
    assert_ok(&run(&["pack", "-o", s(&a), s(&d)]));
    let out = run(&["list", "-l", "--numeric-owner", "--stored", s(&a)]);
    assert_ok(&out);
    let l = String::from_utf8(out.stdout).unwrap();
    let row = l.lines().find(|x| x.ends_with("d/zeros.txt")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    // mode, owner, size, stored, date, time, name
    assert_eq!(cols[2], "200000", "{row}");
    let stored: u64 = cols[3].parse().unwrap();
    assert!(stored > 0 && stored < 2_000, "{row}");
    // From a pipe there is no index: the column says so.
    let piped = common::run_with_stdin(&["list", "-l", "--stored", "-"], &fs::read(&a).unwrap());
    let l = String::from_utf8(piped.stdout).unwrap();
    assert!(
        l.lines()
            .any(|x| x.contains(" - ") && x.ends_with("d/zeros.txt")),
        "{l}"
    );
    // --stored belongs to -l.
    assert_eq!(run(&["list", "--stored", s(&a)]).status.code(), Some(2));
}

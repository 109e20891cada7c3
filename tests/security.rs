//! Attacks from the red-team pass (issue 17), one test named after each. An archive must never
//! make yoz load code it carries.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use yoz::codec::id;
use yoz::conformance::forge::Forge;
use yoz::conformance::vectors::{neural_entry, neural_sample};

const LIB: &str = "libonnxruntime.so.1.31.1";

/// A shared library whose constructor writes the file named by `YOZ_TEST_MARKER`: if yoz ever
/// `dlopen`s it, the marker appears. Built with the C compiler the build itself needs.
fn evil_library(dir: &Path) -> Vec<u8> {
    let src = dir.join("evil.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\n\
         __attribute__((constructor)) static void pwn(void) {\n\
           const char *p = getenv(\"YOZ_TEST_MARKER\");\n\
           if (p) { FILE *f = fopen(p, \"w\"); if (f) { fputs(\"loaded\", f); fclose(f); } }\n\
         }\n",
    )
    .unwrap();
    let so = dir.join("evil.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}` (set CC): {e}"));
    assert!(st.success(), "`{cc}` failed to build the test library");
    std::fs::read(so).unwrap()
}

/// A `$HOME`-like folder with a copy of yoz in `.cargo/bin`, the way `cargo install` puts it.
struct Home {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    exe: PathBuf,
    marker: PathBuf,
    evil: Vec<u8>,
}

impl Home {
    fn new() -> Home {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let bin = home.join(".cargo/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join("yoz");
        std::fs::copy(env!("CARGO_BIN_EXE_yoz"), &exe).unwrap();
        let evil = evil_library(tmp.path());
        Home {
            marker: tmp.path().join("MARKER"),
            _tmp: tmp,
            home,
            exe,
            evil,
        }
    }

    /// yoz with no `ORT_DYLIB_PATH`, run from `$HOME`, with only a relative `PATH` entry (so
    /// a `python3` planted in the current directory would be found by a naive lookup).
    fn yoz(&self) -> Command {
        let mut c = Command::new(&self.exe);
        c.current_dir(&self.home)
            .env_remove("ORT_DYLIB_PATH")
            .env("PATH", ".")
            .env("YOZ_TEST_MARKER", &self.marker);
        c
    }

    fn plant(&self, rel: &str, bytes: &[u8]) {
        let p = self.home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn assert_not_loaded(&self, out: &std::process::Output) {
        assert!(
            !self.marker.exists(),
            "yoz ran code planted by an archive:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An archive that first writes a runtime library where the old search looked (`.venv-ort`
/// above the executable), then holds a neural image entry.
fn planting_archive(evil: &[u8], reader_minor: u8) -> Vec<u8> {
    let (blob, info, _) = neural_entry(&neural_sample(24, 16, 3, false, 5));
    let mut f = Forge::new();
    f.reader_minor = reader_minor;
    f.file(
        &format!(".venv-ort/site/onnxruntime/capi/{LIB}"),
        evil,
        id::STORE,
        1 << 20,
    );
    f.file("n.png", &blob, id::STORE, 1 << 20);
    f.last_entry().image = Some(info);
    f.build().bytes
}

/// Runs `cmd` with `input` on its stdin; stdout and stderr captured.
fn with_stdin(mut cmd: Command, input: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    // The reader may stop early (an error): a broken pipe here is expected.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn unpack_stdin(h: &Home, archive: &[u8]) -> std::process::Output {
    let mut c = h.yoz();
    c.args(["unpack", "-C", ".", "-"]);
    with_stdin(c, archive)
}

#[test]
fn attack_archive_with_understated_version_plants_and_loads_a_runtime() {
    // The red team's archive: header says reader 1.0, so a reader trusting it would not decide
    // the runtime up front, then meets the neural entry after writing the library.
    let h = Home::new();
    let out = unpack_stdin(&h, &planting_archive(&h.evil, 0));
    h.assert_not_loaded(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::class_of(&out).as_deref(), Some("version-mismatch"));
    // `verify` refuses it too, and the random-access unpack.
    let path = h.home.join("../a.yoz");
    std::fs::write(&path, planting_archive(&h.evil, 0)).unwrap();
    for args in [
        vec!["verify", "../a.yoz"],
        vec!["unpack", "-C", "out", "../a.yoz"],
    ] {
        let out = h.yoz().args(&args).output().unwrap();
        h.assert_not_loaded(&out);
        assert_eq!(
            common::class_of(&out).as_deref(),
            Some("version-mismatch"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn attack_stream_unpack_loads_the_runtime_the_archive_just_wrote() {
    // A valid 1.1 archive: the library it writes must not be what decodes its neural entry.
    // The default engine (built-in kernels) loads no library at all and decodes the entry.
    let h = Home::new();
    let out = unpack_stdin(&h, &planting_archive(&h.evil, 1));
    h.assert_not_loaded(&out);
    assert!(
        h.home
            .join(".venv-ort/site/onnxruntime/capi")
            .join(LIB)
            .exists(),
        "the archive's first file should have been extracted (the attack's premise)"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h.home.join("n.png").exists());
    // With ONNX Runtime asked for, the runtime is decided before the first byte is written, so
    // the planted library is not found: a runtime error, never a load.
    let h = Home::new();
    let mut c = h.yoz();
    c.args(["unpack", "--device", "ort-cpu", "-C", ".", "-"]);
    let out = with_stdin(c, &planting_archive(&h.evil, 1));
    h.assert_not_loaded(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::class_of(&out).as_deref(), Some("runtime"));
    // A second run, with the library now planted by the first one, still does not load it.
    let out = h.yoz().arg("doctor").output().unwrap();
    h.assert_not_loaded(&out);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn attack_runtime_planted_above_the_executable_or_in_the_current_directory() {
    let h = Home::new();
    // Every place the runtime search must never look: venvs above the executable (both
    // layouts), the current directory, and a `python3` reachable through a relative PATH entry.
    h.plant(&format!(".venv-ort/site/onnxruntime/capi/{LIB}"), &h.evil);
    h.plant(
        &format!(".venv-ort/lib/python3.11/site-packages/onnxruntime/capi/{LIB}"),
        &h.evil,
    );
    h.plant(
        &format!(".cargo/.venv-ort/site/onnxruntime/capi/{LIB}"),
        &h.evil,
    );
    h.plant(LIB, &h.evil);
    h.plant("libonnxruntime.so", &h.evil);
    h.plant(
        "python3",
        format!("#!/bin/sh\necho loaded > '{}'\n", h.marker.display()).as_bytes(),
    );
    let out = h.yoz().arg("doctor").output().unwrap();
    h.assert_not_loaded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("status: not found"), "{stdout}");
    assert_eq!(common::class_of(&out).as_deref(), Some("runtime"));
}

/// Waits until `pred` holds (polling), up to 20 s.
fn wait_for(what: &str, mut pred: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !pred() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".yoz-tmp-"))
        .collect()
}

#[test]
fn attack_signal_during_pack_leaves_the_temporary_archive() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        // Slow enough to interrupt: 24 MB at zstd level 19 on one thread.
        std::fs::write(input.join("big"), common::noise(7, 24 << 20)).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let child = common::yoz()
            .args(["pack", "--level", "19", "-j", "1", "-o"])
            .arg(out.join("a.yoz"))
            .arg(&input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the temporary archive", || !temp_files(&out).is_empty());
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let res = child.wait_with_output().unwrap();
        assert_eq!(res.status.code(), Some(code), "signal {sig}");
        assert_eq!(temp_files(&out), Vec::<String>::new(), "signal {sig}");
        assert!(!out.join("a.yoz").exists());
    }
}

#[test]
fn attack_signal_during_stream_unpack_leaves_a_truncated_file() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let dir = tempfile::tempdir().unwrap();
        let data = common::noise(3, 4 << 20);
        let mut f = Forge::new();
        f.file("big", &data, id::STORE, 1 << 20);
        let bytes = f.build().bytes;
        let dest = dir.path().join("dest");
        let mut child = common::yoz()
            .args(["unpack", "-C"])
            .arg(&dest)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        use std::io::Write as _;
        // Half the archive: the file exists, part-written, and yoz waits for more.
        stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
        stdin.flush().unwrap();
        wait_for("the partial file", || {
            std::fs::metadata(dest.join("big")).is_ok_and(|m| m.len() > 0)
        });
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let res = child.wait_with_output().unwrap();
        drop(stdin);
        assert_eq!(res.status.code(), Some(code), "signal {sig}");
        assert!(
            !dest.join("big").exists(),
            "signal {sig}: partial file left"
        );
    }
}

#[test]
fn attack_force_with_a_damaged_block_deletes_the_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Forge::new();
    f.file("keep.txt", &common::noise(5, 3000), id::STORE, 1 << 20);
    let built = f.build();
    let mut bytes = built.bytes;
    // The last payload byte of the only block (the record before the end tag).
    bytes[built.index_offset - 2] ^= 0x40;
    let archive = dir.path().join("a.yoz");
    std::fs::write(&archive, &bytes).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep.txt"), b"the user's data").unwrap();
    for stream in [false, true] {
        let mut c = common::yoz();
        c.args(["unpack", "--force", "-C"]).arg(&dest);
        let out = if stream {
            c.arg("-");
            with_stdin(c, &bytes)
        } else {
            c.arg(&archive).output().unwrap()
        };
        assert_eq!(common::class_of(&out).as_deref(), Some("crc"));
        assert_eq!(
            std::fs::read(dest.join("keep.txt")).unwrap(),
            b"the user's data",
            "stream {stream}"
        );
        let names: Vec<_> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keep.txt"], "stream {stream}: leftovers");
    }
    // The same archive undamaged replaces the file.
    std::fs::write(&archive, planting_free_archive()).unwrap();
    let out = common::yoz()
        .args(["unpack", "--force", "-C"])
        .arg(&dest)
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dest.join("keep.txt")).unwrap(),
        common::noise(5, 3000)
    );
}

fn planting_free_archive() -> Vec<u8> {
    let mut f = Forge::new();
    f.file("keep.txt", &common::noise(5, 3000), id::STORE, 1 << 20);
    f.build().bytes
}

#[test]
fn attack_existing_directory_gets_the_archives_mode_and_time_without_force() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let mut f = Forge::new();
    f.dir("d");
    f.last_entry().mode = 0;
    f.last_entry().mtime = 0;
    f.file("d/new.txt", b"new", id::STORE, 1 << 20);
    let archive = dir.path().join("a.yoz");
    std::fs::write(&archive, f.build().bytes).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(dest.join("d")).unwrap();
    std::fs::set_permissions(dest.join("d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let t = filetime::FileTime::from_unix_time(1_600_000_000, 0);
    unpack_ok(&dest, &archive);
    filetime::set_file_mtime(dest.join("d"), t).unwrap();
    let m = std::fs::metadata(dest.join("d")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o750);
    assert_eq!(std::fs::read(dest.join("d/new.txt")).unwrap(), b"new");
    // An archive holding only the directory: it succeeds, and the directory keeps the user's
    // mode and time (the old extractor applied 000 and the epoch).
    let mut f = Forge::new();
    f.dir("d");
    f.last_entry().mode = 0;
    f.last_entry().mtime = 0;
    std::fs::write(&archive, f.build().bytes).unwrap();
    unpack_ok(&dest, &archive);
    let m = std::fs::metadata(dest.join("d")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o750);
    assert_eq!(m.mtime(), 1_600_000_000);
}

/// A folder outside the destination with a mode and time an attack would change.
fn outside_folder(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
    filetime::set_file_mtime(p, filetime::FileTime::from_unix_time(1_500_000_000, 0)).unwrap();
}

fn assert_outside_untouched(p: &Path, when: &str) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o700, "{when}: outside mode changed");
    assert_eq!(m.mtime(), 1_500_000_000, "{when}: outside mtime changed");
}

#[test]
fn attack_race_swaps_a_directory_for_a_symlink_before_the_metadata_pass() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    outside_folder(&outside);
    let mut f = Forge::new();
    let names: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
    for n in &names {
        f.dir(n);
        f.last_entry().mode = 0o777;
        f.last_entry().mtime = 1;
    }
    let archive = dir.path().join("a.yoz");
    std::fs::write(&archive, f.build().bytes).unwrap();
    let runs = race_unpack(dir.path(), &archive, &names, &outside, |run| {
        assert_outside_untouched(&outside, &format!("run {run}"));
    });
    assert!(runs > 5, "only {runs} runs");
}

/// Case-insensitive destinations: with `--force`, an archive holding directory `D` (mode 0777)
/// and then symlink `d` → outside makes a case-folding file system replace the directory `D`
/// just made with that symlink, under the directory's own name, before the metadata pass sets
/// `D`'s mode and time. This machine has no case-folding file system (tmpfs here lacks
/// `casefold`), so the test plays the file system's part: after `D` is extracted, its name
/// becomes a symlink to the outside folder, exactly what the second entry does there. The
/// metadata pass goes through descriptors and the directory's recorded identity, so the
/// outside folder keeps its mode and time and the extraction fails with `path-symlink`.
#[test]
fn attack_case_insensitive_destination_aliases_a_directory_with_a_symlink() {
    use yoz::container::Sink;
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    outside_folder(&outside);
    let dest = t.path().join("dest");
    let opts = yoz::extract::ExtractOptions {
        force: true,
        ..Default::default()
    };
    let mut x = yoz::extract::Extractor::new(&dest, opts).unwrap();
    let mut d = yoz::conformance::forge::meta("D", yoz::Kind::Dir);
    d.mode = 0o777;
    d.mtime = 1;
    x.begin(&d).unwrap();
    x.end(&d).unwrap();
    // The case-folding file system's doing: "d" (the archive's symlink) lands on "D".
    std::fs::remove_dir(dest.join("D")).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("D")).unwrap();
    let err = x
        .finish()
        .expect_err("the metadata pass must refuse the aliased directory");
    assert_eq!(err.class(), "path-symlink", "{err}");
    assert_outside_untouched(&outside, "after the metadata pass");
}

/// Unpacks `archive` again and again for 3 s, and at least 6 times (up to 60 s, for a machine
/// busy with other work), while an attacker thread swaps each of the destination's
/// directories `names` for a symlink to `outside` (moving the real one aside); `check` runs
/// after every unpack. Returns the number of runs.
fn race_unpack(
    dir: &Path,
    archive: &Path,
    names: &[String],
    outside: &Path,
    check: impl Fn(usize),
) -> usize {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let start = std::time::Instant::now();
    let mut runs = 0;
    let secs = |s| std::time::Duration::from_secs(s);
    while (start.elapsed() < secs(3) || runs < 6) && start.elapsed() < secs(60) {
        let dest = dir.join(format!("dest{runs}"));
        std::fs::create_dir(&dest).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = {
            let (stop, dest, outside) = (stop.clone(), dest.clone(), outside.to_path_buf());
            let names = names.to_vec();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (i, n) in names.iter().enumerate() {
                        let x = dest.join(n);
                        if std::fs::symlink_metadata(&x).is_ok_and(|m| m.is_dir())
                            && std::fs::rename(&x, dest.join(format!("moved{i}"))).is_ok()
                        {
                            let _ = std::os::unix::fs::symlink(&outside, &x);
                        }
                    }
                }
            })
        };
        let _ = common::yoz()
            .args(["unpack", "-C"])
            .arg(&dest)
            .arg(archive)
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        attacker.join().unwrap();
        check(runs);
        runs += 1;
    }
    runs
}

#[test]
fn attack_files_under_a_deep_directory_chain_take_quadratic_time() {
    // 200 files spread over a 1,990-level chain (the red team's 1.6 KB archive took 22–46 s):
    // each parent is resolved one component at a time from the last one, so the work is
    // linear in the path lengths.
    let mut f = Forge::new();
    let mut path = String::from("a");
    let mut n = 0;
    for depth in 1..1990 {
        path.push_str("/a");
        if depth % 10 == 0 {
            f.file(&format!("{path}/f{n}"), b"x", id::STORE, 1 << 20);
            n += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("deep.yoz");
    let bytes = f.build().bytes;
    std::fs::write(&archive, &bytes).unwrap();
    let start = std::time::Instant::now();
    unpack_ok(dir.path().join("dest"), &archive);
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert_eq!(n, 198);
}

#[test]
fn attack_race_swaps_a_parent_for_a_symlink_during_extraction() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let mut f = Forge::new();
    let names: Vec<String> = (0..4).map(|d| format!("d{d}")).collect();
    for n in &names {
        f.dir(n);
        for i in 0..50 {
            f.file(&format!("{n}/f{i}"), b"payload", id::STORE, 1 << 20);
        }
    }
    let archive = dir.path().join("a.yoz");
    std::fs::write(&archive, f.build().bytes).unwrap();
    let runs = race_unpack(dir.path(), &archive, &names, &outside, |run| {
        let written: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
        assert!(written.is_empty(), "run {run}: files written outside");
    });
    assert!(runs > 5, "only {runs} runs");
}

#[test]
fn attack_small_archive_declaring_32_gib_of_zeros_blocks() {
    // 512 zeros blocks of 64 MiB: an archive of a few kB that declares 32 GiB. Verified by
    // arithmetic (the CRC of n zero bytes) and written as holes, it takes well under a second;
    // generating and hashing the zeros took 20 s (and a TiB over 5 minutes).
    let f = zeros_file("z", 512, None);
    let bytes = f.build().bytes;
    assert!(bytes.len() < 64 << 10, "{} bytes", bytes.len());
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("zeros.yoz");
    std::fs::write(&archive, &bytes).unwrap();
    let timed = |args: &[&str], stdin: Option<&[u8]>| {
        let start = std::time::Instant::now();
        let mut c = common::yoz();
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(b) = stdin {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(b).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            took < std::time::Duration::from_secs(10),
            "{args:?}: {took:?}"
        );
    };
    let a = archive.to_str().unwrap();
    let d1 = dir.path().join("d1");
    let d2 = dir.path().join("d2");
    timed(&["verify", a], None);
    timed(&["unpack", "-C", d1.to_str().unwrap(), a], None);
    timed(&["unpack", "-C", d2.to_str().unwrap(), "-"], Some(&bytes));
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(d1.join("z")).unwrap();
    assert_eq!(m.len(), 32 << 30);
    assert!(m.blocks() * 512 < 1 << 20, "holes, not data");
}

#[test]
fn attack_small_image_entry_whose_blob_is_a_gigabyte_of_zeros() {
    use yoz::container::format::{ImageInfo, IMAGE_CODEC_DCT};
    // 16 zeros blocks of 64 MiB behind a 24x16 image: refused up front (`limit`) by every
    // reader instead of gathered into 1 GiB of memory before decoding.
    let f = zeros_file(
        "i.png",
        16,
        Some(ImageInfo {
            codec: IMAGE_CODEC_DCT,
            channels: 3,
            width: 24,
            height: 16,
            input_size: 100,
            output_size: 100,
        }),
    );
    let bytes = f.build().bytes;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("img.yoz");
    std::fs::write(&archive, &bytes).unwrap();
    let a = archive.to_str().unwrap();
    for args in [
        vec!["verify", a],
        vec!["cat", a, "i.png"],
        vec!["unpack", "-C", dir.path().join("d").to_str().unwrap(), a],
    ] {
        let out = common::yoz().args(&args).output().unwrap();
        assert_eq!(common::class_of(&out).as_deref(), Some("limit"), "{args:?}");
    }
    let out = unpack_stdin_to(&dir.path().join("s"), &bytes);
    assert_eq!(common::class_of(&out).as_deref(), Some("limit"));
}

fn unpack_stdin_to(dest: &Path, archive: &[u8]) -> std::process::Output {
    let mut c = common::yoz();
    c.args(["unpack", "-C"]).arg(dest).arg("-");
    with_stdin(c, archive)
}

#[test]
fn deep_directory_entries_get_their_metadata() {
    use std::os::unix::fs::MetadataExt;
    // Explicit directories at 4 KB paths: the metadata pass reaches them through descriptors,
    // so the full path's length (beyond PATH_MAX with the destination) does not matter.
    let mut f = Forge::new();
    let mut path = String::from("a");
    while path.len() < 4090 {
        path.push_str("/b");
    }
    for leaf in ["x", "y"] {
        f.dir(&format!("{path}/{leaf}"));
        f.last_entry().mode = 0o750;
        f.last_entry().mtime = 1_234_567_890;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("deep.yoz");
    std::fs::write(&archive, f.build().bytes).unwrap();
    let dest = dir.path().join("dest");
    unpack_ok(&dest, &archive);
    // Check the leaf through a relative walk (the absolute path is too long for one call).
    let mut cur = std::fs::File::open(&dest).unwrap();
    use std::os::fd::AsRawFd;
    for c in path.split('/').chain(["x"]) {
        let name = std::ffi::CString::new(c).unwrap();
        // SAFETY: a valid descriptor and NUL-terminated name; the result is owned below.
        let fd = unsafe {
            libc::openat(
                cur.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY,
            )
        };
        assert!(fd >= 0, "cannot open {c}");
        // SAFETY: `fd` was just opened.
        cur = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    }
    let m = cur.metadata().unwrap();
    assert_eq!(m.mode() & 0o7777, 0o750);
    assert_eq!(m.mtime(), 1_234_567_890);
}

/// An archive of one file made of `blocks` zeros blocks of 64 MiB (a few bytes each on disk),
/// optionally declared a lossy image entry.
fn zeros_file(path: &str, blocks: u32, image: Option<yoz::container::format::ImageInfo>) -> Forge {
    use yoz::conformance::forge::{block, meta, Rec};
    let (info, _) = block(&vec![0u8; 64 << 20], id::ZEROS);
    let mut f = Forge::new();
    let mut e = meta(path, yoz::Kind::File);
    e.size = blocks as u64 * (64 << 20);
    e.storage = yoz::container::format::Storage::Blocks {
        first: 0,
        count: blocks,
    };
    e.image = image;
    f.recs.push(Rec::Entry(e));
    for _ in 0..blocks {
        f.push_block(info, Vec::new());
    }
    f
}

#[test]
fn attack_list_shows_names_that_unpack_does_not_write() {
    // Entry groups that disagree with the index (here: a damaged group whose index copy is
    // intact). `list` used to print the index's names and succeed; it now checks every group
    // first and fails with the class unpack reports, printing nothing.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/invalid");
    for (name, class) in [
        ("entry-group-crc", "record-crc"),
        ("index-order", "index-mismatch"),
    ] {
        let a = corpus.join(format!("{name}.yoz"));
        let list = common::yoz().arg("list").arg(&a).output().unwrap();
        let unpack_dir = tempfile::tempdir().unwrap();
        let unpack = common::yoz()
            .args(["unpack", "-C"])
            .arg(unpack_dir.path())
            .arg(&a)
            .output()
            .unwrap();
        assert_eq!(common::class_of(&list).as_deref(), Some(class), "{name}");
        assert_eq!(common::class_of(&unpack).as_deref(), Some(class), "{name}");
        assert!(list.stdout.is_empty(), "{name}: list printed names");
    }
}

#[test]
fn attack_valid_archive_with_a_mode_000_directory_fails_for_non_root() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // A valid archive: directory `d` (mode 000, its file inside). As a non-root user the old
    // extractor applied the mode, then could not reopen the directory to set its time.
    let mut f = Forge::new();
    f.dir("d");
    f.last_entry().mode = 0;
    f.last_entry().mtime = 1_400_000_000;
    f.file("d/f", b"inside", id::STORE, 1 << 20);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = tmp.path().join("yoz");
    std::fs::copy(env!("CARGO_BIN_EXE_yoz"), &exe).unwrap();
    let archive = tmp.path().join("a.yoz");
    std::fs::write(&archive, f.build().bytes).unwrap();
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let mut cmd = if root {
        // Drop to nobody for the extraction (util-linux's setpriv); the destination is theirs.
        std::os::unix::fs::chown(&dest, Some(65534), Some(65534)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .args(["unpack", "-C"])
        .arg(&dest)
        .arg(&archive)
        .output()
        .expect("run yoz (as root this needs setpriv from util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = std::fs::metadata(dest.join("d")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0);
    assert_eq!(m.mtime(), 1_400_000_000);
    // Let the temporary directory be removed.
    std::fs::set_permissions(dest.join("d"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `yoz unpack -C dest archive`, which must succeed.
fn unpack_ok(dest: impl AsRef<Path>, archive: &Path) {
    let out = common::yoz()
        .args(["unpack", "-C"])
        .arg(dest.as_ref())
        .arg(archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small neural entry that declares the largest image the codec decodes (16 MP): the work is
/// set by the declared size, so it must stay bounded in memory (the built-in kernels hold a few
/// rows per thread beyond the output; here under a 500 MB address-space limit) and in time. The
/// red team measured 5.7 GB and 17 s through ONNX Runtime; the default engine takes ~2.3 s.
#[test]
fn attack_tiny_neural_entry_declaring_16_megapixels_is_bounded() {
    use yoz::neural::arch::{ARCH_V2, ARM2_PARAMS, ARM2_TENSORS};
    let mut n = yoz::conformance::vectors::neural_sample_v2(4096, 4096, 3, false, 3);
    assert_eq!(n.arch, ARCH_V2);
    for g in &mut n.latents {
        g.fill(0);
    }
    // An entropy model that predicts 0 with the smallest scale: 16.7 M latents in a few KB.
    let mut arm = vec![0f32; ARM2_PARAMS];
    arm[ARM2_TENSORS[6].1 + 1] = -30.0;
    n.arm = yoz::neural::arm::ArmQ::from_float(ARCH_V2, &arm);
    let (blob, info, _) = neural_entry(&n);
    assert!(blob.len() < 64 << 10, "payload {} bytes", blob.len());
    let mut f = Forge::new();
    f.reader_minor = 1;
    f.file("big.png", &blob, id::STORE, 1 << 20);
    f.last_entry().image = Some(info);
    let t = tempfile::tempdir().unwrap();
    let ar = t.path().join("a.yoz");
    std::fs::write(&ar, f.build().bytes).unwrap();
    let start = std::time::Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_yoz"));
    c.args(["cat", ar.to_str().unwrap(), "big.png"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::limit_address_space(&mut c, 500 << 20);
    let out = c.output().unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} byte payload -> 4096x4096 decoded in {secs:.1} s",
        blob.len()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = yoz::image::png_io::decode_png(&out.stdout, "big.png", 1 << 25).unwrap();
    assert_eq!((png.width, png.height), (4096, 4096));
    // A generous bound for a loaded 2-core CI machine (about 2 s here).
    assert!(secs < 30.0, "took {secs:.1} s");
}

/// Runs `args` (with `stdin` from a file, if given) under a 500 MB address-space limit and a
/// 10 s deadline; returns whether it finished in time, and its exit code.
fn bounded_run(args: &[&str], stdin: Option<&Path>, dir: &Path) -> (bool, Option<i32>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yoz"));
    c.args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(match stdin {
            Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
            None => Stdio::null(),
        });
    common::limit_address_space(&mut c, 500 << 20);
    let mut child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (true, st.code());
        }
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return (false, None);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Every archive of the conformance corpus (≤ 64 KB but one valid vector, most of them
/// hostile: truncations, bombs, lying sizes and counts, bad codecs) and damaged copies of every
/// valid one (bit flips, cuts, zeroed runs: `common::hostile_inputs`) finishes within 10 s and
/// 500 MB of address space in list, info, verify, unpack (file and pipe) and cat of each of its
/// entries, and never dies by a signal (a panic aborts, an allocation over the limit aborts:
/// both are a signal or exit 101, which this test refuses). Mount reads: tests/mount.rs.
#[test]
fn every_small_hostile_input_is_bounded_in_time_and_memory() {
    let t = tempfile::tempdir().unwrap();
    let inputs = t.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let mut checked = 0;
    for (k, f) in common::hostile_inputs(&inputs).into_iter().enumerate() {
        {
            let fs = f.to_str().unwrap();
            let out = t.path().join(format!("{k}"));
            let out2 = t.path().join(format!("{k}-pipe"));
            let mut runs: Vec<(Vec<String>, Option<&Path>)> = vec![
                (vec!["list".into(), "-l".into(), fs.into()], None),
                (vec!["info".into(), fs.into()], None),
                (vec!["verify".into(), fs.into()], None),
                (
                    vec![
                        "unpack".into(),
                        "-C".into(),
                        out.to_str().unwrap().into(),
                        fs.into(),
                    ],
                    None,
                ),
                (
                    vec![
                        "unpack".into(),
                        "-C".into(),
                        out2.to_str().unwrap().into(),
                        "-".into(),
                    ],
                    Some(&f),
                ),
            ];
            if let Ok(ar) = yoz::Archive::open(&f) {
                for e in ar.entries().iter().take(8) {
                    runs.push((vec!["cat".into(), fs.into(), e.path.clone()], None));
                }
            }
            for (args, stdin) in runs {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let (done, code) = bounded_run(&a, stdin, t.path());
                assert!(done, "{a:?} ran past 10 s");
                assert!(
                    matches!(code, Some(0..=2)),
                    "{a:?} ended with {code:?} (a signal, a panic or an allocation failure)"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1400, "{checked} runs");
}

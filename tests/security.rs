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

fn unpack_stdin(h: &Home, archive: &[u8]) -> std::process::Output {
    let mut child = h
        .yoz()
        .args(["unpack", "-C", ".", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    let _ = child.stdin.take().unwrap().write_all(archive);
    child.wait_with_output().unwrap()
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

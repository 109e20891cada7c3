//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `yoz` binary.
pub fn yoz() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yoz"))
}

/// Runs yoz with args, returns the output.
pub fn run(args: &[&str]) -> Output {
    yoz().args(args).output().expect("spawn yoz")
}

/// Runs yoz with args and `input` on its stdin (an archive piped to `unpack -`, say).
pub fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = yoz()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn yoz");
    // A reader that fails early closes its stdin: a broken pipe here is its answer, not ours.
    let _ = child.stdin.take().expect("piped stdin").write_all(input);
    child.wait_with_output().expect("wait for yoz")
}

/// Unpacks `archive` from the file into `dir/out` and through a pipe into `dir/out2`, and
/// checks that both give `src` back under the name `top`.
pub fn assert_unpacks_both_ways(archive: &Path, dir: &Path, top: &str, src: &Path) {
    let a = archive.to_str().expect("UTF-8 path");
    let (d1, d2) = (dir.join("out"), dir.join("out2"));
    let out = run(&["unpack", "-C", d1.to_str().unwrap(), a]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = fs::read(archive).expect("archive");
    let out = run_with_stdin(&["unpack", "-C", d2.to_str().unwrap(), "-"], &bytes);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(&d1.join(top)), snapshot(src));
    assert_eq!(snapshot(&d2.join(top)), snapshot(src));
}

/// The `error[CLASS]` of a failed run's stderr.
/// Asserts the command succeeded, showing its stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn class_of(out: &Output) -> Option<String> {
    let e = String::from_utf8_lossy(&out.stderr);
    let i = e.find("error[")? + 6;
    let j = e[i..].find(']')? + i;
    Some(e[i..j].to_string())
}

/// What a tree looks like: path → description (kind, mode, content or target).
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut ents: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    ents.sort();
    for p in ents {
        let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link {}", fs::read_link(&p).unwrap().display()),
            );
        } else if m.is_dir() {
            out.insert(rel, format!("dir {mode:o}"));
            walk(root, &p, out);
        } else {
            let data = fs::read(&p).unwrap();
            out.insert(
                rel,
                format!(
                    "file {mode:o} {} {:08x} mtime {}",
                    data.len(),
                    crc32fast::hash(&data),
                    m.mtime()
                ),
            );
        }
    }
}

/// A deterministic pseudo-random byte generator.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A small tree with every kind of entry.
pub fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    fs::write(root.join("empty.txt"), b"").unwrap();
    fs::write(root.join("hello.txt"), b"hello, world\n").unwrap();
    fs::write(
        root.join("dir/text.txt"),
        "the quick brown fox ".repeat(500),
    )
    .unwrap();
    fs::write(root.join("dir/sub/noise.bin"), noise(1, 20_000)).unwrap();
    fs::write(root.join("dir/ünïcødé ✓.txt"), "unicode").unwrap();
    std::os::unix::fs::symlink("../hello.txt", root.join("dir/link")).unwrap();
    fs::hard_link(root.join("hello.txt"), root.join("dir/hard.txt")).unwrap();
    fs::set_permissions(root.join("hello.txt"), fs::Permissions::from_mode(0o640)).unwrap();
}

/// Caps the address space of the process `c` will start (and of whatever it forks).
pub fn limit_address_space(c: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child being spawned.
    unsafe {
        c.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Small hostile inputs: every archive of the conformance corpus (each invalid one breaks one
/// rule), plus damaged copies of every valid one written under `dir` — bytes flipped at spread
/// positions, cut at several lengths, a run of bytes zeroed — so payloads, entry groups, the
/// index and the footer all get hit where no hand-made vector aimed.
pub fn hostile_inputs(dir: &Path) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        let mut files: Vec<PathBuf> = fs::read_dir(root.join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yoz"))
            .collect();
        files.sort();
        if sub == "valid" {
            for f in &files {
                let bytes = fs::read(f).unwrap();
                let name = f.file_stem().unwrap().to_str().unwrap();
                for (k, m) in mutants(&bytes).into_iter().enumerate() {
                    let p = dir.join(format!("{name}.m{k}.yoz"));
                    fs::write(&p, m).unwrap();
                    out.push(p);
                }
            }
        }
        out.extend(files);
    }
    out
}

/// Damaged copies of one archive (deterministic).
fn mutants(b: &[u8]) -> Vec<Vec<u8>> {
    let n = b.len();
    let mut v = Vec::new();
    let mut seed = n as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..4 {
        let mut m = b.to_vec();
        let at = next() % n;
        m[at] ^= 1 << (next() % 8);
        v.push(m);
    }
    for cut in [n / 3, n / 2, n - 1 - next() % 40.min(n - 1)] {
        v.push(b[..cut].to_vec());
    }
    let mut m = b.to_vec();
    let at = next() % n;
    let end = (at + 64).min(n);
    m[at..end].fill(0);
    v.push(m);
    v
}

/// Extended attributes through libc (`false`/`None` where the file system refuses them).
pub mod xattr {
    use std::ffi::CString;
    use std::path::Path;

    fn c(s: &[u8]) -> CString {
        CString::new(s).unwrap()
    }

    /// Sets `name` on `p` (`false` where the file system refuses).
    pub fn set(p: &Path, name: &str, value: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let (p, n) = (c(p.as_os_str().as_bytes()), c(name.as_bytes()));
        // SAFETY: NUL-terminated path and name, and a value of the given length.
        unsafe {
            libc::setxattr(
                p.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            ) == 0
        }
    }

    pub fn get(p: &Path, name: &str) -> Option<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        let (p, n) = (c(p.as_os_str().as_bytes()), c(name.as_bytes()));
        let mut buf = vec![0u8; 4096];
        // SAFETY: NUL-terminated path and name, and a buffer of the given length.
        let r =
            unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        (r >= 0).then(|| buf[..r as usize].to_vec())
    }

    pub fn list(p: &Path) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let p = c(p.as_os_str().as_bytes());
        let mut buf = vec![0u8; 4096];
        // SAFETY: NUL-terminated path and a buffer of the given length.
        let r = unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        buf.truncate(r.max(0) as usize);
        buf
    }
}

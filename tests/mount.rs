//! `yoz mount` end to end: pack a generated tree with the built binary, mount it through FUSE
//! and compare what the mount shows with the original tree.
//!
//! These tests need a working FUSE: /dev/fuse, and root (or `fusermount3`). Where that is
//! missing they print why and pass without checking anything; CI runs them as root.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const YOZ: &str = env!("CARGO_BIN_EXE_yoz");

/// Why FUSE mounts cannot work here, if they cannot.
fn fuse_missing() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse is absent".into());
    }
    if let Err(e) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("cannot open /dev/fuse: {e}"));
    }
    let root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    let fusermount = Command::new("fusermount3")
        .arg("--version")
        .output()
        .is_ok();
    if !root && !fusermount {
        return Some("not root and no fusermount3 (package fuse3)".into());
    }
    None
}

macro_rules! require_fuse {
    () => {
        if let Some(why) = fuse_missing() {
            eprintln!("skipping: FUSE mounting is impossible here: {why}");
            return;
        }
    };
}

fn yoz(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let out = Command::new(YOZ)
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .output()
        .expect("run yoz");
    assert!(
        out.status.success(),
        "yoz {:?} failed: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Whether `p` is a mount point, from /proc/self/mountinfo (field 5, octal-escaped).
fn is_mounted(p: &Path) -> bool {
    let want = p.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape(m) == want)
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A mount made by a test: `umount -l` on drop if it is still there, so a failing test
/// leaves no mount behind.
struct Mounted {
    mp: PathBuf,
}

impl Mounted {
    /// `yoz mount` in the default (background) mode, with extra arguments.
    fn new(archive: &Path, mp: &Path, extra: &[&str]) -> Mounted {
        fs::create_dir_all(mp).unwrap();
        let mp = fs::canonicalize(mp).unwrap();
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"mount"];
        for a in extra {
            args.push(a);
        }
        args.push(&archive);
        args.push(&mp);
        yoz(&args);
        assert!(is_mounted(&mp), "{} is not mounted", mp.display());
        Mounted { mp }
    }

    /// Pid of the daemon serving this mount.
    fn daemon(&self) -> Option<u32> {
        let want = self.mp.to_string_lossy().into_owned();
        fs::read_dir("/proc").ok()?.flatten().find_map(|d| {
            let pid: u32 = d.file_name().to_str()?.parse().ok()?;
            let cmd = fs::read(d.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmd
                .split(|&c| c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (args.iter().any(|a| a == "--daemon-child") && args.contains(&want)).then_some(pid)
        })
    }

    /// `yoz umount`, then checks that the daemon went away.
    fn unmount(self) {
        let pid = self.daemon().expect("a daemon serves the mount");
        yoz(&[&"umount", &self.mp]);
        assert!(!is_mounted(&self.mp));
        assert!(
            wait_gone(pid, Duration::from_secs(10)),
            "daemon {pid} still running after umount"
        );
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if is_mounted(&self.mp) {
            let _ = Command::new("umount").arg("-l").arg(&self.mp).status();
        }
    }
}

/// Waits until process `pid` has exited (gone, or a zombie awaiting its reaper).
fn wait_gone(pid: u32, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s) => {
                // state is the field after the parenthesized command name
                let state = s
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next());
                if state == Some("Z") || state == Some("X") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Deterministic bytes: incompressible (xorshift) or text-like.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn noise(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, n: usize) -> Vec<u8> {
        const WORDS: [&str; 8] = [
            "yoz ", "block ", "index ", "mount ", "fuse ", "zstd\n", "a ", "ü ",
        ];
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(WORDS[(self.next() % 8) as usize].as_bytes());
        }
        v.truncate(n);
        v
    }
}

/// The generated tree, under `root/t`.
fn make_tree(root: &Path) -> PathBuf {
    let t = root.join("t");
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let w = |p: &str, data: &[u8]| {
        let p = t.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    // Across many 4 KiB blocks: incompressible (stored blocks), text (zstd), and both.
    w("big.bin", &g.noise(50_000));
    w("text.txt", &g.text(70_001));
    let mut mixed = g.text(9_000);
    mixed.extend(g.noise(9_000));
    mixed.extend(g.text(9_000));
    w("dir/mixed.dat", &mixed);
    // A FIFO (format 1.4): shown as a named pipe with its mode, never opened by the mount.
    let c = std::ffi::CString::new(t.join("dir/pipe").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path inside our temporary tree.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o640) }, 0);
    // Small files that share blocks.
    for i in 0..40 {
        let n = (g.next() % 700) as usize + 1;
        w(&format!("small/f{i:02}.txt"), &g.text(n));
    }
    // Copies of earlier files (deduplication): of a file with blocks, and of a small one.
    w("dir/copy_of_big.bin", &fs::read(t.join("big.bin")).unwrap());
    w(
        "small/copy.txt",
        &fs::read(t.join("small/f07.txt")).unwrap(),
    );
    // Small headers sharing boilerplate: with 4 KiB blocks the archive gets a dictionary.
    for n in 0..300u32 {
        let body: String = (0..(n % 5 + 2))
            .map(|k| format!("int fn_{n}_{k}(int a); /* {} */\n", n * 31 + k))
            .collect();
        let text = format!(
            "/* SPDX-License-Identifier: MIT OR Apache-2.0 */\n/* generated for yoz's mount test */\n\
             #ifndef H_{n}_H\n#define H_{n}_H\n#include <stdint.h>\n{body}#endif /* H_{n}_H */\n"
        );
        w(&format!("inc/h{n:03}.h"), text.as_bytes());
    }
    w("empty", b"");
    w("dir/deep/deeper/empty2", b"");
    w("dir/deep/deeper/x.txt", b"deep inside\n");
    w("ünïcødé/日本語.txt", "こんにちは\n".as_bytes());
    w("emoji 😀 name.txt", &g.text(5000));
    // Names that are not UTF-8 (format 1.4 escape form): the mount shows the original bytes.
    {
        use std::os::unix::ffi::OsStrExt;
        let d = t.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(std::ffi::OsStr::from_bytes(b"\xff.txt")), b"bytes\n").unwrap();
        symlink(
            std::ffi::OsStr::from_bytes(b"caf\xe9/\xff.txt"),
            t.join("to_bytes"),
        )
        .unwrap();
    }
    // A sparse file: a hole, some data, a hole.
    {
        let mut f = fs::File::create(t.join("sparse.img")).unwrap();
        f.set_len(300_000).unwrap();
        f.seek(SeekFrom::Start(131_072)).unwrap();
        f.write_all(&g.text(10_000)).unwrap();
    }
    fs::create_dir_all(t.join("emptydir")).unwrap();
    symlink("text.txt", t.join("link_to_text")).unwrap();
    symlink("../../text.txt", t.join("dir/deep/up")).unwrap();
    symlink("dir", t.join("dirlink")).unwrap();
    symlink("nowhere", t.join("dangling")).unwrap();
    fs::hard_link(t.join("text.txt"), t.join("hard_text")).unwrap();
    fs::hard_link(t.join("big.bin"), t.join("dir/hard_big")).unwrap();
    let mode = |p: &str, m: u32| {
        fs::set_permissions(t.join(p), fs::Permissions::from_mode(m)).unwrap();
    };
    mode("small/f00.txt", 0o600);
    mode("dir/mixed.dat", 0o755);
    mode("dir/deep", 0o700);
    t
}

fn pack(tree: &Path, archive: &Path, block_size: &str) {
    yoz(&[
        &"pack",
        &"--block-size",
        &block_size,
        &"-o",
        &archive,
        &tree,
    ]);
}

/// Compares `orig` and `mounted` recursively: kinds, names, sizes, modes, owners, mtimes,
/// link targets and every byte. Returns how many entries were compared.
fn compare_trees(orig: &Path, mounted: &Path) -> usize {
    let a = fs::symlink_metadata(orig).unwrap();
    let b = fs::symlink_metadata(mounted).unwrap();
    let what = orig.display();
    assert_eq!(a.file_type(), b.file_type(), "kind of {what}");
    assert_eq!(a.mode() & 0o7777, b.mode() & 0o7777, "mode of {what}");
    assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "owner of {what}");
    if !a.is_dir() {
        assert_eq!(a.len(), b.len(), "size of {what}");
        assert_eq!(a.mtime(), b.mtime(), "mtime of {what}");
    }
    let mut n = 1;
    if a.is_symlink() {
        assert_eq!(
            fs::read_link(orig).unwrap(),
            fs::read_link(mounted).unwrap()
        );
    } else if a.is_file() {
        assert_eq!(a.nlink(), b.nlink(), "link count of {what}");
        assert!(
            fs::read(orig).unwrap() == fs::read(mounted).unwrap(),
            "bytes of {what}"
        );
    } else if a.is_dir() {
        let names = |d: &Path| -> BTreeSet<_> {
            fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect()
        };
        let (na, nb) = (names(orig), names(mounted));
        assert_eq!(na, nb, "names in {what}");
        for name in na {
            n += compare_trees(&orig.join(&name), &mounted.join(&name));
        }
    }
    n
}

/// Reads `len` bytes at `off` with pread, looping over short reads.
fn pread(f: &fs::File, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = f.read_at(&mut buf[got..], off + got as u64).unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    buf
}

#[test]
fn mounted_tree_matches_the_original() {
    require_fuse!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    let archive = tmp.path().join("t.yoz");
    pack(&tree, &archive, "4K");
    // The tree exercises copies and a dictionary through the mount.
    let ar = yoz::container::Archive::open(&archive).unwrap();
    assert_eq!(ar.index().resources.len(), 1, "a dictionary");
    assert!(ar
        .entries()
        .iter()
        .any(|e| matches!(e.storage, yoz::container::Storage::Same { .. })));
    drop(ar);
    let m = Mounted::new(&archive, &tmp.path().join("mnt"), &[]);
    let mt = m.mp.join("t");

    let n = compare_trees(&tree, &mt);
    assert!(n > 60, "compared only {n} entries");

    // Extended attributes (format 1.4) through getxattr/listxattr, where the temporary file
    // system keeps user.* ones (a second archive of the tree with one, mounted beside).
    let tagged = tree.join("dir/deep/deeper/x.txt");
    if common::xattr::set(&tagged, "user.origin", b"mount test") {
        let archive2 = tmp.path().join("t2.yoz");
        pack(&tree, &archive2, "4K");
        let m2 = Mounted::new(&archive2, &tmp.path().join("mnt2"), &[]);
        let x = m2.mp.join("t/dir/deep/deeper/x.txt");
        assert_eq!(
            common::xattr::get(&x, "user.origin").as_deref(),
            Some(&b"mount test"[..])
        );
        assert_eq!(common::xattr::list(&x), b"user.origin\0");
        assert_eq!(
            common::xattr::get(&m2.mp.join("t/text.txt"), "user.origin"),
            None
        );
    } else {
        eprintln!("the temporary file system keeps no user.* attributes: xattr part skipped");
    }

    // `ls -lR` lists everything (readdirplus) without reading data.
    let ls = Command::new("ls").arg("-lR").arg(&mt).output().unwrap();
    assert!(ls.status.success());
    assert!(String::from_utf8_lossy(&ls.stdout).contains("日本語.txt"));

    // Hard links share an inode; symlinks resolve inside the mount.
    let ino = |p: &str| fs::metadata(mt.join(p)).unwrap().ino();
    assert_eq!(ino("text.txt"), ino("hard_text"));
    assert_eq!(ino("big.bin"), ino("dir/hard_big"));
    assert_eq!(fs::metadata(mt.join("text.txt")).unwrap().nlink(), 2);
    let text = fs::read(tree.join("text.txt")).unwrap();
    assert!(fs::read(mt.join("link_to_text")).unwrap() == text);
    assert!(fs::read(mt.join("dir/deep/up")).unwrap() == text);
    assert_eq!(
        fs::read(mt.join("dirlink/deep/deeper/x.txt")).unwrap(),
        b"deep inside\n"
    );
    assert!(fs::metadata(mt.join("dangling")).is_err());

    // Random preads, many across 4 KiB block boundaries, against the original bytes.
    let mut g = Gen(42);
    for name in [
        "big.bin",
        "text.txt",
        "dir/mixed.dat",
        "sparse.img",
        "small/f07.txt",
    ] {
        let want = fs::read(tree.join(name)).unwrap();
        let f = fs::File::open(mt.join(name)).unwrap();
        for k in 0..300 {
            let len = match k % 3 {
                0 => 1 + (g.next() % 64) as usize,
                1 => 1 + (g.next() % 9000) as usize,
                _ => 4096,
            };
            let off = if k % 4 == 0 {
                // straddle a block boundary
                let b = (g.next() % (want.len() as u64 / 4096 + 1)) * 4096;
                b.saturating_sub(len as u64 / 2)
            } else {
                g.next() % (want.len() as u64 + 10)
            };
            let got = pread(&f, off, len);
            let s = (off as usize).min(want.len());
            let e = (s + len).min(want.len());
            assert!(got == want[s..e], "{name}: pread({off}, {len})");
        }
    }

    // Writes are refused.
    assert!(fs::OpenOptions::new()
        .write(true)
        .open(mt.join("text.txt"))
        .is_err());
    m.unmount();
}

#[test]
fn mount_with_one_mebibyte_blocks_and_a_tiny_cache() {
    require_fuse!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    let archive = tmp.path().join("t.yoz");
    pack(&tree, &archive, "1M");
    let m = Mounted::new(
        &archive,
        &tmp.path().join("mnt"),
        &["--cache-size", "0", "--threads", "2"],
    );
    compare_trees(&tree, &m.mp.join("t"));
    m.unmount();
}

#[test]
fn corrupt_block_gives_eio_and_the_mount_survives() {
    require_fuse!();
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("c");
    fs::create_dir_all(&c).unwrap();
    let mut g = Gen(7);
    fs::write(c.join("victim.txt"), g.text(20_000)).unwrap();
    fs::write(c.join("fine.txt"), g.text(20_000)).unwrap();
    let archive = tmp.path().join("c.yoz");
    pack(&c, &archive, "4K");

    // Flip a byte in the middle of victim.txt's second block.
    let at = {
        let ar = yoz::Archive::open(&archive).unwrap();
        let i = ar.find("c/victim.txt").unwrap();
        let yoz::container::Storage::Blocks { first, .. } = ar.entries()[i].storage else {
            panic!("victim.txt should have its own blocks");
        };
        let b = ar.blocks()[first as usize + 1];
        b.offset + yoz::container::format::BLOCK_HEADER_LEN as u64 + b.comp_len as u64 / 2
    };
    let mut bytes = fs::read(&archive).unwrap();
    bytes[at as usize] ^= 0x55;
    fs::write(&archive, &bytes).unwrap();

    let log = tmp.path().join("mount.log");
    let m = Mounted::new(
        &archive,
        &tmp.path().join("mnt"),
        &["--log", log.to_str().unwrap()],
    );
    let victim = m.mp.join("c/victim.txt");
    for _ in 0..2 {
        let err = fs::read(&victim).expect_err("reading a corrupt block must fail");
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    }
    // The first block is intact and still readable on its own.
    let mut head = vec![0u8; 100];
    fs::File::open(&victim)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert!(head == fs::read(c.join("victim.txt")).unwrap()[..100]);
    assert!(fs::read(m.mp.join("c/fine.txt")).unwrap() == fs::read(c.join("fine.txt")).unwrap());
    assert!(m.daemon().is_some(), "the daemon died");
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("victim.txt") && logged.contains("EIO"),
        "log: {logged:?}"
    );
    m.unmount();
}

#[test]
fn sigterm_unmounts_a_foreground_mount() {
    require_fuse!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("s");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("a"), b"hello").unwrap();
    let archive = tmp.path().join("s.yoz");
    pack(&tree, &archive, "4K");
    let mp = tmp.path().join("mnt");
    fs::create_dir_all(&mp).unwrap();
    let mp = fs::canonicalize(&mp).unwrap();
    let _guard = Mounted { mp: mp.clone() };
    let mut child = Command::new(YOZ)
        .args(["mount", "--foreground"])
        .arg(&archive)
        .arg(&mp)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !is_mounted(&mp) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "mount never appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "yoz mount exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fs::read(mp.join("s/a")).unwrap(), b"hello");
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(code.success(), "exit status {code}");
    assert!(!is_mounted(&mp), "SIGTERM left the mount behind");
    // The mount point is an ordinary, empty directory again.
    assert_eq!(fs::read_dir(&mp).unwrap().count(), 0);
}

#[test]
fn mount_errors_are_reported_not_hung() {
    require_fuse!();
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(YOZ)
        .arg("mount")
        .arg(tmp.path().join("missing.yoz"))
        .arg(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yoz"));
}

/// Several threads reading the same files at once, with different read sizes, sequentially
/// and backwards: exercises the shared block slots, the prefetch workers and eviction under a
/// cache budget smaller than the files.
#[test]
fn concurrent_readers_see_the_same_bytes() {
    require_fuse!();
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    let archive = tmp.path().join("t.yoz");
    pack(&tree, &archive, "4K");
    let m = Mounted::new(
        &archive,
        &tmp.path().join("mnt"),
        &["--cache-size", "64K", "--threads", "3"],
    );
    let names = ["big.bin", "text.txt", "dir/mixed.dat", "sparse.img"];
    std::thread::scope(|s| {
        for t in 0..6usize {
            let (tree, mt) = (&tree, m.mp.join("t"));
            s.spawn(move || {
                for name in names {
                    let want = fs::read(tree.join(name)).unwrap();
                    let f = fs::File::open(mt.join(name)).unwrap();
                    let step = [1000, 4096, 5000, 65536, 3, 130_000][t];
                    let mut offs: Vec<u64> = (0..want.len() as u64).step_by(step).collect();
                    if t % 2 == 1 {
                        offs.reverse();
                    }
                    for off in offs {
                        let got = pread(&f, off, step);
                        let e = (off as usize + step).min(want.len());
                        assert!(got == want[off as usize..e], "{name} at {off} (thread {t})");
                    }
                }
            });
        }
    });
    m.unmount();
}

/// Neural image entries through the mount: the background daemon (which gets `--device` on its
/// command line) decodes them through ONNX Runtime; sizes come from the index, pixels match the
/// conformance vector's reference within the spec's tolerance.
#[test]
fn neural_images_decode_through_the_mount() {
    require_fuse!();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let tmp = tempfile::tempdir().unwrap();
    let m = Mounted::new(
        &root.join("lossy-neural.yoz"),
        &tmp.path().join("mnt"),
        &["--device", "cpu"],
    );
    for (name, raw) in [
        ("rgb.png", "rgb.png.raw"),
        ("gray-alpha.png", "gray-alpha.png.raw"),
    ] {
        let png = fs::read(m.mp.join(name)).unwrap();
        assert_eq!(
            fs::metadata(m.mp.join(name)).unwrap().len(),
            png.len() as u64
        );
        let img = yoz::image::png_io::decode_png(&png, name, 1 << 20).unwrap();
        let want = fs::read(root.join("lossy-neural.ref").join(raw)).unwrap();
        assert_eq!(img.data.len(), want.len());
        let worst = img
            .data
            .iter()
            .zip(&want)
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .max();
        assert!(worst.unwrap() <= 1, "{name}: off by {worst:?}");
    }
    m.unmount();
}

#[test]
fn no_mmap_mount_survives_an_archive_rewritten_and_truncated_under_it() {
    require_fuse!();
    survives_rewrite_and_truncate(&["--no-mmap"]);
}

/// The default mount maps the archive: a truncation under it must give EIO (the SIGBUS guard
/// answers with zero pages that fail the CRC), and a rewritten stored block must never be served
/// (stored blocks are private, checked copies).
#[test]
fn mapped_mount_survives_an_archive_rewritten_and_truncated_under_it() {
    require_fuse!();
    survives_rewrite_and_truncate(&[]);
}

fn survives_rewrite_and_truncate(extra: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("c");
    fs::create_dir_all(&c).unwrap();
    let mut g = Gen(11);
    // Random bytes: zstd stores them, so the mount serves stored blocks.
    let files: Vec<(String, Vec<u8>)> = ["a.bin", "b.bin", "c.bin"]
        .iter()
        .map(|n| (n.to_string(), g.noise(100_000)))
        .collect();
    for (n, d) in &files {
        fs::write(c.join(n), d).unwrap();
    }
    let archive = tmp.path().join("c.yoz");
    pack(&c, &archive, "16K");
    let b_block = {
        let ar = yoz::Archive::open(&archive).unwrap();
        let i = ar.find("c/b.bin").unwrap();
        let yoz::container::Storage::Blocks { first, .. } = ar.entries()[i].storage else {
            panic!("b.bin should have its own blocks");
        };
        let b = ar.blocks()[first as usize];
        assert_eq!(
            b.codec,
            yoz::codec::id::STORE,
            "random data should be stored"
        );
        b.offset + yoz::container::format::BLOCK_HEADER_LEN as u64 + 10
    };
    let m = Mounted::new(&archive, &tmp.path().join("mnt"), extra);
    assert!(fs::read(m.mp.join("c/a.bin")).unwrap() == files[0].1);
    // Rewrite a byte of b.bin's stored block in place, before anything read it: the mount
    // checks it on the read (EIO) and never serves the rewritten bytes.
    let f = fs::OpenOptions::new().write(true).open(&archive).unwrap();
    f.write_at(
        &[0x5a ^ fs::read(&archive).unwrap()[b_block as usize]],
        b_block,
    )
    .unwrap();
    let err = fs::read(m.mp.join("c/b.bin")).expect_err("a rewritten block must fail its CRC");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    // Truncate it: reads fail with EIO and the daemon lives (an unguarded map would SIGBUS).
    f.set_len(100).unwrap();
    let err = fs::read(m.mp.join("c/c.bin")).expect_err("reading a truncated archive must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    assert!(m.daemon().is_some(), "the daemon died");
    // a.bin was read before: its checked copy may still be served, and must be the original.
    if let Ok(again) = fs::read(m.mp.join("c/a.bin")) {
        assert!(again == files[0].1, "a.bin changed after the truncation");
    }
    assert!(m.daemon().is_some(), "the daemon died");
    m.unmount();
}

/// Every small hostile input (the conformance corpus and damaged copies of its valid archives,
/// `common::hostile_inputs`) is either refused by `yoz mount` or mounted and read whole —
/// every file, in 64 KiB reads — within 10 s per archive, under a 500 MB address-space limit
/// for the daemon, which must still be serving afterwards (no panic, no signal, no hang).
#[test]
fn every_small_hostile_input_is_bounded_when_mounted() {
    require_fuse!();
    let t = tempfile::tempdir().unwrap();
    let inputs = t.path().join("inputs");
    fs::create_dir(&inputs).unwrap();
    let (mut mounted, mut refused) = (0, 0);
    for (k, f) in common::hostile_inputs(&inputs).into_iter().enumerate() {
        let mp = t.path().join(format!("mp{k}"));
        fs::create_dir(&mp).unwrap();
        let mp = fs::canonicalize(&mp).unwrap();
        let mut c = Command::new(YOZ);
        c.arg("mount")
            .arg(&f)
            .arg(&mp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        common::limit_address_space(&mut c, 500 << 20);
        let st = c.status().unwrap();
        if !st.success() {
            assert!(
                matches!(st.code(), Some(1..=2)),
                "{}: mount ended with {st:?}",
                f.display()
            );
            assert!(!is_mounted(&mp));
            refused += 1;
            continue;
        }
        let m = Mounted { mp: mp.clone() };
        let (tx, rx) = std::sync::mpsc::channel();
        let root = mp.clone();
        std::thread::spawn(move || {
            let mut read = 0u64;
            let mut stack = vec![root];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                    let ft = match e.file_type() {
                        Ok(ft) => ft,
                        Err(_) => continue,
                    };
                    if ft.is_dir() {
                        stack.push(e.path());
                    } else if ft.is_file() {
                        if let Ok(mut file) = fs::File::open(e.path()) {
                            let mut buf = vec![0u8; 64 << 10];
                            while let Ok(n @ 1..) = file.read(&mut buf) {
                                read += n as u64;
                            }
                        }
                    }
                }
            }
            let _ = tx.send(read);
        });
        let done = rx.recv_timeout(Duration::from_secs(10));
        let alive = m.daemon().is_some() && fs::metadata(&mp).is_ok();
        if done.is_err() {
            if let Some(pid) = m.daemon() {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
            panic!("{}: reading the mount took over 10 s", f.display());
        }
        assert!(
            alive,
            "{}: the daemon died while serving reads",
            f.display()
        );
        m.unmount();
        mounted += 1;
    }
    eprintln!("{mounted} archives mounted and read, {refused} refused");
    assert!(
        mounted > 100 && refused > 100,
        "{mounted} mounted, {refused} refused"
    );
}

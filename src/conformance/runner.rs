//! Runs the corpus against an implementation through its command line (`CMD verify FILE`,
//! `CMD unpack -C DIR FILE`, and the same on stdin with `-`), reading the error class from
//! `error[CLASS]` on stderr.

use crate::error::{Error, IoContext, Result};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single command may run before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub vector: String,
    pub mode: &'static str,
    pub expected: String,
    pub got: String,
    pub pass: bool,
}

struct Ran {
    ok: bool,
    class: String,
}

fn run(cmd: &[String], args: &[&str], stdin: Option<&Path>) -> Result<Ran> {
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c.stdin(match stdin {
        Some(p) => Stdio::from(fs::File::open(p).ctx(|| format!("opening {}", p.display()))?),
        None => Stdio::null(),
    });
    let mut child = c.spawn().ctx(|| format!("running {}", cmd.join(" ")))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().ctx(|| "waiting".into())? {
            break Some(s);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let Some(status) = status else {
        return Ok(Ran {
            ok: false,
            class: "timeout".into(),
        });
    };
    if status.success() {
        return Ok(Ran {
            ok: true,
            class: "ok".into(),
        });
    }
    let class = err
        .find("error[")
        .and_then(|i| {
            err[i + 6..]
                .find(']')
                .map(|j| err[i + 6..i + 6 + j].to_string())
        })
        .unwrap_or_else(|| match status.code() {
            Some(c) => format!("exit-{c}-without-class"),
            None => "crashed".into(),
        });
    Ok(Ran { ok: false, class })
}

/// Compares an extracted tree with a manifest; returns a difference or `None`.
fn check_tree(dir: &Path, manifest: &str, vdir: &Path) -> Option<String> {
    let mut want: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    for line in manifest.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Some(format!("bad manifest line {line:?}"));
        }
        want.insert(
            f[1].to_string(),
            (
                f[0].to_string(),
                f[2].to_string(),
                f.get(3).unwrap_or(&"").to_string(),
            ),
        );
        if let Some(r) = f.get(4) {
            refs.insert(f[1].to_string(), r.to_string());
        }
    }
    for (path, (kind, a, b)) in &want {
        // Manifest paths and targets are in the escape form of spec §4.2.4.
        let Some(raw) = crate::path::unescape(path) else {
            return Some(format!("bad manifest path {path:?}"));
        };
        let p = dir.join(std::ffi::OsStr::from_bytes(&raw));
        let m = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(_) => return Some(format!("{path}: missing")),
        };
        let mode = || format!("{:o}", m.permissions().mode() & 0o1777);
        let strip = |s: &str| {
            u32::from_str_radix(s, 8)
                .map(|x| format!("{:o}", x & 0o1777))
                .unwrap_or_default()
        };
        match kind.as_str() {
            "file" => {
                if !m.is_file() {
                    return Some(format!("{path}: not a file"));
                }
                if mode() != strip(a) {
                    return Some(format!("{path}: mode {} instead of {}", mode(), strip(a)));
                }
                let data = fs::read(&p).unwrap_or_default();
                if super::sha256(&data) != *b {
                    return Some(format!("{path}: content differs"));
                }
            }
            "dir" => {
                if !m.is_dir() {
                    return Some(format!("{path}: not a directory"));
                }
                if mode() != strip(a) {
                    return Some(format!("{path}: mode {} instead of {}", mode(), strip(a)));
                }
            }
            "image" => {
                let bytes = fs::read(&p).unwrap_or_default();
                match crate::image::png_io::decode_png(&bytes, path, 1 << 28) {
                    Ok(img) => {
                        let shape = format!("{}x{}x{}", img.width, img.height, img.channels);
                        if shape != *a {
                            return Some(format!("{path}: image is {shape}, expected {a}"));
                        }
                        if super::sha256(&img.data) != *b {
                            return Some(format!("{path}: decoded pixels differ"));
                        }
                    }
                    Err(e) => return Some(format!("{path}: not a readable PNG ({e})")),
                }
            }
            "image~" => {
                let bytes = fs::read(&p).unwrap_or_default();
                let img = match crate::image::png_io::decode_png(&bytes, path, 1 << 28) {
                    Ok(img) => img,
                    Err(e) => return Some(format!("{path}: not a readable PNG ({e})")),
                };
                let shape = format!("{}x{}x{}", img.width, img.height, img.channels);
                if shape != *a {
                    return Some(format!("{path}: image is {shape}, expected {a}"));
                }
                let tol: i32 = b.parse().unwrap_or(0);
                let Some(reference) = refs.get(path).and_then(|r| fs::read(vdir.join(r)).ok())
                else {
                    return Some(format!("{path}: reference pixels missing"));
                };
                if reference.len() != img.data.len() {
                    return Some(format!("{path}: reference has the wrong size"));
                }
                let worst = img
                    .data
                    .iter()
                    .zip(&reference)
                    .map(|(&x, &y)| (i32::from(x) - i32::from(y)).abs())
                    .max()
                    .unwrap_or(0);
                if worst > tol {
                    return Some(format!(
                        "{path}: pixels differ from the reference by {worst} (tolerance {tol})"
                    ));
                }
            }
            "fifo" => {
                use std::os::unix::fs::FileTypeExt;
                if !m.file_type().is_fifo() {
                    return Some(format!("{path}: not a FIFO"));
                }
                if mode() != strip(a) {
                    return Some(format!("{path}: mode {} instead of {}", mode(), strip(a)));
                }
            }
            "symlink" => match fs::read_link(&p) {
                Ok(t) if crate::path::escape_bytes(t.as_os_str().as_bytes()) == *a => {}
                _ => return Some(format!("{path}: not a symlink to {a}")),
            },
            k => return Some(format!("unknown manifest kind {k}")),
        }
    }
    // Nothing extra, except directories implied by the listed paths.
    let mut extra = None;
    walk(dir, dir, &mut |rel, is_dir| {
        if want.contains_key(rel) {
            return;
        }
        let implied = is_dir
            && want
                .keys()
                .any(|k| k.starts_with(rel) && k.as_bytes().get(rel.len()) == Some(&b'/'));
        if !implied && extra.is_none() {
            extra = Some(format!("{rel}: not in the manifest"));
        }
    });
    extra
}

fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&str, bool)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let rel =
            crate::path::escape_bytes(p.strip_prefix(root).unwrap_or(&p).as_os_str().as_bytes());
        let is_dir = fs::symlink_metadata(&p)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        f(&rel, is_dir);
        if is_dir {
            walk(root, &p, f);
        }
    }
}

fn verdict(expected: &[String], ran: &Ran) -> bool {
    expected.iter().any(|c| c == &ran.class)
}

/// The four ways a vector is read: `verify` and `unpack`, each on the file (random access)
/// and on stdin (streaming). Returns each mode, what happened, and the unpack destination.
fn four_runs(
    cmd: &[String],
    file: &Path,
    scratch: &Path,
) -> Result<Vec<(&'static str, Ran, Option<PathBuf>)>> {
    let f = file.to_string_lossy().into_owned();
    let mut out = Vec::with_capacity(4);
    for (mode, stdin) in [("verify file", None), ("verify stdin", Some(file))] {
        let r = run(
            cmd,
            &["verify", if stdin.is_some() { "-" } else { &f }],
            stdin,
        )?;
        out.push((mode, r, None));
    }
    for (k, (mode, stdin)) in [("unpack file", None), ("unpack stdin", Some(file))]
        .into_iter()
        .enumerate()
    {
        let dest = scratch.join(format!(
            "{}-{k}",
            file.file_stem().unwrap_or_default().to_string_lossy()
        ));
        let ds = dest.to_string_lossy().into_owned();
        let r = run(
            cmd,
            &["unpack", "-C", &ds, if stdin.is_some() { "-" } else { &f }],
            stdin,
        )?;
        out.push((mode, r, Some(dest)));
    }
    Ok(out)
}

/// Runs every vector under `corpus` against `cmd` (the program and its leading arguments).
pub fn run_corpus(cmd: &[String], corpus: &Path) -> Result<Vec<Outcome>> {
    let tmp = tempfile::tempdir().ctx(|| "creating a scratch directory".into())?;
    let mut out = Vec::new();
    let vdir = corpus.join("valid");
    let mut names: Vec<PathBuf> = fs::read_dir(&vdir)
        .ctx(|| format!("reading {}", vdir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yoz"))
        .collect();
    names.sort();
    for file in &names {
        let name = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let manifest = fs::read_to_string(file.with_extension("manifest"))
            .ctx(|| format!("manifest of {name}"))?;
        for (mode, r, dest) in four_runs(cmd, file, &tmp.path().join("valid"))? {
            let (pass, got) = match dest {
                _ if !r.ok => (false, r.class),
                None => (true, r.class),
                Some(dest) => {
                    fs::create_dir_all(&dest).ok();
                    match check_tree(&dest, &manifest, &vdir) {
                        None => (true, "ok".into()),
                        Some(d) => (false, format!("wrong output: {d}")),
                    }
                }
            };
            out.push(Outcome {
                vector: name.clone(),
                mode,
                expected: "ok".into(),
                got,
                pass,
            });
        }
    }
    let tsv = fs::read_to_string(corpus.join("invalid/MANIFEST.tsv"))
        .ctx(|| "reading invalid/MANIFEST.tsv".into())?;
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Err(Error::InvalidArgument(format!(
                "bad MANIFEST.tsv line {line:?}"
            )));
        }
        let file = corpus.join("invalid").join(format!("{}.yoz", f[0]));
        let verify: Vec<String> = f[1].split(',').map(str::to_string).collect();
        let unpack: Vec<String> = f[2].split(',').map(str::to_string).collect();
        for (mode, r, dest) in four_runs(cmd, &file, &tmp.path().join("invalid"))? {
            let want = if dest.is_some() { &unpack } else { &verify };
            out.push(Outcome {
                vector: f[0].into(),
                mode,
                expected: want.join("|"),
                got: r.class.clone(),
                pass: verdict(want, &r),
            });
        }
    }
    Ok(out)
}

/// Prints the outcome table and the totals line; returns the number of failures.
pub fn report(outcomes: &[Outcome], w: &mut dyn Write, all: bool) -> usize {
    let failed = outcomes.iter().filter(|o| !o.pass).count();
    let _ = writeln!(
        w,
        "{:<6} {:<28} {:<13} {:<36} got",
        "result", "vector", "mode", "expected"
    );
    for o in outcomes.iter().filter(|o| all || !o.pass) {
        let _ = writeln!(
            w,
            "{:<6} {:<28} {:<13} {:<36} {}",
            if o.pass { "PASS" } else { "FAIL" },
            o.vector,
            o.mode,
            o.expected,
            o.got
        );
    }
    let _ = writeln!(w, "{} passed, {} failed", outcomes.len() - failed, failed);
    failed
}

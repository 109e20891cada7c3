//! Extended attributes on the file-system side (spec §4.2.3): read at pack time, restored at
//! unpack time. `user.*` by default; every namespace (`security.*`, `trusted.*`, `system.*`:
//! SELinux labels, capabilities, ACLs) on request, as tar's `--xattrs`.

use crate::container::format::{XATTRS_MAX, XATTR_VALUE_MAX};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether attribute `name` is one this run carries: `user.*`, or any with `all`.
pub fn wanted(name: &str, all: bool) -> bool {
    all || name.starts_with("user.")
}

/// The attributes of `path` itself (a symlink is not followed), sorted by name, as many as
/// the format carries; none where the file system has none. Names that are not UTF-8 or longer
/// than 255 bytes and values over 64 KiB cannot be stored: each is an error naming it, for the
/// caller to warn about.
pub fn read(path: &Path, all: bool) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let Ok(p) = CString::new(path.as_os_str().as_bytes()) else {
        return (out, problems);
    };
    // SAFETY: valid NUL-terminated path and a buffer of the given length.
    let list = grow_read(4096, 1 << 20, |b| unsafe {
        libc::llistxattr(p.as_ptr(), b.as_mut_ptr().cast(), b.len())
    });
    // ENOTSUP and friends: no attributes to carry.
    let Some(names) = list else {
        return (out, problems);
    };
    for raw in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(raw) else {
            problems.push(format!(
                "attribute {:?} is not UTF-8",
                String::from_utf8_lossy(raw)
            ));
            continue;
        };
        if !wanted(name, all) {
            continue;
        }
        if name.len() > 255 {
            problems.push(format!("attribute name {name:?} is over 255 bytes"));
            continue;
        }
        let Ok(cname) = CString::new(raw) else {
            continue;
        };
        // SAFETY: valid NUL-terminated path and name, and a buffer of the given length.
        let value = grow_read(1024, XATTR_VALUE_MAX + 1, |b| unsafe {
            libc::lgetxattr(p.as_ptr(), cname.as_ptr(), b.as_mut_ptr().cast(), b.len())
        });
        match value {
            Some(v) if v.len() <= XATTR_VALUE_MAX => out.push((name.to_string(), v)),
            Some(_) | None => problems.push(format!("attribute {name:?} could not be read whole")),
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.truncate(XATTRS_MAX);
    (out, problems)
}

/// Runs `call`, a `listxattr`/`getxattr`-style call that fills its buffer and returns the length
/// (or −1 with `errno`), with a buffer of `start` bytes grown fourfold on `ERANGE` while it is
/// below `max`; the bytes it returned, or `None` on any other failure.
fn grow_read(
    start: usize,
    max: usize,
    mut call: impl FnMut(&mut [u8]) -> isize,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; start];
    loop {
        let n = call(&mut buf);
        if n >= 0 {
            buf.truncate(n as usize);
            return Some(buf);
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || buf.len() >= max {
            return None;
        }
        let grown = buf.len() * 4;
        buf.resize(grown, 0);
    }
}

/// Sets attribute `name` on the open file or directory `fd`.
pub fn set(fd: BorrowedFd, name: &str, value: &[u8]) -> io::Result<()> {
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid descriptor, NUL-terminated name, and a value buffer of the given length.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

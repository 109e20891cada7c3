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
    let mut names = vec![0u8; 4096];
    let len = loop {
        // SAFETY: valid NUL-terminated path and a buffer of the given length.
        let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ERANGE) && names.len() < 1 << 20 {
            names.resize(names.len() * 4, 0);
            continue;
        }
        // ENOTSUP and friends: no attributes to carry.
        return (out, problems);
    };
    for raw in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
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
        let mut value = vec![0u8; 1024];
        let got = loop {
            // SAFETY: valid NUL-terminated path and name, and a buffer of the given length.
            let n = unsafe {
                libc::lgetxattr(
                    p.as_ptr(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if n >= 0 {
                break Some(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ERANGE) && value.len() <= XATTR_VALUE_MAX {
                value.resize(value.len() * 4, 0);
                continue;
            }
            break None;
        };
        match got {
            Some(n) if n <= XATTR_VALUE_MAX => {
                value.truncate(n);
                out.push((name.to_string(), value));
            }
            Some(_) | None => problems.push(format!("attribute {name:?} could not be read whole")),
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.truncate(XATTRS_MAX);
    (out, problems)
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

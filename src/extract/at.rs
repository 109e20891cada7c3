//! File-system calls relative to an open directory (the `openat` family). Extraction resolves
//! each entry's parent once, component by component with `O_NOFOLLOW`, and then names only
//! that descriptor and a single final component: a directory swapped for a symlink by a
//! concurrent user after the check cannot redirect the write (with paths, the check and the
//! `open` resolved the path separately, and a race put files outside the destination).
//!
//! Names (and symlink targets) are given in the escape form of spec §4.2.4 (`\\` for a
//! backslash, `\xHH` for a byte that is not UTF-8): the extractor spells every entry that way
//! ([`crate::path::escape_bytes`] of a plain name), and the bytes are restored here.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

/// A name in the extractor's spelling — the escape form of spec §4.2.4 for every name, so one
/// string type carries names that are not UTF-8 — as the bytes the file system gets.
fn fs_name(name: &str) -> io::Result<CString> {
    let raw = crate::path::unescape(name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "malformed escaped name"))?;
    cstr(&raw)
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The destination itself (a symlink here is the user's own choice and is followed).
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let p = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path; the returned descriptor is owned by the caller.
    let fd = check(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens directory `name` of `parent`, refusing a symlink (`ELOOP`) or a non-directory
/// (`ENOTDIR`).
pub fn open_dir(parent: BorrowedFd, name: &str) -> io::Result<OwnedFd> {
    let n = fs_name(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name; the result is owned by the caller.
    let fd = check(unsafe {
        libc::openat(
            parent.as_raw_fd(),
            n.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mkdir(parent: BorrowedFd, name: &str, mode: u32) -> io::Result<()> {
    let n = fs_name(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name.
    check(unsafe { libc::mkdirat(parent.as_raw_fd(), n.as_ptr(), mode as libc::mode_t) })
        .map(|_| ())
}

/// Creates a new file (`O_EXCL | O_NOFOLLOW`): never opens what exists, never follows a link.
pub fn create_file(parent: BorrowedFd, name: &str, mode: u32) -> io::Result<File> {
    let n = fs_name(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name; the result is owned by the caller.
    let fd = check(unsafe {
        libc::openat(
            parent.as_raw_fd(),
            n.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens an existing regular file for reading, never through a symlink and never waiting on a
/// FIFO put in its place.
pub fn open_read(parent: BorrowedFd, name: &str) -> io::Result<File> {
    let n = fs_name(name)?;
    // SAFETY: a valid descriptor and NUL-terminated name; the result is owned by the caller.
    let fd = check(unsafe {
        libc::openat(
            parent.as_raw_fd(),
            n.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

pub fn symlink(target: &str, parent: BorrowedFd, name: &str) -> io::Result<()> {
    let (t, n) = (fs_name(target)?, fs_name(name)?);
    // SAFETY: valid NUL-terminated strings and descriptor.
    check(unsafe { libc::symlinkat(t.as_ptr(), parent.as_raw_fd(), n.as_ptr()) }).map(|_| ())
}

/// A FIFO (`dev` = `None`) or a character or block device node `parent/name`, created with
/// permission bits 0600 (the final mode is set afterwards, as for files).
pub fn mknod(
    parent: BorrowedFd,
    name: &str,
    kind: libc::mode_t,
    dev: (u32, u32),
) -> io::Result<()> {
    let n = fs_name(name)?;
    let rdev = libc::makedev(dev.0, dev.1);
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::mknodat(parent.as_raw_fd(), n.as_ptr(), kind | 0o600, rdev) }).map(|_| ())
}

/// Permission bits of `name` itself: `fchmodat` with `AT_SYMLINK_NOFOLLOW`, so a node swapped
/// for a symlink is refused (`ELOOP`/`EOPNOTSUPP`) rather than followed.
pub fn chmod_nofollow(parent: BorrowedFd, name: &str, mode: u32) -> io::Result<()> {
    let n = fs_name(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe {
        libc::fchmodat(
            parent.as_raw_fd(),
            n.as_ptr(),
            mode as libc::mode_t,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

/// A hard link `parent/name` to `from_parent/from_name` (never following a symlink there).
pub fn hard_link(
    from_parent: BorrowedFd,
    from_name: &str,
    parent: BorrowedFd,
    name: &str,
) -> io::Result<()> {
    let (f, n) = (fs_name(from_name)?, fs_name(name)?);
    // SAFETY: valid NUL-terminated strings and descriptors; flags 0 = do not follow.
    check(unsafe {
        libc::linkat(
            from_parent.as_raw_fd(),
            f.as_ptr(),
            parent.as_raw_fd(),
            n.as_ptr(),
            0,
        )
    })
    .map(|_| ())
}

/// What `name` is, without following a symlink; `None` when nothing is there.
pub fn lstat(parent: BorrowedFd, name: &str) -> io::Result<Option<libc::stat>> {
    let n = fs_name(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid descriptor, name and an out-pointer to a `stat` the call fills.
    let r = unsafe {
        libc::fstatat(
            parent.as_raw_fd(),
            n.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    // SAFETY: fstatat succeeded, so `st` is initialised.
    Ok(Some(unsafe { st.assume_init() }))
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes `name` (a directory when `dir`).
pub fn unlink(parent: BorrowedFd, name: &str, dir: bool) -> io::Result<()> {
    let n = fs_name(name)?;
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::unlinkat(parent.as_raw_fd(), n.as_ptr(), flags) }).map(|_| ())
}

pub fn rename(parent: BorrowedFd, from: &str, to: &str) -> io::Result<()> {
    let (f, t) = (fs_name(from)?, fs_name(to)?);
    // SAFETY: valid descriptor and NUL-terminated names.
    check(unsafe {
        libc::renameat(
            parent.as_raw_fd(),
            f.as_ptr(),
            parent.as_raw_fd(),
            t.as_ptr(),
        )
    })
    .map(|_| ())
}

/// Owner of `name` itself (a symlink is not followed).
pub fn lchown(parent: BorrowedFd, name: &str, uid: u32, gid: u32) -> io::Result<()> {
    let n = fs_name(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe {
        libc::fchownat(
            parent.as_raw_fd(),
            n.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

/// Access and modification time of `name` itself (a symlink is not followed).
pub fn set_times_nofollow(parent: BorrowedFd, name: &str, sec: i64, nsec: u32) -> io::Result<()> {
    let n = fs_name(name)?;
    let t = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    };
    let ts = [t, t];
    // SAFETY: valid descriptor, name, and a two-element timespec array.
    check(unsafe {
        libc::utimensat(
            parent.as_raw_fd(),
            n.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

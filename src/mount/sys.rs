//! Thin wrappers over the system calls std does not offer. Each `unsafe` block is one FFI call
//! on values that are valid for it by construction.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::thread::JoinHandleExt;
use std::path::Path;

/// The stop signals, blocked in the thread that created this (and the threads it starts).
pub struct SignalMask {
    set: libc::sigset_t,
    old: libc::sigset_t,
}

// SAFETY: sigset_t is plain data; it is only read after construction.
unsafe impl Send for SignalMask {}
// SAFETY: as above, shared access only reads it.
unsafe impl Sync for SignalMask {}

impl SignalMask {
    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread.
    pub fn block() -> crate::Result<Self> {
        // SAFETY: an all-zero sigset_t is a valid value to hand to sigemptyset.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut old = set;
        // SAFETY: `set` and `old` are valid, exclusively borrowed sigset_t values; these
        // calls only write into them and change this thread's signal mask.
        let rc = unsafe {
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old)
        };
        if rc != 0 {
            return Err(crate::Error::io(
                "blocking signals",
                io::Error::from_raw_os_error(rc),
            ));
        }
        Ok(SignalMask { set, old })
    }

    /// Waits for one of the blocked signals and returns its number.
    pub fn wait(&self) -> i32 {
        let mut sig = 0;
        // SAFETY: `self.set` is an initialized sigset_t and `sig` a valid out pointer.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        sig
    }
}

impl Drop for SignalMask {
    /// Restores the mask the creating thread had before [`SignalMask::block`].
    fn drop(&mut self) {
        // SAFETY: `self.old` is the mask pthread_sigmask filled in; a null old-set is allowed.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// Wakes a thread blocked in [`SignalMask::wait`] by sending it SIGTERM (blocked there, so
/// it is consumed by `sigwait` and never delivered).
pub fn wake(t: &std::thread::JoinHandle<()>) {
    // SAFETY: the thread has not been joined, so its pthread_t is valid.
    unsafe { libc::pthread_kill(t.as_pthread_t(), libc::SIGTERM) };
}

/// `umount2(2)`, with `MNT_DETACH` when `lazy`.
pub fn umount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let c = CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let flags = if lazy { libc::MNT_DETACH } else { 0 };
    // Right after the last file is closed the kernel may still hold it for a moment
    // (asynchronous FUSE release): retry EBUSY briefly before giving up.
    for attempt in 0..20 {
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EBUSY) || attempt == 19 {
            return Err(err);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unreachable!("the loop returns on its last attempt")
}

/// Points stdout and stderr at `f`.
pub fn redirect_stdio(f: &std::fs::File) -> io::Result<()> {
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: both descriptors are open; dup2 atomically replaces `target`.
        if unsafe { libc::dup2(f.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

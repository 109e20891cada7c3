//! SIGBUS on a mapped archive becomes a failed read, not a dead process.
//!
//! A memory-mapped file that someone truncates while it is mapped faults with SIGBUS on the
//! pages past its new end, which kills the process — for `yoz mount` that leaves a dead
//! "Transport endpoint is not connected" mount behind. While an [`Archive`](super::Archive)
//! maps a file it registers the mapping here; the handler answers a fault inside a registered
//! mapping by mapping a page of zeros over the faulting page and counting the fault, so the
//! read completes with zeros. Zeros never pass a block's CRC (or its local header check), and
//! the reader turns the counted fault into an I/O error naming the cause. Faults anywhere else
//! go to whatever handled SIGBUS before (by default: the process dies, as it would have).
//!
//! The handler only reads atomics and calls `mmap`, `sigaction` and nothing that allocates or
//! locks, so it is safe in a signal context. Registration is a fixed table of slots filled and
//! emptied with atomics; a process with more mappings than slots keeps the old behaviour for
//! the extra ones.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 64;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    faults: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faults: AtomicU64::new(0),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The SIGBUS action in place before ours, restored for faults that are not ours.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

/// A registered mapping; dropping it unregisters (before the mapping itself goes away).
#[derive(Debug)]
pub struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// Registers `bytes` (a file mapping) so SIGBUS inside it is answered with zero pages.
    pub fn new(bytes: &[u8]) -> Guard {
        install();
        if !INSTALLED.load(Ordering::Acquire) || bytes.is_empty() {
            return Guard { slot: None };
        }
        for (k, s) in TABLE.iter().enumerate() {
            // Claim an empty slot by its length (0 = free), then publish the start.
            if s.len
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.faults.store(0, Ordering::Relaxed);
                s.start.store(bytes.as_ptr() as usize, Ordering::Release);
                s.len.store(bytes.len(), Ordering::Release);
                return Guard { slot: Some(k) };
            }
        }
        Guard { slot: None }
    }

    /// How many pages of the mapping faulted (the file shrank under it) so far.
    pub fn faults(&self) -> u64 {
        self.counter().map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// The fault counter itself, readable after the guard is gone (until its slot is reused).
    pub fn counter(&self) -> Option<&'static AtomicU64> {
        self.slot.map(|k| &TABLE[k].faults)
    }
}

/// A file mapping guarded against SIGBUS. The guard is declared first so it is dropped (and
/// its slot emptied) before the mapping is unmapped.
pub struct Mapped {
    guard: Guard,
    map: memmap2::Mmap,
}

impl Mapped {
    pub fn new(map: memmap2::Mmap) -> Mapped {
        Mapped {
            guard: Guard::new(&map),
            map,
        }
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    pub fn map(&self) -> &memmap2::Mmap {
        &self.map
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// The error a read reports when its mapping faulted: the file shrank underneath.
pub fn shrank() -> crate::error::Error {
    crate::error::Error::io(
        "reading archive",
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the archive file shrank while it was mapped (truncated or rewritten by another \
             process); reopen it, or read it with --no-mmap",
        ),
    )
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(k) = self.slot {
            let s = &TABLE[k];
            s.len.store(usize::MAX, Ordering::Release);
            s.start.store(0, Ordering::Release);
            s.len.store(0, Ordering::Release);
        }
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: plain libc calls with valid, zeroed structures; PREVIOUS is written once,
        // here, before INSTALLED lets the handler read it.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            let prev = std::ptr::addr_of_mut!(PREVIOUS) as *mut libc::sigaction;
            if libc::sigaction(libc::SIGBUS, &act, prev) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
}

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &TABLE {
        let len = s.len.load(Ordering::Acquire);
        let start = s.start.load(Ordering::Acquire);
        if len == 0 || len == usize::MAX || addr < start || addr - start >= len {
            continue;
        }
        let page = PAGE.load(Ordering::Relaxed);
        let at = addr & !(page - 1);
        // SAFETY: `at` is a page inside a live read-only mapping this process owns (the slot
        // is emptied before the mapping is unmapped); replacing it with a private zero page
        // changes what later reads of that page see and nothing else.
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            s.faults.fetch_add(1, Ordering::AcqRel);
            return;
        }
        break;
    }
    // Not ours (or the page could not be replaced): put the previous action back and return;
    // the access faults again and gets the behaviour it had without us.
    // SAFETY: PREVIOUS was filled by the sigaction call that installed this handler.
    unsafe {
        let prev = std::ptr::addr_of!(PREVIOUS) as *const libc::sigaction;
        libc::sigaction(libc::SIGBUS, prev, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_mapping_truncated_underneath_reads_zeros_and_counts_the_fault() {
        let mut f = tempfile::tempfile().unwrap();
        let page = PAGE.load(Ordering::Relaxed).max(4096);
        f.write_all(&vec![0xa5u8; page * 4]).unwrap();
        // SAFETY: test-owned file; truncating it underneath is the point.
        let m = unsafe { memmap2::Mmap::map(&f) }.unwrap();
        let g = Guard::new(&m);
        assert_eq!(m[page * 3], 0xa5);
        assert_eq!(g.faults(), 0);
        f.set_len(page as u64).unwrap();
        // Past the new end: without the guard this read kills the test process.
        let past = unsafe { std::ptr::read_volatile(m.as_ptr().add(page * 2 + 5)) };
        assert_eq!(past, 0);
        assert_eq!(g.faults(), 1);
        // Within the file the mapping still reads the file.
        assert_eq!(m[10], 0xa5);
        drop(g);
        drop(m);
    }
}

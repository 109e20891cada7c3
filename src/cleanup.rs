//! Files to remove if SIGINT or SIGTERM ends the process: the temporary archive of a pack, the
//! partial file of an unpack. Without this, Ctrl-C left a hidden `.yoz-tmp-*` (35 MB in one
//! trial) or a truncated file behind.
//!
//! A path is registered under the same lock that creates the file ([`create`]), so the signal
//! handler (which takes that lock, removes what is registered and exits 130 or 143 while
//! holding it) never races a file half-way between creation and registration.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

static FILES: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// A registered file: dropping the guard unregisters it (the file itself stays).
#[must_use = "the file is unregistered when the guard drops"]
#[derive(Debug)]
pub struct Guard(u64);

impl Drop for Guard {
    fn drop(&mut self) {
        let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
        files.retain(|(id, _)| *id != self.0);
    }
}

/// Installs the SIGINT/SIGTERM handler (once per process; later calls do nothing). Only the
/// CLI calls it: a library user keeps its own signal handling.
pub fn install() {
    INSTALL.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("yoz-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let files = FILES.lock().unwrap_or_else(|e| e.into_inner());
                    for (_, p) in files.iter() {
                        let _ = std::fs::remove_file(p);
                    }
                    // Shell convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
                    std::process::exit(128 + sig);
                }
            });
    });
}

/// Creates a file with `make` and registers `path` for removal on a signal, atomically with
/// respect to the handler. `path` is what `make` creates (known only afterwards for a
/// temporary file, hence `path_of`).
pub fn create<T, E>(
    make: impl FnOnce() -> Result<T, E>,
    path_of: impl FnOnce(&T) -> PathBuf,
) -> Result<(T, Guard), E> {
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    let made = make()?;
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    files.push((id, path_of(&made)));
    Ok((made, Guard(id)))
}

/// Whether `path` is registered (tests).
pub fn is_registered(path: &Path) -> bool {
    let files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    files.iter().any(|(_, p)| p == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_while_the_guard_lives() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let (f, g) = create(|| std::fs::File::create(&p), |_| p.clone()).unwrap();
        drop(f);
        assert!(is_registered(&p));
        drop(g);
        assert!(!is_registered(&p));
        // A failed creation registers nothing.
        let q = dir.path().join("missing/f");
        assert!(create(|| std::fs::File::create(&q), |_| q.clone()).is_err());
        assert!(!is_registered(&q));
    }
}

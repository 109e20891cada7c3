//! Background mode: starting the daemon, detaching it from the terminal, and unmounting on
//! SIGINT, SIGTERM or SIGHUP.

use super::*;

/// Starts `exe` with `args` (a `yoz mount` command line that sets [`MountOptions::detach`]) as
/// a background daemon in its own process group, and returns once it reports the mount ready.
/// Until then the daemon writes its errors to our stderr; if it exits instead, so do we, with
/// an error.
pub fn spawn_daemon(exe: &Path, args: &[OsString]) -> Result<()> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .ctx(|| format!("starting {}", exe.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        // EOF (or an error) means the daemon is gone before it was ready.
        let _ = io::BufReader::new(out).read_line(&mut line);
    }
    if line.trim_end() == READY_LINE {
        // The daemon lives on; it is reaped by whoever inherits it.
        return Ok(());
    }
    let status = child.wait().ctx(|| "waiting for the mount daemon".into())?;
    Err(Error::io(
        "starting the mount daemon",
        io::Error::other(format!("it exited ({status}) before the mount was ready")),
    ))
}

/// Tells the parent the mount is up and lets go of its stdout, stderr and working directory,
/// so that nothing the parent (a shell, a test harness) waits on stays open.
pub(super) fn detach_stdio(log: Option<&Path>) -> Result<()> {
    let sink = match log {
        Some(p) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ctx(|| format!("opening log {}", p.display()))?,
        None => std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ctx(|| "opening /dev/null".into())?,
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{READY_LINE}")
        .and_then(|()| out.flush())
        .ctx(|| "telling the parent the mount is ready".into())?;
    drop(out);
    sys::redirect_stdio(&sink).ctx(|| "redirecting stdout and stderr".into())?;
    std::env::set_current_dir("/").ctx(|| "leaving the working directory".into())
}

/// Waits for SIGINT, SIGTERM or SIGHUP on its own thread and unmounts when one comes; the
/// unmount makes the FUSE threads see ENODEV and `Session::run` return.
pub(super) struct SignalWatcher {
    pub(super) mask: Arc<sys::SignalMask>,
    pub(super) stopping: Arc<AtomicBool>,
    pub(super) thread: std::thread::JoinHandle<()>,
}

impl SignalWatcher {
    pub(super) fn start(
        mask: sys::SignalMask,
        mut unmounter: fuser::SessionUnmounter,
        mountpoint: &Path,
    ) -> Result<Self> {
        let mask = Arc::new(mask);
        let stopping = Arc::new(AtomicBool::new(false));
        let (m, s) = (mask.clone(), stopping.clone());
        let mp = mountpoint.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("yoz-signals".into())
            .spawn(move || loop {
                let sig = m.wait();
                if s.load(Ordering::SeqCst) {
                    return;
                }
                eprintln!("yoz mount: signal {sig}, unmounting {}", mp.display());
                if let Err(e) = unmounter.unmount() {
                    // Busy (a file is open): detach now; the daemon ends when it is closed.
                    eprintln!("yoz mount: unmount failed ({e}), detaching lazily");
                    if let Err(e) = sys::umount(&mp, true) {
                        eprintln!("yoz mount: lazy unmount failed too: {e}");
                    }
                }
            })
            .ctx(|| "starting the signal thread".into())?;
        Ok(SignalWatcher {
            mask,
            stopping,
            thread,
        })
    }

    /// Ends the watcher (the session is over); dropping the last handle on the mask then
    /// restores the caller's signal mask.
    pub(super) fn stop(self) {
        let SignalWatcher {
            mask,
            stopping,
            thread,
        } = self;
        stopping.store(true, Ordering::SeqCst);
        sys::wake(&thread);
        let _ = thread.join();
        drop(mask);
    }
}

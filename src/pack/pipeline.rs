//! The pack pipeline: the caller's thread produces jobs in archive order, `threads` workers
//! compress them, and one writer thread writes the results in that order — so the archive's
//! bytes are the same for any thread count. A bounded number of jobs is in flight, so memory
//! stays at a few blocks per thread.

use crate::builder::layout::{compress_job, write_done, Job};
use crate::codec::dict::ZstdDict;
use crate::codec::Choice;
use crate::container::format::Header;
use crate::container::RecordWriter;
use crate::error::{Error, Result};
use crate::progress::Bar;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// How the workers compress.
#[derive(Clone, Copy)]
pub(super) struct Coding<'a> {
    pub(super) choice: Choice,
    pub(super) level: i32,
    /// The archive's zstd dictionary (resource 0, written right after the header).
    pub(super) dict: Option<&'a ZstdDict>,
}

/// Writes `header` (and the dictionary) to `out`, then runs `produce` on this thread with a
/// `send` for its jobs; returns the writer, positioned after the last record, and what
/// `produce` returned. The first real error wins: a writer error when the writer failed (the
/// producer then only saw its jobs refused), otherwise the producer's (jobs dropped after it
/// failed are not errors of their own), so the user never sees a cancellation.
pub(super) fn run<W: Write + Send, T>(
    out: W,
    header: Header,
    coding: Coding<'_>,
    threads: usize,
    bar: &Bar,
    produce: impl FnOnce(&mut dyn FnMut(Job) -> Result<()>) -> Result<T>,
) -> Result<(RecordWriter<W>, T)> {
    let failed = AtomicBool::new(false);
    let threads = threads.max(1);
    let (writer_res, produce_res) = std::thread::scope(|s| {
        let cap = threads * 2 + 2;
        let (job_tx, job_rx) = crossbeam_channel::bounded::<(u64, Job)>(cap);
        // `None` = a job dropped because the pipeline already failed.
        let (done_tx, done_rx) =
            crossbeam_channel::unbounded::<(u64, Option<Result<crate::builder::layout::Done>>)>();
        let (tok_tx, tok_rx) = crossbeam_channel::bounded::<()>(cap);
        for _ in 0..cap {
            tok_tx.send(()).expect("fresh channel has room");
        }
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let failed = &failed;
            s.spawn(move || {
                for (seq, job) in job_rx {
                    let r = if failed.load(Ordering::Relaxed) {
                        None
                    } else {
                        Some(compress_job(job, coding.choice, coding.level, coding.dict))
                    };
                    if done_tx.send((seq, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(job_rx);
        let failed_w = &failed;
        let bar_w = bar.clone();
        // Ok(None): stopped by a failure elsewhere in the pipeline (the producer's).
        let writer = s.spawn(move || -> Result<Option<RecordWriter<W>>> {
            let mut w = Some(RecordWriter::with_header(out, header)?);
            if let (Some(d), Some(w)) = (coding.dict, w.as_mut()) {
                w.dictionary(d.bytes())?;
            }
            let mut err = None;
            let mut cancelled = false;
            let mut held = BTreeMap::new();
            let mut next = 0u64;
            for (seq, r) in done_rx {
                held.insert(seq, r);
                while let Some(r) = held.remove(&next) {
                    next += 1;
                    let _ = tok_tx.send(());
                    if err.is_some() || cancelled {
                        continue;
                    }
                    let Some(r) = r else {
                        cancelled = true;
                        continue;
                    };
                    let res = r.and_then(|d| {
                        let w = w.as_mut().expect("writer present until error");
                        write_done(w, d).map(|raw| bar_w.inc(raw))
                    });
                    if let Err(e) = res {
                        failed_w.store(true, Ordering::Relaxed);
                        err = Some(e);
                    }
                }
            }
            match err {
                Some(e) => Err(e),
                None if cancelled => Ok(None),
                None => Ok(w),
            }
        });
        let mut seq = 0u64;
        let mut send = |job: Job| -> Result<()> {
            // The writer failed: its error is the one reported (below), not this.
            let cancelled = || Error::io("pack pipeline", std::io::Error::other("cancelled"));
            if tok_rx.recv().is_err() || failed.load(Ordering::Relaxed) {
                return Err(cancelled());
            }
            job_tx.send((seq, job)).map_err(|_| cancelled())?;
            seq += 1;
            Ok(())
        };
        let produce_res = produce(&mut send);
        if produce_res.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        drop(job_tx);
        (writer.join().expect("writer thread panicked"), produce_res)
    });
    let w = writer_res?;
    let t = produce_res?;
    let w = w.ok_or_else(|| {
        Error::io(
            "pack pipeline",
            std::io::Error::other("stopped without a cause"),
        )
    })?;
    Ok((w, t))
}

//! How far a call has got, shared between the workers (who add to it) and
//! the caller (who reads it from another thread, e.g. to draw a bar).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters a running call updates as each file is placed. A call adds its
/// totals once it has walked the source (until then they read 0), so one
/// `Progress` may also count many calls, one after another or at once.
#[derive(Debug, Default)]
pub struct Progress {
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
}

/// One consistent-enough reading of [`Progress`]: each field is exact, but
/// they are read one after another while workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressSnapshot {
    /// Files placed so far.
    pub files_done: u64,
    /// Files to place (0 until the source has been walked).
    pub files_total: u64,
    /// Bytes placed so far, counted as they are copied.
    pub bytes_done: u64,
    /// Bytes of all the files to place.
    pub bytes_total: u64,
}

impl Progress {
    /// Counters at 0.
    pub fn new() -> Self {
        Progress::default()
    }

    pub(crate) fn add_totals(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Ordering::Relaxed);
        self.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_done(&self, files: u64, bytes: u64) {
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
        self.files_done.fetch_add(files, Ordering::Relaxed);
    }

    /// The share of one file, placed by one worker.
    pub(crate) fn file(&self) -> FileProgress<'_> {
        FileProgress {
            progress: self,
            reported: Cell::new(0),
        }
    }

    /// The counters now; safe to call from any thread while calls run.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: self.files_total.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
        }
    }
}

/// One file's share of [`Progress`]: bytes are counted as a copy moves them,
/// so a large file advances the bar before it is complete, and the rest (all
/// of it, for a clone or a link) when the file is done.
pub(crate) struct FileProgress<'a> {
    progress: &'a Progress,
    reported: Cell<u64>,
}

impl FileProgress<'_> {
    pub fn copied(&self, bytes: u64) {
        self.reported.set(self.reported.get() + bytes);
        self.progress.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn done(self, size: u64) {
        let rest = size.saturating_sub(self.reported.get());
        self.progress.add_done(1, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_counts_its_copied_bytes_once() {
        let progress = Progress::new();
        progress.add_totals(2, 30);
        let share = progress.file();
        share.copied(8);
        share.copied(4);
        assert_eq!(progress.snapshot().bytes_done, 12);
        share.done(20);
        progress.file().done(10);
        let end = progress.snapshot();
        assert_eq!((end.files_done, end.bytes_done), (2, 30));
    }
}

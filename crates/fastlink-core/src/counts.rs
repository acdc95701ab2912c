//! What a call placed, counted as it goes: files per method, the per-file
//! fallbacks, and metadata the destination could not store. Workers share
//! one `Counts`; the report is made from it at the end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::meta;
use crate::method::Method;

/// Files placed by each method, and the per-file fallbacks that led there.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    reflinked: AtomicUsize,
    hardlinked: AtomicUsize,
    copied: AtomicUsize,
    /// (method, errno, files): rare, so one lock serves every worker.
    fallbacks: Mutex<Vec<(Method, i32, usize)>>,
    /// Metadata the destination could not store.
    pub(crate) unstored: meta::Unstored,
}

impl Counts {
    fn counter(&self, method: Method) -> &AtomicUsize {
        match method {
            Method::Reflink => &self.reflinked,
            Method::Hardlink => &self.hardlinked,
            Method::Copy => &self.copied,
        }
    }

    pub(crate) fn add(&self, method: Method, files: usize) {
        self.counter(method).fetch_add(files, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, method: Method) -> usize {
        self.counter(method).load(Ordering::Relaxed)
    }

    /// One file could not use `method` (`errno`) and went on to the next.
    pub(crate) fn fell_back(&self, method: Method, errno: i32) {
        let mut fallbacks = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        match fallbacks
            .iter_mut()
            .find(|(m, e, _)| (*m, *e) == (method, errno))
        {
            Some((_, _, files)) => *files += 1,
            None => fallbacks.push((method, errno, 1)),
        }
    }

    /// The fallbacks so far: (method, errno, files), one per pair.
    pub(crate) fn fallbacks(&self) -> Vec<(Method, i32, usize)> {
        self.fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

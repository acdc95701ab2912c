//! Cooperative cancellation: the caller cancels (Ctrl-C, or an exception in a
//! progress callback), and workers check the flag before each entry, so a
//! cancel takes effect within one file and the call rolls back.
//!
//! The commit (renaming the staged tree into place) is the point of no
//! return. A cancel and the start of the commit are ordered by one lock, so
//! the caller never reports "cancelled" for a call that went on to complete.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Stops calls from another thread: [`cancel`](Self::cancel) makes every
/// call using the flag roll back at its next check (within one file), unless
/// it has already begun to commit, in which case it completes. One flag may
/// serve many calls at once (an installer's "stop everything"); a flag once
/// cancelled stays cancelled.
#[derive(Debug, Default)]
pub struct CancelFlag {
    /// Shared with the flags of the call's parts ([`for_part`](Self::for_part)).
    cancelled: Arc<AtomicBool>,
    /// Set once the call has begun to commit; guarded so that `cancel_unless_committing`
    /// and `begin_commit` cannot interleave.
    committing: Mutex<bool>,
}

impl CancelFlag {
    /// A flag not yet cancelled.
    pub fn new() -> Self {
        CancelFlag::default()
    }

    /// Cancel every call using the flag that has not begun to commit.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `Err` of kind [`Cancelled`](crate::ErrorKind::Cancelled) once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }

    /// [`check`](Self::check) for code that speaks `io::Error`: ECANCELED
    /// once cancelled. Whoever sees it maps it back with [`Error::cancelled`].
    pub(crate) fn check_io(&self) -> std::io::Result<()> {
        if self.is_cancelled() {
            Err(std::io::Error::from_raw_os_error(libc::ECANCELED))
        } else {
            Ok(())
        }
    }

    /// For the caller: run `interrupt` unless the call has begun to commit,
    /// and cancel the call if it returns an error, which is passed on. Once
    /// the commit has begun, `interrupt` is not run and `Ok` is returned: the
    /// call will complete, and the interrupt is the caller's to deliver later.
    /// The commit waits while `interrupt` runs. This is for a flag of one
    /// call (a binding makes one per call): once any call using the flag has
    /// begun to commit, `interrupt` is no longer run.
    pub fn cancel_unless_committing<E>(
        &self,
        interrupt: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let committing = self.lock_committing();
        if *committing {
            return Ok(());
        }
        let result = interrupt();
        if result.is_err() {
            self.cancel();
        }
        result
    }

    /// A flag for one part of this flag's call (one wheel of a batch, one
    /// engine call of an install): cancelled whenever this one is, but with
    /// a commit of its own. A part passing its point of no return commits
    /// only that part: the caller can still cancel the others (and keeps
    /// polling: see [`cancel_unless_committing`](Self::cancel_unless_committing)).
    pub(crate) fn for_part(&self) -> CancelFlag {
        CancelFlag {
            cancelled: Arc::clone(&self.cancelled),
            committing: Mutex::new(false),
        }
    }

    /// For the worker: pass the point of no return, unless cancelled first.
    pub(crate) fn begin_commit(&self) -> Result<()> {
        let mut committing = self.lock_committing();
        self.check()?;
        *committing = true;
        Ok(())
    }

    fn lock_committing(&self) -> MutexGuard<'_, bool> {
        self.committing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_cancelled_with_its_call_but_commits_alone() {
        let call = CancelFlag::new();
        let (first, second) = (call.for_part(), call.for_part());
        first.begin_commit().unwrap();
        // The call has not begun to commit: an interrupt still cancels it.
        assert!(call.cancel_unless_committing(|| Err::<(), _>(())).is_err());
        assert!(second.begin_commit().is_err() && second.check().is_err());
    }

    #[test]
    fn an_interrupt_before_the_commit_cancels_it() {
        let flag = CancelFlag::new();
        assert_eq!(flag.cancel_unless_committing(|| Err("stop")), Err("stop"));
        assert!(flag.begin_commit().is_err());
    }

    #[test]
    fn an_interrupt_after_the_commit_began_is_not_run() {
        let flag = CancelFlag::new();
        flag.begin_commit().unwrap();
        let mut ran = false;
        let result: std::result::Result<(), &str> = flag.cancel_unless_committing(|| {
            ran = true;
            Err("stop")
        });
        assert_eq!(result, Ok(()));
        assert!(!ran && !flag.is_cancelled());
    }
}

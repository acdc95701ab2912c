//! How many directory fds fastlink keeps open to save reopening them.
//!
//! A call may keep a directory's fd from where it was first opened to where
//! it is needed again (the walk's source directories for the fill, a new
//! directory from its creation to its final mode and times, an existing
//! directory for a roll-back). Each fd kept to save work saves an open and
//! a close; one held for a roll-back lets it reach a moved directory. But
//! fds are the process's, so all calls running at once, in every thread,
//! keep at most [`KEEP_AT_MOST`] (and never more than half the soft
//! open-file limit, learnt once per process). Past that, a directory is
//! opened again where it is needed, as it would be without the budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Why so few: the kernel grows a process's fd table by doubling it, and
/// in a process with threads each step past the 256 entries a Python
/// process starts with waits for an RCU grace period (10 to 20 ms each on
/// the test machine; keeping one fd per directory of an 11,000-file tree
/// made placing it 1.5× slower in a fresh process). Within these, the
/// table never grows for fastlink's sake.
pub const KEEP_AT_MOST: usize = 128;

/// Directory fds kept by all calls of this process, right now. A child
/// forked while calls run inherits their count along with their fds (which
/// it never closes): it keeps fewer, never more.
static KEPT: AtomicUsize = AtomicUsize::new(0);

fn limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let half = limit.current.map_or(usize::MAX, |soft| {
            usize::try_from(soft / 2).unwrap_or(usize::MAX)
        });
        half.min(KEEP_AT_MOST)
    })
}

/// One call's share of the budget. Dropped after the fds it counted are
/// closed (it is the last field of the plan), it gives them back.
#[derive(Debug, Default)]
pub struct FdBudget {
    kept: AtomicUsize,
}

impl FdBudget {
    /// Whether one more fd may be kept to save opening its directory again
    /// (until the call ends). These take at most half the budget, so that
    /// what a roll-back holds always has room (see [`may_hold`](Self::may_hold)).
    pub fn may_keep(&self) -> bool {
        self.take(limit() / 2)
    }

    /// Whether one more directory may be held for a roll-back, which then
    /// reaches what the call staged in it wherever the directory is moved
    /// meanwhile (past the budget, by its path from the anchor).
    pub fn may_hold(&self) -> bool {
        self.take(limit())
    }

    fn take(&self, limit: usize) -> bool {
        let taken = KEPT.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |kept| {
            (kept < limit).then_some(kept + 1)
        });
        if taken.is_ok() {
            self.kept.fetch_add(1, Ordering::Relaxed);
        }
        taken.is_ok()
    }

    /// How many fds this call keeps.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }
}

impl Drop for FdBudget {
    fn drop(&mut self) {
        KEPT.fetch_sub(*self.kept.get_mut(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_counts_exactly_what_it_was_granted() {
        // Other tests keep fds from the same process-wide count meanwhile:
        // what this call is granted may vary, its own count may not.
        let budget = FdBudget::default();
        let granted = (0..3).filter(|_| budget.may_keep()).count()
            + (0..3).filter(|_| budget.may_hold()).count();
        assert_eq!(budget.kept(), granted);
        assert!(limit() >= 1 && limit() <= KEEP_AT_MOST);
    }
}

//! Which directory fds a call keeps open to save reopening them.
//!
//! A call may keep a directory's fd from where it was first opened to where
//! it is needed again (the walk's source directories for the fill, a new
//! directory from its creation to its final mode and times, an existing
//! directory for a roll-back). Each fd kept to save work saves an open and
//! a close; one held for a roll-back lets it reach a moved directory. Past
//! the budget, a directory is opened again where it is needed, as it would
//! be without one.
//!
//! The budget is in fd numbers, not a count: the kernel gives each open the
//! lowest free number, so an fd's number is how full the table is below
//! it, counting every fd of the process (the caller's, other calls', other
//! threads'). An fd is kept only while its number leaves room above it, in
//! the table as it is, for what the call's workers open meanwhile. So the
//! table never grows for fastlink's sake: growing it costs a process with
//! threads an RCU grace period per doubling (10 to 20 ms on the test
//! machine; keeping one fd per directory of an 11,000-file tree once made
//! placing it 1.5× slower in a fresh process).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use crate::platform::{Os, Platform};

/// Where the OS cannot say how large its fd table is, fds are kept below
/// this number at most.
const UNKNOWN_TABLE: usize = 128;

/// The fds a worker may have open at once besides kept ones: a source and a
/// destination directory, and a file at each end.
const FDS_PER_WORKER: usize = 4;

/// The fds a call has open outside its workers (the anchor, the source
/// root, a parent being created in), with some to spare for the caller's
/// other threads.
const FDS_PER_CALL: usize = 8;

/// The numbers below which one call keeps and holds fds.
#[derive(Debug, Clone, Copy)]
pub struct FdBudget {
    keep_below: usize,
    hold_below: usize,
}

/// The fd numbers this process can use without growing its table or
/// nearing its open-file limit: the table's size (learnt once per process)
/// and half the soft limit (leaving the rest to the caller).
fn room() -> usize {
    static SOFT_HALF: OnceLock<usize> = OnceLock::new();
    let soft_half = *SOFT_HALF.get_or_init(|| {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        limit.current.map_or(usize::MAX, |soft| {
            usize::try_from(soft / 2).unwrap_or(usize::MAX)
        })
    });
    Os::fd_table_size().unwrap_or(UNKNOWN_TABLE).min(soft_half)
}

impl FdBudget {
    /// The budget of a call whose work runs on `workers` threads.
    pub fn for_workers(workers: usize) -> Self {
        let reserve = FDS_PER_WORKER * workers + FDS_PER_CALL;
        let hold_below = room().saturating_sub(reserve);
        // fds kept to save an open stay in the lower half, so that what a
        // roll-back holds always has room (see `may_hold`).
        FdBudget {
            keep_below: hold_below / 2,
            hold_below,
        }
    }

    /// Whether `fd` may stay open to save opening its directory again
    /// (until the call ends).
    pub fn may_keep(&self, fd: BorrowedFd<'_>) -> bool {
        below(fd, self.keep_below)
    }

    /// Whether `count` fds kept at once may well pass the budget: more
    /// than half of its numbers (the rest being the caller's and the
    /// workers'), so that some directories will be reached by their paths.
    pub fn may_run_out(&self, count: usize) -> bool {
        2 * count > self.keep_below
    }

    /// Whether `fd` may be held for a roll-back, which then reaches what
    /// the call staged in its directory wherever that is moved meanwhile
    /// (past the budget, by its path from the anchor).
    pub fn may_hold(&self, fd: BorrowedFd<'_>) -> bool {
        below(fd, self.hold_below)
    }
}

fn below(fd: BorrowedFd<'_>, limit: usize) -> bool {
    usize::try_from(fd.as_raw_fd()).is_ok_and(|number| number < limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn fds_kept_to_save_an_open_leave_the_upper_half_to_holds() {
        let budget = FdBudget::for_workers(2);
        assert!(budget.keep_below <= budget.hold_below / 2);
        assert!(budget.hold_below + FDS_PER_WORKER * 2 + FDS_PER_CALL <= room());
        let stdin = std::io::stdin();
        let low = stdin.as_fd(); // fd 0
        assert_eq!(budget.may_keep(low), budget.keep_below > 0);
    }

    #[test]
    fn a_call_with_more_workers_than_the_table_holds_keeps_nothing() {
        let budget = FdBudget::for_workers(room());
        let stdin = std::io::stdin();
        assert!(!budget.may_keep(stdin.as_fd()));
        assert!(!budget.may_hold(stdin.as_fd()));
    }
}

//! SIGTERM during a call, where the process has no handler of its own.
//!
//! SIGTERM is what `docker stop`, systemd and `timeout` send. Left at its
//! default it kills the process mid-call, and a call killed mid-way leaves
//! its staging behind (see `leftover`). So for the length of a call, and only
//! when SIGTERM's disposition is the default, a handler that only notes the
//! signal is installed: the caller's waiting loop sees the note, cancels the
//! call (which rolls back, as on Ctrl-C), and when the last such call has
//! ended the default disposition is put back and SIGTERM raised again, so
//! the process still dies by it (exit status "killed by SIGTERM").
//!
//! Concurrent calls share one installation, counted: the first call in
//! installs, the last one out restores. A process that set its own handler
//! (Python's `signal.signal(SIGTERM, ...)`) or ignores SIGTERM is left alone:
//! its handler runs in the waiting loop, and an exception from it cancels the
//! call like any other.
//!
//! Cost: one sigaction when the first concurrent call begins, one when the
//! last ends; none on the single-file path, which leaves nothing behind.

use std::sync::{Condvar, Mutex};

use crate::platform::{self, Os, Platform};

#[derive(Default)]
struct State {
    /// Calls between `enter` and `leave`.
    calls: usize,
    /// Our handler is installed (the disposition was the default).
    installed: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    calls: 0,
    installed: false,
});
static LEFT: Condvar = Condvar::new();

/// Held for the length of a call; dropping it ends the call's part. Drop it
/// where blocking is allowed (without Python's GIL): when a SIGTERM was
/// caught, the drop does not return — the last call out re-raises the signal
/// and the others wait for that.
#[must_use]
pub struct TerminateGuard(());

impl TerminateGuard {
    /// Begin a call's part: until the guard is dropped, a SIGTERM to a
    /// process with SIGTERM's default disposition is noted instead of
    /// killing it. A binding's waiting loop then sees
    /// [`requested`](Self::requested), cancels the call's
    /// [`CancelFlag`](crate::CancelFlag) and, once the call has rolled back,
    /// drops the guard, which re-raises the signal.
    pub fn enter() -> TerminateGuard {
        let mut state = lock();
        if state.calls == 0 {
            state.installed = Os::catch_terminate();
        }
        state.calls += 1;
        TerminateGuard(())
    }

    /// A SIGTERM arrived that this call must act on: stop and roll back.
    pub fn requested(&self) -> bool {
        lock().installed && platform::terminate_requested()
    }
}

impl Drop for TerminateGuard {
    fn drop(&mut self) {
        let mut state = lock();
        state.calls -= 1;
        let terminate = state.installed && platform::terminate_requested();
        if state.calls == 0 && state.installed {
            Os::restore_terminate();
            state.installed = false;
        }
        if !terminate {
            return;
        }
        // Every call in flight rolls back before the process dies.
        while state.calls > 0 {
            state = LEFT.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        LEFT.notify_all();
        platform::clear_terminate_request();
        drop(state);
        Os::raise_terminate();
    }
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

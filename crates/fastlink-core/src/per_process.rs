//! State that belongs to one process: the worker pools and the probe cache.
//!
//! `fork()` copies memory but only the calling thread. A child that reused
//! its parent's pool would hand work to workers that do not exist and wait
//! forever, and a lock another parent thread held at the fork stays locked
//! in the child. So each such value is tagged with the fork generation it
//! was made in, a counter that a `pthread_atfork` child handler bumps; a
//! child's first use makes a fresh value and never touches (nor drops) the
//! parent's, whose threads and lock owners are gone. Outside a fork the
//! check is one atomic load per use: no syscall, no lock.

use std::sync::atomic::{AtomicPtr, Ordering};

use crate::platform::fork_generation;

/// A lazily made `T`, made again in a forked child on first use there.
pub struct PerProcess<T: 'static> {
    current: AtomicPtr<Generation<T>>,
    make: fn() -> T,
}

struct Generation<T> {
    number: u64,
    value: T,
}

impl<T: Send + Sync + 'static> PerProcess<T> {
    pub const fn new(make: fn() -> T) -> Self {
        PerProcess {
            current: AtomicPtr::new(std::ptr::null_mut()),
            make,
        }
    }

    /// This process's value.
    pub fn get(&'static self) -> &'static T {
        let number = fork_generation();
        let mut seen = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: a published Generation is leaked, never freed.
            if let Some(current) = unsafe { seen.as_ref() } {
                if current.number == number {
                    return &current.value;
                }
            }
            let fresh = Box::into_raw(Box::new(Generation {
                number,
                value: (self.make)(),
            }));
            match self
                .current
                .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // The replaced generation (a parent's, in a child) is leaked
                // on purpose: dropping it could wait on threads that are gone.
                // SAFETY: `fresh` was just published and is never freed.
                Ok(_) => return unsafe { &(*fresh).value },
                Err(other) => {
                    // Another thread of this process got there first.
                    // SAFETY: `fresh` was never published.
                    drop(unsafe { Box::from_raw(fresh) });
                    seen = other;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static MADE: AtomicUsize = AtomicUsize::new(0);
    static VALUE: PerProcess<usize> = PerProcess::new(|| MADE.fetch_add(1, Ordering::SeqCst));

    #[test]
    fn a_value_is_made_once_per_process() {
        let first = VALUE.get() as *const usize;
        let again = std::thread::spawn(|| VALUE.get() as *const usize as usize)
            .join()
            .unwrap();
        assert_eq!(first as usize, again);
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
    }
}

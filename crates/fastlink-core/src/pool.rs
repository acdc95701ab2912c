//! Worker pools, one per thread count, built once and reused: installers call
//! fastlink once per package, and spawning threads each time would show.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};
use crate::per_process::PerProcess;

/// The default worker count: one per core (at least 2, at most 16).
///
/// Measured on the 6-wheel corpus (2-core VM, XFS and btrfs loop mounts; see
/// BENCHMARKS.md): cloning xfs→xfs took 0.58 s with 1 thread, 0.40–0.42 s
/// with 2, 0.45–0.47 s with 4 and 0.49–0.55 s with 8–16; copying xfs→btrfs
/// was within noise from 1 to 16 threads (0.97–1.35 s) and hard-linking flat
/// (0.21–0.26 s). Work per file is short syscalls that contend on the
/// filesystem's locks and journal, so threads beyond the cores only queue.
///
/// Read once per process: `available_parallelism` reads the cgroup files
/// under /proc and /sys (some twenty syscalls), too much for every call.
pub fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.clamp(2, 16)
    })
}

/// The most workers a call may ask for. Work per file is short syscalls on
/// the filesystem's locks, so past the cores threads only queue (see
/// `default_threads`); a bound keeps a typo like `threads=10**9` from
/// spawning threads until the process runs out, and pools are kept per count.
pub const MAX_THREADS: usize = 256;

/// The pool a call with `threads` (None: the default) works on. A binding
/// runs the whole call as one job on it, so that waiting for the call costs
/// no thread of its own.
pub fn worker_pool(threads: Option<usize>) -> Result<Arc<ThreadPool>> {
    pool(threads.unwrap_or_else(default_threads))
}

pub fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    // Per process: a forked child has none of its parent's workers.
    static POOLS: PerProcess<Mutex<HashMap<usize, Arc<ThreadPool>>>> =
        PerProcess::new(Default::default);
    let mut pools = POOLS.get().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = pools.get(&threads) {
        return Ok(Arc::clone(pool));
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fastlink-{i}"))
        .build()
        .map_err(|err| Error::invalid_argument(format!("cannot start worker threads: {err}")))?;
    let pool = Arc::new(pool);
    pools.insert(threads, Arc::clone(&pool));
    Ok(pool)
}

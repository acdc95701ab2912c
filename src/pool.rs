//! Worker pools, one per thread count, built once and reused: installers call
//! fastlink once per package, and spawning threads each time would show.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

/// The default worker count. Cloning and copying small files is bound by
/// syscalls and filesystem locks more than by CPU, so more threads than cores
/// keep the device busy while some wait; past 16 the filesystems measured here
/// gain nothing. (The benchmarks issue tunes this from data.)
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2).clamp(4, 16)
}

pub fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
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

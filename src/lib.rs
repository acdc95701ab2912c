//! fastlink: materialize cached file trees with copy-on-write clones, falling
//! back to the fastest correct copy, and say exactly what happened.
//!
//! The core is plain Rust; the Python binding lives in `python` behind the
//! `python` feature.

mod cancel;
mod choose;
mod clone;
mod destination;
mod dirfd;
mod error;
mod execute;
mod file_list;
mod leftover;
mod meta;
mod method;
mod options;
mod per_process;
mod plan;
mod platform;
mod pool;
mod probe;
mod progress;
mod report;
mod single_file;
mod terminate;

#[cfg(feature = "python")]
mod python;

pub use cancel::CancelFlag;
pub use clone::{clone_files, clone_or_copy};
pub use error::{Error, ErrorKind, Result};
pub use leftover::reclaim;
pub use meta::MetadataKind;
pub use method::Method;
pub use options::{thread_count, Ignore, IgnoreFn, Options};
pub use pool::{default_threads, worker_pool, MAX_THREADS};
pub use probe::{probe, Outcome};
pub use progress::{Progress, ProgressSnapshot};
pub use report::{Fallback, Report, Skipped, UnsupportedMetadata};
pub use terminate::TerminateGuard;

/// The name of the platform backend this build uses: "linux", "macos" or
/// "portable".
pub fn platform_backend() -> &'static str {
    use platform::Platform;
    platform::Os::NAME
}

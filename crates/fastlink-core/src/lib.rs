//! fastlink-core: materialize cached file trees with copy-on-write clones,
//! falling back to the fastest correct copy, and say exactly what happened.
//!
//! An installer keeps unpacked packages in a cache and places them in every
//! environment. [`clone_or_copy`] does that for one tree (or one file):
//! - it clones (FICLONE on Linux btrfs/XFS, `clonefile` on macOS APFS) where
//!   the pair of filesystems can, and otherwise takes the next method of
//!   [`Options::methods`], per file where one file refuses alone;
//! - it is all-or-nothing: an error or a cancel leaves `dst` as it was;
//! - it returns a [`Report`] of what happened to every file, and a typed
//!   [`Error`] (with an errno and both paths) when it cannot;
//! - it never changes the source.
//!
//! ```no_run
//! use std::path::Path;
//! use fastlink_core::{clone_or_copy, CancelFlag, Options, Progress};
//!
//! let report = clone_or_copy(
//!     Path::new("cache/numpy-2.1.0"),
//!     Path::new("venv/lib/python3.12/site-packages"),
//!     &Options { dirs_exist_ok: true, ..Options::default() },
//!     &CancelFlag::new(),
//!     &Progress::new(),
//! )?;
//! println!("{} files: {} cloned, {} copied", report.files, report.reflinked, report.copied);
//! # Ok::<(), fastlink_core::Error>(())
//! ```
//!
//! The crate has no Python in it; the `fastlink` Python package is a thin
//! binding over this public API. `examples/clone_tree.rs` is a runnable
//! command, and the crate's README says what it promises.

// Every public item is documented: `make lint` (clippy -D warnings) holds it.
#![warn(missing_docs)]

mod cancel;
mod choose;
mod clone;
mod counts;
mod destination;
mod dirfd;
mod error;
mod execute;
mod fd_budget;
mod file_list;
mod leftover;
mod meta;
mod method;
mod options;
mod per_file;
mod per_process;
mod plan;
mod platform;
mod pool;
mod probe;
mod progress;
mod report;
mod single_file;
mod terminate;
mod wheel;

pub use cancel::CancelFlag;
pub use clone::{clone_files, clone_or_copy, clone_or_copy_planned};
pub use error::{errno_name, Error, ErrorKind, Result};
pub use leftover::reclaim;
pub use meta::MetadataKind;
pub use method::Method;
pub use options::{thread_count, Ignore, IgnoreFn, Options};
pub use per_file::{NOT_WRITTEN_BACK, WRITEBACK_SECONDS_ENV};
pub use pool::{default_threads, worker_pool, MAX_THREADS};
pub use probe::{probe, Outcome};
pub use progress::{Progress, ProgressSnapshot};
pub use report::{Fallback, Report, Skipped, UnsupportedMetadata};
pub use single_file::try_place as try_single_file;
pub use terminate::TerminateGuard;
pub use wheel::{
    install_wheel, install_wheel_files, install_wheels, plan_install, unpack_wheel, Environment,
    InstallOptions, InstallPlan, InstalledDistribution, PlacedFile, ReplacedDistribution, Scheme,
    SchemeKey, Target, UnpackedWheel, WheelFileInstalled, WheelInstall, WrittenFile,
};

/// The name of the platform backend this build uses: "linux", "macos" or
/// "portable".
pub fn platform_backend() -> &'static str {
    use platform::Platform;
    platform::Os::NAME
}

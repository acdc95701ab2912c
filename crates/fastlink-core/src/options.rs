//! What a caller may ask of a call, and the one place that checks it.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::method::Method;
use crate::pool::{default_threads, MAX_THREADS};

/// What a caller may ask of a call. `Options::default()` is what installers
/// want: reflink, else copy; no merge; times kept; the default thread count.
#[derive(Debug, Clone)]
pub struct Options {
    /// Ordered preference; the first that works for the filesystem pair is used.
    pub methods: Vec<Method>,
    /// Merge into an existing destination directory.
    pub dirs_exist_ok: bool,
    /// In a merge, replace existing files and symlinks (by rename, never in place).
    pub overwrite: bool,
    /// Keep atime/mtime of files, dirs and symlinks.
    pub preserve_times: bool,
    /// Worker threads; `None` for [`default_threads`].
    pub threads: Option<usize>,
    /// Entries to leave out of a tree, as `shutil.copytree`'s `ignore`.
    pub ignore: Option<Ignore>,
}

/// `shutil.copytree`'s `ignore`: called once per source directory walked,
/// with its path and its entries' names, it answers the names to leave out
/// (files, symlinks or whole directories). An error from it fails the call
/// before anything is written.
#[derive(Clone)]
pub struct Ignore(pub Arc<IgnoreFn>);

/// The function inside an [`Ignore`]: (directory, entry names) to the
/// names to leave out.
pub type IgnoreFn = dyn Fn(&Path, &[OsString]) -> Result<Vec<OsString>> + Send + Sync;

impl fmt::Debug for Ignore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ignore(..)")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            methods: Method::DEFAULT_PREFERENCE.to_vec(),
            dirs_exist_ok: false,
            overwrite: false,
            preserve_times: true,
            threads: None,
            ignore: None,
        }
    }
}

impl Options {
    /// Check everything the caller chose, before anything is read or
    /// written; returns the number of workers to use.
    pub(crate) fn validate(&self) -> Result<usize> {
        Ok(match self.validate_without_default_threads()? {
            Some(threads) => threads,
            None => default_threads(),
        })
    }

    /// [`Options::validate`], short of choosing a default thread count
    /// (which reads cgroup files): for a call that runs on no worker, whose
    /// cost is a handful of syscalls. Returns the caller's thread count.
    pub(crate) fn validate_without_default_threads(&self) -> Result<Option<usize>> {
        if self.methods.is_empty() {
            return Err(Error::invalid_argument(
                "methods must name at least one method",
            ));
        }
        self.threads.map(|n| thread_count(n as i128)).transpose()
    }
}

/// A worker count, 1 to [`MAX_THREADS`]. Takes an integer wider than usize,
/// so that a binding can hand over whatever its caller passed (negative,
/// or past 2^64) and get the same error.
pub fn thread_count(threads: i128) -> Result<usize> {
    match usize::try_from(threads) {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(Error::invalid_argument(format!(
            "threads must be between 1 and {MAX_THREADS}, not {threads}"
        ))),
    }
}

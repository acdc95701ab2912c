//! The one entry point: plan, validate, choose, execute, report.

use std::path::Path;
use std::time::Instant;

use crate::cancel::CancelFlag;
use crate::choose::choose;
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::execute::Execution;
use crate::method::Method;
use crate::plan::Plan;
use crate::pool::default_threads;
use crate::report::Report;

#[derive(Debug, Clone)]
pub struct Options {
    /// Ordered preference; the first that works for the filesystem pair is used.
    pub methods: Vec<Method>,
    /// Merge into an existing destination directory.
    pub dirs_exist_ok: bool,
    /// Keep atime/mtime of files, dirs and symlinks.
    pub preserve_times: bool,
    /// Worker threads; `None` for [`default_threads`].
    pub threads: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            methods: Method::DEFAULT_PREFERENCE.to_vec(),
            dirs_exist_ok: false,
            preserve_times: true,
            threads: None,
        }
    }
}

/// Materialize `src` (a tree or a single file) at `dst`: clone where the
/// filesystems allow it, otherwise fall back along `options.methods`.
pub fn clone_or_copy(
    src: &Path,
    dst: &Path,
    options: &Options,
    cancel: &CancelFlag,
) -> Result<Report> {
    let started = Instant::now();
    if options.methods.is_empty() {
        return Err(Error::invalid_argument(
            "methods must name at least one method",
        ));
    }
    let threads = match options.threads {
        Some(0) => return Err(Error::invalid_argument("threads must be at least 1")),
        Some(n) => n,
        None => default_threads(),
    };

    let plan = Plan::walk(src, dst)?;
    let destination = Destination::validate(&plan, dst, options.dirs_exist_ok)?;
    let choice = choose(&plan, &destination, &options.methods)?;
    cancel.check()?;
    let counts = Execution {
        plan: &plan,
        destination: &destination,
        methods: &choice.methods,
        preserve_times: options.preserve_times,
        threads,
        cancel,
    }
    .run()?;

    Ok(Report {
        method: choice.methods[0],
        files: plan.files.len(),
        dirs: plan.dirs.len(),
        symlinks: plan.symlinks.len(),
        bytes: plan.total_bytes(),
        reflinked: counts.get(Method::Reflink),
        hardlinked: counts.get(Method::Hardlink),
        copied: counts.get(Method::Copy),
        skipped: choice.skipped,
        elapsed: started.elapsed(),
    })
}

//! The shape of call an installer makes once per file (pip, pdm, conda):
//! one small regular file to a new name. It runs in the caller's thread,
//! with no plan, staging or rename:
//! - a hard link is one `linkat`, which is already all-or-nothing;
//! - a clone or copy is built in a nameless file (O_TMPFILE) and named with
//!   `linkat` once complete, so nothing half-made ever has a name, and a
//!   process killed midway leaves nothing at all.
//!
//! The file is its own probe: the preferred method is tried on it, and a
//! refusal that speaks for the pair of filesystems passes to the next
//! method, as the planned path's probe would. Anything else (dst exists,
//! missing parents, a refusal of this one file, any error) hands the call,
//! untouched, to the planned path, which decides it as for any tree. So this
//! path changes how fast a call is, never what it does.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};

use crate::counts::Counts;
use crate::meta::EntryMeta;
use crate::method::Method;
use crate::options::Options;
use crate::per_file::{self, Failed, Next, Refusal};
use crate::plan::is_sparse;
use crate::platform::{CopyHints, Os, Platform};
use crate::progress::Progress;
use crate::report::{Report, Skipped, Totals};

/// Larger files take the planned path, whose copy can be cancelled between
/// steps: a file this size is copied well within a second even from a slow
/// source, so Ctrl-C still acts about as fast.
pub const MAX_BYTES: u64 = 1 << 20;

/// Why this path leaves a call to the planned path, untouched.
struct Declined;

/// Place the single file `src` at the new name `dst`, or `None` when the
/// call is not of that shape or meets anything unusual; nothing has been
/// written then, and the planned path must take the call.
pub fn try_place(src: &Path, dst: &Path, options: &Options, progress: &Progress) -> Option<Report> {
    place(src, dst, options, progress).ok()
}

/// [`try_place`], its "no" an error so that `?` declines the call.
fn place(
    src: &Path,
    dst: &Path,
    options: &Options,
    progress: &Progress,
) -> Result<Report, Declined> {
    let started = Instant::now();
    // An invalid call is the planned path's to refuse.
    options
        .validate_without_default_threads()
        .map_err(|_| Declined)?;
    let parent = parent_of(dst).ok_or(Declined)?;
    if options.overwrite && rustix::fs::statat(CWD, dst, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        // Replacing is the planned path's (by rename). Found only by the
        // final link, the file would be cloned or copied twice.
        return Err(Declined);
    }
    // The lstat costs what the fstat after an open would, and shows first
    // that the source is a small regular file: opening anything else can
    // act (a tape rewinds, a watchdog arms, a fifo's waiting writer wakes),
    // and the planned path refuses those unopened.
    let stat = rustix::fs::statat(CWD, src, AtFlags::SYMLINK_NOFOLLOW).map_err(|_| Declined)?;
    let meta = takeable(&stat).ok_or(Declined)?;
    let size = stat.st_size as u64;
    let mut opened: Option<File> = None;
    let mut unnamed: Option<File> = None;
    let mut skipped = Vec::new();
    let decline = |_| Failed::Stop(Declined);
    let attempt = |_: &mut (), method| {
        match method {
            Method::Hardlink => {
                // The planned path makes such a file take the next method.
                if Method::never_hardlinked(&meta, CWD, src.as_os_str()).map_err(decline)? {
                    return Err(Failed::Stop(Declined));
                }
                let linked = rustix::fs::linkat(CWD, src, CWD, dst, AtFlags::empty());
                Ok(linked.map_err(io::Error::from)?)
            }
            Method::Reflink | Method::Copy => {
                if opened.is_none() {
                    opened = Some(per_file::open_source(CWD, src.as_os_str()).map_err(decline)?);
                }
                let source = opened.as_ref().expect("opened above");
                if unnamed.is_none() {
                    let made = Os::create_unnamed(parent, meta.safe_mode()).ok_or(Declined);
                    unnamed = Some(made.map_err(Failed::Stop)?.map_err(decline)?);
                }
                let new = unnamed.as_ref().expect("created above");
                Ok(fill(method, source, new, size)?)
            }
        }
    };
    // What the planned path's probe would make of a refusal: a method the
    // pair cannot use is passed over. A refusal of this one file, by the
    // last method, or an error declines the call.
    let refused = |_: &mut (), method: Method, refusal| match refusal {
        Refusal::Cannot(errno)
            if method.is_pair_wide_errno(errno, same_device(&stat, parent, errno)?) =>
        {
            skipped.push(Skipped::of(method, errno));
            Ok(Next::NextMethod)
        }
        _ => Err(Declined),
    };
    let fresh = per_file::FreshData::new().map_err(|_| Declined)?;
    #[allow(clippy::unnecessary_cast)]
    let dev = stat.st_dev as u64;
    let (methods, clone_passed_over) =
        per_file::methods_for(&options.methods, &meta, dev, &fresh, || {
            // Once per device per process, for a file written moments ago
            // under a clone-first preference: its own filesystem's answer.
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let dir = rustix::fs::openat(CWD, src_dir(src), flags, Mode::empty())?;
            Os::clone_waits_for_writeback(dir.as_fd())
        });
    let method = per_file::first_that_works(methods, &mut (), attempt, refused)?;
    if let Some(new) = &unnamed {
        if method != Method::Hardlink {
            // Not part of the attempt: a refusal here says nothing about
            // the method (the planned path decides).
            per_file::apply_times(method, new, &meta, options.preserve_times)
                .map_err(|_| Declined)?;
            Os::link_unnamed(new, dst).map_err(|_| Declined)?;
        }
    }
    progress.add_totals(1, size);
    progress.add_done(1, size);
    Ok(report(method, size, skipped, clone_passed_over, started))
}

/// The directory holding `src` (a regular file), for its filesystem.
fn src_dir(src: &Path) -> &Path {
    match src.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The directory `dst` is to be created in; `None` for a name this path
/// does not handle (a trailing slash, `.` or `..`).
fn parent_of(dst: &Path) -> Option<&Path> {
    let bytes = dst.as_os_str().as_bytes();
    if bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b"." {
        return None;
    }
    dst.file_name()?;
    match dst.parent()? {
        p if p.as_os_str().is_empty() => Some(Path::new(".")),
        p => Some(p),
    }
}

/// The metadata to recreate, for a small, dense regular file.
// Stat's field types differ between architectures, so the casts stay.
#[allow(clippy::unnecessary_cast)]
fn takeable(stat: &Stat) -> Option<EntryMeta> {
    let size = stat.st_size as u64;
    let regular = FileType::from_raw_mode(stat.st_mode as _) == FileType::RegularFile;
    (regular && size <= MAX_BYTES && !is_sparse(stat.st_blocks as u64, size))
        .then(|| EntryMeta::of_stat(stat))
}

/// Clone or copy `src` into the nameless `new`.
fn fill(method: Method, src: &File, new: &File, size: u64) -> io::Result<()> {
    if method == Method::Reflink {
        Os::clone_into(new, src)?;
    } else {
        let hints = CopyHints {
            size,
            sparse: false,
            on_copied: &|_| Ok(()),
        };
        if Os::copy_into(src, new, &hints)? != size {
            // The source changed size: the planned path reports that.
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
    }
    Ok(())
}

/// Whether src (its lstat, already made) and dst's directory are one device;
/// asked only for EXDEV, the one errno whose meaning depends on it. The
/// call is declined if it cannot be told.
// Stat's field types differ between architectures, so the cast stays.
#[allow(clippy::unnecessary_cast)]
fn same_device(src: &Stat, parent: &Path, errno: i32) -> Result<bool, Declined> {
    if errno != libc::EXDEV {
        return Ok(true);
    }
    let parent_dev = rustix::fs::stat(parent).map_err(|_| Declined)?.st_dev;
    Ok(src.st_dev as u64 == parent_dev as u64)
}

fn report(
    method: Method,
    size: u64,
    skipped: Vec<Skipped>,
    clone_passed_over: bool,
    started: Instant,
) -> Report {
    let counts = Counts::default();
    counts.add(method, 1);
    if clone_passed_over {
        counts.fell_back(Method::Reflink, per_file::NOT_WRITTEN_BACK);
    }
    let totals = Totals {
        files: 1,
        dirs: 0,
        symlinks: 0,
        bytes: size,
    };
    Report::new(totals, &[method], &counts, skipped, started)
}

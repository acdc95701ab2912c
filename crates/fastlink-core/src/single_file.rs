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
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};

use crate::meta;
use crate::meta::EntryMeta;
use crate::method::Method;
use crate::options::{thread_count, Options};
use crate::plan::is_sparse;
use crate::platform::{CopyHints, Os, Platform};
use crate::progress::Progress;
use crate::report::{Report, Skipped};

/// Larger files take the planned path, whose copy can be cancelled between
/// steps: a file this size is copied well within a second even from a slow
/// source, so Ctrl-C still acts about as fast.
pub const MAX_BYTES: u64 = 1 << 20;

/// Place the single file `src` at the new name `dst`, or `None` when the
/// call is not of that shape or meets anything unusual; nothing has been
/// written then, and the planned path must take the call.
pub fn try_place(src: &Path, dst: &Path, options: &Options, progress: &Progress) -> Option<Report> {
    let started = Instant::now();
    // What `Options::validate` checks, without choosing a default thread
    // count (it reads cgroup files, and nothing here runs on a worker).
    let threads_valid = options
        .threads
        .is_none_or(|n| thread_count(n as i128).is_ok());
    if options.methods.is_empty() || !threads_valid {
        return None;
    }
    let parent = parent_of(dst)?;
    if options.overwrite && rustix::fs::statat(CWD, dst, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        // Replacing is the planned path's (by rename). Found only by the
        // final link, the file would be cloned or copied twice.
        return None;
    }
    let mut stat: Option<Stat> = None;
    let mut opened: Option<File> = None;
    let mut unnamed: Option<File> = None;
    let mut skipped = Vec::new();
    for (i, &method) in options.methods.iter().enumerate() {
        let is_last = i + 1 == options.methods.len();
        if stat.is_none() {
            stat = Some(rustix::fs::statat(CWD, src, AtFlags::SYMLINK_NOFOLLOW).ok()?);
        }
        let stat = stat.as_ref().expect("stat'ed above");
        let meta = takeable(stat)?;
        let size = stat.st_size as u64;
        let attempt = match method {
            Method::Hardlink => {
                if Method::never_hardlinked(&meta, CWD, src.as_os_str()).ok()? {
                    return None;
                }
                let linked = rustix::fs::linkat(CWD, src, CWD, dst, AtFlags::empty());
                linked.map_err(io::Error::from)
            }
            Method::Reflink | Method::Copy => {
                if opened.is_none() {
                    opened = Some(open_source(src)?);
                }
                let file = opened.as_ref().expect("opened above");
                if unnamed.is_none() {
                    unnamed = Some(Os::create_unnamed(parent, meta.safe_mode())?.ok()?);
                }
                let new = unnamed.as_ref().expect("created above");
                fill(method, file, new, size)
            }
        };
        let err = match attempt {
            Ok(()) => {
                if let Some(new) = &unnamed {
                    if method != Method::Hardlink {
                        // Not part of the attempt: a refusal here says
                        // nothing about the method (the planned path decides).
                        set_times(method, new, &meta, options).ok()?;
                        Os::link_unnamed(new, dst).ok()?;
                    }
                }
                progress.set_totals(1, size);
                progress.add_done(1, size);
                return Some(report(method, size, skipped, started));
            }
            Err(err) => err,
        };
        let errno = err.raw_os_error()?;
        if is_last || !method.is_pair_wide_errno(errno, same_device(stat, parent, errno)?) {
            return None;
        }
        skipped.push(Skipped {
            method,
            errno,
            message: method.impossible(errno).message().to_string(),
        });
    }
    None
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

/// The source, once an lstat has shown it to be a small regular file:
/// opening anything else can act (a tape rewinds, a watchdog arms, a fifo's
/// waiting writer wakes), and the planned path refuses those unopened. The
/// lstat costs what the fstat after an open would. Never through a symlink
/// (a symlinked `src` is the planned path's to follow); O_NONBLOCK in case
/// a fifo was swapped in since.
fn open_source(src: &Path) -> Option<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(CWD, src, flags, Mode::empty()).ok()?;
    Some(File::from(fd))
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

/// Give the filled `new` the source's times (or, for a clone that carries
/// them where times are not kept, the current time).
fn set_times(method: Method, new: &File, meta: &EntryMeta, options: &Options) -> io::Result<()> {
    if options.preserve_times {
        meta::set_file_times(new, meta)?;
    } else if method == Method::Reflink && Os::CLONE_KEEPS_SOURCE_TIMES {
        meta::set_file_times_now(new)?;
    }
    Ok(())
}

/// Whether src (its lstat, already made) and dst's directory are one device;
/// asked only for EXDEV, the one errno whose meaning depends on it. `None`
/// if it cannot be told.
// Stat's field types differ between architectures, so the cast stays.
#[allow(clippy::unnecessary_cast)]
fn same_device(src: &Stat, parent: &Path, errno: i32) -> Option<bool> {
    if errno != libc::EXDEV {
        return Some(true);
    }
    let parent_dev = rustix::fs::stat(parent).ok()?.st_dev;
    Some(src.st_dev as u64 == parent_dev as u64)
}

fn report(method: Method, size: u64, skipped: Vec<Skipped>, started: Instant) -> Report {
    let one_if = |m: Method| usize::from(method == m);
    Report {
        method,
        files: 1,
        dirs: 0,
        symlinks: 0,
        bytes: size,
        reflinked: one_if(Method::Reflink),
        hardlinked: one_if(Method::Hardlink),
        copied: one_if(Method::Copy),
        skipped,
        fallbacks: Vec::new(),
        unsupported_metadata: Vec::new(),
        elapsed: started.elapsed(),
    }
}

//! Applying recorded metadata (times, modes) to what fastlink created.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, Mode, Timespec, Timestamps};

use crate::plan::{EntryMeta, Timestamp};

fn timestamps(meta: &EntryMeta) -> Timestamps {
    let timespec = |ts: Timestamp| Timespec {
        tv_sec: ts.sec as _,
        tv_nsec: ts.nsec as _,
    };
    Timestamps {
        last_access: timespec(meta.atime),
        last_modification: timespec(meta.mtime),
    }
}

/// Set atime and mtime on an open file: no path lookup, and it works on a
/// file whose mode no longer allows writing.
pub fn set_file_times(file: &File, meta: &EntryMeta) -> io::Result<()> {
    Ok(rustix::fs::futimens(file, &timestamps(meta))?)
}

/// Set atime and mtime of an open file to the current time.
pub fn set_file_times_now(file: &File) -> io::Result<()> {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW as _,
    };
    let times = Timestamps {
        last_access: now,
        last_modification: now,
    };
    Ok(rustix::fs::futimens(file, &times)?)
}

/// Set atime and mtime of `name` in `dir`, never following a symlink, so a
/// symlink gets its own times and never its target's.
pub fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, meta: &EntryMeta) -> io::Result<()> {
    Ok(rustix::fs::utimensat(
        dir,
        name,
        &timestamps(meta),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Set the mode of the directory `name` in `dir` (only used on directories
/// fastlink created, inside its own staging).
pub fn set_mode_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(mode as _),
        AtFlags::empty(),
    )?)
}

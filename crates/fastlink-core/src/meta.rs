//! The metadata fastlink recreates on every entry, as the walk records it,
//! and applying it (times, modes) to what fastlink created.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;

use rustix::fs::{AtFlags, Mode, Stat, Timespec, Timestamps};

use crate::platform::stores_no_such_metadata;

/// A point in time as the kernel stores it, so nanoseconds survive the round trip.
/// Ordered by time (seconds, then nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: i64,
}

/// The metadata fastlink recreates on every entry.
#[derive(Debug, Clone, Copy)]
pub struct EntryMeta {
    /// Permission bits (`st_mode & 0o7777`), as the source has them.
    pub mode: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    /// The last change of the inode, data included: never set back, unlike
    /// mtime (an unpacker gives files the archive's old mtimes), so it
    /// bounds how recently the data was written.
    pub ctime: Timestamp,
}

impl EntryMeta {
    pub(crate) fn of(metadata: &Metadata) -> Self {
        EntryMeta {
            mode: metadata.mode() & 0o7777,
            atime: Timestamp {
                sec: metadata.atime(),
                nsec: metadata.atime_nsec(),
            },
            mtime: Timestamp {
                sec: metadata.mtime(),
                nsec: metadata.mtime_nsec(),
            },
            ctime: Timestamp {
                sec: metadata.ctime(),
                nsec: metadata.ctime_nsec(),
            },
        }
    }

    // Stat's field types differ between architectures, so the casts stay.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn of_stat(stat: &Stat) -> Self {
        EntryMeta {
            mode: stat.st_mode as u32 & 0o7777,
            atime: Timestamp {
                sec: stat.st_atime as i64,
                nsec: stat.st_atime_nsec as i64,
            },
            mtime: Timestamp {
                sec: stat.st_mtime as i64,
                nsec: stat.st_mtime_nsec as i64,
            },
            ctime: Timestamp {
                sec: stat.st_ctime as i64,
                nsec: stat.st_ctime_nsec as i64,
            },
        }
    }

    /// Whether the source carries setuid or setgid, which a copy must not keep.
    pub fn has_setid_bits(&self) -> bool {
        self.mode != self.safe_mode()
    }

    /// The mode fastlink gives the copy: setuid and setgid are never carried over,
    /// since a copy owned by somebody else must not gain their privileges.
    pub fn safe_mode(&self) -> u32 {
        const SETUID_SETGID: u32 = 0o6000;
        self.mode & !SETUID_SETGID
    }
}

/// Metadata a destination filesystem may be unable to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataKind {
    /// Permission bits (chmod).
    Mode,
    /// atime and mtime (utimes).
    Times,
}

impl MetadataKind {
    /// "mode" or "times".
    pub fn name(self) -> &'static str {
        match self {
            MetadataKind::Mode => "mode",
            MetadataKind::Times => "times",
        }
    }

    /// The kind of a [`name`](Self::name); anything else is an
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument).
    pub fn parse(name: &str) -> crate::Result<MetadataKind> {
        [MetadataKind::Mode, MetadataKind::Times]
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                crate::Error::invalid_argument(format!(
                    "unknown metadata kind {name:?}; expected \"mode\" or \"times\""
                ))
            })
    }

    /// A sentence an installer can show as is, e.g. "mode not kept: the
    /// destination filesystem stores no permission bits (ENOSYS)".
    pub fn message(self, errno: i32) -> String {
        let what = match self {
            MetadataKind::Mode => "permission bits",
            MetadataKind::Times => "file times",
        };
        format!(
            "{} not kept: the destination filesystem stores no {what} ({})",
            self.name(),
            crate::error::errno_name(errno)
        )
    }
}

/// The metadata one call could not store, by kind: rare, so one lock serves
/// every worker.
#[derive(Debug, Default)]
pub struct Unstored {
    entries: std::sync::Mutex<Vec<(MetadataKind, i32, usize)>>,
}

impl Unstored {
    /// One entry's `kind` could not be stored (`errno`).
    pub fn note(&self, kind: MetadataKind, errno: i32) {
        self.note_many(kind, errno, 1);
    }

    /// `entries` entries' `kind` could not be stored (`errno`).
    pub fn note_many(&self, kind: MetadataKind, errno: i32, entries: usize) {
        if entries == 0 {
            return;
        }
        let mut tally = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match tally.iter_mut().find(|(k, e, _)| (*k, *e) == (kind, errno)) {
            Some((_, _, count)) => *count += entries,
            None => tally.push((kind, errno, entries)),
        }
    }

    /// `result` of setting `kind` on an entry this call created: an errno
    /// saying the filesystem stores no such metadata is noted and passes;
    /// every other error is returned.
    pub fn tolerate(&self, kind: MetadataKind, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(err) if err.raw_os_error().is_some_and(stores_no_such_metadata) => {
                self.note(kind, err.raw_os_error().unwrap_or_default());
                Ok(())
            }
            other => other,
        }
    }

    /// What could not be stored: (kind, errno, entries), in a fixed order.
    pub fn tally(&self) -> Vec<(MetadataKind, i32, usize)> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        entries.sort_by_key(|&(kind, errno, _)| (kind as u8, errno));
        entries
    }
}

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

/// Set the times of an open directory (one this call made).
pub fn set_dir_times(dir: BorrowedFd<'_>, meta: &EntryMeta) -> io::Result<()> {
    Ok(rustix::fs::futimens(dir, &timestamps(meta))?)
}

/// Set the mode of an open directory (one this call made).
pub fn set_dir_mode(dir: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::fchmod(dir, Mode::from_raw_mode(mode as _))?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsupported_errnos_are_tolerated_and_they_are_counted_per_kind() {
        let unstored = Unstored::default();
        let err = |errno| Err(io::Error::from_raw_os_error(errno));
        for errno in [
            libc::EPERM,
            libc::EACCES,
            libc::EIO,
            libc::EROFS,
            libc::ENOSPC,
        ] {
            let kept = unstored.tolerate(MetadataKind::Mode, err(errno));
            assert_eq!(kept.unwrap_err().raw_os_error(), Some(errno));
        }
        assert!(unstored
            .tolerate(MetadataKind::Mode, err(libc::ENOSYS))
            .is_ok());
        assert!(unstored
            .tolerate(MetadataKind::Mode, err(libc::ENOSYS))
            .is_ok());
        assert!(unstored
            .tolerate(MetadataKind::Times, err(libc::EOPNOTSUPP))
            .is_ok());
        assert!(unstored.tolerate(MetadataKind::Times, Ok(())).is_ok());
        assert_eq!(
            unstored.tally(),
            [
                (MetadataKind::Mode, libc::ENOSYS, 2),
                (MetadataKind::Times, libc::EOPNOTSUPP, 1)
            ]
        );
        let message = MetadataKind::Mode.message(libc::ENOSYS);
        assert!(message.contains("ENOSYS"), "{message}");
    }
}

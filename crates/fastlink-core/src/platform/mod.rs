//! Everything that differs between operating systems, behind one interface:
//! [`Platform`]. Each backend is a unit type implementing it, and the core
//! above this module calls `Os::…` only, so it names no `target_os`, and a
//! backend whose signatures drift from the trait does not compile.
//!
//! Backends, chosen by project cfgs (set by build.rs from the target, or by
//! hand to build a backend on Linux):
//! - `linux`: FICLONE, sendfile, openat2, O_TMPFILE, RENAME_NOREPLACE;
//! - `macos` (`fastlink_macos`): clonefileat/fclonefileat, renameatx_np,
//!   SEEK_DATA copies. `make macos-sim` builds it on Linux with `macos_sim`
//!   standing in for the macOS calls;
//! - `portable` (`fastlink_portable`, other unixes): reflink-copy's clone
//!   and the same hole-aware copy; `make portable-check` compiles it here.
//!
//! Errors come back as raw `io::Error`s with their errno intact: whether an
//! error means "cannot" or "this failed" is decided above, from the errno,
//! in one place (`Method::is_impossible_errno`).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, OFlags};

use crate::dirfd::ListedDir;

mod unix;

pub use unix::fork_generation;

#[cfg(not(any(fastlink_macos, fastlink_portable)))]
mod linux;
#[cfg(not(any(fastlink_macos, fastlink_portable)))]
pub use linux::Linux as Os;

#[cfg(fastlink_macos)]
mod macos;
#[cfg(fastlink_macos)]
pub use macos::MacOs as Os;
#[cfg(all(fastlink_macos, target_os = "linux"))]
mod macos_sim;

#[cfg(all(fastlink_portable, not(fastlink_macos)))]
mod portable;
#[cfg(all(fastlink_portable, not(fastlink_macos)))]
pub use portable::Portable as Os;

#[cfg(not(unix))]
compile_error!(
    "fastlink supports Linux and macOS (and builds on other unixes); not this target yet"
);

/// What [`Platform::copy_new`] needs to know about a copy besides its two ends.
pub struct CopyHints<'a> {
    /// The planned length; an empty source needs no copy call.
    pub size: u64,
    /// The source has holes (fewer blocks than its size needs) to keep.
    pub sparse: bool,
    /// Called with each run of bytes copied, so a large file shows progress
    /// before it is complete. An error from it (the call was cancelled)
    /// stops the copy and is returned.
    pub on_copied: &'a dyn Fn(u64) -> io::Result<()>,
}

/// The mode a new file must end with, and whether creating it with that mode
/// already gives exactly that (no umask bit or default ACL in the way), so
/// that the fchmod otherwise needed after open(2) can be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewMode {
    pub bits: u32,
    pub exact_on_create: bool,
}

impl NewMode {
    /// A mode that must be set after creation to be sure of it.
    #[cfg(test)]
    pub fn set_after(bits: u32) -> Self {
        NewMode {
            bits,
            exact_on_create: false,
        }
    }

    /// `bits` for a file created where only `umask` trims modes (see
    /// [`Platform::creation_umask`]); exact on creation when the umask
    /// takes none of them and there is nothing beyond the rwx bits.
    pub fn under_umask(bits: u32, umask: Option<u32>) -> Self {
        let exact = umask.is_some_and(|umask| bits & !0o777 == 0 && bits & umask == 0);
        NewMode {
            bits,
            exact_on_create: exact,
        }
    }
}

/// A regular file a backend created with [`Platform::reflink_new`] or
/// [`Platform::copy_new`].
#[derive(Debug)]
pub struct NewFile {
    pub file: File,
    /// The exact mode could not be set because the filesystem stores none
    /// (FAT under FUSE answers chmod with ENOSYS): the errno. The file is
    /// there all the same, with the mode the filesystem gives every file.
    pub mode_unset: Option<i32>,
}

/// Whether `errno`, from setting metadata (chmod, utimes) on an entry
/// fastlink created, means "this filesystem stores no such metadata"
/// rather than "something broke". The one rule for it: anything else
/// (EPERM, EACCES, EIO, EROFS...) is raised.
pub fn stores_no_such_metadata(errno: i32) -> bool {
    [libc::ENOSYS, libc::ENOTSUP, libc::EOPNOTSUPP].contains(&errno)
}

/// Whether `errno` from symlink(2) means "this filesystem cannot hold
/// symlinks": as for metadata, plus EPERM, which symlink(2) documents for
/// exactly that (a refused directory is EACCES).
pub fn holds_no_symlinks(errno: i32) -> bool {
    errno == libc::EPERM || stores_no_such_metadata(errno)
}

/// The operations whose implementation depends on the operating system.
pub trait Platform {
    /// The backend's name, for tests that must know which one they run.
    const NAME: &'static str;

    /// Create `name` in `dir` (never through a symlink, failing if it
    /// exists) as a copy-on-write clone of the open `src`, with exactly
    /// `mode` (or the filesystem's own, where it stores none: see
    /// [`NewFile::mode_unset`]). On failure nothing is left at `name`.
    /// Where [`OPENS_BENEATH_IN_ONE_CALL`](Self::OPENS_BENEATH_IN_ONE_CALL),
    /// `name` may be a relative path below `dir` (no `..`), through no
    /// symlink either.
    fn reflink_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
    ) -> io::Result<NewFile>;

    /// Create `name` in `dir` like [`reflink_new`](Self::reflink_new), and
    /// copy `src`'s bytes into it as independent data (never shared
    /// extents), keeping holes. Returns the file and the source length seen.
    fn copy_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
        hints: &CopyHints<'_>,
    ) -> io::Result<(NewFile, u64)>;

    /// Clone the directory tree `src` (already resolved: not a symlink) to
    /// the new entry `name` in `dir` in one call, where the OS has one.
    /// `None`: no such call here. On failure nothing is left at `name`.
    fn clone_tree(src: &Path, dir: BorrowedFd<'_>, name: &OsStr) -> Option<io::Result<()>>;

    /// Clone `src` into a file that has no name in `dir`, so that a probe
    /// killed midway leaves nothing behind. `None`: not possible here.
    fn clone_unnamed(src: &File, dir: BorrowedFd<'_>) -> Option<io::Result<()>>;

    /// A new, empty regular file with exactly `mode` and no name, in the
    /// directory at `dir`: it is filled, then named with
    /// [`link_unnamed`](Self::link_unnamed), so nothing half-made ever has a
    /// name and a process killed midway leaves nothing behind. `None`: this
    /// OS has no nameless files; any error: this filesystem or directory
    /// cannot (the caller then stages under a temp name).
    fn create_unnamed(dir: &Path, mode: u32) -> Option<io::Result<File>>;

    /// Give `file` (from [`create_unnamed`](Self::create_unnamed)) the name
    /// `path`, failing with EEXIST rather than replace what is there.
    fn link_unnamed(file: &File, path: &Path) -> io::Result<()>;

    /// Make the new, empty `dst` a copy-on-write clone of `src`; an errno in
    /// the reflink "cannot" list where this OS clones only to a new name.
    fn clone_into(dst: &File, src: &File) -> io::Result<()>;

    /// Copy `src` into the new, empty `dst` as [`copy_new`](Self::copy_new)
    /// does; returns the source length seen.
    fn copy_into(src: &File, dst: &File, hints: &CopyHints<'_>) -> io::Result<u64>;

    /// The umask that trims the mode of what is created in `dir` (and in new
    /// directories below it), when that is all that does: `dir` has no
    /// default ACL. Learnt once per call from a nameless file; `None` when it
    /// cannot be told, and every new entry then gets a chmod.
    fn creation_umask(dir: BorrowedFd<'_>) -> Option<u32>;

    /// Open the relative path `chunk` (shorter than PATH_MAX, no `..`)
    /// below `base` with `flags`, refusing a symlink anywhere on the way.
    fn open_beneath(base: BorrowedFd<'_>, chunk: &OsStr, flags: OFlags) -> io::Result<OwnedFd>;

    /// The names in the open directory `dir` (not `.` and `..`), with the
    /// types the listing gives. The default reads a directory stream, which
    /// takes the fd; a backend that reads through the fd itself gives it
    /// back, so the caller may keep it instead of opening it again.
    fn list_dir(dir: OwnedFd) -> io::Result<(ListedDir, Vec<(OsString, FileType)>)> {
        crate::dirfd::list_through_stream(dir)
    }

    /// Rename `from` in `from_dir` to `to` in `to_dir`, failing with EEXIST
    /// instead of replacing an existing `to`. A filesystem that cannot do
    /// this atomically answers with an errno in [`UNSUPPORTED_ERRNOS`].
    fn rename_noreplace(
        from_dir: BorrowedFd<'_>,
        from: &OsStr,
        to_dir: BorrowedFd<'_>,
        to: &OsStr,
    ) -> io::Result<()>;

    /// Whether the file `path` (relative to `dir`, the last component not
    /// followed) carries file capabilities (`security.capability`), which a
    /// hard link would share as it shares setuid bits. `Ok(false)` where the
    /// OS has no file capabilities (macOS, other unixes), without a syscall.
    fn has_file_capabilities(dir: BorrowedFd<'_>, path: &OsStr) -> io::Result<bool> {
        let _ = (dir, path);
        Ok(false)
    }

    /// Whether a clone on the filesystem holding `dir` first waits for the
    /// source's data to be written back to disk, so that cloning data
    /// written moments ago costs the writeback (XFS: its remap path flushes
    /// the range; btrfs does not wait, and APFS is not known to). `Ok(false)`
    /// where no filesystem is known to, without a syscall.
    fn clone_waits_for_writeback(dir: BorrowedFd<'_>) -> io::Result<bool> {
        let _ = dir;
        Ok(false)
    }

    /// How long the kernel may keep written data in memory before writing
    /// it back: a file changed longer ago than this is taken as written
    /// back. Read once per process where the kernel says; else 35 s.
    fn writeback_window() -> std::time::Duration {
        std::time::Duration::from_secs(35)
    }

    /// How many fds this process's fd table has room for now, where growing
    /// it is costly enough to stay within: Linux doubles the table, and in
    /// a process with threads each doubling waits for an RCU grace period
    /// (10 to 20 ms). Read once per process. `None`: unknown here.
    fn fd_table_size() -> Option<usize> {
        None
    }

    /// Whether the filesystem holding `dir` is a local one whose modes the
    /// kernel itself enforces for every process on the machine, so that a
    /// directory made 0700 there is reached by its owner alone (and root):
    /// not FUSE, whose program may not check, nor a network filesystem,
    /// whose other clients are not this kernel's, nor one whose modes are
    /// synthetic. `Ok(false)` wherever that is not known.
    fn enforces_modes_locally(dir: BorrowedFd<'_>) -> io::Result<bool> {
        let _ = dir;
        Ok(false)
    }

    /// Whether the filesystem holding `dir` might lose a directory's
    /// contents when it is renamed, so that a probe should tell (see
    /// `probe::dir_renames_keep_contents`). A kernel filesystem keeps them;
    /// a userspace one may not (fusefat empties a renamed directory).
    fn renamed_dirs_may_lose_contents(dir: BorrowedFd<'_>) -> io::Result<bool> {
        let _ = dir;
        Ok(false)
    }

    /// Try to hold a shared lock on the open directory `dir` for as long as
    /// this open file description lives (a call's anchor, while the call
    /// runs): flock(2), which dies with the process, SIGKILL included.
    /// Never waits: `Ok(false)` while another open file description holds
    /// it exclusively (a reclaim, for a moment; or a process that locks the
    /// directory for itself, as `flock DIR installer` does).
    fn try_lock_shared(dir: BorrowedFd<'_>) -> io::Result<bool> {
        match unix::flock(dir, rustix::fs::FlockOperation::NonBlockingLockShared) {
            Ok(()) => Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Give up a lock taken by [`try_lock_shared`](Self::try_lock_shared)
    /// or [`try_lock_exclusive`](Self::try_lock_exclusive).
    fn unlock(dir: BorrowedFd<'_>) {
        let _ = unix::flock(dir, rustix::fs::FlockOperation::Unlock);
    }

    /// Try to take the lock of [`lock_shared`](Self::lock_shared)
    /// exclusively, without waiting: `Ok(true)` when no other open file
    /// description holds it (in this process or another), so no call
    /// anchored there is running. On `dir`'s own shared lock this is a
    /// conversion, which may drop that lock when it fails: take it again.
    fn try_lock_exclusive(dir: BorrowedFd<'_>) -> io::Result<bool> {
        match unix::flock(dir, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Catch SIGTERM while a call runs, if its disposition is the default:
    /// `true` when this installed [`terminate_requested`]'s handler (to be
    /// undone by [`restore_terminate`](Self::restore_terminate)); `false`
    /// when the process has a handler of its own (or ignores it), which is
    /// left as it was.
    fn catch_terminate() -> bool {
        unix::catch_terminate()
    }

    /// Put SIGTERM's default disposition back.
    fn restore_terminate() {
        unix::restore_terminate()
    }

    /// Die by SIGTERM, as the signal would have done: the caller restored
    /// the default disposition first.
    fn raise_terminate() {
        unix::raise_terminate()
    }

    /// A clone carries the source's times (macOS's clonefile does), so a
    /// caller that does not keep times must reset them to "now" to match
    /// what a copy gets.
    const CLONE_KEEPS_SOURCE_TIMES: bool = false;

    /// Whether any filesystem of this OS makes a clone wait for writeback
    /// ([`Self::clone_waits_for_writeback`]): where none does, nothing is asked.
    const CLONE_MAY_WAIT_FOR_WRITEBACK: bool = false;

    /// Whether [`open_beneath`](Self::open_beneath) opens a path of many
    /// components in one call (else one open per component).
    const OPENS_BENEATH_IN_ONE_CALL: bool = false;
}

/// Whether a SIGTERM arrived while [`Platform::catch_terminate`]'s handler
/// was installed (the flag is the handler's only action).
pub fn terminate_requested() -> bool {
    unix::terminate_requested()
}

/// Forget a SIGTERM noted by the handler (once it has been acted on).
pub fn clear_terminate_request() {
    unix::clear_terminate_request()
}

/// What a kernel or filesystem answers for an operation it does not have.
/// ENOTSUP and EOPNOTSUPP are one value on Linux and two on macOS.
pub const UNSUPPORTED_ERRNOS: [i32; 4] =
    [libc::EINVAL, libc::ENOSYS, libc::ENOTSUP, libc::EOPNOTSUPP];

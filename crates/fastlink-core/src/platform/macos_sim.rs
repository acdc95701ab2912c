//! Linux stand-ins for the macOS calls of the `macos` backend, so that
//! `make macos-sim` runs that backend's logic on Linux, on real XFS and
//! btrfs. They model the macOS semantics the backend depends on:
//!
//! - `clonefileat` of a directory clones the whole tree (FICLONE per file,
//!   directories, symlinks, modes and times); of a symlink, with
//!   `CLONE_NOFOLLOW`, the link itself, and without it what it names;
//! - EEXIST when `dst` exists, EXDEV across devices, ENOTSUP where the
//!   filesystem cannot clone, and nothing left at `dst` on failure;
//! - `CLONE_NOOWNERCOPY` clears setuid/setgid;
//! - `renameatx_np(RENAME_EXCL)` is renameat2(RENAME_NOREPLACE), but ENOTSUP
//!   on the filesystem type named by `FASTLINK_SIM_NO_RENAME_EXCL` (e.g.
//!   "tmpfs"), as exFAT and SMB volumes answer;
//! - `FASTLINK_SIM_CLONE_TREE_ERRNO=<n>` makes a whole-tree clone fail with
//!   errno n, as an iCloud "dataless" file (EDEADLK) or an unreadable file
//!   (EACCES) inside the tree does.
//!
//! Errno values stay Linux's: the backend compares them with the libc
//! crate's constants, which are the target's either way.

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::raw::{c_char, c_int, c_uint};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use super::macos::{CLONE_NOFOLLOW, CLONE_NOOWNERCOPY, RENAME_EXCL};

fn fail(err: io::Error) -> c_int {
    let errno = match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => libc::ENOTSUP,
        Some(errno) => errno,
        None => libc::EIO,
    };
    // SAFETY: errno is thread-local.
    unsafe { *libc::__errno_location() = errno };
    -1
}

fn done(result: io::Result<()>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(err) => fail(err),
    }
}

/// SAFETY: `fd` is an open fd (or AT_FDCWD) for the duration of the call.
unsafe fn dir_fd<'a>(fd: c_int) -> BorrowedFd<'a> {
    if fd == libc::AT_FDCWD {
        rustix::fs::CWD
    } else {
        BorrowedFd::borrow_raw(fd)
    }
}

/// SAFETY: `name` is NUL-terminated.
unsafe fn os_str<'a>(name: *const c_char) -> &'a OsStr {
    OsStr::from_bytes(CStr::from_ptr(name).to_bytes())
}

#[no_mangle]
pub unsafe extern "C" fn fclonefileat(
    srcfd: c_int,
    dst_dirfd: c_int,
    dst: *const c_char,
    flags: u32,
) -> c_int {
    let (src, dir, name) = (
        BorrowedFd::borrow_raw(srcfd),
        dir_fd(dst_dirfd),
        os_str(dst),
    );
    done(clone_file(src, dir, name, flags).map(drop))
}

#[no_mangle]
pub unsafe extern "C" fn clonefileat(
    src_dirfd: c_int,
    src: *const c_char,
    dst_dirfd: c_int,
    dst: *const c_char,
    flags: u32,
) -> c_int {
    let (src_dir, src, dst_dir, dst) = (
        dir_fd(src_dirfd),
        os_str(src),
        dir_fd(dst_dirfd),
        os_str(dst),
    );
    let stat_flags = if flags & CLONE_NOFOLLOW != 0 {
        AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::empty()
    };
    let result = (|| {
        if rustix::fs::statat(dst_dir, dst, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let stat = rustix::fs::statat(src_dir, src, stat_flags)?;
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            if let Some(errno) = injected_tree_errno() {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        // The kernel walks a tree of any depth; this recursion needs a stack
        // deep enough for trees far past PATH_MAX.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(1 << 30)
                .spawn_scoped(scope, || {
                    // Only what this call made is taken back: a `dst` that
                    // a concurrent call created first (EEXIST here) is
                    // that call's, as the kernel's clonefileat leaves it.
                    let mut made = false;
                    let cloned =
                        clone_entry(src_dir, src, stat_flags, dst_dir, dst, flags, &mut made);
                    if cloned.is_err() && made {
                        remove_all(dst_dir, dst);
                    }
                    cloned
                })?
                .join()
                .unwrap_or_else(|_| Err(io::Error::from_raw_os_error(libc::EIO)))
        })
    })();
    done(result)
}

#[no_mangle]
pub unsafe extern "C" fn renameatx_np(
    fromfd: c_int,
    from: *const c_char,
    tofd: c_int,
    to: *const c_char,
    flags: c_uint,
) -> c_int {
    let (from_dir, from, to_dir, to) = (dir_fd(fromfd), os_str(from), dir_fd(tofd), os_str(to));
    let result = (|| {
        if flags & RENAME_EXCL == 0 {
            return Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?);
        }
        if refuses_rename_excl(to_dir)? {
            return Err(io::Error::from_raw_os_error(libc::ENOTSUP));
        }
        let noreplace = rustix::fs::RenameFlags::NOREPLACE;
        Ok(rustix::fs::renameat_with(
            from_dir, from, to_dir, to, noreplace,
        )?)
    })();
    done(result)
}

fn injected_tree_errno() -> Option<i32> {
    std::env::var("FASTLINK_SIM_CLONE_TREE_ERRNO")
        .ok()?
        .parse()
        .ok()
}

fn refuses_rename_excl(dir: BorrowedFd<'_>) -> io::Result<bool> {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(chosen) = std::env::var("FASTLINK_SIM_NO_RENAME_EXCL") else {
        return Ok(false);
    };
    let magic = rustix::fs::fstatfs(dir)?.f_type as i64;
    Ok(chosen == "tmpfs" && magic == TMPFS_MAGIC)
}

fn mode_of(stat: &rustix::fs::Stat, flags: u32) -> Mode {
    let mut mode = stat.st_mode & 0o7777;
    if flags & CLONE_NOOWNERCOPY != 0 {
        mode &= !0o6000;
    }
    Mode::from_raw_mode(mode)
}

fn times_of(stat: &rustix::fs::Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: stat.st_atime,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: stat.st_mtime,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    }
}

/// A new file `name` in `dir` sharing `src`'s extents, with its mode and times.
fn clone_file(
    src: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    flags: u32,
) -> io::Result<OwnedFd> {
    let stat = rustix::fs::fstat(src)?;
    let src_dev = stat.st_dev;
    let dir_dev = rustix::fs::fstat(dir)?.st_dev;
    let create =
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, create, Mode::from_raw_mode(0o600))?;
    let cloned = (|| {
        if src_dev != dir_dev {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        rustix::fs::ioctl_ficlone(&fd, src)?;
        rustix::fs::fchmod(&fd, mode_of(&stat, flags))?;
        rustix::fs::futimens(&fd, &times_of(&stat))?;
        Ok(())
    })();
    match cloned {
        Ok(()) => Ok(fd),
        Err(err) => {
            let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
            Err(err)
        }
    }
}

/// Clone `src` to the new `dst`; `made` is set once `dst` exists because
/// this call created it.
fn clone_entry(
    src_dir: BorrowedFd<'_>,
    src: &OsStr,
    stat_flags: AtFlags,
    dst_dir: BorrowedFd<'_>,
    dst: &OsStr,
    flags: u32,
    made: &mut bool,
) -> io::Result<()> {
    let stat = rustix::fs::statat(src_dir, src, stat_flags)?;
    if stat.st_dev != rustix::fs::fstat(dst_dir)?.st_dev {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(src_dir, src, Vec::new())?;
            rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst)?;
            *made = true;
            let times = times_of(&stat);
            rustix::fs::utimensat(dst_dir, dst, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        }
        FileType::RegularFile => {
            let open = OFlags::RDONLY | OFlags::CLOEXEC;
            let src_fd = rustix::fs::openat(src_dir, src, open, Mode::empty())?;
            // A failed clone_file removes what it created.
            clone_file(src_fd.as_fd(), dst_dir, dst, flags)?;
            *made = true;
        }
        FileType::Directory => {
            rustix::fs::mkdirat(dst_dir, dst, Mode::from_raw_mode(0o700))?;
            *made = true;
            let open = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let from = rustix::fs::openat(src_dir, src, open, Mode::empty())?;
            let to = rustix::fs::openat(dst_dir, dst, open | OFlags::NOFOLLOW, Mode::empty())?;
            for entry in rustix::fs::Dir::read_from(&from)? {
                let entry = entry?;
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name != "." && name != ".." {
                    clone_entry(
                        from.as_fd(),
                        name,
                        AtFlags::SYMLINK_NOFOLLOW,
                        to.as_fd(),
                        name,
                        flags,
                        &mut false,
                    )?;
                }
            }
            rustix::fs::fchmod(&to, mode_of(&stat, flags))?;
            rustix::fs::futimens(&to, &times_of(&stat))?;
        }
        _ => return Err(Errno::NOTSUP.into()),
    }
    Ok(())
}

/// Take back a half-made clone: `name` in `dir`, whatever it became.
fn remove_all(dir: BorrowedFd<'_>, name: &OsStr) {
    if rustix::fs::unlinkat(dir, name, AtFlags::empty()).is_ok() {
        return;
    }
    let open = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(dir, name, open, Mode::empty()) else {
        return;
    };
    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
    if let Ok(entries) = rustix::fs::Dir::read_from(&fd) {
        let names: Vec<Vec<u8>> = entries
            .flatten()
            .map(|entry| entry.file_name().to_bytes().to_vec())
            .filter(|name| name != b"." && name != b"..")
            .collect();
        for child in names {
            remove_all(fd.as_fd(), OsStr::from_bytes(&child));
        }
    }
    let _ = rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR);
}

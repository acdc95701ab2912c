//! Linux: FICLONE for clones, sendfile for copies, openat2 for walks that
//! refuse symlinks, O_TMPFILE for probes, RENAME_NOREPLACE for commits.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{FileType, Mode, OFlags, RawDir, ResolveFlags};
use rustix::io::Errno;

use super::unix;
use super::{CopyHints, NewFile, NewMode, Platform};
use crate::dirfd::ListedDir;

pub struct Linux;

impl Platform for Linux {
    const CLONE_MAY_WAIT_FOR_WRITEBACK: bool = true;

    /// openat2 (Linux 5.6); before it, the components one by one.
    const OPENS_BENEATH_IN_ONE_CALL: bool = true;

    const NAME: &'static str = "linux";

    fn reflink_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
    ) -> io::Result<NewFile> {
        // FICLONE straight into the new, empty file. reflink-copy's
        // `reflink_file` would first fstat() it to truncate a non-empty one.
        unix::clone_into_new(src, dir, name, mode, Self::clone_into)
    }

    /// The bytes go through sendfile, never copy_file_range: on XFS and
    /// btrfs copy_file_range shares extents, and "copy" must mean
    /// independent bytes (as `cp --reflink=never`).
    fn copy_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
        hints: &CopyHints<'_>,
    ) -> io::Result<(NewFile, u64)> {
        unix::copy_new(src, dir, name, mode, hints, Some(sendfile_step))
    }

    /// No single syscall clones a directory tree on Linux.
    fn clone_tree(_src: &Path, _dir: BorrowedFd<'_>, _name: &OsStr) -> Option<io::Result<()>> {
        None
    }

    fn clone_unnamed(src: &File, dir: BorrowedFd<'_>) -> Option<io::Result<()>> {
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        let unnamed = rustix::fs::openat(dir, ".", flags, Mode::from_raw_mode(0o600)).ok()?;
        Some(rustix::fs::ioctl_ficlone(&unnamed, src).map_err(io::Error::from))
    }

    /// O_TMPFILE (XFS, btrfs, ext4, tmpfs, overlayfs; not every FUSE
    /// filesystem). Its mode is trimmed like open(2)'s, hence the fchmod.
    fn create_unnamed(dir: &Path, mode: u32) -> Option<io::Result<File>> {
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(mode as _);
        Some(
            rustix::fs::openat(rustix::fs::CWD, dir, flags, mode)
                .and_then(|fd| rustix::fs::fchmod(&fd, mode).map(|()| File::from(fd)))
                .map_err(io::Error::from),
        )
    }

    /// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH, and the kernel says
    /// ENOENT without it; open(2)'s documented alternative is the file's
    /// /proc/self/fd link. Which one this process may use is learnt once.
    fn link_unnamed(file: &File, path: &Path) -> io::Result<()> {
        use rustix::fs::{linkat, AtFlags, CWD};
        use std::os::fd::AsRawFd;
        static EMPTY_PATH_REFUSED: AtomicBool = AtomicBool::new(false);
        if !EMPTY_PATH_REFUSED.load(Ordering::Relaxed) {
            match linkat(file, "", CWD, path, AtFlags::EMPTY_PATH) {
                Err(Errno::NOENT) => {}
                done => return Ok(done?),
            }
        }
        let by_proc = format!("/proc/self/fd/{}", file.as_raw_fd());
        linkat(CWD, by_proc.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)?;
        EMPTY_PATH_REFUSED.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn creation_umask(dir: BorrowedFd<'_>) -> Option<u32> {
        unix::umask_without_default_acl(dir)
    }

    fn clone_into(dst: &File, src: &File) -> io::Result<()> {
        Ok(rustix::fs::ioctl_ficlone(dst, src)?)
    }

    fn copy_into(src: &File, dst: &File, hints: &CopyHints<'_>) -> io::Result<u64> {
        unix::copy_into(src, dst, hints, Some(sendfile_step))
    }

    /// One openat2 with RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH where the
    /// kernel has it (5.6+); otherwise one O_NOFOLLOW openat per component.
    fn open_beneath(base: BorrowedFd<'_>, chunk: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
        static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let resolve =
                ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(base, chunk, flags, Mode::empty(), resolve) {
                Ok(fd) => return Ok(fd),
                Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                // openat2 reports a symlink on the way as ELOOP, like O_NOFOLLOW.
                Err(err) => return Err(err.into()),
            }
        }
        unix::open_components(base, chunk, flags)
    }

    /// getdents64 through the fd itself (no stream to take it), into a
    /// buffer of this thread's that most directories fit in at once. It
    /// reads until a read returns nothing: a short read is not the end on
    /// any filesystem, since the kernel's `filldir64` stops filling early
    /// when a signal is pending (and FUSE and NFS servers may answer short).
    fn list_dir(dir: OwnedFd) -> io::Result<(ListedDir, Vec<(OsString, FileType)>)> {
        const LISTING_BUFFER: usize = 32 * 1024;
        thread_local! {
            static BUFFER: RefCell<Vec<MaybeUninit<u8>>> =
                RefCell::new(vec![MaybeUninit::uninit(); LISTING_BUFFER]);
        }
        let names = BUFFER.with_borrow_mut(|buffer| {
            let mut names = Vec::new();
            let mut entries = RawDir::new(&dir, buffer.as_mut_slice());
            while let Some(entry) = entries.next() {
                // A directory removed meanwhile lists as empty, as readdir(3) has it.
                let entry = match entry {
                    Err(Errno::NOENT) => break,
                    // Interrupted: the next read goes on where this one stopped.
                    Err(Errno::INTR) => continue,
                    entry => entry?,
                };
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push((OsStr::from_bytes(name).to_owned(), entry.file_type()));
                }
            }
            io::Result::Ok(names)
        })?;
        Ok((ListedDir::Fd(dir), names))
    }

    fn rename_noreplace(
        from_dir: BorrowedFd<'_>,
        from: &OsStr,
        to_dir: BorrowedFd<'_>,
        to: &OsStr,
    ) -> io::Result<()> {
        let flags = rustix::fs::RenameFlags::NOREPLACE;
        Ok(rustix::fs::renameat_with(
            from_dir, from, to_dir, to, flags,
        )?)
    }

    /// XFS: `xfs_reflink_remap_prep` writes back and waits for both files'
    /// dirty ranges before it shares extents (measured: a just-unpacked tree
    /// clones 1.6× slower than the same tree synced, where a copy of it costs
    /// what the clean clone does). btrfs clones dirty data as fast as clean.
    fn clone_waits_for_writeback(dir: BorrowedFd<'_>) -> io::Result<bool> {
        const XFS_SUPER_MAGIC: i64 = 0x5846_5342;
        #[allow(clippy::unnecessary_cast)]
        Ok(rustix::fs::fstatfs(dir)?.f_type as i64 == XFS_SUPER_MAGIC)
    }

    /// `vm.dirty_expire_centisecs` (age at which dirty data is due) plus
    /// `vm.dirty_writeback_centisecs` (how often the flusher looks), read
    /// once per process. Per process, not a plain `OnceLock`: a child forked
    /// while another thread of the parent was reading them must not wait
    /// for that thread.
    fn writeback_window() -> std::time::Duration {
        fn read() -> std::time::Duration {
            let centisecs = |name: &str| -> Option<u64> {
                let text = std::fs::read_to_string(format!("/proc/sys/vm/{name}")).ok()?;
                text.trim().parse().ok()
            };
            match (
                centisecs("dirty_expire_centisecs"),
                centisecs("dirty_writeback_centisecs"),
            ) {
                (Some(expire), Some(interval)) => {
                    std::time::Duration::from_millis((expire + interval) * 10)
                }
                _ => std::time::Duration::from_secs(35),
            }
        }
        static WINDOW: crate::per_process::PerProcess<std::time::Duration> =
            crate::per_process::PerProcess::new(read);
        *WINDOW.get()
    }

    /// FDSize in /proc/self/status. The table never shrinks, so a size read
    /// once stays a floor for the process's life; a forked child's table is
    /// sized afresh from its open fds, so it reads its own. Without /proc:
    /// 64, the least a table has.
    fn fd_table_size() -> Option<usize> {
        fn read() -> usize {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let size = status.lines().find_map(|line| {
                let value = line.strip_prefix("FDSize:")?;
                value.trim().parse().ok()
            });
            size.unwrap_or(64)
        }
        static SIZE: crate::per_process::PerProcess<usize> =
            crate::per_process::PerProcess::new(read);
        Some(*SIZE.get())
    }

    /// The filesystems fastlink is tested on that keep real modes: XFS,
    /// ext2/3/4 (one magic), btrfs and tmpfs.
    fn enforces_modes_locally(dir: BorrowedFd<'_>) -> io::Result<bool> {
        const LOCAL: [i64; 4] = [0x5846_5342, 0xEF53, 0x9123_683E, 0x0102_1994];
        #[allow(clippy::unnecessary_cast)]
        Ok(LOCAL.contains(&(rustix::fs::fstatfs(dir)?.f_type as i64)))
    }

    /// FUSE (`fuse` and `fuseblk`): the filesystem is a userspace program.
    fn renamed_dirs_may_lose_contents(dir: BorrowedFd<'_>) -> io::Result<bool> {
        const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
        #[allow(clippy::unnecessary_cast)]
        Ok(rustix::fs::fstatfs(dir)?.f_type as i64 == FUSE_SUPER_MAGIC)
    }

    /// One `getxattrat` (Linux 6.13) asking only for the attribute's size;
    /// before it (ENOSYS, learnt once per process), the file is opened for
    /// `fgetxattr`.
    fn has_file_capabilities(dir: BorrowedFd<'_>, path: &OsStr) -> io::Result<bool> {
        static NO_GETXATTRAT: AtomicBool = AtomicBool::new(false);
        const NAME: &str = "security.capability";
        let answer = match NO_GETXATTRAT.load(Ordering::Relaxed) {
            false => getxattrat_size(dir, path, NAME).unwrap_or(Err(Errno::NOSYS)),
            true => Err(Errno::NOSYS),
        };
        let answer = match answer {
            Err(Errno::NOSYS) => {
                NO_GETXATTRAT.store(true, Ordering::Relaxed);
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
                let file = rustix::fs::openat(dir, path, flags, Mode::empty())?;
                rustix::fs::fgetxattr_query(&file, NAME)
            }
            answer => answer,
        };
        match answer {
            Ok(_) => Ok(true),
            // No such attribute, or a filesystem without xattrs.
            Err(Errno::NODATA | Errno::OPNOTSUPP) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

/// `getxattrat(dir, path, AT_SYMLINK_NOFOLLOW, name)` asked for the value's
/// size only; `None` where its number is not known here (the caller then
/// takes the older way, as for ENOSYS).
fn getxattrat_size(
    dir: BorrowedFd<'_>,
    path: &OsStr,
    name: &str,
) -> Option<rustix::io::Result<usize>> {
    use std::os::fd::AsRawFd;
    // The number every architecture on the common syscall table shares.
    const SYS_GETXATTRAT: Option<libc::c_long> = if cfg!(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    )) {
        Some(464)
    } else {
        None
    };
    let number = SYS_GETXATTRAT?;
    /// `struct xattr_args`: where the value goes (nowhere: size only).
    #[repr(C)]
    struct XattrArgs {
        value: u64,
        size: u32,
        flags: u32,
    }
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path)).ok()?;
    let name = std::ffi::CString::new(name).ok()?;
    let mut args = XattrArgs {
        value: 0,
        size: 0,
        flags: 0,
    };
    // SAFETY: the strings are NUL-terminated and outlive the call; `args`
    // is the kernel's `struct xattr_args`, with its size passed, and asks
    // for no value to be written.
    let ret = unsafe {
        libc::syscall(
            number,
            dir.as_raw_fd(),
            path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            name.as_ptr(),
            &mut args as *mut XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    Some(if ret < 0 {
        Err(Errno::from_raw_os_error(
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    } else {
        Ok(ret as usize)
    })
}

fn sendfile_step(
    src: &File,
    dst: &File,
    offset: &mut u64,
    len: usize,
) -> rustix::io::Result<usize> {
    rustix::fs::sendfile(dst, src, Some(offset), len)
}

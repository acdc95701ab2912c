//! Linux: FICLONE (through reflink-copy) and copy_file_range.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::unix::create_new_with_mode;
pub use super::unix::reflink_new;

/// The most one copy_file_range call is asked to move; the kernel caps a call
/// at about 2 GiB anyway, so large files loop.
const COPY_CHUNK: usize = 1 << 30;

/// Create `dst` with `mode` and copy `len` bytes of `src` into it.
pub fn copy_new(src: &File, dst: &Path, mode: u32, len: u64) -> io::Result<(File, u64)> {
    let mut file = create_new_with_mode(dst, mode)?;
    let copied = if len == 0 {
        0
    } else {
        copy_file_data(src, &mut file)?
    };
    Ok((file, copied))
}

/// No single syscall clones a directory tree on Linux.
pub fn clone_tree(_src: &Path, _dst: &Path) -> Option<io::Result<()>> {
    None
}

/// copy_file_range until EOF: the data never crosses into user space, and on
/// filesystems that support it (XFS, btrfs, NFS) the kernel may even share
/// extents. Kernels or filesystem pairs that refuse it get a read/write loop.
fn copy_file_data(src: &File, dst: &mut File) -> io::Result<u64> {
    let mut copied: u64 = 0;
    loop {
        // SAFETY: both fds are open for the duration of the call; null offsets
        // mean "use and advance the file positions".
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                COPY_CHUNK,
                0,
            )
        };
        if n > 0 {
            copied += n as u64;
            continue;
        }
        if n == 0 {
            // Some filesystems (procfs-like, FUSE) report 0 before any byte moved
            // instead of an error; let read(2) decide where EOF really is.
            if copied == 0 {
                return read_write_copy(src, dst);
            }
            return Ok(copied);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(
                libc::EXDEV
                | libc::EINVAL
                | libc::ENOSYS
                | libc::EOPNOTSUPP
                | libc::EPERM
                | libc::EBADF,
            ) if copied == 0 => return read_write_copy(src, dst),
            _ => return Err(err),
        }
    }
}

/// The portable fallback: a plain read/write loop. `write_all` finishes short
/// writes and both sides retry EINTR.
fn read_write_copy(mut src: &File, dst: &mut File) -> io::Result<u64> {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match src.read(&mut buffer) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        dst.write_all(&buffer[..n])?;
        copied += n as u64;
    }
}

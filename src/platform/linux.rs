//! Linux: FICLONE for clones; sendfile, hole-aware, for copies.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::fs::SeekFrom;
use rustix::io::Errno;

use super::unix::copy_into_new;
pub use super::unix::reflink_new;
use super::CopyHints;

/// The bounds of one sendfile call. Each call is a progress step and a point
/// where a cancel is noticed, so its size adapts to keep a call near
/// `STEP_TARGET`: a fast disk grows to the largest step (few syscalls for a
/// large file), a slow source (FUSE, network) shrinks to the smallest, so
/// Ctrl-C still acts within a fraction of a second.
const MIN_STEP: usize = 128 << 10;
const FIRST_STEP: usize = 256 << 10;
const MAX_STEP: usize = 64 << 20;
const STEP_TARGET: Duration = Duration::from_millis(50);

/// Create `name` in `dir` with `mode` and copy `src` into it. Returns the
/// file and the number of bytes the source turned out to have.
///
/// A sparse source (`hints.sparse`) has only its data segments copied
/// (SEEK_DATA/SEEK_HOLE, as GNU cp does), so the holes stay holes.
///
/// The bytes always go through sendfile, never copy_file_range: on XFS and
/// btrfs copy_file_range shares extents, and "copy" must mean independent
/// bytes (as `cp --reflink=never`). Sharing is what the reflink method is for.
pub fn copy_new(
    src: &File,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
    hints: &CopyHints<'_>,
) -> io::Result<(File, u64)> {
    let copier = Copier {
        on_copied: hints.on_copied,
        step: Cell::new(FIRST_STEP),
    };
    copy_into_new(dir, name, mode, hints.size, |file| {
        if hints.sparse {
            copier.copy_data_segments(src, file, hints.size)
        } else {
            copier.copy_range(src, file, 0, u64::MAX)
        }
    })
}

struct Copier<'a> {
    on_copied: &'a dyn Fn(u64) -> io::Result<()>,
    /// The size of the next sendfile call.
    step: Cell<usize>,
}

/// No single syscall clones a directory tree on Linux.
pub fn clone_tree(_src: &std::path::Path, _dst: &std::path::Path) -> Option<io::Result<()>> {
    None
}

impl Copier<'_> {
    /// Copy `[start, end)` of `src` to the same offsets of `dst` (to EOF when
    /// `end` is u64::MAX). Returns the end offset reached. sendfile keeps the
    /// data in the kernel; a pair that refuses it gets a pread/pwrite loop.
    fn copy_range(&self, src: &File, dst: &File, start: u64, end: u64) -> io::Result<u64> {
        match self.sendfile_loop(src, dst, start, end)? {
            Some(reached) => Ok(reached),
            None => self.pread_pwrite(src, dst, start, end),
        }
    }

    /// Report `bytes` (which may cancel the copy) and size the next step
    /// from how long this one took.
    fn stepped(&self, bytes: usize, took: Duration) -> io::Result<()> {
        let step = self.step.get();
        if took < STEP_TARGET / 2 && bytes == step {
            self.step.set((step * 2).min(MAX_STEP));
        } else if took > STEP_TARGET * 2 {
            self.step.set((step / 2).max(MIN_STEP));
        }
        (self.on_copied)(bytes as u64)
    }

    /// Copy only the data segments of a sparse source, then set the length so a
    /// trailing hole is kept. Returns the source length seen.
    fn copy_data_segments(&self, src: &File, dst: &File, size: u64) -> io::Result<u64> {
        let mut offset = 0u64;
        loop {
            let data = match rustix::fs::seek(src, SeekFrom::Data(offset)) {
                Ok(data) => data,
                // No data past `offset`: the rest is a hole.
                Err(Errno::NXIO) => break,
                // A filesystem without SEEK_DATA: copy densely.
                Err(Errno::INVAL | Errno::OPNOTSUPP) if offset == 0 => {
                    return self.copy_range(src, dst, 0, u64::MAX)
                }
                Err(err) => return Err(err.into()),
            };
            let hole = rustix::fs::seek(src, SeekFrom::Hole(data))?;
            offset = self.copy_range(src, dst, data, hole)?;
            if offset < hole {
                // EOF inside a data segment: the file shrank while being copied.
                return Ok(offset);
            }
        }
        let length = rustix::fs::fstat(src)?.st_size as u64;
        if length != size {
            return Ok(length);
        }
        dst.set_len(length)?;
        Ok(length)
    }

    /// sendfile from `start` until `end` or EOF; it writes at `dst`'s file
    /// position, so that is moved to `start` first. `None`: refused before any
    /// byte moved.
    fn sendfile_loop(
        &self,
        src: &File,
        dst: &File,
        start: u64,
        end: u64,
    ) -> io::Result<Option<u64>> {
        if start != 0 {
            rustix::fs::seek(dst, SeekFrom::Start(start))?;
        }
        let mut off_in = start;
        while off_in < end {
            let want = (end - off_in).min(self.step.get() as u64) as usize;
            let began = Instant::now();
            match rustix::fs::sendfile(dst, src, Some(&mut off_in), want) {
                Ok(0) if off_in == start => return Ok(None),
                Ok(0) => break,
                Ok(n) => self.stepped(n, began.elapsed())?,
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if off_in == start => {
                    return Ok(None)
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(Some(off_in))
    }

    /// The portable fallback: pread/pwrite at explicit offsets, finishing short
    /// writes and retrying EINTR.
    fn pread_pwrite(&self, src: &File, dst: &File, start: u64, end: u64) -> io::Result<u64> {
        use std::os::unix::fs::FileExt;
        let mut buffer = vec![0u8; MIN_STEP];
        let mut offset = start;
        while offset < end {
            let want = ((end - offset).min(buffer.len() as u64)) as usize;
            let n = match src.read_at(&mut buffer[..want], offset) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            dst.write_all_at(&buffer[..n], offset)?;
            offset += n as u64;
            (self.on_copied)(n as u64)?;
        }
        Ok(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::fd::AsFd;

    #[test]
    fn a_large_copy_reports_its_bytes_chunk_by_chunk() {
        let tmp = tempfile::tempdir().unwrap();
        let size = 2 * MAX_STEP as u64 + 12_345;
        let src_path = tmp.path().join("src");
        std::fs::write(&src_path, vec![0x5a; size as usize]).unwrap();
        let src = File::open(&src_path).unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let steps = RefCell::new(Vec::new());
        let hints = CopyHints {
            size,
            sparse: false,
            on_copied: &|bytes| {
                steps.borrow_mut().push(bytes);
                Ok(())
            },
        };

        let (_, seen) = copy_new(&src, dir.as_fd(), "dst".as_ref(), 0o644, &hints).unwrap();

        let steps = steps.into_inner();
        assert_eq!(seen, size);
        assert!(steps.len() >= 3, "{steps:?}");
        assert_eq!(steps.iter().sum::<u64>(), size);
        assert_eq!(
            std::fs::metadata(tmp.path().join("dst")).unwrap().len(),
            size
        );
    }

    #[test]
    fn a_copy_stops_at_the_first_step_its_callback_refuses() {
        let tmp = tempfile::tempdir().unwrap();
        let size = 4 * MAX_STEP as u64;
        let src_path = tmp.path().join("src");
        std::fs::write(&src_path, vec![1u8; size as usize]).unwrap();
        let src = File::open(&src_path).unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let steps = Cell::new(0);
        let hints = CopyHints {
            size,
            sparse: false,
            on_copied: &|_| {
                steps.set(steps.get() + 1);
                Err(io::Error::from_raw_os_error(libc::ECANCELED))
            },
        };

        let err = copy_new(&src, dir.as_fd(), "dst".as_ref(), 0o644, &hints).unwrap_err();

        assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(steps.get(), 1);
    }
}

//! Linux: FICLONE (through reflink-copy) and copy_file_range, hole-aware.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::{OnceLock, RwLock};

use rustix::fs::SeekFrom;
use rustix::io::Errno;

use super::unix::copy_into_new;
pub use super::unix::reflink_new;
use super::CopyHints;

/// The most one copy_file_range or sendfile call is asked to move. Large
/// files loop, and each call is a progress step: 64 MiB takes well under the
/// 50 ms a progress bar is redrawn in on a disk-speed copy, and the extra
/// calls cost nothing measurable (64 for a 4 GiB file).
const COPY_CHUNK: usize = 64 << 20;

/// Create `name` in `dir` with `mode` and copy `src` into it. Returns the
/// file and the number of bytes the source turned out to have.
///
/// A sparse source (`hints.sparse`) has only its data segments copied
/// (SEEK_DATA/SEEK_HOLE, as GNU cp does), so the holes stay holes.
///
/// `hints.devices` keys the memory of pairs that refuse copy_file_range, so
/// each such pair pays for the refusal once, not per file.
pub fn copy_new(
    src: &File,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
    hints: &CopyHints<'_>,
) -> io::Result<(File, u64)> {
    let copier = Copier {
        devices: hints.devices,
        on_copied: hints.on_copied,
    };
    copy_into_new(dir, name, mode, hints.size, |file| {
        if hints.sparse {
            copier.copy_data_segments(src, file, hints.size)
        } else {
            copier.copy_range(src, file, 0, u64::MAX)
        }
    })
}

/// Device pairs on which copy_file_range failed with "cannot" (e.g. EXDEV
/// between XFS and btrfs since Linux 5.19): they go straight to sendfile.
fn refuses_copy_file_range() -> &'static RwLock<HashSet<(u64, u64)>> {
    static PAIRS: OnceLock<RwLock<HashSet<(u64, u64)>>> = OnceLock::new();
    PAIRS.get_or_init(Default::default)
}

struct Copier<'a> {
    devices: (u64, u64),
    on_copied: &'a dyn Fn(u64),
}

/// No single syscall clones a directory tree on Linux.
pub fn clone_tree(_src: &std::path::Path, _dst: &std::path::Path) -> Option<io::Result<()>> {
    None
}

impl Copier<'_> {
    /// Copy `[start, end)` of `src` to the same offsets of `dst` (to EOF when
    /// `end` is u64::MAX). Returns the end offset reached.
    ///
    /// copy_file_range keeps the data in the kernel, and on filesystems that
    /// can (XFS, btrfs, NFS) may even share extents. A pair that refuses it
    /// gets sendfile (still in-kernel), and one that refuses both a
    /// pread/pwrite loop.
    fn copy_range(&self, src: &File, dst: &File, start: u64, end: u64) -> io::Result<u64> {
        let known_refusal = refuses_copy_file_range()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&self.devices);
        if !known_refusal {
            match self.copy_file_range_loop(src, dst, start, end)? {
                Some(reached) => return Ok(reached),
                None => {
                    refuses_copy_file_range()
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(self.devices);
                }
            }
        }
        match self.sendfile_loop(src, dst, start, end)? {
            Some(reached) => Ok(reached),
            None => self.pread_pwrite(src, dst, start, end),
        }
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

    /// copy_file_range from `start` until `end` or EOF. `None`: the pair refused
    /// it before any byte moved.
    fn copy_file_range_loop(
        &self,
        src: &File,
        dst: &File,
        start: u64,
        end: u64,
    ) -> io::Result<Option<u64>> {
        let (mut off_in, mut off_out) = (start, start);
        while off_in < end {
            let want = (end - off_in).min(COPY_CHUNK as u64) as usize;
            match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want)
            {
                // Some filesystems (procfs-like, FUSE) report 0 before any byte
                // moved instead of an error; let the fallback find EOF.
                Ok(0) if off_in == start => return Ok(None),
                Ok(0) => break,
                Ok(n) => (self.on_copied)(n as u64),
                Err(Errno::INTR) => {}
                Err(
                    Errno::XDEV
                    | Errno::INVAL
                    | Errno::NOSYS
                    | Errno::OPNOTSUPP
                    | Errno::PERM
                    | Errno::BADF,
                ) if off_in == start => return Ok(None),
                Err(err) => return Err(err.into()),
            }
        }
        Ok(Some(off_in))
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
            let want = (end - off_in).min(COPY_CHUNK as u64) as usize;
            match rustix::fs::sendfile(dst, src, Some(&mut off_in), want) {
                Ok(0) if off_in == start => return Ok(None),
                Ok(0) => break,
                Ok(n) => (self.on_copied)(n as u64),
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
        let mut buffer = vec![0u8; 256 * 1024];
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
            (self.on_copied)(n as u64);
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
        let size = 2 * COPY_CHUNK as u64 + 12_345;
        let src_path = tmp.path().join("src");
        std::fs::write(&src_path, vec![0x5a; size as usize]).unwrap();
        let src = File::open(&src_path).unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let steps = RefCell::new(Vec::new());
        let hints = CopyHints {
            size,
            sparse: false,
            devices: (0, 0),
            on_copied: &|bytes| steps.borrow_mut().push(bytes),
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
}

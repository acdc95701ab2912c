//! What the unix backends share: creating a file with an exact mode through
//! a directory fd, the hole-aware copy loop, and the component-wise
//! `O_NOFOLLOW` walk.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags, SeekFrom};
use rustix::io::Errno;

use super::{stores_no_such_metadata, CopyHints, NewFile, NewMode};

/// Create `name` in `dir` exclusively, never through a symlink, with exactly `mode`.
///
/// `open(2)` trims the mode by the umask, or, under a default ACL on `dir`,
/// by that ACL instead; either may differ between two calls of one process.
/// An installer must reproduce the source's bits (exec bits included), so a
/// `fchmod` follows unless the caller knows open(2) gives them exactly.
/// A filesystem that stores no mode keeps the file (`mode_unset`); on any
/// other failure nothing is left at `name`.
pub fn create_new_with_mode(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: NewMode,
) -> io::Result<NewFile> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let bits = Mode::from_raw_mode(mode.bits as _);
    let file = File::from(open_below(dir, name, flags, bits)?);
    if mode.exact_on_create {
        return Ok(NewFile {
            file,
            mode_unset: None,
        });
    }
    set_new_mode(file, mode.bits).inspect_err(|_| unlink_below(dir, name))
}

/// openat(2) of `name` in `dir`; where `name` is a path of several
/// components (only on Linux, whose `OPENS_BENEATH_IN_ONE_CALL` lets
/// callers pass one), openat2 through no symlink and never above `dir`,
/// or, before openat2 (Linux 5.6), its directory walked component by
/// component.
fn open_below(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlags, bits: Mode) -> io::Result<OwnedFd> {
    #[cfg(not(any(fastlink_macos, fastlink_portable)))]
    if let Some((parent, leaf)) = split_path(name) {
        use rustix::fs::ResolveFlags;
        let resolve =
            ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        return match rustix::fs::openat2(dir, name, flags, bits, resolve) {
            Err(Errno::NOSYS) => {
                let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
                let parent = open_components(dir, parent, dir_flags)?;
                Ok(rustix::fs::openat(&parent, leaf, flags, bits)?)
            }
            opened => Ok(opened?),
        };
    }
    Ok(rustix::fs::openat(dir, name, flags, bits)?)
}

/// Remove what [`open_below`] just created at `name` (best effort: the
/// caller is already failing), reaching a path's directory as it did.
fn unlink_below(dir: BorrowedFd<'_>, name: &OsStr) {
    let flags = rustix::fs::AtFlags::empty();
    match split_path(name) {
        Some((parent, leaf)) => {
            let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            if let Ok(parent) = open_below(dir, parent, dir_flags, Mode::empty()) {
                let _ = rustix::fs::unlinkat(&parent, leaf, flags);
            }
        }
        None => {
            let _ = rustix::fs::unlinkat(dir, name, flags);
        }
    }
}

/// A path of several components as its directory and its last component.
fn split_path(name: &OsStr) -> Option<(&OsStr, &OsStr)> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    let slash = bytes.iter().rposition(|&b| b == b'/')?;
    Some((
        OsStr::from_bytes(&bytes[..slash]),
        OsStr::from_bytes(&bytes[slash + 1..]),
    ))
}

/// fchmod a file this call just created to `bits`: `mode_unset` where the
/// filesystem stores no mode, any other error as it is.
pub fn set_new_mode(file: File, bits: u32) -> io::Result<NewFile> {
    match rustix::fs::fchmod(&file, Mode::from_raw_mode(bits as _)) {
        Ok(()) => Ok(NewFile {
            file,
            mode_unset: None,
        }),
        Err(err) if stores_no_such_metadata(err.raw_os_error()) => Ok(NewFile {
            file,
            mode_unset: Some(err.raw_os_error()),
        }),
        Err(err) => Err(err.into()),
    }
}

/// [`Platform::creation_umask`](super::Platform::creation_umask) where
/// POSIX ACLs are xattrs (Linux): none by default on `dir`, and then a
/// nameless file created 0777 shows what the umask takes away.
#[cfg(not(any(fastlink_macos, fastlink_portable)))]
pub fn umask_without_default_acl(dir: BorrowedFd<'_>) -> Option<u32> {
    // A setgid directory passes its bit to new subdirectories.
    if rustix::fs::fstat(dir).ok()?.st_mode as u32 & 0o2000 != 0 {
        return None;
    }
    let mut none: [u8; 0] = [];
    match rustix::fs::fgetxattr(dir, "system.posix_acl_default", &mut none[..]) {
        Err(Errno::NODATA | Errno::OPNOTSUPP) => {}
        _ => return None,
    }
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    let probe = rustix::fs::openat(dir, ".", flags, Mode::from_raw_mode(0o777)).ok()?;
    let mode = rustix::fs::fstat(&probe).ok()?.st_mode as u32;
    Some(0o777 & !mode)
}

/// Create `name` in `dir` with exactly `mode` and make it a clone of `src`
/// with `clone(new_file, src)`; on failure nothing is left at `name`.
/// (macOS clones to a new name in one call, fclonefileat, and needs none.)
#[cfg(not(fastlink_macos))]
pub fn clone_into_new(
    src: &File,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: NewMode,
    clone: impl FnOnce(&File, &File) -> io::Result<()>,
) -> io::Result<NewFile> {
    let file = create_new_with_mode(dir, name, mode)?;
    match clone(&file.file, src) {
        Ok(()) => Ok(file),
        Err(err) => {
            drop(file);
            unlink_below(dir, name);
            Err(err)
        }
    }
}

/// One step of an in-kernel copy: move up to `len` bytes from `src` at
/// `*offset` to `dst` at its file position, advancing `*offset`.
pub type KernelCopy = fn(&File, &File, &mut u64, usize) -> rustix::io::Result<usize>;

/// Create `name` in `dir` with `mode` and copy `src` into it, through
/// `kernel_copy` where the OS has one (falling back to pread/pwrite where a
/// pair refuses it) or pread/pwrite alone. Returns the file and the number
/// of bytes the source turned out to have. A sparse source
/// (`hints.sparse`) has only its data segments copied (SEEK_DATA/SEEK_HOLE,
/// as GNU cp does), so the holes stay holes. An empty source needs no copy
/// call: a file that grew since it was planned is caught by the caller's
/// size check.
pub fn copy_new(
    src: &File,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: NewMode,
    hints: &CopyHints<'_>,
    kernel_copy: Option<KernelCopy>,
) -> io::Result<(NewFile, u64)> {
    let file = create_new_with_mode(dir, name, mode)?;
    let seen = copy_into(src, &file.file, hints, kernel_copy)?;
    Ok((file, seen))
}

/// Copy `src` into the new, empty `dst` as [`copy_new`] does; returns the
/// number of bytes the source turned out to have.
pub fn copy_into(
    src: &File,
    dst: &File,
    hints: &CopyHints<'_>,
    kernel_copy: Option<KernelCopy>,
) -> io::Result<u64> {
    if hints.size == 0 {
        return Ok(0);
    }
    let copier = Copier {
        on_copied: hints.on_copied,
        step: Cell::new(FIRST_STEP),
        kernel_copy,
        planned_end: hints.size,
    };
    if hints.sparse {
        copier.copy_data_segments(src, dst, hints.size)
    } else {
        copier.copy_range(src, dst, 0, u64::MAX)
    }
}

/// The bounds of one copy step. Each call is a progress step and a point
/// where a cancel is noticed, so its size adapts to keep a call near
/// `STEP_TARGET`: a fast disk grows to the largest step (few syscalls for a
/// large file), a slow source (FUSE, network) shrinks to the smallest, so
/// Ctrl-C still acts within a fraction of a second.
const MIN_STEP: usize = 128 << 10;
const FIRST_STEP: usize = 256 << 10;
const MAX_STEP: usize = 64 << 20;
const STEP_TARGET: Duration = Duration::from_millis(50);

struct Copier<'a> {
    on_copied: &'a dyn Fn(u64) -> io::Result<()>,
    /// The size of the next step.
    step: Cell<usize>,
    kernel_copy: Option<KernelCopy>,
    /// The planned length. A step that comes back short exactly there has
    /// met EOF, so no further call is made only to read 0 (a file that grew
    /// meanwhile fills the step instead, and is copied on).
    planned_end: u64,
}

impl Copier<'_> {
    /// Whether a step that moved `moved` of `wanted` bytes, ending at
    /// `reached`, ended at EOF.
    fn met_planned_eof(&self, moved: usize, wanted: usize, reached: u64) -> bool {
        moved < wanted && reached == self.planned_end
    }

    /// Copy `[start, end)` of `src` to the same offsets of `dst` (to EOF when
    /// `end` is u64::MAX). Returns the end offset reached. The kernel copy
    /// keeps the data in the kernel; a pair that refuses it, or an OS that
    /// has none, gets a pread/pwrite loop.
    fn copy_range(&self, src: &File, dst: &File, start: u64, end: u64) -> io::Result<u64> {
        if let Some(kernel_copy) = self.kernel_copy {
            if let Some(reached) = self.kernel_loop(kernel_copy, src, dst, start, end)? {
                return Ok(reached);
            }
        }
        self.pread_pwrite(src, dst, start, end)
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

    /// The kernel copy from `start` until `end` or EOF; it writes at `dst`'s
    /// file position, so that is moved to `start` first. `None`: refused
    /// before any byte moved.
    fn kernel_loop(
        &self,
        kernel_copy: KernelCopy,
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
            let mut want = (end - off_in).min(self.step.get() as u64);
            if off_in < self.planned_end {
                // One byte past the planned end: a short step then proves EOF.
                want = want.min(self.planned_end - off_in + 1);
            }
            let want = want as usize;
            let began = Instant::now();
            match kernel_copy(src, dst, &mut off_in, want) {
                Ok(0) if off_in == start => return Ok(None),
                Ok(0) => break,
                Ok(n) => {
                    self.stepped(n, began.elapsed())?;
                    if self.met_planned_eof(n, want, off_in) {
                        break;
                    }
                }
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
            let began = Instant::now();
            let n = match src.read_at(&mut buffer[..want], offset) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            dst.write_all_at(&buffer[..n], offset)?;
            offset += n as u64;
            self.stepped(n, began.elapsed())?;
            if self.met_planned_eof(n, want, offset) {
                break;
            }
            if buffer.len() < self.step.get() {
                buffer.resize(self.step.get(), 0);
            }
        }
        Ok(offset)
    }
}

/// flock(2) on `fd`, retrying EINTR (a blocking lock waits for a reclaim).
pub fn flock(fd: BorrowedFd<'_>, operation: rustix::fs::FlockOperation) -> io::Result<()> {
    loop {
        match rustix::fs::flock(fd, operation) {
            Err(Errno::INTR) => continue,
            done => return Ok(done?),
        }
    }
}

/// Set by the SIGTERM handler below; read by the caller's waiting loop.
static TERMINATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    TERMINATE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Install `on_terminate` for SIGTERM if the disposition is SIG_DFL, in one
/// sigaction that also returns the old one; anything else (a Python handler,
/// SIG_IGN) is put straight back and `false` returned.
pub fn catch_terminate() -> bool {
    // SAFETY: plain sigaction calls with zero-initialised, fully set structs;
    // the handler only stores an atomic.
    unsafe {
        let mut ours: libc::sigaction = std::mem::zeroed();
        ours.sa_sigaction = on_terminate as extern "C" fn(libc::c_int) as libc::sighandler_t;
        ours.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut ours.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGTERM, &ours, &mut old) != 0 {
            return false;
        }
        if old.sa_sigaction == libc::SIG_DFL {
            return true;
        }
        libc::sigaction(libc::SIGTERM, &old, std::ptr::null_mut());
        // A SIGTERM caught in that instant belongs to the process's own handler.
        if TERMINATE.swap(false, std::sync::atomic::Ordering::SeqCst) {
            libc::raise(libc::SIGTERM);
        }
        false
    }
}

/// Put SIG_DFL back, unless the process installed a handler of its own
/// meanwhile (Python's `signal.signal` while a call ran): that one stays.
pub fn restore_terminate() {
    // SAFETY: as above.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGTERM, &default, &mut old) == 0
            && old.sa_sigaction != on_terminate as extern "C" fn(libc::c_int) as libc::sighandler_t
        {
            libc::sigaction(libc::SIGTERM, &old, std::ptr::null_mut());
        }
    }
}

pub fn raise_terminate() {
    // SAFETY: raise(3) with the default disposition ends the process.
    unsafe {
        libc::raise(libc::SIGTERM);
    }
}

pub fn terminate_requested() -> bool {
    TERMINATE.load(std::sync::atomic::Ordering::SeqCst)
}

pub fn clear_terminate_request() {
    TERMINATE.store(false, std::sync::atomic::Ordering::SeqCst);
}

/// Open each component of `chunk` below `base` with `O_NOFOLLOW`: a symlink
/// on the way is refused (ELOOP on Linux; ENOTDIR on macOS, where
/// `O_DIRECTORY` is checked first).
pub fn open_components(base: BorrowedFd<'_>, chunk: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
    let mut current: Option<OwnedFd> = None;
    for name in Path::new(chunk).components() {
        let dir = current.as_ref().map_or(base, |fd| fd.as_fd());
        current = Some(rustix::fs::openat(
            dir,
            name.as_os_str(),
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )?);
    }
    current.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
}

/// How many times this process's line has forked since fastlink was first
/// used in it: a child sees its parent's number plus one. One atomic load
/// after the first call, which registers the `pthread_atfork` handler.
pub fn fork_generation() -> u64 {
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    static REGISTER: Once = Once::new();
    extern "C" fn in_child() {
        // Async-signal-safe: the child runs this before fork() returns.
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }
    REGISTER.call_once(|| {
        // SAFETY: registering a handler that only touches an atomic.
        let failed = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        // ENOMEM only; without the handler a forked child would hang, so
        // refuse to go on rather than risk it.
        assert_eq!(failed, 0, "pthread_atfork failed");
    });
    GENERATION.load(Ordering::Relaxed)
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

        let (_, seen) = copy_new(
            &src,
            dir.as_fd(),
            "dst".as_ref(),
            NewMode::set_after(0o644),
            &hints,
            None,
        )
        .unwrap();

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

        let err = copy_new(
            &src,
            dir.as_fd(),
            "dst".as_ref(),
            NewMode::set_after(0o644),
            &hints,
            None,
        )
        .unwrap_err();

        assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
        assert_eq!(steps.get(), 1);
    }
}

//! Filesystem operations relative to directory fds, never following symlinks
//! on the way. Everything fastlink creates goes through here, so a symlink
//! planted in the destination (or swapped into the source) is never walked
//! through, and trees deeper than PATH_MAX work.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::platform::{Os, Platform, UNSUPPORTED_ERRNOS};

/// Paths handed to one syscall are kept below PATH_MAX (4096); longer ones
/// are resolved a chunk at a time.
pub const MAX_PATH_CHUNK: usize = 3072;

/// Open the directory `rel` below `root`, refusing any symlink on the way
/// (and `..`). An empty `rel` re-opens `root` itself.
pub fn open_dir_beneath(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut current: Option<OwnedFd> = None;
    let mut chunk = OsString::new();
    let mut components = rel.components().peekable();
    if components.peek().is_none() {
        return Ok(rustix::fs::openat(root, ".", flags, Mode::empty())?);
    }
    while let Some(component) = components.next() {
        let Component::Normal(name) = component else {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        };
        if !chunk.is_empty() {
            chunk.push("/");
        }
        chunk.push(name);
        let last = components.peek().is_none();
        let next_len = components.peek().map_or(0, |c| c.as_os_str().len() + 1);
        if last || chunk.len() + next_len > MAX_PATH_CHUNK {
            let base = current.as_ref().map_or(root, |fd| fd.as_fd());
            current = Some(open_chunk_beneath(base, &chunk, flags)?);
            chunk.clear();
        }
    }
    Ok(current.expect("rel has at least one component"))
}

fn open_chunk_beneath(base: BorrowedFd<'_>, chunk: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
    Os::open_beneath(base, chunk, flags)
}

/// The identity (st_dev, st_ino) of an open file or directory.
#[allow(clippy::unnecessary_cast)]
pub fn identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let stat = rustix::fs::fstat(fd)?;
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

/// The identities (st_dev, st_ino) of the directory `path` and of every
/// directory above it, up to the root, found by opening `..` from each
/// (never by spelling paths, which bind mounts and symlinks alias).
pub fn identity_chain(path: &Path) -> io::Result<Vec<(u64, u64)>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = open_dir(path)?;
    let mut chain = Vec::new();
    loop {
        let id = identity(dir.as_fd())?;
        if chain.last() == Some(&id) {
            return Ok(chain);
        }
        chain.push(id);
        dir = rustix::fs::openat(&dir, "..", flags, Mode::empty())?;
    }
}

/// A directory fd that was either opened for the purpose or is borrowed
/// from one already open, so that "the same directory" costs no reopen;
/// or one opened for the purpose and shared with what must reach the same
/// directory later, wherever it has been moved meanwhile (a roll-back).
pub enum DirFd<'a> {
    Owned(OwnedFd),
    Borrowed(BorrowedFd<'a>),
    Shared(Arc<OwnedFd>),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Owned(fd) => fd.as_fd(),
            DirFd::Borrowed(fd) => *fd,
            DirFd::Shared(fd) => fd.as_fd(),
        }
    }
}

impl DirFd<'_> {
    /// The fd, if it is one that may be shared.
    pub fn shared(&self) -> Option<Arc<OwnedFd>> {
        match self {
            DirFd::Shared(fd) => Some(Arc::clone(fd)),
            DirFd::Owned(_) | DirFd::Borrowed(_) => None,
        }
    }
}

/// [`open_dir_beneath`], except that an empty `rel` borrows `root` itself.
pub fn dir_beneath<'a>(root: BorrowedFd<'a>, rel: &Path) -> io::Result<DirFd<'a>> {
    if rel.as_os_str().is_empty() {
        Ok(DirFd::Borrowed(root))
    } else {
        open_dir_beneath(root, rel).map(DirFd::Owned)
    }
}

/// Open a directory given by path (following it: the caller named it).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<rustix::fs::Stat> {
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// The identity (st_dev, st_ino) of `name` in `dir`, not following a symlink.
#[allow(clippy::unnecessary_cast)]
pub fn lstat_identity(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<(u64, u64)> {
    let stat = lstat_at(dir, name)?;
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

pub fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(
        dir,
        name,
        Mode::from_raw_mode(mode as _),
    )?)
}

pub fn symlink_at(target: &Path, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::symlinkat(target, dir, name)?)
}

pub fn hardlink_at(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
) -> io::Result<()> {
    Ok(rustix::fs::linkat(
        src_dir,
        src_name,
        dst_dir,
        dst_name,
        AtFlags::empty(),
    )?)
}

/// Create the regular file `name` in `dir` for writing, failing if anything
/// is there and never through a symlink, with `mode` as open(2) trims it
/// (by the umask, or a default ACL).
pub fn create_file_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<std::fs::File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode as _))?;
    Ok(std::fs::File::from(fd))
}

/// Remove the empty directory `name` in `dir`.
pub fn rmdir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

pub fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// Rename within one directory; see [`rename_between`].
pub fn rename_at(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr, replace: bool) -> io::Result<()> {
    rename_between(dir, from, dir, to, replace)
}

/// Rename `from` in `from_dir` to `to` in `to_dir`. `replace` false: fail
/// with EEXIST rather than replace anything (RENAME_NOREPLACE), so a
/// concurrent creator of the same name is never clobbered.
pub fn rename_between(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &OsStr,
    replace: bool,
) -> io::Result<()> {
    if replace {
        return Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?);
    }
    match Os::rename_noreplace(from_dir, from, to_dir, to) {
        Err(err)
            if err
                .raw_os_error()
                .is_some_and(|e| UNSUPPORTED_ERRNOS.contains(&e)) =>
        {
            // No atomic no-replace rename on this filesystem: check, then rename.
            match lstat_at(to_dir, to) {
                Ok(_) => Err(io::Error::from_raw_os_error(libc::EEXIST)),
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
                    Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?)
                }
                Err(err) => Err(err),
            }
        }
        result => result,
    }
}

/// Whether `name` in `dir` is a real directory (not a symlink to one).
pub fn is_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    let stat = lstat_at(dir, name)?;
    Ok(rustix::fs::FileType::from_raw_mode(stat.st_mode as _) == rustix::fs::FileType::Directory)
}

/// Remove `name` in `dir`, recursively when it is a directory, without
/// following symlinks and without recursion (deep trees), holding one
/// directory fd per level still being emptied.
pub fn remove_tree_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    if !is_dir_at(dir, name)? {
        return unlink_at(dir, name);
    }
    // Each level: the open directory and the name it has in its parent.
    let mut stack: Vec<(OwnedFd, OsString)> = vec![(open_for_removal(dir, name)?, name.to_owned())];
    while let Some((fd, _)) = stack.last() {
        let mut subdir: Option<OsString> = None;
        for entry in rustix::fs::Dir::read_from(fd)? {
            let entry = entry?;
            let entry_name = OsStr::from_bytes_compat(entry.file_name().to_bytes());
            if entry_name == "." || entry_name == ".." {
                continue;
            }
            match unlink_at(fd.as_fd(), entry_name) {
                Ok(()) => {}
                Err(err) if matches!(err.raw_os_error(), Some(libc::EISDIR | libc::EPERM)) => {
                    subdir = Some(entry_name.to_owned());
                    break;
                }
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
                Err(err) => return Err(err),
            }
        }
        match subdir {
            Some(child) => {
                let child_fd = open_for_removal(fd.as_fd(), &child)?;
                stack.push((child_fd, child));
            }
            None => {
                let (_, emptied) = stack.pop().expect("stack is not empty");
                let parent = stack.last().map_or(dir, |(fd, _)| fd.as_fd());
                rustix::fs::unlinkat(parent, &emptied, AtFlags::REMOVEDIR)?;
            }
        }
    }
    Ok(())
}

/// Open a directory to empty it; a read-only one (0o555 from the source) is
/// made writable first, or its entries could not be removed.
fn open_for_removal(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
    Ok(fd)
}

/// `OsStr::from_bytes` on unix, spelled once.
trait FromBytesCompat {
    fn from_bytes_compat(bytes: &[u8]) -> &OsStr;
}

impl FromBytesCompat for OsStr {
    fn from_bytes_compat(bytes: &[u8]) -> &OsStr {
        use std::os::unix::ffi::OsStrExt;
        OsStr::from_bytes(bytes)
    }
}

/// List a directory fd given up for the purpose (no extra syscalls), and
/// hand it back as a `Dir` whose `fd()` still serves `*at` calls.
/// The names come without `.` and `..`.
/// An open directory whose names were listed: its fd, still open for the
/// lookups that follow (and to be kept), or the stream that took it.
pub enum ListedDir {
    // Made by the backends that read through the fd itself (Linux) only.
    #[allow(dead_code)]
    Fd(OwnedFd),
    Stream(rustix::fs::Dir),
}

impl ListedDir {
    pub fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match self {
            ListedDir::Fd(fd) => Ok(fd.as_fd()),
            ListedDir::Stream(dir) => Ok(dir.fd()?),
        }
    }

    /// The fd, where the listing left it free to keep.
    pub fn into_fd(self) -> Option<OwnedFd> {
        match self {
            ListedDir::Fd(fd) => Some(fd),
            ListedDir::Stream(_) => None,
        }
    }
}

/// The names in the open directory `dir` (not `.` and `..`), with the types
/// the listing gives (see [`Platform::list_dir`]).
pub fn list_owned_dir(dir: OwnedFd) -> io::Result<(ListedDir, Vec<(OsString, FileType)>)> {
    Os::list_dir(dir)
}

/// The portable listing: a directory stream, which takes the fd.
pub fn list_through_stream(dir: OwnedFd) -> io::Result<(ListedDir, Vec<(OsString, FileType)>)> {
    let mut dir = rustix::fs::Dir::new(dir)?;
    let names = names_of(&mut dir)?;
    Ok((ListedDir::Stream(dir), names))
}

fn names_of(
    entries: impl Iterator<Item = rustix::io::Result<rustix::fs::DirEntry>>,
) -> io::Result<Vec<(OsString, FileType)>> {
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = OsStr::from_bytes_compat(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push((name.to_owned(), entry.file_type()));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn open_dir_beneath_refuses_symlinks_on_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("real/sub")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
        let root = open_dir(tmp.path()).unwrap();

        assert!(open_dir_beneath(root.as_fd(), Path::new("real/sub")).is_ok());
        let err = open_dir_beneath(root.as_fd(), Path::new("link/sub")).unwrap_err();
        // ELOOP on Linux; macOS checks O_DIRECTORY first and says ENOTDIR.
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
    }

    #[test]
    fn deep_paths_beyond_path_max_are_opened_in_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = open_dir(tmp.path()).unwrap();
        let mut rel = std::path::PathBuf::new();
        let mut dir = open_dir(tmp.path()).unwrap();
        for _ in 0..1500 {
            mkdir_at(dir.as_fd(), OsStr::new("abcd"), 0o755).unwrap();
            dir = open_dir_beneath(dir.as_fd(), Path::new("abcd")).unwrap();
            rel.push("abcd");
        }
        assert!(rel.as_os_str().len() > 7000);
        assert!(open_dir_beneath(root.as_fd(), &rel).is_ok());

        remove_tree_at(root.as_fd(), OsStr::new("abcd")).unwrap();
        let (_, names) = list_owned_dir(open_dir(tmp.path()).unwrap()).unwrap();
        assert!(names.is_empty());
    }

    #[test]
    fn remove_tree_at_empties_read_only_dirs_and_keeps_symlink_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        fs::create_dir_all(tmp.path().join("t/ro")).unwrap();
        fs::write(tmp.path().join("t/ro/f"), b"y").unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join("t/link")).unwrap();
        let ro = tmp.path().join("t/ro");
        fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();

        let root = open_dir(tmp.path()).unwrap();
        remove_tree_at(root.as_fd(), OsStr::new("t")).unwrap();

        assert!(!tmp.path().join("t").exists());
        assert!(outside.join("keep").exists());
    }
}

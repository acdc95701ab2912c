//! Which methods work between two filesystems, decided from the errno of the
//! raw operation, once per (source device, destination device) pair per
//! process. Probes leave no files behind.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::destination;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::leftover::{self, Place, Slot, PROBE_PREFIX};
use crate::method::Method;
use crate::per_process::PerProcess;
use crate::plan::{name_of, FileId};
use crate::platform::{NewMode, Os, Platform};

/// What a probe found for one method on one pair of filesystems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The pair can do it.
    Works,
    /// The pair cannot do it; the errno says why (EXDEV, EOPNOTSUPP, ...).
    Impossible(i32),
}

type PairKey = (u64, u64, Method);

fn cache() -> &'static Mutex<HashMap<PairKey, Outcome>> {
    // Per process: a parent thread may hold the lock at a fork.
    static CACHE: PerProcess<Mutex<HashMap<PairKey, Outcome>>> = PerProcess::new(Default::default);
    CACHE.get()
}

/// A source file to probe with, named as a directory plus a path below it,
/// so that it is opened through directory fds (deep trees, no symlinks).
#[derive(Debug, Clone)]
pub struct Sample {
    pub root: PathBuf,
    pub rel: PathBuf,
}

impl Sample {
    /// A sample for `path`, a regular file or a path below `root`.
    pub fn new(root: &Path, rel: &Path) -> Sample {
        if rel.as_os_str().is_empty() {
            let parent = root.parent().filter(|p| !p.as_os_str().is_empty());
            return Sample {
                root: parent.unwrap_or(Path::new(".")).to_path_buf(),
                rel: root.file_name().map(PathBuf::from).unwrap_or_default(),
            };
        }
        Sample {
            root: root.to_path_buf(),
            rel: rel.to_path_buf(),
        }
    }

    /// The sample's directory, opened without following symlinks, and its name.
    fn open_parent(&self) -> io::Result<(std::os::fd::OwnedFd, &std::ffi::OsStr)> {
        let root = dirfd::open_dir(&self.root)?;
        let parent = self.rel.parent().unwrap_or(Path::new(""));
        let dir = dirfd::open_dir_beneath(root.as_fd(), parent)?;
        Ok((dir, name_of(&self.rel)))
    }
}

/// One side of a probe: a source file to link from (when there is one) and
/// the destination directory to link into.
pub struct ProbePair<'a> {
    pub src_sample: Option<Sample>,
    pub src_dev: u64,
    pub dst_dir: &'a Path,
    pub dst_dev: u64,
    /// The `src` and `dst` the caller passed, which a probe's error names:
    /// the sample and the probe directory are the probe's business.
    pub caller: (&'a Path, &'a Path),
}

impl ProbePair<'_> {
    /// The outcome for `method`: remembered per pair of devices once a probe
    /// has shown what the pair can do, probed otherwise.
    pub fn outcome(&self, method: Method) -> Result<Outcome> {
        if method == Method::Copy {
            return Ok(Outcome::Works);
        }
        let key = (self.src_dev, self.dst_dev, method);
        if let Some(outcome) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(*outcome);
        }
        let (outcome, speaks_for_the_pair) = self.run(method)?;
        if speaks_for_the_pair {
            cache()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, outcome);
        }
        Ok(outcome)
    }

    /// Probe once; also say whether the answer speaks for the pair of devices
    /// (and may be remembered) or only for this sample or these mounts.
    fn run(&self, method: Method) -> Result<(Outcome, bool)> {
        let same_device = self.src_dev == self.dst_dev;
        let attempt = match self.src_sample.as_ref() {
            Some(sample) => link_into(method, sample, self.dst_dir),
            // Two devices and no file to try: a link needs one filesystem.
            None if !same_device => Err(io::Error::from_raw_os_error(libc::EXDEV)),
            // One device and no source file: a file made in the destination
            // stands in for one, since both sides are the same filesystem.
            None => self_link_in(method, self.dst_dir),
        };
        let errno = match attempt {
            Ok(()) => return Ok((Outcome::Works, true)),
            Err(err) => self.impossible_errno(method, err)?,
        };
        if method.is_pair_wide_errno(errno, same_device) {
            return Ok((Outcome::Impossible(errno), true));
        }
        if errno == libc::EXDEV || self.src_sample.is_none() {
            // Two mounts of one filesystem (or the stand-in itself was refused):
            // true of this call's paths, not of the devices.
            return Ok((Outcome::Impossible(errno), false));
        }
        // The sample may be the odd file (at the link limit, NOCOW, not ours to
        // link): a file of our own, made in the destination, tells whether
        // the filesystem itself refuses.
        match self_link_in(method, self.dst_dir) {
            Ok(()) => Ok((Outcome::Works, true)),
            Err(err) => {
                let errno = self.impossible_errno(method, err)?;
                Ok((
                    Outcome::Impossible(errno),
                    method.is_pair_wide_errno(errno, same_device),
                ))
            }
        }
    }

    /// The errno of a "cannot" error; any other error is raised, naming the
    /// caller's paths. EACCES, EROFS, ENOSPC...: a real problem, never a
    /// reason to fall back.
    fn impossible_errno(&self, method: Method, err: io::Error) -> Result<i32> {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        if method.is_impossible_errno(errno) {
            Ok(errno)
        } else {
            Err(Error::io(err, self.caller.0, self.caller.1))
        }
    }
}

/// A name for a probe file in the open directory `dir`, carrying the proof a
/// reclaim checks (see `leftover`), and the lock that shows its call runs:
/// held while `dir` stays open. One fstat and one flock, only where a probe
/// names a file (a hard link, or a clone where there is no O_TMPFILE).
fn probe_name(dir: BorrowedFd<'_>) -> io::Result<OsString> {
    let id = dirfd::identity(dir)?;
    let _ = Os::try_lock_shared(dir);
    let place = Place::in_anchor(id);
    Ok(leftover::name(
        PROBE_PREFIX,
        Slot::Unique,
        place,
        OsStr::new("probe"),
    ))
}

/// What a userspace filesystem may get wrong while saying it did it, as
/// far as fastlink relies on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Faithful {
    /// Renaming a directory keeps what is in it (fusefat empties it).
    pub renamed_dirs_keep_contents: bool,
    /// A chmod that succeeds changes the mode (exfat-fuse answers 0 and
    /// keeps none).
    pub modes: bool,
}

/// How faithful the filesystem of `anchor` (a call's anchor, identity
/// `anchor_id`) is: every kernel filesystem is. Asked at every tree call,
/// never cached: device numbers of FUSE and other unnamed filesystems are
/// reused from mount to mount, so what one mount answered says nothing of
/// the next. One fstatfs; on FUSE only, a probe directory holding one file
/// is made, the file's mode changed, and the directory renamed and listed.
/// A probe that cannot run answers "no" for the renames (building in place
/// loses nothing) and "yes" for the modes (each chmod then speaks for itself).
pub(crate) fn faithful(anchor: BorrowedFd<'_>, anchor_id: FileId) -> Faithful {
    let kernel = Faithful {
        renamed_dirs_keep_contents: true,
        modes: true,
    };
    match Os::renamed_dirs_may_lose_contents(anchor) {
        Ok(false) => kernel,
        Ok(true) => probe_faithful(anchor, anchor_id).unwrap_or(Faithful {
            renamed_dirs_keep_contents: false,
            modes: true,
        }),
        Err(_) => Faithful {
            renamed_dirs_keep_contents: false,
            modes: true,
        },
    }
}

fn probe_faithful(anchor: BorrowedFd<'_>, anchor_id: FileId) -> io::Result<Faithful> {
    let place = Place::in_anchor(anchor_id);
    let before = leftover::name(PROBE_PREFIX, Slot::Unique, place, OsStr::new("dir"));
    let after = leftover::name(PROBE_PREFIX, Slot::Unique, place, OsStr::new("dir"));
    let inside = OsStr::new("file");
    dirfd::mkdir_at(anchor, &before, 0o700)?;
    let made = (|| {
        let dir = dirfd::open_dir_beneath(anchor, Path::new(&before))?;
        let flags = rustix::fs::OFlags::WRONLY
            | rustix::fs::OFlags::CREATE
            | rustix::fs::OFlags::EXCL
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC;
        let file = rustix::fs::openat(&dir, inside, flags, rustix::fs::Mode::from_raw_mode(0o600))?;
        // A chmod refused outright (ENOSYS on fusefat) is each entry's to
        // report; one that "succeeds" and changes nothing is only seen here.
        let asked = 0o640;
        let modes = match rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(asked)) {
            Ok(()) => rustix::fs::fstat(&file)?.st_mode & 0o7777 == asked,
            Err(_) => true,
        };
        drop(file);
        dirfd::rename_at(anchor, &before, &after, false)?;
        Ok(modes)
    })();
    // Listed, not looked up: the kernel's cached lookup of the file still
    // answers after fusefat has emptied the directory.
    let faithful = made.and_then(|modes| {
        let dir = dirfd::open_dir_beneath(anchor, Path::new(&after))?;
        let (_, names) = dirfd::list_owned_dir(dir)?;
        Ok(Faithful {
            renamed_dirs_keep_contents: names.iter().any(|(name, _)| name == inside),
            modes,
        })
    });
    // Whatever happened, nothing of the probe stays.
    for name in [&before, &after] {
        if let Ok(dir) = dirfd::open_dir_beneath(anchor, Path::new(name)) {
            let _ = dirfd::unlink_at(dir.as_fd(), inside);
            drop(dir);
            let _ = rustix::fs::unlinkat(anchor, name.as_os_str(), rustix::fs::AtFlags::REMOVEDIR);
        }
    }
    faithful
}

/// Link `sample` into `dir` with `method` and remove the result at once.
fn link_into(method: Method, sample: &Sample, dir: &Path) -> io::Result<()> {
    let (src_dir, src_name) = sample.open_parent()?;
    let dir_fd = dirfd::open_dir(dir)?;
    let target = match method {
        Method::Reflink => {
            let flags = rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC;
            let src = File::from(rustix::fs::openat(
                src_dir.as_fd(),
                src_name,
                flags,
                rustix::fs::Mode::empty(),
            )?);
            // A clone with no name leaves nothing behind if the process is
            // killed here; where the OS cannot, a named one is removed at once.
            if let Some(cloned) = Os::clone_unnamed(&src, dir_fd.as_fd()) {
                return cloned;
            }
            let target = probe_name(dir_fd.as_fd())?;
            // Removed at once: whatever mode the umask leaves will do, and a
            // filesystem that stores no mode (FAT) is not asked for one.
            let mode = NewMode {
                bits: 0o600,
                exact_on_create: true,
            };
            Os::reflink_new(&src, dir_fd.as_fd(), &target, mode)?;
            target
        }
        Method::Hardlink => {
            let target = probe_name(dir_fd.as_fd())?;
            dirfd::hardlink_at(src_dir.as_fd(), src_name, dir_fd.as_fd(), &target)?;
            target
        }
        Method::Copy => return Ok(()),
    };
    dirfd::unlink_at(dir_fd.as_fd(), &target)
}

fn self_link_in(method: Method, dir: &Path) -> io::Result<()> {
    let dir_fd = dirfd::open_dir(dir)?;
    let name = probe_name(dir_fd.as_fd())?;
    let stand_in = dir.join(&name);
    // One byte, so a clone has data to share.
    File::create_new(&stand_in).and_then(|mut file| io::Write::write_all(&mut file, b"x"))?;
    let result = link_into(method, &Sample::new(&stand_in, Path::new("")), dir);
    let removed = dirfd::unlink_at(dir_fd.as_fd(), &name);
    result.and(removed)
}

/// The answer to `fastlink.probe(src, dst_dir)`: each method and whether it
/// works. A `dst_dir` yet to be made (an installer probes before it makes the
/// environment) is answered for where a call making it would probe: its
/// nearest existing ancestor. Nothing is made on the way.
pub fn probe(src: &Path, dst_dir: &Path) -> Result<Vec<(Method, Outcome)>> {
    let caller = (src, dst_dir);
    let fail = |err| Error::io(err, src, dst_dir);
    let src_meta = fs::metadata(src).map_err(fail)?;
    let (probe_dir, dst_meta) = match fs::metadata(dst_dir) {
        Ok(found) => (dst_dir.to_path_buf(), found),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            destination::nearest_existing_ancestor(dst_dir).map_err(fail)?
        }
        Err(err) => return Err(fail(err)),
    };
    if !dst_meta.is_dir() {
        return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    let sample = if src_meta.is_file() {
        Some(Sample::new(src, Path::new("")))
    } else {
        first_file_on_device(src, src_meta.dev())
            .map(|path| Sample::new(src, path.strip_prefix(src).unwrap_or(&path)))
    };
    let pair = ProbePair {
        src_sample: sample,
        src_dev: src_meta.dev(),
        dst_dir: &probe_dir,
        dst_dev: dst_meta.dev(),
        caller,
    };
    Method::ALL
        .into_iter()
        .map(|method| Ok((method, pair.outcome(method)?)))
        .collect()
}

/// A regular file under `dir` on `dev`, looked for breadth-first, visiting a
/// bounded number of directories so a probe of a huge empty tree stays cheap.
fn first_file_on_device(dir: &Path, dev: u64) -> Option<PathBuf> {
    const MAX_DIRS: usize = 64;
    let mut queue = std::collections::VecDeque::from([dir.to_path_buf()]);
    let mut visited = 0;
    while let Some(current) = queue.pop_front() {
        visited += 1;
        if visited > MAX_DIRS {
            break;
        }
        for entry in fs::read_dir(&current).ok()?.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.dev() != dev {
                continue;
            }
            if metadata.is_file() {
                return Some(entry.path());
            }
            if metadata.is_dir() {
                queue.push_back(entry.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_always_works_and_probes_leave_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        fs::create_dir(&src).unwrap();
        fs::create_dir(&dst).unwrap();
        fs::write(src.join("f"), b"data").unwrap();

        let outcomes = probe(&src, &dst).unwrap();

        assert!(outcomes.contains(&(Method::Copy, Outcome::Works)));
        // Same filesystem: a hard link always works for root and for the owner.
        assert!(outcomes.contains(&(Method::Hardlink, Outcome::Works)));
        assert_eq!(fs::read_dir(&dst).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&src).unwrap().count(), 1);
    }

    #[test]
    fn a_destination_yet_to_be_made_is_probed_at_its_nearest_existing_ancestor() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        fs::write(src.join("f"), b"data").unwrap();
        let venv = tmp.path().join("venv/lib/site-packages");

        let outcomes = probe(&src, &venv).unwrap();

        assert_eq!(outcomes, probe(&src, tmp.path()).unwrap());
        assert!(!tmp.path().join("venv").exists());
    }

    #[test]
    fn an_empty_source_is_probed_with_a_stand_in() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("empty");
        fs::create_dir(&src).unwrap();
        let outcomes = probe(&src, tmp.path()).unwrap();
        assert!(outcomes.contains(&(Method::Hardlink, Outcome::Works)));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}

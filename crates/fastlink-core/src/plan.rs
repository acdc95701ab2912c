//! Walk the source once into a plan: every dir, file and symlink with the
//! metadata needed to recreate it. Nothing is written while planning, so a
//! source fastlink cannot handle (a fifo, a socket, a device) is refused
//! before the destination is touched.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use rustix::fs::{FileType, Stat};

use crate::dirfd;
use crate::error::{Error, Result};
use crate::fd_budget::FdBudget;
use crate::meta::EntryMeta;
use crate::options::Ignore;

#[derive(Debug)]
pub struct DirPlan {
    /// Relative to the source root; empty for the root itself.
    pub rel: PathBuf,
    /// Index of the parent in `Plan::dirs`; `None` for the root.
    pub parent: Option<usize>,
    pub meta: EntryMeta,
    /// (st_dev, st_ino): which directory this is, however it is reached.
    pub id: FileId,
    /// The walk's own fd of this source directory, kept for the fill when
    /// it holds files or symlinks (within the plan's [`FdBudget`]).
    pub src_fd: Option<Arc<OwnedFd>>,
}

/// A file's identity, (st_dev, st_ino). Paths alias (bind mounts, a btrfs
/// subvolume mounted twice, symlinks); identities do not.
pub type FileId = (u64, u64);

#[derive(Debug)]
pub struct FilePlan {
    pub rel: PathBuf,
    /// Index of the containing directory in `Plan::dirs` (0 for a single-file source).
    pub parent: usize,
    pub meta: EntryMeta,
    pub size: u64,
    /// Fewer blocks than the size needs: the file has holes to keep.
    pub sparse: bool,
    /// The source's device: which filesystem the probe's sample is on.
    pub dev: u64,
    /// The source's inode: with `dev`, which file this is, so a destination
    /// name that already is this file is known without another stat.
    pub ino: u64,
}

impl FilePlan {
    /// (st_dev, st_ino) of the source file, as its lstat saw it.
    pub fn id(&self) -> FileId {
        (self.dev, self.ino)
    }
}

impl FilePlan {
    /// The plan of the regular file `rel` (in directory `parent`) from its lstat.
    #[allow(clippy::unnecessary_cast)] // Stat's field types differ between architectures.
    pub(crate) fn of_stat(rel: PathBuf, parent: usize, stat: &Stat) -> Self {
        FilePlan {
            rel,
            parent,
            meta: EntryMeta::of_stat(stat),
            size: stat.st_size as u64,
            sparse: is_sparse(stat.st_blocks as u64, stat.st_size as u64),
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
        }
    }
}

#[derive(Debug)]
pub struct SymlinkPlan {
    pub rel: PathBuf,
    /// Index of the containing directory in `Plan::dirs`.
    pub parent: usize,
    /// The link's target bytes, exactly as stored; never resolved.
    pub target: PathBuf,
    pub meta: EntryMeta,
}

/// The last component of an entry's relative path: its name in its parent.
pub fn name_of(rel: &Path) -> &OsStr {
    rel.file_name().unwrap_or(rel.as_os_str())
}

/// `dir` joined with `name`, allocated at its exact size: a plan holds one
/// such path per entry, and `Path::join` would leave most of them with
/// room to grow (on the corpus, 2.8 MB of the workers' heaps, which glibc
/// grows a page per `mprotect`).
pub(crate) fn joined(dir: &Path, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::with_capacity(dir.as_os_str().len() + 1 + name.len());
    path.push(dir);
    path.push(name);
    path
}

/// What the source is: a tree, or a single file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    Dir,
    File,
}

/// One directory's entries, as read by one worker, and its fd if kept.
#[derive(Default)]
struct Listing {
    dirs: Vec<(PathBuf, EntryMeta, FileId)>,
    files: Vec<FilePlan>,
    symlinks: Vec<SymlinkPlan>,
    fd: Option<Arc<OwnedFd>>,
}

#[derive(Debug)]
pub struct Plan {
    pub src_root: PathBuf,
    pub root_kind: RootKind,
    /// Parents always come before their children, and siblings are adjacent;
    /// files and symlinks are grouped by directory in the same way.
    pub dirs: Vec<DirPlan>,
    pub files: Vec<FilePlan>,
    pub symlinks: Vec<SymlinkPlan>,
    /// The source root's device.
    pub dev: u64,
    /// The plan holds everything below the root: nothing was ignored or left
    /// unlisted, so one call that clones the whole source tree (macOS) makes
    /// exactly this plan.
    pub whole_tree: bool,
    /// Which directory fds this call keeps open (the walk's, and the
    /// execution's).
    pub fd_budget: FdBudget,
}

impl Plan {
    /// Walk `src` (following it if it is itself a symlink, never following
    /// anything inside it). `dst` only names the destination in errors.
    #[cfg(test)]
    pub fn walk(src: &Path, dst: &Path, threads: usize) -> Result<Plan> {
        Plan::walk_ignoring(src, dst, threads, None)
    }

    /// [`walk`](Self::walk), leaving out what `ignore` names in each directory.
    pub fn walk_ignoring(
        src: &Path,
        dst: &Path,
        threads: usize,
        ignore: Option<&Ignore>,
    ) -> Result<Plan> {
        let fail = |err| Error::io(err, src, dst);
        // One lstat for the usual root; a symlink root is followed.
        let mut root_meta = fs::symlink_metadata(src).map_err(fail)?;
        let root_is_symlink = root_meta.file_type().is_symlink();
        if root_is_symlink {
            root_meta = fs::metadata(src).map_err(fail)?;
        }
        let mut plan = Plan {
            src_root: src.to_path_buf(),
            root_kind: RootKind::Dir,
            dirs: Vec::new(),
            files: Vec::new(),
            symlinks: Vec::new(),
            dev: root_meta.dev(),
            whole_tree: ignore.is_none(),
            fd_budget: FdBudget::for_workers(threads),
        };
        if root_meta.is_file() {
            // Entries are opened without following symlinks, so a root that
            // is a symlink to a file is replaced by what it names.
            if root_is_symlink {
                plan.src_root = fs::canonicalize(src).map_err(fail)?;
            }
            plan.root_kind = RootKind::File;
            plan.files.push(FilePlan {
                rel: PathBuf::new(),
                parent: 0,
                meta: EntryMeta::of(&root_meta),
                size: root_meta.len(),
                sparse: is_sparse(root_meta.blocks(), root_meta.len()),
                dev: root_meta.dev(),
                ino: root_meta.ino(),
            });
            return Ok(plan);
        }
        if !root_meta.is_dir() {
            return Err(Error::special_file(src, dst, file_kind_name(&root_meta)));
        }
        plan.dirs.push(DirPlan {
            rel: PathBuf::new(),
            parent: None,
            meta: EntryMeta::of(&root_meta),
            id: (root_meta.dev(), root_meta.ino()),
            src_fd: None,
        });
        plan.walk_dirs(dst, threads, ignore)?;
        Ok(plan)
    }

    /// Breadth-first, one level at a time, the directories of a level read
    /// in parallel: no recursion limit on deep trees, and each directory is
    /// opened relative to the root without following symlinks. Appending each
    /// directory's entries together keeps parents before children and
    /// siblings (and each directory's files) adjacent.
    fn walk_dirs(&mut self, dst: &Path, threads: usize, ignore: Option<&Ignore>) -> Result<()> {
        let root_fd =
            dirfd::open_dir(&self.src_root).map_err(|err| Error::io(err, &self.src_root, dst))?;
        let pool = crate::pool::pool(threads)?;
        let mut level: Vec<usize> = vec![0];
        while !level.is_empty() {
            let listings: Vec<Listing> = pool.install(|| {
                level
                    .par_iter()
                    .map(|&parent| self.read_dir(root_fd.as_fd(), parent, dst, ignore))
                    .collect::<Result<_>>()
            })?;
            let mut next = Vec::new();
            for (listing, &parent) in listings.into_iter().zip(&level) {
                self.dirs[parent].src_fd = listing.fd;
                for (rel, meta, id) in listing.dirs {
                    next.push(self.dirs.len());
                    self.dirs.push(DirPlan {
                        rel,
                        parent: Some(parent),
                        meta,
                        id,
                        src_fd: None,
                    });
                }
                self.files.extend(listing.files);
                self.symlinks.extend(listing.symlinks);
            }
            level = next;
        }
        Ok(())
    }

    /// Read one directory: its entries, each with an lstat.
    #[allow(clippy::unnecessary_cast)]
    fn read_dir(
        &self,
        root_fd: BorrowedFd<'_>,
        parent: usize,
        dst: &Path,
        ignore: Option<&Ignore>,
    ) -> Result<Listing> {
        let rel_dir = &self.dirs[parent].rel;
        let fail = |err| Error::io(err, &self.src_root.join(rel_dir), &dst.join(rel_dir));
        let dir_fd = dirfd::open_dir_beneath(root_fd, rel_dir).map_err(fail)?;
        let (dir, mut names) = dirfd::list_owned_dir(dir_fd).map_err(fail)?;
        if let Some(Ignore(ignore)) = ignore {
            let listed: Vec<OsString> = names.iter().map(|(name, _)| name.clone()).collect();
            let skip: HashSet<OsString> = ignore(&self.src_path(rel_dir), &listed)?
                .into_iter()
                .collect();
            names.retain(|(name, _)| !skip.contains(name.as_os_str()));
        }
        let dir_fd = dir.fd().map_err(fail)?;
        // Sized once from the listing's types (a type the filesystem does
        // not give counts as a file): grown by doubling, the vectors of a
        // level's directories, all alive at once, would leave the workers'
        // heaps larger, and glibc grows those a page per `mprotect`.
        let subdirs = names.iter().filter(|(_, kind)| kind.is_dir()).count();
        let mut listing = Listing::default();
        listing.dirs.reserve_exact(subdirs);
        listing.files.reserve_exact(names.len() - subdirs);
        for (name, _) in names {
            let rel = joined(rel_dir, &name);
            let fail = |err| Error::io(err, &self.src_root.join(&rel), &dst.join(&rel));
            let stat = dirfd::lstat_at(dir_fd, &name).map_err(fail)?;
            let meta = EntryMeta::of_stat(&stat);
            match FileType::from_raw_mode(stat.st_mode as _) {
                FileType::Directory => {
                    listing
                        .dirs
                        .push((rel, meta, (stat.st_dev as u64, stat.st_ino as u64)))
                }
                FileType::RegularFile => listing.files.push(FilePlan::of_stat(rel, parent, &stat)),
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(dir_fd, &name, Vec::new())
                        .map_err(|err| fail(err.into()))?;
                    let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                    listing.symlinks.push(SymlinkPlan {
                        rel,
                        parent,
                        target,
                        meta,
                    });
                }
                other => {
                    return Err(Error::special_file(
                        &self.src_root.join(&rel),
                        &dst.join(&rel),
                        special_kind_name(other),
                    ))
                }
            }
        }
        // The fill opens this directory again unless its fd is kept.
        let filled = !listing.files.is_empty() || !listing.symlinks.is_empty();
        if filled {
            listing.fd = dir
                .into_fd()
                .filter(|fd| self.fd_budget.may_keep(fd.as_fd()))
                .map(Arc::new);
        }
        Ok(listing)
    }

    /// The entries of each planned directory (built on demand: only merges
    /// and roll-backs need them).
    pub fn children(&self) -> ChildIndex {
        ChildIndex::new(self)
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }

    /// A file on `dev` to probe with.
    pub fn sample_file(&self, dev: u64) -> Option<&FilePlan> {
        self.files.iter().find(|file| file.dev == dev)
    }

    /// The absolute source path of an entry.
    pub fn src_path(&self, rel: &Path) -> PathBuf {
        join_rel(&self.src_root, rel)
    }
}

/// A planned entry, by kind and index.
#[derive(Debug, Clone, Copy)]
pub enum Child {
    Dir(usize),
    File(usize),
    Symlink(usize),
}

impl Child {
    pub fn rel(self, plan: &Plan) -> &Path {
        match self {
            Child::Dir(i) => &plan.dirs[i].rel,
            Child::File(i) => &plan.files[i].rel,
            Child::Symlink(i) => &plan.symlinks[i].rel,
        }
    }
}

/// The entries of each planned directory, by the directory's index.
pub struct ChildIndex {
    pub of: Vec<Vec<Child>>,
}

impl ChildIndex {
    fn new(plan: &Plan) -> Self {
        let mut of = vec![Vec::new(); plan.dirs.len()];
        for (i, dir) in plan.dirs.iter().enumerate() {
            if let Some(parent) = dir.parent {
                of[parent].push(Child::Dir(i));
            }
        }
        for (i, file) in plan.files.iter().enumerate() {
            of[file.parent].push(Child::File(i));
        }
        for (i, link) in plan.symlinks.iter().enumerate() {
            of[link.parent].push(Child::Symlink(i));
        }
        ChildIndex { of }
    }
}

/// `root.join(rel)`, where an empty `rel` means the root itself (a single-file
/// source), without the trailing slash `join("")` would add.
pub fn join_rel(root: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Fewer 512-byte blocks than the size needs means holes (or compression);
/// either way only the data segments need copying.
pub(crate) fn is_sparse(blocks: u64, size: u64) -> bool {
    blocks.saturating_mul(512) < size
}

pub(crate) fn special_kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::BlockDevice => "block device",
        FileType::CharacterDevice => "character device",
        _ => "special file",
    }
}

fn file_kind_name(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::os::unix::fs::symlink;

    #[test]
    fn walk_lists_parents_before_children_and_does_not_follow_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("a/b/c")).unwrap();
        fs::write(src.join("a/b/c/f"), b"hello").unwrap();
        symlink("b", src.join("a/link")).unwrap();

        let plan = Plan::walk(&src, &tmp.path().join("dst"), 2).unwrap();

        let dirs: Vec<&Path> = plan.dirs.iter().map(|d| d.rel.as_path()).collect();
        assert_eq!(dirs, ["", "a", "a/b", "a/b/c"].map(Path::new));
        assert_eq!(plan.files.len(), 1);
        assert_eq!(plan.total_bytes(), 5);
        assert_eq!(plan.symlinks[0].target, Path::new("b"));
    }

    #[test]
    fn a_fifo_is_refused_while_planning() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        let fifo =
            std::ffi::CString::new(src.join("pipe").into_os_string().into_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

        let err = Plan::walk(&src, &tmp.path().join("dst"), 2).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SpecialFile);
        assert_eq!(err.src(), Some(src.join("pipe").as_path()));
    }

    #[test]
    fn a_joined_path_is_allocated_at_its_exact_size() {
        // (`Path::join` would double the directory's 20 bytes: 40.)
        let path = joined(Path::new("package/subpackage/x"), OsStr::new("m.py"));
        assert_eq!(path, Path::new("package/subpackage/x/m.py"));
        assert_eq!(path.capacity(), "package/subpackage/x/m.py".len());
        assert_eq!(joined(Path::new(""), OsStr::new("top")), Path::new("top"));
    }

    #[test]
    fn safe_mode_clears_setuid_and_setgid_only() {
        use crate::meta::Timestamp;
        let meta = EntryMeta {
            mode: 0o6755,
            atime: Timestamp { sec: 0, nsec: 0 },
            mtime: Timestamp { sec: 0, nsec: 0 },
            ctime: Timestamp { sec: 0, nsec: 0 },
        };
        assert_eq!(meta.safe_mode(), 0o755);
    }
}

//! Replacing an installed distribution, all or nothing: its files, found as
//! pip's uninstall finds them, are moved aside (renamed in their own
//! directory to a name this call can prove is its own, see `leftover`)
//! before the new one is installed; deleted once it is, renamed back if it
//! is not.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::install::Anchors;
use super::record;
use super::scheme::Scheme;
use crate::cancel::CancelFlag;
use crate::dirfd;
use crate::error::{Error, ErrorKind, Result};
use crate::leftover::{self, Place, Slot, ASIDE_PREFIX};

/// The distribution an install replaced
/// ([`InstallOptions::replace`](crate::InstallOptions::replace)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedDistribution {
    /// Its name, as its `.dist-info` directory spells it.
    pub name: String,
    /// Its version, likewise.
    pub version: String,
    /// Its `.dist-info` directory (in purelib or platlib).
    pub dist_info: PathBuf,
    /// The files deleted: those of its RECORD that were there, and the
    /// `__pycache__/<module>.*.pyc` of each `.py` it lists.
    pub removed: usize,
    /// Paths its RECORD lists that were not touched: outside the scheme's
    /// five directories (pip would delete them; fastlink deletes nothing
    /// outside the destination), or reached through a symlink (never
    /// followed). Lexically normalized, as resolved against the
    /// `.dist-info`'s parent directory.
    pub left_alone: Vec<PathBuf>,
}

/// One file of the old distribution, moved aside in its directory.
pub(super) struct Aside {
    dir: Arc<OwnedFd>,
    name: OsString,
    aside: OsString,
    /// Which scheme directory it is in, and its path relative to it.
    root: usize,
    rel: PathBuf,
}

impl Aside {
    /// Rename it back (a roll-back; best effort, never replacing).
    pub(super) fn restore(&self) {
        let _ = dirfd::rename_at(self.dir.as_fd(), &self.aside, &self.name, false);
    }
}

/// The scheme's directories, lexically normalized, once each.
fn roots(scheme: &Scheme) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for dir in [
        &scheme.purelib,
        &scheme.platlib,
        &scheme.scripts,
        &scheme.data,
        &scheme.headers,
    ] {
        let dir = normalize(dir);
        if !roots.contains(&dir) {
            roots.push(dir);
        }
    }
    roots
}

/// `path` with `.` and `..` resolved by spelling, as Python's
/// `os.path.normpath` does (pip's uninstall also resolves symlinks; this
/// never follows one).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The scheme directory (the deepest one) holding `path`, and `path`
/// relative to it; `None` outside all of them.
fn place_in(roots: &[PathBuf], path: &Path) -> Option<(usize, PathBuf)> {
    (roots.iter().enumerate())
        .filter(|(_, root)| path.starts_with(root))
        .max_by_key(|(_, root)| root.components().count())
        .map(|(i, root)| (i, path.strip_prefix(root).unwrap_or(path).to_path_buf()))
}

/// Whether `name` is the bytecode of module `stem` that pip's uninstall
/// removes with it: `<stem>.<tag>.pyc` or `<stem>.<tag>.opt-<n>.pyc`.
fn is_bytecode_of(name: &str, stem: &str) -> bool {
    let Some(middle) = (name.strip_prefix(stem))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".pyc"))
    else {
        return false;
    };
    match middle.split_once('.') {
        None => !middle.is_empty(),
        Some((tag, opt)) => {
            !tag.is_empty()
                && opt
                    .strip_prefix("opt-")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
    }
}

/// A file of the old distribution: which scheme directory it is in (an
/// index into `roots`), and its path relative to it.
type Located = (usize, PathBuf);

/// A directory of the old distribution, opened beneath its scheme
/// directory, and where names made in it are placed; or why not.
type Opened = std::result::Result<(Arc<OwnedFd>, Place), Unopened>;

/// Why a directory of the old distribution was not opened.
#[derive(Debug, Clone, Copy)]
enum Unopened {
    /// It is not there (or is not a directory): its files are missing.
    Missing,
    /// A symlink is on the way: never followed, its files left alone.
    Symlink,
}

/// The installed distribution's files as pip's uninstall finds them: each
/// RECORD path joined to the `.dist-info`'s parent, and for each `.py` its
/// `__pycache__` bytecode; and the paths outside the scheme.
fn files_of(
    entry: &Path,
    dist_info: &Path,
    roots: &[PathBuf],
) -> Result<(Vec<Located>, Vec<PathBuf>)> {
    let record = dist_info.join("RECORD");
    let (name, version) = name_version(dist_info);
    let text = match fs::read(&record) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            // pip: "Cannot uninstall <name> <version>, RECORD file not found."
            return Err(Error::new(
                ErrorKind::Io,
                libc::ENOENT,
                format!("cannot uninstall {name} {version}: no RECORD file"),
            )
            .with_paths(entry, &record));
        }
        Err(err) => return Err(Error::io(err, entry, &record)),
    };
    let bad = |why: String| {
        Error::new(
            ErrorKind::Io,
            libc::EBADMSG,
            format!("cannot uninstall {name} {version}: {why}"),
        )
        .with_paths(entry, &record)
    };
    let text = String::from_utf8(text).map_err(|_| bad("RECORD is not UTF-8".to_string()))?;
    let lib = dist_info.parent().unwrap_or(Path::new("/"));
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    let mut outside = Vec::new();
    let mut caches: HashMap<PathBuf, Vec<String>> = HashMap::new();
    for row in record::rows(&text).map_err(bad)? {
        let Some(path) = row.first().filter(|path| !path.is_empty()) else {
            continue;
        };
        let path = normalize(&lib.join(path));
        let Some((root, rel)) = place_in(roots, &path) else {
            outside.push(path);
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue; // a scheme directory itself: never removed
        }
        if let (Some(stem), Some(parent), Some("py")) = (
            rel.file_stem().and_then(OsStr::to_str),
            path.parent(),
            rel.extension().and_then(OsStr::to_str),
        ) {
            let cache = parent.join("__pycache__");
            let names = caches.entry(cache.clone()).or_insert_with(|| {
                // Unreadable or absent: no bytecode to remove.
                fs::read_dir(&cache)
                    .into_iter()
                    .flatten()
                    .filter_map(|item| item.ok()?.file_name().into_string().ok())
                    .collect()
            });
            for pyc in names.iter().filter(|name| is_bytecode_of(name, stem)) {
                let pyc_rel = rel.with_file_name("__pycache__").join(pyc);
                if seen.insert((root, pyc_rel.clone())) {
                    files.push((root, pyc_rel));
                }
            }
        }
        if seen.insert((root, rel.clone())) {
            files.push((root, rel));
        }
    }
    Ok((files, outside))
}

/// `<name>-<version>.dist-info`'s name and version.
fn name_version(dist_info: &Path) -> (String, String) {
    let file_name = dist_info.file_name().unwrap_or_default().to_string_lossy();
    let stem = file_name.strip_suffix(".dist-info").unwrap_or(&file_name);
    match stem.split_once('-') {
        Some((name, version)) => (name.to_string(), version.to_string()),
        None => (stem.to_string(), String::new()),
    }
}

/// Move every file of the distribution at `dist_info` aside, each renamed
/// in its own directory, pushing each onto `asides` as soon as it is moved
/// (so a failure midway is rolled back by the caller). A file missing is
/// skipped, as pip does; so is a directory (RECORD lists files).
pub(super) fn move_aside(
    entry: &Path,
    scheme: &Scheme,
    dist_info: &Path,
    anchors: &mut Anchors,
    cancel: &CancelFlag,
    asides: &mut Vec<Aside>,
) -> Result<ReplacedDistribution> {
    let roots = roots(scheme);
    let (files, mut left_alone) = files_of(entry, dist_info, &roots)?;
    // Each directory opened once beneath its scheme directory, never
    // through a symlink: `None` when it is not there (or not a directory).
    let mut dirs: HashMap<Located, Opened> = HashMap::new();
    for (root, rel) in files {
        cancel.check()?;
        let path = roots[root].join(&rel);
        let fail = |err| Error::io(err, entry, &path);
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let Some(name) = rel.file_name() else {
            continue;
        };
        let opened = match dirs.get(&(root, parent.clone())) {
            Some(opened) => opened.clone(),
            None => {
                let opened = match anchors.get(&roots[root], cancel) {
                    Ok((fd, anchor)) => match dirfd::open_dir_beneath(fd, &parent) {
                        Ok(dir) => {
                            let id = dirfd::identity(dir.as_fd()).map_err(fail)?;
                            let depth = parent.components().count() as u32;
                            Ok((
                                Arc::new(dir),
                                Place {
                                    dir: id,
                                    anchor,
                                    depth,
                                },
                            ))
                        }
                        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
                            Err(Unopened::Symlink)
                        }
                        // O_NOFOLLOW | O_DIRECTORY on a symlink is ENOTDIR
                        // too: told apart by looking (on this path only).
                        Err(err) if is_missing(&err) => {
                            if through_symlink(&roots[root], &parent) {
                                Err(Unopened::Symlink)
                            } else {
                                Err(Unopened::Missing)
                            }
                        }
                        Err(err) => return Err(fail(err)),
                    },
                    Err(err) if err.kind() == ErrorKind::Io && is_missing_errno(err.errno()) => {
                        Err(Unopened::Missing)
                    }
                    Err(err) => return Err(err.with_paths(entry, &path)),
                };
                dirs.insert((root, parent), opened.clone());
                opened
            }
        };
        let (dir, place) = match opened {
            Ok(opened) => opened,
            Err(Unopened::Missing) => continue,
            Err(Unopened::Symlink) => {
                left_alone.push(path);
                continue;
            }
        };
        match dirfd::lstat_at(dir.as_fd(), name) {
            Ok(stat)
                if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                    == rustix::fs::FileType::Directory =>
            {
                continue
            }
            Ok(_) => {}
            Err(err) if is_missing(&err) => continue,
            Err(err) => return Err(fail(err)),
        }
        let aside = leftover::name(ASIDE_PREFIX, Slot::Unique, place, name);
        dirfd::rename_at(dir.as_fd(), name, &aside, false).map_err(fail)?;
        asides.push(Aside {
            dir,
            name: name.to_owned(),
            aside,
            root,
            rel,
        });
    }
    let (name, version) = name_version(dist_info);
    Ok(ReplacedDistribution {
        name,
        version,
        dist_info: dist_info.to_path_buf(),
        removed: 0,
        left_alone,
    })
}

/// Whether a directory on the way from `root` to `rel` is a symlink.
fn through_symlink(root: &Path, rel: &Path) -> bool {
    let mut path = root.to_path_buf();
    rel.components().any(|component| {
        path.push(component);
        fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_symlink())
    })
}

fn is_missing(err: &io::Error) -> bool {
    err.raw_os_error().is_some_and(is_missing_errno)
}

fn is_missing_errno(errno: i32) -> bool {
    matches!(errno, libc::ENOENT | libc::ENOTDIR)
}

/// Once the new distribution is installed: delete the files moved aside,
/// then the directories left empty by that (deepest first; never a scheme
/// directory or one holding one). Returns how many files were deleted.
/// Every file is tried; the first error is raised (the new distribution
/// stays installed; a file not deleted keeps its aside name, which
/// [`reclaim`](crate::reclaim) removes once this call is over).
pub(super) fn delete_aside(
    entry: &Path,
    scheme: &Scheme,
    asides: Vec<Aside>,
    anchors: &mut Anchors,
    cancel: &CancelFlag,
) -> Result<usize> {
    let roots = roots(scheme);
    let mut first_error = None;
    let mut removed = 0;
    let mut dirs = BTreeSet::new();
    for aside in &asides {
        match dirfd::unlink_at(aside.dir.as_fd(), &aside.aside) {
            Ok(()) => removed += 1,
            Err(err) => {
                let path = roots[aside.root].join(&aside.rel);
                first_error.get_or_insert(Error::io(err, entry, &path));
            }
        }
        for dir in aside.rel.ancestors().skip(1) {
            if !dir.as_os_str().is_empty() {
                dirs.insert((std::cmp::Reverse(dir.components().count()), aside.root, dir));
            }
        }
    }
    for (_, root, rel) in dirs {
        let path = roots[root].join(rel);
        if roots.iter().any(|r| r.starts_with(&path)) {
            continue;
        }
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        let removal = anchors
            .get(&roots[root], cancel)
            .map_err(|err| err.with_paths(entry, &path))
            .and_then(|(fd, _)| {
                dirfd::open_dir_beneath(fd, parent)
                    .and_then(|dir| dirfd::rmdir_at(dir.as_fd(), name))
                    .map_err(|err| Error::io(err, entry, &path))
            });
        match removal {
            Ok(()) => {}
            // Not empty (the new distribution's, or anybody's), or gone.
            Err(err)
                if matches!(
                    err.errno(),
                    libc::ENOTEMPTY | libc::EEXIST | libc::ENOENT | libc::ENOTDIR | libc::EBUSY
                ) => {}
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_is_matched_as_pip_names_it() {
        assert!(is_bytecode_of("mod.cpython-311.pyc", "mod"));
        assert!(is_bytecode_of("mod.cpython-311.opt-2.pyc", "mod"));
        assert!(!is_bytecode_of("mod.sub.cpython-311.pyc", "mod"));
        assert!(!is_bytecode_of("module.cpython-311.pyc", "mod"));
        assert!(!is_bytecode_of("mod.pyc", "mod"));
    }

    #[test]
    fn paths_are_placed_in_the_deepest_scheme_directory() {
        let roots = [PathBuf::from("/v"), PathBuf::from("/v/lib/site")];
        let at = |p: &str| place_in(&roots, &normalize(Path::new(p)));
        assert_eq!(at("/v/lib/site/a/b.py"), Some((1, PathBuf::from("a/b.py"))));
        assert_eq!(
            at("/v/lib/site/../../bin/x"),
            Some((0, PathBuf::from("bin/x")))
        );
        assert_eq!(at("/v/lib/site/../../../outside"), None);
    }

    /// Files moved aside by a call that is over without restoring or
    /// deleting them (as a killed one is) are what `reclaim` removes, and
    /// only once the call's locks are gone.
    #[test]
    fn files_a_dead_call_moved_aside_are_reclaimed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let lib = root.join("lib");
        let scheme = Scheme {
            purelib: lib.clone(),
            platlib: lib.clone(),
            scripts: root.join("bin"),
            data: root.to_path_buf(),
            headers: root.join("include"),
        };
        let dist_info = lib.join("demo-1.0.dist-info");
        fs::create_dir_all(&dist_info).unwrap();
        fs::create_dir_all(lib.join("demo")).unwrap();
        fs::create_dir_all(root.join("bin")).unwrap();
        for file in ["demo/__init__.py", "../bin/tool"] {
            fs::write(lib.join(file), "x").unwrap();
        }
        let record = "demo/__init__.py,,\n../bin/tool,,\ndemo-1.0.dist-info/RECORD,,\n";
        fs::write(dist_info.join("RECORD"), record).unwrap();
        let look_alike = lib.join("demo/.fastlink-aside.1-1.1.0123456789abcdef.x");
        fs::write(&look_alike, "not ours").unwrap();

        let mut anchors = Anchors::default();
        let mut asides = Vec::new();
        let cancel = CancelFlag::new();
        move_aside(
            root,
            &scheme,
            &dist_info,
            &mut anchors,
            &cancel,
            &mut asides,
        )
        .unwrap();
        assert_eq!(asides.len(), 3);
        assert!(!lib.join("demo/__init__.py").exists());
        drop(asides);

        // Still running: nothing is taken.
        assert_eq!(crate::reclaim(root).unwrap(), Vec::<PathBuf>::new());
        drop(anchors);
        let mut reclaimed = crate::reclaim(root).unwrap();
        reclaimed.sort();
        let dirs: Vec<&Path> = reclaimed.iter().map(|p| p.parent().unwrap()).collect();
        assert_eq!(
            dirs,
            [root.join("bin"), lib.join("demo"), dist_info.clone()]
        );
        assert!(look_alike.exists());
        assert_eq!(fs::read_dir(&dist_info).unwrap().count(), 0);
    }
}

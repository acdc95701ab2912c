//! Carrying out an [`InstallPlan`] in an environment, all or nothing per
//! distribution: the placed files through the engine ([`clone_files`]), one
//! call per scheme directory and source root; the written files under temp
//! names, renamed in without replacing anything, RECORD last. On any error
//! (or a cancel) what this call placed, wrote and created is taken back,
//! and a distribution it was replacing is put back.
//!
//! The temp names (and the aside names of a replace) are `leftover`'s,
//! anchored at the scheme directory they are under, which the call holds a
//! shared flock on until it is over: those a killed call left are removed
//! by [`reclaim`](crate::reclaim), with proof.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::install_plan::{plan_install, InstallOptions, InstallPlan, WrittenFile};
use super::replace::{self, Aside, ReplacedDistribution};
use super::scheme::{Scheme, SchemeKey};
use crate::cancel::CancelFlag;
use crate::clone::clone_files;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::leftover::{self, Place, Slot, TEMP_PREFIX};
use crate::method::Method;
use crate::options::Options;
use crate::plan::FileId;
use crate::pool::worker_pool;
use crate::progress::Progress;
use crate::report::{Fallback, Report, Skipped, UnsupportedMetadata};

/// What [`install_wheel`] did for one distribution.
#[derive(Debug, Clone)]
pub struct InstalledDistribution {
    /// The distribution's name, as its `.dist-info` directory spells it.
    pub name: String,
    /// Its version, likewise.
    pub version: String,
    /// The installed `.dist-info` directory (in purelib or platlib).
    pub dist_info: PathBuf,
    /// Files placed unchanged from the entry, by the engine.
    pub placed: usize,
    /// Files written: launchers, rewritten scripts, INSTALLER, REQUESTED,
    /// direct_url.json, RECORD.
    pub written: usize,
    /// The engine's reports of the placed files, merged into one: counts
    /// summed, methods passed over (`skipped`) once per (method, errno),
    /// `fallbacks` and `unsupported_metadata` summed per (method or kind,
    /// errno). `files` is [`placed`](Self::placed).
    pub report: Report,
    /// The distribution this install replaced
    /// ([`InstallOptions::replace`]), if there was one.
    pub replaced: Option<ReplacedDistribution>,
    /// How long the whole install took.
    pub elapsed: Duration,
}

/// One wheel for [`install_wheels`]: an entry, its scheme (the headers
/// directory is per distribution) and its options (REQUESTED and
/// direct_url.json are per distribution).
#[derive(Debug, Clone, Copy)]
pub struct WheelInstall<'a> {
    /// The unpacked wheel, as [`unpack_wheel`](crate::unpack_wheel) made it.
    pub entry: &'a Path,
    /// Where it goes.
    pub scheme: &'a Scheme,
    /// How.
    pub options: &'a InstallOptions,
}

/// Install the unpacked wheel at `entry` (a tree
/// [`unpack_wheel`](crate::unpack_wheel) made) into `scheme`, as
/// [`plan_install`] plans it (pip 26 with `--no-compile`).
///
/// - The placed files go through the engine: one [`clone_files`] call per
///   scheme directory and source (the entry's root for the lib directory,
///   `<name>.data/<key>/` for each `.data` key), with `options.methods`,
///   `preserve_times` and `threads`, merging into existing directories
///   (`dirs_exist_ok`) and never replacing a file (`overwrite` false):
///   the same method choice, fallbacks and report as
///   [`clone_or_copy`](crate::clone_or_copy). `options.dirs_exist_ok`,
///   `overwrite` and `ignore` are not used.
/// - The written files are created under a temp name in their final
///   directory (opened without following symlinks), with pip's mode under
///   the process's umask, and renamed to their final names without
///   replacing anything; RECORD last, so a distribution with a RECORD is
///   complete.
/// - All or nothing: on any error or a cancel, the files this call placed
///   or wrote are removed, and the directories it created, deepest first,
///   each only while it is empty and still the directory this call saw
///   created (st_dev, st_ino). Nothing that existed before is removed.
///
/// Refused before anything is written: a plan error (see
/// [`plan_install`]), and [`ErrorKind::AlreadyInstalled`] when purelib or
/// platlib holds a `*.dist-info` of the same project name (PEP 503
/// normalized, any version), unless `install_options.replace` is set (and
/// then also when it holds more than one). An existing file at any
/// installed path fails the install with EEXIST ([`ErrorKind::Io`]),
/// rolled back.
///
/// With `replace`, the installed distribution is uninstalled as pip does,
/// all or nothing with the install: the files its RECORD lists (each path
/// joined to the `.dist-info`'s parent directory) and, for each `.py`, its
/// `__pycache__/<module>.*.pyc`, are first moved aside (renamed within
/// their directory), then the new distribution is installed; only then are
/// they deleted, and the directories left empty by that (never a scheme
/// directory). On any failure or a cancel the new install is rolled back
/// and the files renamed back: the environment is as it was. A file listed
/// but missing is skipped (as pip does); a path outside the scheme's five
/// directories, or reached through a symlink, is left alone and reported
/// ([`ReplacedDistribution::left_alone`]). An installed distribution
/// without RECORD cannot be uninstalled: [`ErrorKind::Io`] (ENOENT,
/// `dst()` the missing RECORD), nothing changed. A failure to delete a
/// file moved aside, once the new distribution is installed, is raised;
/// the new distribution stays installed, and what was not deleted keeps
/// its aside name ([`reclaim`](crate::reclaim) removes it).
///
/// `progress` counts the placed files (as the engine does) and the written
/// ones.
///
/// [`ErrorKind::AlreadyInstalled`]: crate::ErrorKind::AlreadyInstalled
/// [`ErrorKind::Io`]: crate::ErrorKind::Io
pub fn install_wheel(
    entry: &Path,
    scheme: &Scheme,
    install_options: &InstallOptions,
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Result<InstalledDistribution> {
    let started = Instant::now();
    cancel.check()?;
    // This install's own point of no return (RECORD's rename): in a batch,
    // the others stay cancellable once it is passed.
    let cancel = &cancel.for_part();
    options.validate_without_default_threads()?;
    let plan = plan_install(entry, scheme, install_options)?;
    let installed = installed(entry, scheme, &plan.name)?;
    let old = match (installed.as_slice(), install_options.replace) {
        ([], _) => None,
        ([one], true) => Some(one),
        ([first, ..], false) => return Err(Error::already_installed(entry, first)),
        ([_, second, ..], true) => return Err(Error::already_installed(entry, second)),
    };
    // Held (and so the call's temp and aside names unreclaimable) until
    // the roll-back or the deletion of the old files is over.
    let mut anchors = Anchors::default();
    let mut undo = Undo::default();
    let mut done = || -> Result<_> {
        let replaced = match old {
            Some(dist_info) => Some(replace::move_aside(
                entry,
                scheme,
                dist_info,
                &mut anchors,
                cancel,
                &mut undo.asides,
            )?),
            None => None,
        };
        let report = carry_out(
            entry,
            scheme,
            &plan,
            options,
            cancel,
            progress,
            &mut anchors,
            &mut undo,
        )?;
        Ok((replaced, report))
    };
    match done() {
        Ok((mut replaced, report)) => {
            if let Some(replaced) = &mut replaced {
                let asides = std::mem::take(&mut undo.asides);
                // Past the point of no return: the old files go whatever
                // is cancelled meanwhile.
                replaced.removed =
                    replace::delete_aside(entry, scheme, asides, &mut anchors, &CancelFlag::new())?;
            }
            let lib = if plan.root_is_purelib {
                &scheme.purelib
            } else {
                &scheme.platlib
            };
            Ok(InstalledDistribution {
                name: plan.name.clone(),
                version: plan.version.clone(),
                dist_info: lib.join(&plan.dist_info),
                placed: plan.placed.len(),
                written: plan.written.len(),
                report,
                replaced,
                elapsed: started.elapsed(),
            })
        }
        Err(err) => {
            undo.roll_back();
            Err(err)
        }
    }
}

/// Install several unpacked wheels in parallel on the per-process worker
/// pool (`options.threads` workers), each as [`install_wheel`] does: all or
/// nothing on its own, so one failing leaves the others installed. Wheels
/// sharing a directory (a namespace package) merge into it; one's roll-back
/// removes such a directory only if it is empty and still the one it saw
/// created. Returns one result per wheel, in the order given.
///
/// Not guarded: a roll-back may remove such a directory in the moment
/// between another wheel's engine finding it and placing into it (the
/// directory is empty then); that wheel then fails and rolls back too.
pub fn install_wheels(
    wheels: &[WheelInstall<'_>],
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Vec<Result<InstalledDistribution>> {
    let pool = match options
        .validate_without_default_threads()
        .and_then(worker_pool)
    {
        Ok(pool) => pool,
        Err(err) => {
            return wheels
                .iter()
                .map(|_| Err(Error::new(err.kind(), err.errno(), err.message())))
                .collect()
        }
    };
    pool.install(|| {
        wheels
            .par_iter()
            .map(|wheel| {
                install_wheel(
                    wheel.entry,
                    wheel.scheme,
                    wheel.options,
                    options,
                    cancel,
                    progress,
                )
            })
            .collect()
    })
}

/// PEP 503's normalized project name: lowercase, runs of `-`, `_` and `.`
/// as one `-`.
pub(crate) fn normalized_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// The `*.dist-info` directories of `name`'s project in purelib and
/// platlib.
fn installed(entry: &Path, scheme: &Scheme, name: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let wanted = normalized_name(name);
    let mut dirs = vec![&scheme.purelib];
    if scheme.platlib != scheme.purelib {
        dirs.push(&scheme.platlib);
    }
    for dir in dirs {
        let items = match fs::read_dir(dir) {
            Ok(items) => items,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(Error::io(err, entry, dir)),
        };
        for item in items {
            let item = item.map_err(|err| Error::io(err, entry, dir))?;
            let file_name = item.file_name();
            let file_name = file_name.to_string_lossy();
            let Some(stem) = file_name.strip_suffix(".dist-info") else {
                continue;
            };
            let project = stem.split('-').next().unwrap_or(stem);
            if normalized_name(project) == wanted {
                found.push(dir.join(&*file_name));
            }
        }
    }
    Ok(found)
}

/// The scheme directories this call names entries in (temp names, aside
/// names), each open and holding the call's shared lock (see `leftover`)
/// until the call is over, so that no reclaim takes them while it runs.
#[derive(Default)]
pub(super) struct Anchors {
    held: HashMap<PathBuf, (OwnedFd, FileId)>,
}

impl Anchors {
    /// `root` (which must exist) and its identity, opened and locked on
    /// first use.
    pub(super) fn get(
        &mut self,
        root: &Path,
        cancel: &CancelFlag,
    ) -> Result<(BorrowedFd<'_>, FileId)> {
        if !self.held.contains_key(root) {
            let fd = dirfd::open_dir(root).map_err(Error::from_io)?;
            // Unlocked (no flock here, or held by another for long): a
            // reclaim cannot take it exclusively either.
            leftover::lock_anchor(fd.as_fd(), cancel)?;
            let id = dirfd::identity(fd.as_fd()).map_err(Error::from_io)?;
            self.held.insert(root.to_path_buf(), (fd, id));
        }
        let (fd, id) = &self.held[root];
        Ok((fd.as_fd(), *id))
    }
}

/// Place, then write; what was done is in `undo` as soon as it is done.
#[allow(clippy::too_many_arguments)]
fn carry_out(
    entry: &Path,
    scheme: &Scheme,
    plan: &InstallPlan,
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
    anchors: &mut Anchors,
    undo: &mut Undo,
) -> Result<Report> {
    let engine = Options {
        dirs_exist_ok: true,
        overwrite: false,
        ignore: None,
        ..options.clone()
    };
    let started = Instant::now();
    let mut reports = Vec::new();
    for ((_, key, prefix), rels) in placed_groups(plan) {
        let src_root = entry.join(&prefix);
        let dst = scheme.dir(key);
        let missing = missing_dirs(dst, &rels).map_err(|err| Error::io(err, &src_root, dst))?;
        cancel.check()?;
        // The engine's commit is not the install's: the install still rolls
        // it back, so it must not end the caller's interrupts.
        let report = clone_files(&src_root, dst, &rels, &engine, &cancel.for_part(), progress)?;
        undo.placed.push((dst.to_path_buf(), rels));
        if report.symlinks != 0 {
            // A wheel has none, and an entry unpack_wheel made holds none:
            // a tree made otherwise does not make a symlink an install.
            return Err(Error::invalid_wheel(
                entry,
                None,
                "RECORD lists a symlink of the tree",
            ));
        }
        for (dir, topmost) in missing {
            // Created by the group (or by a concurrent install meanwhile:
            // either way removed only while empty and still this one). A
            // directory below one that was missing needs no identity of its
            // own: its topmost missing ancestor's proves it (see roll_back).
            if !topmost {
                undo.dirs.push((dir, None));
            } else if let Ok(meta) = fs::symlink_metadata(&dir) {
                if meta.is_dir() {
                    undo.dirs.push((dir, Some((meta.dev(), meta.ino()))));
                }
            }
        }
        reports.push(report);
    }
    write_files(entry, scheme, plan, cancel, progress, anchors, undo)?;
    Ok(merge_reports(reports, &options.methods, started))
}

/// Group key: data groups (false) before the lib root (true), so that the
/// `.dist-info` directory is placed last; then the scheme key and the
/// source root within the entry.
type GroupKey = (bool, SchemeKey, PathBuf);

/// The plan's placed files, grouped by source root (the entry, or
/// `<name>.data/<key>`) and scheme directory, each with its relative paths.
fn placed_groups(plan: &InstallPlan) -> BTreeMap<GroupKey, Vec<PathBuf>> {
    let mut groups: BTreeMap<GroupKey, Vec<PathBuf>> = BTreeMap::new();
    for file in &plan.placed {
        let depth = file.source.components().count() - file.path.components().count();
        let prefix: PathBuf = file.source.components().take(depth).collect();
        let is_root = prefix.as_os_str().is_empty();
        groups
            .entry((is_root, file.key, prefix))
            .or_default()
            .push(file.path.clone());
    }
    groups
}

/// The directories that a group placing `rels` into `dst` needs and that
/// do not exist: `dst`'s missing ancestors, `dst`, and every directory of
/// `rels` below it.
fn missing_dirs(dst: &Path, rels: &[PathBuf]) -> io::Result<Vec<(PathBuf, bool)>> {
    let exists = |path: &Path| match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    };
    let mut missing = Vec::new();
    let dst_exists = exists(dst)?;
    if !dst_exists {
        let mut above: Vec<PathBuf> = Vec::new();
        for dir in dst.ancestors() {
            if dir.as_os_str().is_empty() || exists(dir)? {
                break;
            }
            above.push(dir.to_path_buf());
        }
        // Only the highest is topmost: the others are below it.
        let highest = above.len().saturating_sub(1);
        missing.extend(
            above
                .into_iter()
                .enumerate()
                .map(|(i, dir)| (dir, i == highest)),
        );
    }
    // Parents before children (by bytes, a parent sorts before its
    // children); a directory below a missing one is missing, unasked: one
    // lstat per directory that exists or is the top of a missing subtree.
    let mut below: Vec<&Path> = rels
        .iter()
        .flat_map(|rel| rel.ancestors().skip(1))
        .filter(|dir| !dir.as_os_str().is_empty())
        .collect();
    below.sort_unstable_by_key(|dir| dir.as_os_str());
    below.dedup();
    let mut missing_below: HashSet<&Path> = HashSet::new();
    for dir in below {
        let parent_missing = dir
            .parent()
            .is_some_and(|parent| missing_below.contains(parent));
        if !dst_exists || parent_missing {
            missing_below.insert(dir);
            missing.push((dst.join(dir), false));
        } else if !exists(&dst.join(dir))? {
            missing_below.insert(dir);
            missing.push((dst.join(dir), true));
        }
    }
    Ok(missing)
}

/// A written file under its temp name, in its directory.
struct Staged {
    dir: OwnedFd,
    temp: OsString,
    name: OsString,
    path: PathBuf,
    renamed: bool,
}

/// Create every written file under a temp name, then rename each in,
/// RECORD last.
fn write_files(
    entry: &Path,
    scheme: &Scheme,
    plan: &InstallPlan,
    cancel: &CancelFlag,
    progress: &Progress,
    anchors: &mut Anchors,
    undo: &mut Undo,
) -> Result<()> {
    let record = Path::new(&plan.dist_info).join("RECORD");
    let is_record = |file: &&WrittenFile| {
        matches!(file.key, SchemeKey::Purelib | SchemeKey::Platlib) && file.path == record
    };
    let ordered: Vec<&WrittenFile> = (plan.written.iter().filter(|f| !is_record(f)))
        .chain(plan.written.iter().filter(is_record))
        .collect();
    let bytes = ordered.iter().map(|f| f.contents.len() as u64).sum();
    progress.add_totals(ordered.len() as u64, bytes);
    let mut dirs: HashMap<(SchemeKey, PathBuf), (OwnedFd, Place)> = HashMap::new();
    for file in ordered {
        cancel.check()?;
        let root = scheme.dir(file.key);
        let path = root.join(&file.path);
        let src = file
            .source
            .as_ref()
            .map_or(entry.to_path_buf(), |s| entry.join(s));
        let fail = |err| Error::io(err, &src, &path);
        let parent = file.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name = file.path.file_name().ok_or_else(|| {
            Error::invalid_argument(format!("{} has no file name", path.display()))
        })?;
        let (dir, place) = match dirs.get(&(file.key, parent.clone())) {
            Some((dir, place)) => (
                rustix::io::dup(dir).map_err(|err| fail(err.into()))?,
                *place,
            ),
            None => {
                let dir = make_dirs(root, &parent, undo).map_err(fail)?;
                let (_, anchor) = anchors
                    .get(root, cancel)
                    .map_err(|err| err.with_paths(&src, &path))?;
                let place = Place {
                    dir: dirfd::identity(dir.as_fd()).map_err(fail)?,
                    anchor,
                    depth: parent.components().count() as u32,
                };
                let copy = rustix::io::dup(&dir).map_err(|err| fail(err.into()))?;
                dirs.insert((file.key, parent), (copy, place));
                (dir, place)
            }
        };
        let temp = leftover::name(TEMP_PREFIX, Slot::Unique, place, name);
        let made = dirfd::create_file_at(dir.as_fd(), &temp, file.creation().0).map_err(fail)?;
        undo.written.push(Staged {
            dir,
            temp,
            name: name.to_owned(),
            path: path.clone(),
            renamed: false,
        });
        fill(made, file).map_err(fail)?;
        progress.add_done(1, file.contents.len() as u64);
    }
    // The point of no return: RECORD's rename, below, completes the install.
    cancel.begin_commit()?;
    for staged in &mut undo.written {
        let dir = staged.dir.as_fd();
        dirfd::rename_between(dir, &staged.temp, dir, &staged.name, false)
            .map_err(|err| Error::io(err, entry, &staged.path))?;
        staged.renamed = true;
    }
    Ok(())
}

/// Write `file`'s bytes into the new `made`, and add its chmod bits.
fn fill(mut made: fs::File, file: &WrittenFile) -> io::Result<()> {
    made.write_all(&file.contents)?;
    let added = file.creation().1;
    if added != 0 {
        let given = made.metadata()?.mode() & 0o7777;
        if given | added != given {
            rustix::fs::fchmod(&made, rustix::fs::Mode::from_raw_mode((given | added) as _))?;
        }
    }
    Ok(())
}

/// Open `rel` below the scheme directory `root`, creating what is missing
/// (`root` and its ancestors by path, as the caller named it; below it
/// through directory fds, never following a symlink), mode 0o777 under
/// the umask as pip's `os.makedirs`. Each directory created is recorded
/// by identity in `undo`.
fn make_dirs(root: &Path, rel: &Path, undo: &mut Undo) -> io::Result<OwnedFd> {
    let mut missing: Vec<&Path> = Vec::new();
    for dir in root.ancestors() {
        match fs::symlink_metadata(dir) {
            Ok(_) => break,
            Err(err) if err.kind() == io::ErrorKind::NotFound => missing.push(dir),
            Err(err) => return Err(err),
        }
    }
    for dir in missing.into_iter().rev() {
        let parent = dirfd::open_dir(dir.parent().unwrap_or(Path::new("/")))?;
        let name = dir.file_name().unwrap_or(OsStr::new("."));
        mkdir_recorded(parent.as_fd(), name, dir, undo)?;
    }
    let mut current = dirfd::open_dir(root)?;
    let mut path = root.to_path_buf();
    for component in rel.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        path.push(name);
        mkdir_recorded(current.as_fd(), name, &path, undo)?;
        current = dirfd::open_dir_beneath(current.as_fd(), Path::new(name))?;
    }
    Ok(current)
}

/// mkdir `name` in `parent` (`path`), recording its identity in `undo` if
/// this call made it; one already there is used.
fn mkdir_recorded(
    parent: std::os::fd::BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    undo: &mut Undo,
) -> io::Result<()> {
    match dirfd::mkdir_at(parent, name, 0o777) {
        Ok(()) => {
            undo.dirs.push((
                path.to_path_buf(),
                Some(dirfd::lstat_identity(parent, name)?),
            ));
            Ok(())
        }
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(err) => Err(err),
    }
}

/// (st_dev, st_ino) of `path`, not following a last symlink.
fn lstat_identity_of(path: &Path) -> Option<(u64, u64)> {
    let (parent, name) = (path.parent()?, path.file_name()?);
    let parent = dirfd::open_dir(parent).ok()?;
    dirfd::lstat_identity(parent.as_fd(), name).ok()
}

/// What one install did, to take back.
#[derive(Default)]
struct Undo {
    /// Each completed group: its destination and the files it placed.
    placed: Vec<(PathBuf, Vec<PathBuf>)>,
    /// The written files, under their temp or their final names.
    written: Vec<Staged>,
    /// Directories that did not exist before, with the identity each had
    /// once created; `None` for one below another of them (its ancestor's
    /// identity proves it).
    dirs: Vec<(PathBuf, Option<(u64, u64)>)>,
    /// The replaced distribution's files, moved aside.
    asides: Vec<Aside>,
}

impl Undo {
    /// Remove the files, then the directories deepest first, each only if
    /// it is empty and still has the identity recorded; then rename the
    /// replaced distribution's files back. Best effort: an error of one
    /// removal does not stop the others.
    fn roll_back(self) {
        for staged in self.written.iter().rev() {
            let name = if staged.renamed {
                &staged.name
            } else {
                &staged.temp
            };
            let _ = dirfd::unlink_at(staged.dir.as_fd(), name);
        }
        for (dst, rels) in self.placed.iter().rev() {
            let Ok(root) = dirfd::open_dir(dst) else {
                continue;
            };
            for rel in rels {
                let parent = rel.parent().unwrap_or(Path::new(""));
                let (Ok(dir), Some(name)) =
                    (dirfd::dir_beneath(root.as_fd(), parent), rel.file_name())
                else {
                    continue;
                };
                let _ = dirfd::unlink_at(dir.as_fd(), name);
            }
        }
        // A directory is removed only while empty, and only if it is still
        // the one this call created: by its own identity, or, for one below
        // another missing one, by that topmost one's (checked before any is
        // removed; a rename of the subtree elsewhere fails the check).
        let proven: HashSet<PathBuf> = self
            .dirs
            .iter()
            .filter_map(|(path, id)| Some((path, (*id)?)))
            .filter(|(path, id)| lstat_identity_of(path) == Some(*id))
            .map(|(path, _)| path.clone())
            .collect();
        let mut dirs = self.dirs;
        dirs.sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        dirs.dedup();
        for (path, _) in dirs {
            if !path.ancestors().any(|dir| proven.contains(dir)) {
                continue;
            }
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let Ok(parent) = dirfd::open_dir(parent) else {
                continue;
            };
            let _ = dirfd::rmdir_at(parent.as_fd(), name);
        }
        for aside in self.asides.iter().rev() {
            aside.restore();
        }
    }
}

/// The engine's reports of one install's groups as one.
fn merge_reports(reports: Vec<Report>, methods: &[Method], started: Instant) -> Report {
    let count = |report: &Report, method: Method| match method {
        Method::Reflink => report.reflinked,
        Method::Hardlink => report.hardlinked,
        Method::Copy => report.copied,
    };
    let mut merged = Report {
        method: reports.first().map_or(methods[0], |r| r.method),
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        reflinked: 0,
        hardlinked: 0,
        copied: 0,
        skipped: Vec::new(),
        fallbacks: Vec::new(),
        unsupported_metadata: Vec::new(),
        elapsed: started.elapsed(),
    };
    for report in reports {
        merged.files += report.files;
        merged.dirs += report.dirs;
        merged.symlinks += report.symlinks;
        merged.bytes += report.bytes;
        merged.reflinked += report.reflinked;
        merged.hardlinked += report.hardlinked;
        merged.copied += report.copied;
        for skipped in report.skipped {
            if !(merged.skipped.iter())
                .any(|s: &Skipped| (s.method, s.errno) == (skipped.method, skipped.errno))
            {
                merged.skipped.push(skipped);
            }
        }
        for fallback in report.fallbacks {
            match (merged.fallbacks.iter_mut())
                .find(|f: &&mut Fallback| (f.method, f.errno) == (fallback.method, fallback.errno))
            {
                Some(found) => found.files += fallback.files,
                None => merged.fallbacks.push(fallback),
            }
        }
        for unstored in report.unsupported_metadata {
            match (merged.unsupported_metadata.iter_mut()).find(|u: &&mut UnsupportedMetadata| {
                (u.kind, u.errno) == (unstored.kind, unstored.errno)
            }) {
                Some(found) => found.entries += unstored.entries,
                None => merged.unsupported_metadata.push(unstored),
            }
        }
    }
    // The method that placed the most files, the earlier one on a tie.
    if merged.files > 0 {
        let mut best = methods[0];
        for &method in &methods[1..] {
            if count(&merged, method) > count(&merged, best) {
                best = method;
            }
        }
        merged.method = best;
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_as_pep_503_says() {
        for (name, normalized) in [
            ("Demo", "demo"),
            ("foo_bar", "foo-bar"),
            ("Foo.-_Bar", "foo-bar"),
            ("a__b..c", "a-b-c"),
        ] {
            assert_eq!(normalized_name(name), normalized);
        }
    }
}

//! Unpacking a wheel into a cache, once (issue 18's first step): the tree
//! an install then places with [`clone_or_copy`](crate::clone_or_copy).
//!
//! - `layout`: where an entry lives, its key, the staging and the commit;
//! - `names`: which member names may become paths;
//! - `record`: parsing RECORD;
//! - `reader`: one open wheel read by many workers;
//! - `unpack`: checking the members and writing them in parallel;
//! - `seen`: finding a wheel file unpacked before without reading it.
//!
//! Installing from an entry (issue 18's second step), planned only:
//! - `scheme`: the directories an install writes to;
//! - `entry_points`: `entry_points.txt`'s console and GUI scripts;
//! - `scripts`: shebangs, launchers and `#!python` rewriting;
//! - `record_out`: the installed RECORD's rows and text;
//! - `install_plan`: what goes where, as pip would do it.
//!
//! Carrying the plan out (issue 18's third step):
//! - `install`: placing through the engine, writing, all or nothing;
//! - `install_files`: `.whl` files or trees, unpacked and installed in one call;
//! - `replace`: an installed distribution moved aside, then deleted.

mod entry_points;
mod install;
mod install_files;
mod install_plan;
mod layout;
mod names;
mod reader;
mod record;
mod record_out;
mod replace;
mod scheme;
mod scripts;
mod seen;
mod unpack;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::pool::default_threads;
use layout::{Entry, WheelFileName};
use reader::SharedFile;
use unpack::{Archive, Plan};

pub use install::{install_wheel, install_wheels, InstalledDistribution, WheelInstall};
pub use install_files::{install_wheel_files, Environment, Target, WheelFileInstalled};
pub use install_plan::{plan_install, InstallOptions, InstallPlan, PlacedFile, WrittenFile};
pub use replace::ReplacedDistribution;
pub use scheme::{Scheme, SchemeKey};

/// A wheel's tree in the cache, as [`unpack_wheel`] left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedWheel {
    /// The entry: the directory holding the wheel's tree (its packages, its
    /// `*.dist-info` and `*.data` directories) exactly as the archive has it.
    pub path: PathBuf,
    /// The distribution name, from the wheel's file name (as spelled there).
    pub name: String,
    /// The version, from the wheel's file name.
    pub version: String,
    /// Regular files in the tree.
    pub files: usize,
    /// Bytes in those files.
    pub bytes: u64,
    /// The entry was there already (made by an earlier call, or by a
    /// concurrent one that finished first), and nothing was written.
    pub reused: bool,
    /// The SHA-256 of the wheel file, in lowercase hex.
    pub sha256: String,
}

/// Unpack `wheel` into `cache_dir` (made, with its ancestors, 0o755 under
/// the umask, when missing), or find it there.
///
/// The entry is `<cache_dir>/wheels-v1/<wheel file name>/<h>/`, `h` the
/// first 32 hex digits of the SHA-256 of the wheel file's bytes, so a
/// different wheel with the same file name gets an entry of its own. The
/// wheel is read whole to compute it; when the entry exists it is returned
/// as it is (`reused`), without reading the members. The file is read only
/// once: a pointer beside the entry, named after its (st_dev, st_ino, size,
/// mtime, ctime), finds the entry again without reading it (`seen`).
///
/// Otherwise the tree is built in a staging directory
/// `<cache_dir>/.fastlink-staging.<slot>.0.<tag>.<h>` and renamed to the
/// entry's name without replacing anything. The call holds a shared flock
/// on `cache_dir` meanwhile, so a staging tree a killed call left is
/// reclaimed with proof (as the tree engine's are): by the next call for
/// the same wheel, which tries the same staging name first and finds it
/// taken (no directory scan), or by [`reclaim`](crate::reclaim)`(cache_dir)`.
/// When a concurrent call (another thread or process) renamed its own first, this call's tree is removed and the other's
/// returned, `reused`: both succeed, with one entry.
///
/// Checked before anything is written: every member name (no absolute
/// path, `..` or `.` component, empty component, backslash or NUL; no path
/// both a file and a directory), one top-level `*.dist-info` with `RECORD`
/// and `WHEEL`, and RECORD against the members. As pypa/installer does
/// (pip does not check this), every file but RECORD and its signatures
/// (`RECORD.jws`, `RECORD.p7s`) must be in RECORD with a `sha256` hash; and
/// every path RECORD lists must be a member. Checked as each member is
/// written, hashing what streams to disk: its SHA-256 and its size against
/// RECORD's (pip and pypa/installer both refuse a mismatch).
///
/// Files are 0o644, or 0o755 when the member's external attributes say a
/// regular file with an exec bit (as pip decides), directories 0o755, all
/// created under the umask. A member marked as a symlink is written as a
/// regular file holding its content (the link's target), as pip does: an
/// entry never holds a symlink. Entries keep these ordinary modes; whatever
/// installs from them must never modify them (they are shared).
///
/// Errors: a wheel that is not a zip, is truncated or corrupt (a bad
/// deflate stream or CRC), or fails a check above is
/// [`ErrorKind::InvalidWheel`](crate::ErrorKind::InvalidWheel), naming the
/// wheel and, where there is one, the member. An OS error (ENOSPC, EIO,
/// EACCES...) is [`ErrorKind::Io`](crate::ErrorKind::Io) with its errno and
/// paths. A cancel is [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
/// On every error the staging tree is removed: the cache is as it was
/// (the commit, a rename, is the point of no return).
///
/// Members are written on the per-process worker pool, with the default
/// thread count ([`default_threads`]).
pub fn unpack_wheel(wheel: &Path, cache_dir: &Path, cancel: &CancelFlag) -> Result<UnpackedWheel> {
    cancel.check()?;
    let file_name = WheelFileName::parse(wheel)?;
    let mut file = File::open(wheel).map_err(|err| Error::on_path(err, wheel))?;
    let parent = Entry::parent(cache_dir, &file_name.file_name);
    let unpacked = |path: PathBuf, files, bytes, reused, sha256: &str| UnpackedWheel {
        path,
        name: file_name.name.clone(),
        version: file_name.version.clone(),
        files,
        bytes,
        reused,
        sha256: sha256.to_string(),
    };

    let meta = file.metadata().map_err(|err| Error::on_path(err, wheel))?;
    let pointer = seen::pointer_name(&meta);
    if let Some(seen) = seen::read(&parent, &pointer) {
        let entry = Entry::new(cache_dir, &file_name.file_name, &seen.sha256);
        if entry
            .exists()
            .map_err(|err| Error::io(err, wheel, &entry.path()))?
        {
            return Ok(unpacked(
                entry.path(),
                seen.files,
                seen.bytes,
                true,
                &seen.sha256,
            ));
        }
    }
    let digest =
        layout::digest(&mut file, cancel).map_err(|err| err.with_paths(wheel, cache_dir))?;
    let sha256: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let entry = Entry::new(cache_dir, &file_name.file_name, &sha256);
    let entry_path = entry.path();
    let remember = |files, bytes| {
        let sha256 = sha256.clone();
        seen::write(
            &parent,
            &pointer,
            &seen::Seen {
                sha256,
                files,
                bytes,
            },
        );
    };

    let mut archive = open_archive(wheel, cache_dir, file)?;
    if entry
        .exists()
        .map_err(|err| Error::io(err, wheel, &entry_path))?
    {
        let (files, bytes) = counts(&archive);
        remember(files, bytes);
        return Ok(unpacked(entry_path, files, bytes, true, &sha256));
    }
    let plan = Plan::read(wheel, cache_dir, &mut archive)?;
    let staging = entry
        .stage(cache_dir, cancel)
        .map_err(|err| err.with_paths(wheel, cache_dir))?;
    let bytes = plan.write(wheel, &archive, staging.path(), default_threads(), cancel)?;
    cancel.begin_commit()?;
    let won = entry
        .commit(staging)
        .map_err(|err| Error::io(err, wheel, &entry_path))?;
    remember(plan.files(), bytes);
    Ok(unpacked(entry_path, plan.files(), bytes, !won, &sha256))
}

fn open_archive(wheel: &Path, cache_dir: &Path, file: File) -> Result<Archive> {
    let reader = SharedFile::new(file).map_err(|err| Error::io(err, wheel, cache_dir))?;
    Archive::new(reader).map_err(|err| unpack::zip_error(wheel, cache_dir, None, err))
}

/// Files and bytes of an entry that is there, from the central directory
/// alone (what a complete entry holds).
fn counts(archive: &Archive) -> (usize, u64) {
    let files = archive
        .file_names()
        .filter(|name| !name.ends_with('/'))
        .count();
    let bytes = archive
        .decompressed_size()
        .map_or(u64::MAX, |size| u64::try_from(size).unwrap_or(u64::MAX));
    (files, bytes)
}

//! Where a wheel's tree lives in the cache, and how it gets there whole.
//!
//! ```text
//! <cache_dir>/wheels-v1/<wheel file name>/<32 hex digits>/   the entry
//! <cache_dir>/.fastlink-staging.<slot>.0.<tag>.<32 hex digits>/   a staging tree
//! ```
//!
//! The hex digits are the first 128 bits of the SHA-256 of the wheel file's
//! bytes, so two different wheels with one file name (a rebuilt wheel, a
//! local build beside the index's) never share an entry. `v1` changes when
//! what an entry holds changes. An entry is complete from the moment it has
//! its name: it is built under a staging name and renamed in, never
//! replacing anything, so a reader never sees half an entry.
//!
//! A staging tree is named as the tree engine names its own (see
//! `leftover`): anchored at the cache directory, whose shared flock the call
//! holds from before it makes the tree until it is renamed in or removed.
//! So one that a killed call left is reclaimed with proof: by the next call
//! unpacking the same wheel, which tries the same name first (slot `0`) and
//! finds it taken (no scan: the cost is one failed mkdir, and only then), or
//! by [`reclaim`](crate::reclaim) on the cache directory.

use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cancel::CancelFlag;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::leftover::{self, Place, Slot, STAGING_PREFIX};

/// The directory under the cache that holds every entry of this layout.
const LAYOUT_DIR: &str = "wheels-v1";

/// A wheel's file name, which must be a wheel's (PEP 427):
/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
#[derive(Debug)]
pub struct WheelFileName {
    pub file_name: String,
    pub name: String,
    pub version: String,
}

impl WheelFileName {
    pub fn parse(wheel: &Path) -> Result<Self> {
        let bad = |why: &str| Error::invalid_wheel(wheel, None, why);
        let file_name = wheel
            .file_name()
            .and_then(OsStr::to_str)
            .ok_or_else(|| bad("the file name is not UTF-8"))?;
        let stem = file_name
            .strip_suffix(".whl")
            .ok_or_else(|| bad("the file name does not end in .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        if !matches!(parts.len(), 5 | 6) || parts.iter().any(|part| part.is_empty()) {
            return Err(bad(
                "the file name is not NAME-VERSION(-BUILD)-PYTHON-ABI-PLATFORM.whl",
            ));
        }
        Ok(WheelFileName {
            file_name: file_name.to_string(),
            name: parts[0].to_string(),
            version: parts[1].to_string(),
        })
    }
}

/// The SHA-256 of everything `file` holds from where it is, read in
/// blocks; the cancel is checked between blocks.
pub fn digest(file: &mut File, cancel: &CancelFlag) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut block = vec![0; 1 << 20];
    loop {
        cancel.check()?;
        match file.read(&mut block) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(read) => hasher.update(&block[..read]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Error::from_io(err)),
        }
    }
}

/// One wheel's place in the cache.
#[derive(Debug)]
pub struct Entry {
    /// `<cache_dir>/wheels-v1/<wheel file name>`, made when the first entry
    /// under it is renamed in.
    parent: PathBuf,
    /// The hex digits: the entry's name in `parent`, and part of the
    /// staging name.
    key: String,
}

impl Entry {
    pub fn new(cache_dir: &Path, file_name: &str, sha256_hex: &str) -> Self {
        Entry {
            parent: Self::parent(cache_dir, file_name),
            key: sha256_hex[..32].to_string(),
        }
    }

    /// `<cache_dir>/wheels-v1/<file_name>`: where the entries of wheels of
    /// that file name are, and the pointers to them.
    pub fn parent(cache_dir: &Path, file_name: &str) -> PathBuf {
        cache_dir.join(LAYOUT_DIR).join(file_name)
    }

    /// The entry's path: the wheel's tree.
    pub fn path(&self) -> PathBuf {
        self.parent.join(&self.key)
    }

    /// Whether the entry is there (and so complete).
    pub fn exists(&self) -> io::Result<bool> {
        match self.path().symlink_metadata() {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// A new, empty staging directory in `cache_dir` (made, with its
    /// ancestors, 0o755 under the umask, when missing), removed when
    /// dropped uncommitted. The cache directory stays open and locked
    /// (shared) in the [`Staging`] until then.
    pub fn stage(&self, cache_dir: &Path, cancel: &CancelFlag) -> Result<Staging> {
        let fail = Error::from_io;
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(cache_dir)
            .map_err(fail)?;
        let dir = dirfd::open_dir(cache_dir).map_err(fail)?;
        let locked = leftover::lock_anchor(dir.as_fd(), cancel)?;
        let place = Place::in_anchor(dirfd::identity(dir.as_fd()).map_err(fail)?);
        let key = OsStr::new(&self.key);
        // Unlocked, a shared name could be taken by a reclaim meanwhile.
        let slot = if locked { Slot::Shared } else { Slot::Unique };
        let mut name = leftover::name(STAGING_PREFIX, slot, place, key);
        let mut made = dirfd::mkdir_at(dir.as_fd(), &name, 0o755);
        if matches!(&made, Err(err) if err.raw_os_error() == Some(libc::EEXIST)) {
            // A concurrent call's, or a killed call's: reclaimed only if
            // proven the latter; else a name of this call's own.
            if slot == Slot::Unique
                || !leftover::reclaim_shared_name(dir.as_fd(), place.anchor, &name)
            {
                name = leftover::name(STAGING_PREFIX, Slot::Unique, place, key);
            }
            made = dirfd::mkdir_at(dir.as_fd(), &name, 0o755);
        }
        made.map_err(fail)?;
        Ok(Staging {
            path: cache_dir.join(&name),
            dir,
            name,
            committed: false,
        })
    }

    /// Rename `staging` to the entry's name, never replacing one: `Ok(false)`
    /// when another call put it there first (its tree is then removed).
    pub fn commit(&self, mut staging: Staging) -> io::Result<bool> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&self.parent)?;
        let parent = File::open(&self.parent)?;
        let renamed = dirfd::rename_between(
            staging.dir.as_fd(),
            &staging.name,
            parent.as_fd(),
            OsStr::new(&self.key),
            false,
        );
        match renamed {
            Ok(()) => {
                staging.committed = true;
                Ok(true)
            }
            // A full directory is not replaced by a rename: ENOTEMPTY where
            // the rename was not RENAME_NOREPLACE (no such call here).
            Err(err) if matches!(err.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }
}

/// A tree being built under a name of its own in the cache directory.
#[derive(Debug)]
pub struct Staging {
    /// The cache directory, open and holding the call's shared lock (see
    /// `leftover`): the rename and the removal are relative to it.
    dir: OwnedFd,
    name: OsString,
    path: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    /// Every way out but the commit (an error, a cancel, a panic, a lost
    /// race) removes the tree. A failure to remove it cannot be reported
    /// from here; what is left is reclaimed as a killed call's is, once
    /// the lock goes with `dir` (closed after this).
    fn drop(&mut self) {
        if !self.committed {
            let _ = dirfd::remove_tree_at(self.dir.as_fd(), &self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_file_names() {
        let name =
            WheelFileName::parse(Path::new("/c/numpy-2.1.0-cp312-cp312-linux_x86_64.whl")).unwrap();
        assert_eq!(
            (name.name.as_str(), name.version.as_str()),
            ("numpy", "2.1.0")
        );
        assert!(WheelFileName::parse(Path::new("x-1-1b-py3-none-any.whl")).is_ok());
        for bad in [
            "x-1.whl",
            "x-1-py3-none-any.zip",
            "x--py3-none-any.whl",
            "..",
            "/",
        ] {
            assert!(WheelFileName::parse(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_key_is_the_digest_s_first_half_in_hex() {
        let entry = Entry::new(Path::new("/c"), "x-1-py3-none-any.whl", &"ab".repeat(32));
        assert_eq!(
            entry.path(),
            Path::new("/c/wheels-v1/x-1-py3-none-any.whl").join("ab".repeat(16))
        );
    }
}

//! Names of the entries a call builds before renaming them in, and the
//! reclaim of those a killed call left behind, by proof rather than by name.
//!
//! A name alone cannot show that fastlink made an entry: a package may ship
//! `.fastlink-staging.1.0.x`. Two things together do:
//!
//! - **The marker is in the name, bound to where the entry is.** Every such
//!   name is `<prefix><slot>.<depth>.<tag>.<name>`, where `tag` is a 64-bit
//!   hash of the rest of the name together with the identities (st_dev,
//!   st_ino) of the directory holding the entry and of the call's anchor
//!   (`depth` levels up: `dst`'s parent for a new tree, `dst` for a merge).
//!   Those identities exist only on this filesystem, once the directories
//!   do: a shipped entry, or a copy of a leftover made elsewhere (a backup,
//!   an archive unpacked), would have to predict the st_dev and st_ino it is
//!   unpacked under. It needs no xattr (not on every tmpfs or FUSE), no file
//!   inside the entry (a staged single file has no inside, and a marker file
//!   would be renamed into `dst` with its directory), and no syscall: the
//!   identities are known to the call already (the anchor's is taken for the
//!   commit check anyway, the merge's directories' by the validation).
//! - **The lock shows the call is over.** A call holds a shared flock on its
//!   anchor directory's fd, which it keeps open for the whole call anyway
//!   (one syscall per call), from before it creates anything until after it
//!   has renamed in or removed all of it. flock belongs to the open file
//!   description, so it dies with the process (SIGKILL included) and
//!   conflicts between two threads of one process as between two processes.
//!   Whoever reclaims takes it exclusively without waiting: granted, no call
//!   anchored there is running, and every entry that carries a tag for that
//!   anchor belongs to a call that is over, i.e. was killed.
//!
//! When: a new tree (or single file, staged) first tries the same staging
//! name every call to that `dst` tries (slot `0`); finding it taken (EEXIST,
//! the only extra cost, and only then) it reclaims it if the proof holds and
//! takes the name, else it uses a name of its own (slot `<pid>-<n>`). So a
//! later call to the same `dst` removes what a killed call left there, with
//! no directory scan. [`unpack_wheel`](crate::unpack_wheel)'s staging tree
//! in the cache directory (anchored there, slot `0` per wheel) is
//! reclaimed the same way. Everything else (a merge's temp files and staged
//! directories, probe files, staging under a slot of its own, an install's
//! written files and the files a replace moved aside, anchored at their
//! scheme directory) is reclaimed
//! by [`reclaim`] (`fastlink.reclaim(dir)`, `fastlink reclaim DIR`), which
//! does scan, because it was asked to.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

use crate::cancel::CancelFlag;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::per_process::PerProcess;
use crate::plan::FileId;
use crate::platform::{Os, Platform};

/// A new tree (or single file) beside `dst`, or a new directory of a merge.
pub const STAGING_PREFIX: &str = ".fastlink-staging.";
/// A file or symlink being written into an existing directory of a merge.
pub const TEMP_PREFIX: &str = ".fastlink-tmp.";
/// A file the method probe makes (and removes at once).
pub const PROBE_PREFIX: &str = ".fastlink-probe.";
/// A file of an installed distribution moved aside while a wheel replacing
/// it is installed (deleted once it is, renamed back if it fails).
pub const ASIDE_PREFIX: &str = ".fastlink-aside.";

const PREFIXES: [&str; 4] = [STAGING_PREFIX, TEMP_PREFIX, PROBE_PREFIX, ASIDE_PREFIX];
const NAME_MAX: usize = 255;
/// Deeper than any anchor a call names its entries from is not ours.
const MAX_DEPTH: u32 = 4096;

/// Where an entry is built: the directory holding it, the call's anchor,
/// and how many levels the anchor is above that directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub dir: FileId,
    pub anchor: FileId,
    pub depth: u32,
}

impl Place {
    /// An entry directly in the anchor.
    pub fn in_anchor(anchor: FileId) -> Place {
        Place {
            dir: anchor,
            anchor,
            depth: 0,
        }
    }
}

/// Which of a name's two forms: the one every call to this destination
/// tries first, or one unique to this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Shared,
    Unique,
}

/// The name of an entry built at `place` for the final name `name`,
/// shortened so the whole fits NAME_MAX.
pub fn name(prefix: &str, slot: Slot, place: Place, name: &OsStr) -> OsString {
    let slot = match slot {
        Slot::Shared => "0".to_string(),
        Slot::Unique => {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            format!("{}-{n}", std::process::id())
        }
    };
    let head = format!("{prefix}{slot}.{}", place.depth);
    let room = NAME_MAX.saturating_sub(head.len() + 18);
    let tail = &name.as_bytes()[..name.len().min(room)];
    let tag = tag(head.as_bytes(), tail, place);
    let mut full = format!("{head}.{tag:016x}.").into_bytes();
    full.extend_from_slice(tail);
    OsString::from(OsStr::from_bytes(&full))
}

/// FNV-1a (64-bit) over the name without its tag and the two identities: a
/// stable function (unlike std's hasher), so any fastlink build, in any
/// process, recomputes the same tag.
fn tag(head: &[u8], tail: &[u8], place: Place) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(b"fastlink-leftover-v1\0");
    feed(head);
    feed(b"\0");
    feed(tail);
    for value in [place.dir.0, place.dir.1, place.anchor.0, place.anchor.1] {
        feed(&value.to_le_bytes());
    }
    hash
}

/// A name of ours, taken apart: its depth, and whether its tag is the one
/// for `dir` and `anchor` (checked once the anchor is found).
struct Parsed<'a> {
    head: &'a [u8],
    depth: u32,
    tag: u64,
    tail: &'a [u8],
}

fn parse(name: &[u8]) -> Option<Parsed<'_>> {
    let prefix = PREFIXES.iter().find(|p| name.starts_with(p.as_bytes()))?;
    let rest = &name[prefix.len()..];
    let mut parts = rest.splitn(4, |&b| b == b'.');
    let slot = parts.next()?;
    let depth = parts.next()?;
    let depth_raw_len = depth.len();
    let tag = parts.next()?;
    let tail = parts.next()?;
    let slot_ok = slot == b"0" || {
        let mut halves = slot.splitn(2, |&b| b == b'-');
        let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        halves.next().is_some_and(all_digits) && halves.next().is_some_and(all_digits)
    };
    let depth_ok = !depth.is_empty() && depth.len() <= 4 && depth.iter().all(u8::is_ascii_digit);
    if !slot_ok || !depth_ok || tag.len() != 16 {
        return None;
    }
    let depth: u32 = std::str::from_utf8(depth).ok()?.parse().ok()?;
    let tag = u64::from_str_radix(std::str::from_utf8(tag).ok()?, 16).ok()?;
    if depth > MAX_DEPTH {
        return None;
    }
    let head_len = prefix.len() + slot.len() + 1 + depth_raw_len;
    let head = &name[..head_len];
    Some(Parsed {
        head,
        depth,
        tag,
        tail,
    })
}

impl Parsed<'_> {
    fn is_for(&self, place: Place) -> bool {
        self.depth == place.depth && tag(self.head, self.tail, place) == self.tag
    }
}

/// Whether `name` is an entry a call made at `place`.
pub fn is_ours(name: &OsStr, place: Place) -> bool {
    parse(name.as_bytes()).is_some_and(|parsed| parsed.is_for(place))
}

/// How long a call waits for its shared lock while the anchor is locked
/// exclusively. A reclaim holds it only while it removes one entry; a lock
/// held longer is somebody else's (`flock DIR installer`: this call is part
/// of that install), and the call goes on without the lock.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Take a call's shared lock on its `anchor`,
/// waiting (cancellable) while a reclaim removes an entry there.
/// `Ok(true)`: locked, so what the call makes is never reclaimed while it
/// runs. `Ok(false)`: the filesystem has no flock, or the lock stayed taken
/// for [`LOCK_WAIT`]; the call then goes on unlocked and uses names of its
/// own only ([`Slot::Unique`]), which no later call to the same `dst` looks
/// at. An anchor found held that long is remembered for the process, and
/// later calls there do not wait again while it stays held.
pub fn lock_anchor(anchor: BorrowedFd<'_>, cancel: &CancelFlag) -> Result<bool> {
    static HELD_BY_OTHERS: PerProcess<Mutex<HashSet<FileId>>> = PerProcess::new(Default::default);
    let held_by_others = || {
        HELD_BY_OTHERS
            .get()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    let started = Instant::now();
    // Learnt only when the lock is contended: no syscall otherwise.
    let mut anchor_id: Option<FileId> = None;
    loop {
        match Os::try_lock_shared(anchor) {
            Ok(true) => return Ok(true),
            Ok(false) => {
                let Some(id) = anchor_id.or_else(|| dirfd::identity(anchor).ok()) else {
                    return Ok(false);
                };
                anchor_id = Some(id);
                if started.elapsed() >= LOCK_WAIT {
                    held_by_others().insert(id);
                    return Ok(false);
                }
                if held_by_others().contains(&id) {
                    return Ok(false);
                }
                cancel.check()?;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return Ok(false),
        }
    }
}

/// For a call about to create its first entry, `name` (slot
/// [`Slot::Shared`]) in its `anchor`, having found that name taken: remove
/// what is there if it is proven a killed call's (the tag is right, and no
/// call anchored here runs), so the name can be used. The caller's own
/// shared lock is converted and taken back, whatever the outcome; it has
/// made nothing yet that a reclaim elsewhere could mistake for a leftover.
/// `false`, and the caller takes a name of its own, when the lock could not
/// be taken back at once.
pub fn reclaim_shared_name(anchor: BorrowedFd<'_>, anchor_id: FileId, name: &OsStr) -> bool {
    let place = Place::in_anchor(anchor_id);
    let reclaimed = is_ours(name, place)
        && Os::try_lock_exclusive(anchor).unwrap_or(false)
        && dirfd::remove_tree_at(anchor, name).is_ok();
    // The call goes on, anchored here: its shared lock again.
    reclaimed & Os::try_lock_shared(anchor).unwrap_or(false)
}

/// Remove every entry below `root` (recursively, never through a symlink)
/// that a killed call of fastlink left: its name carries the tag for where
/// it is, and no call anchored where it was made is running. Look-alike
/// names, and entries of calls still running (in this process or another),
/// are left alone. Returns the paths removed.
pub fn reclaim(root: &Path) -> Result<Vec<PathBuf>> {
    let fail = |err| Error::io(err, root, root);
    let root_fd = dirfd::open_dir(root).map_err(fail)?;
    let mut reclaimer = Reclaimer::default();
    let mut removed = Vec::new();
    let mut stack: Vec<(OwnedFd, PathBuf)> = vec![(root_fd, root.to_path_buf())];
    while let Some((dir, path)) = stack.pop() {
        let dir_id = dirfd::identity(dir.as_fd()).map_err(fail)?;
        let listing = dirfd::open_dir_beneath(dir.as_fd(), Path::new(""))
            .and_then(dirfd::list_owned_dir)
            .map_err(|err| Error::io(err, &path, &path))?;
        for (name, kind) in listing.1 {
            if PREFIXES
                .iter()
                .any(|p| name.as_bytes().starts_with(p.as_bytes()))
            {
                // Ours or a look-alike: never walked into either way.
                if reclaimer.reclaim_one(dir.as_fd(), dir_id, &name) {
                    removed.push(path.join(&name));
                }
            } else if matches!(
                kind,
                rustix::fs::FileType::Directory | rustix::fs::FileType::Unknown
            ) {
                // (A non-directory of unknown type is refused by the open.)
                if let Ok(sub) = dirfd::open_dir_beneath(dir.as_fd(), Path::new(&name)) {
                    stack.push((sub, path.join(&name)));
                }
            }
        }
    }
    Ok(removed)
}

/// The anchors looked at during one [`reclaim`], each kept open (`None`
/// where it could not be opened), locked exclusively only while one entry
/// made there is removed.
#[derive(Default)]
struct Reclaimer {
    anchors: HashMap<FileId, Option<OwnedFd>>,
}

impl Reclaimer {
    fn reclaim_one(&mut self, dir: BorrowedFd<'_>, dir_id: FileId, name: &OsStr) -> bool {
        let Some(parsed) = parse(name.as_bytes()) else {
            return false;
        };
        let Ok((anchor, anchor_id)) = ancestor(dir, dir_id, parsed.depth) else {
            return false;
        };
        let place = Place {
            dir: dir_id,
            anchor: anchor_id,
            depth: parsed.depth,
        };
        if !parsed.is_for(place) {
            return false;
        }
        let Some(fd) = self
            .anchors
            .entry(anchor_id)
            .or_insert_with(|| match anchor {
                Some(fd) => Some(fd),
                None => dirfd::open_dir_beneath(dir, Path::new("")).ok(),
            })
        else {
            return false;
        };
        // Exclusive for this one entry only: a call starting meanwhile waits
        // no longer than the removal takes.
        if !Os::try_lock_exclusive(fd.as_fd()).unwrap_or(false) {
            return false;
        }
        let removed = dirfd::remove_tree_at(dir, name).is_ok();
        Os::unlock(fd.as_fd());
        removed
    }
}

/// The directory `depth` levels above `dir` (found by `..`, so through any
/// rename) and its identity; `None` for `dir` itself.
fn ancestor(
    dir: BorrowedFd<'_>,
    dir_id: FileId,
    depth: u32,
) -> io::Result<(Option<OwnedFd>, FileId)> {
    if depth == 0 {
        return Ok((None, dir_id));
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut current = rustix::fs::openat(dir, "..", flags, Mode::empty())?;
    for _ in 1..depth {
        current = rustix::fs::openat(&current, "..", flags, Mode::empty())?;
    }
    let id = dirfd::identity(current.as_fd())?;
    Ok((Some(current), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: Place = Place {
        dir: (1, 2),
        anchor: (1, 1),
        depth: 1,
    };

    #[test]
    fn a_name_is_ours_only_where_it_was_made() {
        let made = name(TEMP_PREFIX, Slot::Unique, PLACE, OsStr::new("mod.py"));
        assert!(made.as_bytes().starts_with(b".fastlink-tmp."));
        assert!(made.as_bytes().ends_with(b".mod.py"));
        assert!(is_ours(&made, PLACE));
        let elsewhere = Place {
            dir: (1, 3),
            ..PLACE
        };
        assert!(!is_ours(&made, elsewhere));
        assert!(!is_ours(OsStr::new(".fastlink-staging.1.0.x"), PLACE));
        assert!(!is_ours(
            OsStr::new(".fastlink-tmp.0.1.0123456789abcdef.x"),
            PLACE
        ));
    }

    #[test]
    fn names_fit_name_max() {
        let long = OsString::from("x".repeat(255));
        let made = name(STAGING_PREFIX, Slot::Shared, PLACE, &long);
        assert!(made.len() <= 255);
        assert!(is_ours(&made, PLACE));
    }

    #[test]
    fn the_shared_slot_is_the_same_for_every_call() {
        let a = name(STAGING_PREFIX, Slot::Shared, PLACE, OsStr::new("dst"));
        let b = name(STAGING_PREFIX, Slot::Shared, PLACE, OsStr::new("dst"));
        let c = name(STAGING_PREFIX, Slot::Unique, PLACE, OsStr::new("dst"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

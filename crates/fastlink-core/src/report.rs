//! What a call did, for the caller to log or warn about.

use std::time::{Duration, Instant};

use crate::counts::Counts;
use crate::meta::MetadataKind;
use crate::method::Method;
use crate::per_file::NOT_WRITTEN_BACK;

/// A preferred method that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The method passed over.
    pub method: Method,
    /// What the probe's try of it returned (EXDEV, EOPNOTSUPP, ...).
    pub errno: i32,
    /// A sentence an installer can show as is, e.g.
    /// "reflink not possible: source and destination are on different filesystems or mounts (EXDEV)".
    pub message: String,
}

impl Skipped {
    /// `method`, passed over because `errno` said the pair cannot use it.
    pub(crate) fn of(method: Method, errno: i32) -> Self {
        Skipped {
            method,
            errno,
            message: method.impossible(errno).message().to_string(),
        }
    }
}

/// A method some files could not use, so each of them fell back to a later
/// one: one entry per (method, errno), with how many files it concerned.
/// errno [`NOT_WRITTEN_BACK`] (0) marks files that could have been cloned
/// but were not, since the clone would have waited for their writeback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The method those files could not use.
    pub method: Method,
    /// What it returned for them (EMLINK, EPERM, EINVAL for a NOCOW file...).
    pub errno: i32,
    /// How many files.
    pub files: usize,
    /// e.g. "hardlink not possible: the file has too many links (EMLINK)".
    pub message: String,
}

/// Metadata of one kind the destination could not store, so it was left as
/// the filesystem has it (as `cp -a` does, with a warning): how many
/// entries, and the errno that said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedMetadata {
    /// What could not be stored.
    pub kind: MetadataKind,
    /// What the filesystem answered (EPERM, EOPNOTSUPP, ENOSYS...).
    pub errno: i32,
    /// How many files, directories and symlinks it concerned.
    pub entries: usize,
    /// A sentence an installer can show as is.
    pub message: String,
}

impl Fallback {
    /// The report's entry for one tally of [`Counts`]: (method, errno, files).
    pub(crate) fn of((method, errno, files): (Method, i32, usize)) -> Self {
        let message = if errno == NOT_WRITTEN_BACK {
            format!(
                "{} passed over: the files were written moments ago and their data is not \
                 yet written back, which a clone on this filesystem would wait for",
                method.name()
            )
        } else {
            method.impossible(errno).message().to_string()
        };
        Fallback {
            method,
            errno,
            files,
            message,
        }
    }
}

impl UnsupportedMetadata {
    /// The report's entry for one tally of [`crate::meta::Unstored`].
    pub(crate) fn of((kind, errno, entries): (MetadataKind, i32, usize)) -> Self {
        UnsupportedMetadata {
            kind,
            errno,
            entries,
            message: kind.message(errno),
        }
    }
}

/// What a call did. Every file is counted under exactly one method:
/// `reflinked + hardlinked + copied == files`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The method that placed the most files (ties go to the earlier one in
    /// the preference); with no files, the method the call chose.
    pub method: Method,
    /// Regular files placed.
    pub files: usize,
    /// Every directory of the tree, the root included (0 for a single file).
    pub dirs: usize,
    /// Symlinks recreated (never followed).
    pub symlinks: usize,
    /// Total size of the regular files.
    pub bytes: u64,
    /// Files cloned (copy-on-write: they share the source's blocks).
    pub reflinked: usize,
    /// Files hard-linked (they are the source's inode).
    pub hardlinked: usize,
    /// Files copied.
    pub copied: usize,
    /// Methods passed over for the whole call: the pair cannot do them.
    pub skipped: Vec<Skipped>,
    /// Methods that some files, but not the pair, could not use.
    pub fallbacks: Vec<Fallback>,
    /// Metadata the destination filesystem cannot store (FAT: modes), by
    /// kind; the data is in place all the same.
    pub unsupported_metadata: Vec<UnsupportedMetadata>,
    /// How long the call took.
    pub elapsed: Duration,
}

/// What a call's source held: the report's totals.
pub(crate) struct Totals {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub bytes: u64,
}

impl Report {
    /// The report of a call that placed `totals`, each file by the method
    /// `counts` has it under (`methods`: those it allowed, in order), with
    /// `skipped` the methods passed over for the whole call; the planned
    /// and the single-file path alike.
    pub(crate) fn new(
        totals: Totals,
        methods: &[Method],
        counts: &Counts,
        skipped: Vec<Skipped>,
        started: Instant,
    ) -> Report {
        Report {
            method: most_used(methods, counts),
            files: totals.files,
            dirs: totals.dirs,
            symlinks: totals.symlinks,
            bytes: totals.bytes,
            reflinked: counts.get(Method::Reflink),
            hardlinked: counts.get(Method::Hardlink),
            copied: counts.get(Method::Copy),
            skipped,
            fallbacks: counts.fallbacks().into_iter().map(Fallback::of).collect(),
            unsupported_metadata: (counts.unstored.tally().into_iter())
                .map(UnsupportedMetadata::of)
                .collect(),
            elapsed: started.elapsed(),
        }
    }
}

/// The method that placed the most files, the earlier one on a tie; with no
/// files, the chosen one.
fn most_used(methods: &[Method], counts: &Counts) -> Method {
    let mut best = methods[0];
    for &method in &methods[1..] {
        if counts.get(method) > counts.get(best) {
            best = method;
        }
    }
    best
}

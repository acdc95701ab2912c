//! What a call did, for the caller to log or warn about.

use std::time::Duration;

use crate::method::Method;

/// A preferred method that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub method: Method,
    pub errno: i32,
    /// A sentence an installer can show as is, e.g.
    /// "reflink not possible: source and destination are on different filesystems (EXDEV)".
    pub message: String,
}

/// A method some files could not use, so each of them fell back to a later
/// one: one entry per (method, errno), with how many files it concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub method: Method,
    pub errno: i32,
    pub files: usize,
    /// e.g. "hardlink not possible: the file has too many links (EMLINK)".
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Report {
    /// The method that placed the most files (ties go to the earlier one in
    /// the preference); with no files, the method the call chose.
    pub method: Method,
    pub files: usize,
    /// Every directory of the tree, the root included (0 for a single file).
    pub dirs: usize,
    pub symlinks: usize,
    /// Total size of the regular files.
    pub bytes: u64,
    pub reflinked: usize,
    pub hardlinked: usize,
    pub copied: usize,
    /// Methods passed over for the whole call: the pair cannot do them.
    pub skipped: Vec<Skipped>,
    /// Methods that some files, but not the pair, could not use.
    pub fallbacks: Vec<Fallback>,
    pub elapsed: Duration,
}

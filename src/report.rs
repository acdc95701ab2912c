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

#[derive(Debug, Clone)]
pub struct Report {
    /// The method chosen for file data.
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
    pub skipped: Vec<Skipped>,
    pub elapsed: Duration,
}

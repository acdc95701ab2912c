//! The per-OS primitives behind one small interface. Everything above this
//! module is written against these functions only:
//!
//! - [`reflink_new`]: create a file (by directory fd and name) as a
//!   copy-on-write clone of an open source;
//! - [`copy_new`]: create a file (by directory fd and name) and copy an open
//!   source's bytes into it, keeping holes, saying how far it has got;
//! - [`clone_tree`]: clone a whole directory tree in one call, where the OS can.
//!
//! Errors come back as raw `io::Error`s with their errno intact: whether an
//! error means "this filesystem cannot" or "this failed" is decided above, from
//! the errno, in one place (`Method::is_impossible_errno`).

/// What [`copy_new`] needs to know about a copy besides its two ends.
pub struct CopyHints<'a> {
    /// The planned length; an empty source needs no copy call.
    pub size: u64,
    /// The source has holes (fewer blocks than its size needs) to keep.
    pub sparse: bool,
    /// Called with each run of bytes copied, so a large file shows progress
    /// before it is complete. An error from it (the call was cancelled)
    /// stops the copy and is returned. A platform may also never call it.
    pub on_copied: &'a dyn Fn(u64) -> std::io::Result<()>,
}

#[cfg(unix)]
mod unix;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{clone_tree, copy_new, reflink_new};

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::{clone_tree, copy_new, reflink_new};

// Other unixes: the portable clone from reflink-copy and a plain copy.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
mod portable;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
pub use portable::{clone_tree, copy_new, reflink_new};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{clone_tree, copy_new, reflink_new};

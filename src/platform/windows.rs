//! Windows: block cloning on ReFS / Dev Drive through reflink-copy
//! (FSCTL_DUPLICATE_EXTENTS_TO_FILE), and std's copy (CopyFileEx-backed).
//!
//! This file cannot be built on the Linux machines fastlink is developed on;
//! it is reasoned against the reflink-copy documentation and the
//! FSCTL_DUPLICATE_EXTENTS_TO_FILE reference. Unix permission bits do not
//! exist there, so `mode` is ignored. The planner above is unix-only today, so
//! Windows support needs that layer ported before this file is reachable;
//! the signatures below still take paths and will follow the unix ones then.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

pub fn reflink_new(src: &File, dst: &Path, _mode: u32) -> io::Result<File> {
    reflink_copy::reflink_file_to_path(src, dst)?;
    OpenOptions::new().write(true).open(dst)
}

pub fn copy_new(src: &File, dst: &Path, _mode: u32, len: u64) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(dst)?;
    let mut reader = src;
    let copied = if len == 0 {
        0
    } else {
        io::copy(&mut reader, &mut file)?
    };
    Ok((file, copied))
}

pub fn clone_tree(_src: &Path, _dst: &Path) -> Option<io::Result<()>> {
    None
}

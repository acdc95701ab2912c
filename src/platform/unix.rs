//! Helpers shared by the unix primitives: creating a file with an exact mode,
//! and the fd-to-fd clone where the OS has one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::OnceLock;

/// Create `path` exclusively, never through a symlink, with exactly `mode`.
///
/// `open(2)` applies the umask to the mode, and an installer must reproduce the
/// source's bits (exec bits included), so a `fchmod` follows when the umask
/// would have stripped any of them.
pub fn create_new_with_mode(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    if needs_chmod_after_create(mode) {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(file)
}

/// Whether a file created with `mode` ends up with fewer bits than asked for.
pub fn needs_chmod_after_create(mode: u32) -> bool {
    match process_umask() {
        Some(umask) => mode & umask != 0 || mode & 0o7000 != 0,
        None => true,
    }
}

/// The process umask, read once. `umask(2)` can only be read by setting it,
/// which races with other threads creating files, so Linux's
/// `/proc/self/status` is read instead; elsewhere the answer is "unknown" and
/// every created file gets a `fchmod`.
fn process_umask() -> Option<u32> {
    static UMASK: OnceLock<Option<u32>> = OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("Umask:"))?;
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
    })
}

/// Create `dst` with `mode` and clone `src` into it with the raw fd-to-fd
/// clone (FICLONE on Linux). reflink-copy's `reflink_file` never falls back to
/// a copy itself, so its errno tells whether this pair of filesystems can
/// clone at all. On failure the half-made `dst` is removed, so the caller can
/// fall back.
#[cfg(not(target_os = "macos"))]
pub fn reflink_new(src: &File, dst: &Path, mode: u32) -> io::Result<File> {
    let file = create_new_with_mode(dst, mode)?;
    match reflink_copy::reflink_file(src, &file) {
        Ok(()) => Ok(file),
        Err(err) => {
            drop(file);
            let _ = std::fs::remove_file(dst);
            Err(err)
        }
    }
}

//! A wheel file unpacked before, found again without reading it: hashing a
//! wheel to find its entry costs as much as a warm install of it (uv keys
//! local wheels by path and mtime for the same reason).
//!
//! Beside the entries of `<file name>`, a symlink `seen-<16 hex>` is named
//! after the wheel file's identity and times (st_dev, st_ino, size,
//! st_mtime, st_ctime, all in nanoseconds), and its target holds
//! `<sha256>.<files>.<bytes>`, the wheel's whole SHA-256 in hex (the
//! entry's key is its first 32 digits; direct_url.json needs all of it): a symlink is made in one step, complete,
//! and read in one syscall. Any write to the file changes its ctime, which
//! no one can set back, so a pointer never outlives the bytes it was made
//! for; another file with the same name gets another pointer.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// What a pointer says: the wheel's SHA-256 (hex), and its files and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub sha256: String,
    pub files: usize,
    pub bytes: u64,
}

/// The pointer's name for the wheel file whose metadata is `meta`.
pub fn pointer_name(meta: &Metadata) -> String {
    let mut hasher = Sha256::new();
    for field in [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ] {
        hasher.update(field.to_le_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("seen-{hex}")
}

/// The pointer `name` in `parent`, when there is a well-formed one.
pub fn read(parent: &Path, name: &str) -> Option<Seen> {
    let target = std::fs::read_link(parent.join(name)).ok()?;
    let target = target.to_str()?;
    let mut fields = target.split('.');
    let sha256 = fields.next()?;
    let files = fields.next()?.parse().ok()?;
    let bytes = fields.next()?.parse().ok()?;
    let well_formed = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    (well_formed && fields.next().is_none()).then(|| Seen {
        sha256: sha256.to_string(),
        files,
        bytes,
    })
}

/// Make the pointer `name` in `parent` (which exists: the entry is in it),
/// replacing one that [`read`] could not read (an older layout's). A
/// failure is not reported: the pointer only saves a later call the
/// hashing, and a concurrent call may have made the same one first.
pub fn write(parent: &Path, name: &str, seen: &Seen) {
    let target = format!("{}.{}.{}", seen.sha256, seen.files, seen.bytes);
    let path = parent.join(name);
    if std::os::unix::fs::symlink(&target, &path).is_err() && read(parent, name).is_none() {
        // Only a symlink of this name can be there (nothing else makes
        // one), and it says nothing this reads.
        let _ = std::fs::remove_file(&path);
        let _ = std::os::unix::fs::symlink(&target, &path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_reads_back_what_was_written_and_nothing_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen {
            sha256: "ab".repeat(32),
            files: 12,
            bytes: 3456,
        };
        write(dir.path(), "seen-1", &seen);
        assert_eq!(read(dir.path(), "seen-1"), Some(seen));
        for bad in [
            "xy.1.2",
            "abababababababababababababababab.1",
            "../../x.1.2",
        ] {
            std::os::unix::fs::symlink(bad, dir.path().join("bad")).unwrap();
            assert_eq!(read(dir.path(), "bad"), None, "{bad}");
            std::fs::remove_file(dir.path().join("bad")).unwrap();
        }
    }
}

//! Reading a wheel's members and writing them, checked, into a staging tree.
//!
//! [`Plan::read`] decides everything that can be decided from the central
//! directory and RECORD, before anything is written; [`Plan::write`] then
//! writes the members in parallel, each worker with its own reader, hashing
//! each member as it streams to disk.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zip::result::ZipError;
use zip::ZipArchive;

use super::names::{self, Tree};
use super::reader::SharedFile;
use super::record::{self, Expected};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};

/// The wheel, opened as a zip whose readers workers can clone.
pub type Archive = ZipArchive<SharedFile>;

/// RECORD is read whole; a larger one is not a wheel's.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// One file to write: its index in the archive, its name, and what RECORD
/// says it must be (`None` for RECORD itself and its signatures).
#[derive(Debug)]
struct Member {
    index: usize,
    name: String,
    expected: Option<Expected>,
}

/// What a wheel's tree will be: its directories and its files.
#[derive(Debug)]
pub struct Plan {
    dirs: Vec<String>,
    files: Vec<Member>,
}

/// A zip error while reading `member` of `wheel` for `target` (what it was
/// to become): an OS error (the wheel's disk failed) stays an I/O error; anything the zip reader found wrong with
/// the bytes is an invalid wheel.
pub fn zip_error(wheel: &Path, target: &Path, member: Option<&str>, err: ZipError) -> Error {
    match err {
        ZipError::Io(err) => read_error(wheel, target, member, err),
        err => Error::invalid_wheel(wheel, member, err.to_string()),
    }
}

/// An `io::Error` while reading the wheel: with an errno it is the OS's;
/// without one it was made by the zip or deflate reader (a bad CRC, a bad
/// deflate stream, a truncated member).
fn read_error(wheel: &Path, target: &Path, member: Option<&str>, err: io::Error) -> Error {
    if err.raw_os_error().is_some() {
        Error::io(err, wheel, target)
    } else {
        Error::invalid_wheel(wheel, member, err.to_string())
    }
}

impl Plan {
    /// Check every member name and the RECORD against the members:
    ///
    /// - every name is safe (see [`names::why_unsafe`]) and no path is both
    ///   a file and a directory;
    /// - there is one top-level `*.dist-info` directory, with `RECORD` and
    ///   `WHEEL` in it (pip refuses more than one);
    /// - every file member but RECORD and its signatures is in RECORD with a
    ///   hash, and everything RECORD lists is a member.
    pub fn read(wheel: &Path, cache_dir: &Path, archive: &mut Archive) -> Result<Plan> {
        let mut tree = Tree::default();
        let mut file_members = Vec::new();
        for index in 0..archive.len() {
            let name = archive
                .name_for_index(index)
                .ok_or_else(|| Error::invalid_wheel(wheel, None, "central directory changed"))?
                .to_string();
            if let Some(why) = names::why_unsafe(&name) {
                return Err(Error::invalid_wheel(wheel, Some(&name), why));
            }
            tree.add(&name)
                .map_err(|why| Error::invalid_wheel(wheel, Some(&name), why))?;
            if !name.ends_with('/') {
                file_members.push((index, name));
            }
        }

        let dist_info = dist_info_dir(wheel, &tree)?;
        for required in ["RECORD", "WHEEL"] {
            let path = format!("{dist_info}/{required}");
            if !file_members.iter().any(|(_, name)| *name == path) {
                return Err(Error::invalid_wheel(wheel, Some(&path), "missing"));
            }
        }
        let record_name = format!("{dist_info}/RECORD");
        let mut record = read_record(wheel, cache_dir, archive, &record_name)?;

        let mut files = Vec::with_capacity(file_members.len());
        for (index, name) in file_members {
            let listed = record.remove(&name);
            let expected = if record::is_record_itself(&name, &dist_info) {
                None
            } else {
                match listed {
                    Some(
                        expected @ Expected {
                            sha256: Some(_), ..
                        },
                    ) => Some(expected),
                    Some(_) => {
                        return Err(Error::invalid_wheel(
                            wheel,
                            Some(&name),
                            "no hash in RECORD",
                        ))
                    }
                    None => return Err(Error::invalid_wheel(wheel, Some(&name), "not in RECORD")),
                }
            };
            files.push(Member {
                index,
                name,
                expected,
            });
        }
        // What is left in RECORD is not in the archive (RECORD's own line
        // was taken out with the member).
        if let Some(missing) = record.keys().min() {
            return Err(Error::invalid_wheel(
                wheel,
                Some(missing),
                "in RECORD but not in the wheel",
            ));
        }
        Ok(Plan {
            dirs: tree.dirs.into_iter().collect(),
            files,
        })
    }

    /// How many regular files the tree has.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// Write the tree into the empty directory `root`: directories first
    /// (0o755), then the files on `threads` workers, in contiguous runs of
    /// the archive so each worker reads forward. Returns the bytes written.
    pub fn write(
        &self,
        wheel: &Path,
        archive: &Archive,
        root: &Path,
        threads: usize,
        cancel: &CancelFlag,
    ) -> Result<u64> {
        for dir in &self.dirs {
            let path = root.join(dir);
            DirBuilder::new()
                .mode(0o755)
                .create(&path)
                .map_err(|err| Error::io(err, wheel, &path))?;
        }
        // Several runs per worker, so one slow run does not hold the rest.
        let run = self.files.len().div_ceil(threads * 4).max(1);
        // Set on the first error, so the other workers stop at their next member.
        let failed = AtomicBool::new(false);
        let pool = crate::pool::pool(threads)?;
        pool.install(|| {
            self.files
                .par_chunks(run)
                .map(|members| {
                    let mut writer = MemberWriter {
                        wheel,
                        root,
                        archive: archive.clone(),
                        block: vec![0; 256 << 10],
                    };
                    let mut written = 0;
                    for member in members {
                        cancel.check()?;
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        written += writer.write(member).inspect_err(|_| {
                            failed.store(true, Ordering::Relaxed);
                        })?;
                    }
                    Ok(written)
                })
                .try_reduce(|| 0, |a, b| Ok(a + b))
        })
    }
}

/// The one top-level directory named `*.dist-info`.
fn dist_info_dir(wheel: &Path, tree: &Tree) -> Result<String> {
    let mut found = tree
        .dirs
        .iter()
        .filter(|dir| !dir.contains('/') && dir.ends_with(".dist-info"));
    match (found.next(), found.next()) {
        (Some(dir), None) => Ok(dir.clone()),
        (None, _) => Err(Error::invalid_wheel(
            wheel,
            None,
            "no .dist-info directory (RECORD, WHEEL)",
        )),
        (Some(_), Some(_)) => Err(Error::invalid_wheel(
            wheel,
            None,
            "more than one .dist-info directory",
        )),
    }
}

fn read_record(
    wheel: &Path,
    cache_dir: &Path,
    archive: &mut Archive,
    name: &str,
) -> Result<record::Record> {
    let member = archive
        .by_name(name)
        .map_err(|err| zip_error(wheel, cache_dir, Some(name), err))?;
    let mut bytes = Vec::new();
    member
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| read_error(wheel, cache_dir, Some(name), err))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(Error::invalid_wheel(
            wheel,
            Some(name),
            "RECORD is too large",
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::invalid_wheel(wheel, Some(name), "RECORD is not UTF-8"))?;
    record::parse(&text).map_err(|why| Error::invalid_wheel(wheel, Some(name), why))
}

/// Whether a member is written executable: as pip does, when its external
/// attributes say a regular file with any exec bit.
fn is_executable(unix_mode: Option<u32>) -> bool {
    const S_IFMT: u32 = 0o170000;
    const S_IFREG: u32 = 0o100000;
    unix_mode.is_some_and(|mode| mode & S_IFMT == S_IFREG && mode & 0o111 != 0)
}

/// One worker's reader and buffer.
struct MemberWriter<'a> {
    wheel: &'a Path,
    root: &'a Path,
    archive: Archive,
    block: Vec<u8>,
}

impl MemberWriter<'_> {
    /// Write one member as a new regular file (0o644, or 0o755 when
    /// executable, under the umask), hashing it as it goes, and check it
    /// against RECORD. A member marked as a symlink is written like any
    /// other, its content (the link's target) as a regular file's, as pip
    /// does: nothing in an entry is ever a symlink.
    fn write(&mut self, member: &Member) -> Result<u64> {
        let (wheel, name) = (self.wheel, member.name.as_str());
        let path = self.root.join(name);
        let mut source = self
            .archive
            .by_index(member.index)
            .map_err(|err| zip_error(wheel, &path, Some(name), err))?;
        let mode = if is_executable(source.unix_mode()) {
            0o755
        } else {
            0o644
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|err| Error::io(err, wheel, &path))?;
        let limit = member.expected.as_ref().and_then(|e| e.size);
        let mut hasher = Sha256::new();
        let mut written: u64 = 0;
        loop {
            let read = match source.read(&mut self.block) {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(read_error(wheel, &path, Some(name), err)),
            };
            written += read as u64;
            if limit.is_some_and(|limit| written > limit) {
                return Err(size_mismatch(
                    wheel,
                    name,
                    limit.unwrap_or(0),
                    written,
                    true,
                ));
            }
            let chunk = &self.block[..read];
            hasher.update(chunk);
            file.write_all(chunk)
                .map_err(|err| Error::io(err, wheel, &path))?;
        }
        if let Some(expected) = &member.expected {
            if let Some(size) = expected.size.filter(|&size| size != written) {
                return Err(size_mismatch(wheel, name, size, written, false));
            }
            let digest: [u8; 32] = hasher.finalize().into();
            if expected.sha256.is_some_and(|sha256| sha256 != digest) {
                return Err(Error::invalid_wheel(
                    wheel,
                    Some(name),
                    "sha256 does not match RECORD",
                ));
            }
        }
        Ok(written)
    }
}

fn size_mismatch(wheel: &Path, name: &str, size: u64, seen: u64, more: bool) -> Error {
    let seen = if more {
        format!("more than {size}")
    } else {
        seen.to_string()
    };
    Error::invalid_wheel(
        wheel,
        Some(name),
        format!("size does not match RECORD ({size} bytes listed, {seen} in the wheel)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_as_pip_decides() {
        assert!(is_executable(Some(0o100755)));
        assert!(is_executable(Some(0o100744)));
        assert!(!is_executable(Some(0o100644)));
        assert!(!is_executable(Some(0o755)));
        assert!(!is_executable(Some(0o120777)));
        assert!(!is_executable(None));
    }
}

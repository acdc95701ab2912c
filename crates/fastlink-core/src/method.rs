//! The ways fastlink can put a file's data in place, and which errnos mean
//! "this pair of filesystems cannot do it" rather than "something broke".

use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;

use crate::error::{errno_name, Error, ErrorKind, Result};
use crate::meta::EntryMeta;
use crate::platform::{Os, Platform};

/// The environment variable read by [`Method::preference_from_env`].
pub const METHODS_ENV: &str = "FASTLINK_METHODS";

/// A way to put a file's data in place. A call takes an ordered preference
/// ([`Options::methods`](crate::Options::methods)): the first the pair of
/// filesystems allows is chosen, and a file that refuses it alone takes the
/// next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Copy-on-write clone: FICLONE, clonefile, ReFS block cloning.
    Reflink,
    /// A second name for the same inode: the destination shares the source's data and metadata.
    Hardlink,
    /// An in-kernel copy of the bytes, with a read/write fallback.
    Copy,
}

impl Method {
    /// Every method, in the order of this enum.
    pub const ALL: [Method; 3] = [Method::Reflink, Method::Hardlink, Method::Copy];

    /// What installers ask for by default: clone where possible, else copy.
    pub const DEFAULT_PREFERENCE: [Method; 2] = [Method::Reflink, Method::Copy];

    /// "reflink", "hardlink" or "copy": the names callers pass.
    pub fn name(self) -> &'static str {
        match self {
            Method::Reflink => "reflink",
            Method::Hardlink => "hardlink",
            Method::Copy => "copy",
        }
    }

    /// The method of a [`name`](Self::name); anything else is an
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument).
    pub fn parse(name: &str) -> Result<Method> {
        Method::ALL
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| {
                let hint = if name.contains(',') {
                    " (pass a list of names, e.g. [\"reflink\", \"copy\"])"
                } else {
                    ""
                };
                Error::invalid_argument(format!(
                    "unknown method {name:?}; expected \"reflink\", \"hardlink\" or \"copy\"{hint}"
                ))
            })
    }

    /// Parse an ordered preference list; duplicates are dropped, an empty list is refused.
    pub fn parse_preference<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Method>> {
        let mut methods = Vec::new();
        for name in names {
            let method = Method::parse(name)?;
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        if methods.is_empty() {
            return Err(Error::invalid_argument(
                "methods must name at least one method",
            ));
        }
        Ok(methods)
    }

    /// The preference for a caller that named none: the comma-separated list
    /// in `FASTLINK_METHODS` when it is set and not blank (like uv's
    /// `UV_LINK_MODE`, it lets a user change every installer's default at
    /// once), else [`Method::DEFAULT_PREFERENCE`]. A malformed value is an
    /// error, not ignored: a typo must not silently mean "the default".
    pub fn preference_from_env() -> Result<Vec<Method>> {
        match std::env::var_os(METHODS_ENV) {
            None => Ok(Method::DEFAULT_PREFERENCE.to_vec()),
            Some(value) if value.to_string_lossy().trim().is_empty() => {
                Ok(Method::DEFAULT_PREFERENCE.to_vec())
            }
            Some(value) => {
                let text = value.to_string_lossy();
                Method::parse_preference(text.split(',').map(str::trim)).map_err(|err| {
                    Error::invalid_argument(format!("{METHODS_ENV}={text:?}: {}", err.message()))
                })
            }
        }
    }

    /// The error for this method being impossible (`errno` said so) with no
    /// allowed method left: the typed error a strict caller catches.
    pub(crate) fn impossible(self, probe_errno: i32) -> Error {
        let method = self;
        let (kind, errno, why) = if probe_errno == libc::EXDEV {
            (
                ErrorKind::CrossDevice,
                libc::EXDEV,
                "source and destination are on different filesystems or mounts",
            )
        } else {
            match (method, probe_errno) {
                (Method::Reflink, libc::EINVAL) => (
                    ErrorKind::ReflinkUnsupported,
                    libc::EOPNOTSUPP,
                    "the file cannot be cloned, e.g. a btrfs NOCOW file",
                ),
                (Method::Reflink, _) => (
                    ErrorKind::ReflinkUnsupported,
                    libc::EOPNOTSUPP,
                    "the filesystem cannot clone files",
                ),
                (_, libc::EMLINK) => (
                    ErrorKind::HardlinkUnsupported,
                    probe_errno,
                    "the file has as many hard links as its filesystem allows",
                ),
                (_, libc::EPERM) => (
                    ErrorKind::HardlinkUnsupported,
                    probe_errno,
                    "the file may not be hard-linked (it is setuid/setgid or has file \
                     capabilities, or fs.protected_hardlinks forbids it, or the filesystem \
                     cannot link)",
                ),
                _ => (
                    ErrorKind::HardlinkUnsupported,
                    probe_errno,
                    "the filesystem refused a hard link",
                ),
            }
        };
        Error::new(
            kind,
            errno,
            format!(
                "{} not possible: {why} ({})",
                method.name(),
                errno_name(probe_errno)
            ),
        )
    }

    /// Whether the file `path` (relative to `dir`; `meta` from its lstat)
    /// must never be hard-linked: the shared inode would carry privileges
    /// that fastlink never carries over, setuid/setgid bits or file
    /// capabilities (`security.capability`). Such a file takes the next
    /// allowed method (a clone or copy gets neither), and with none left the
    /// refusal is EPERM. Capabilities act only at execve, which needs an
    /// exec bit (root's too), and only the file's owner, who could as well
    /// do it through the source's name, can add one to the shared inode: so
    /// only a file with an exec bit costs a lookup of the attribute.
    pub(crate) fn never_hardlinked(
        meta: &EntryMeta,
        dir: BorrowedFd<'_>,
        path: &OsStr,
    ) -> io::Result<bool> {
        if meta.has_setid_bits() {
            return Ok(true);
        }
        if meta.mode & 0o111 == 0 {
            return Ok(false);
        }
        Os::has_file_capabilities(dir, path)
    }

    /// True when `errno` from this method's syscall means "cannot" rather than
    /// "something broke": the file may fall back to the next allowed method.
    /// Anything else (ENOSPC, EIO, EDQUOT, EACCES, EROFS…) is a real error
    /// and is raised.
    pub fn is_impossible_errno(self, errno: i32) -> bool {
        match self {
            // EINVAL: a btrfs NOCOW file. ENOTTY/ENOSYS/EBADF: old kernels and
            // filesystems without FICLONE. ENOTSUP and EOPNOTSUPP are one
            // value on Linux but two on macOS.
            Method::Reflink => [
                libc::EXDEV,
                libc::EOPNOTSUPP,
                libc::ENOTSUP,
                libc::EINVAL,
                libc::ENOTTY,
                libc::ENOSYS,
                libc::EBADF,
            ]
            .contains(&errno),
            Method::Hardlink => [
                libc::EXDEV,
                libc::EPERM,
                libc::EMLINK,
                libc::EOPNOTSUPP,
                libc::ENOTSUP,
                libc::ENOSYS,
            ]
            .contains(&errno),
            Method::Copy => false,
        }
    }

    /// Of the "cannot" errnos, those that speak for the whole pair of
    /// filesystems, so that a probe may remember them. The others belong to
    /// one file or one pair of mounts: a file at the link limit (EMLINK), one
    /// the user may not link under `fs.protected_hardlinks` (EPERM), a btrfs
    /// NOCOW file (EINVAL), two mounts of one filesystem (EXDEV between equal
    /// devices). Such a failure makes that file fall back, and nothing else.
    pub(crate) fn is_pair_wide_errno(self, errno: i32, same_device: bool) -> bool {
        if !self.is_impossible_errno(errno) {
            return false;
        }
        match errno {
            libc::EXDEV => !same_device,
            libc::EINVAL | libc::EPERM | libc::EMLINK => false,
            _ => true,
        }
    }
}

/// The name [`Method::parse`] reads: "reflink", "hardlink" or "copy".
impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `"copy".parse::<Method>()`, as [`Method::parse`].
impl std::str::FromStr for Method {
    type Err = Error;

    fn from_str(name: &str) -> Result<Method> {
        Method::parse(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_keeps_order_and_drops_duplicates() {
        let methods = Method::parse_preference(["hardlink", "copy", "hardlink"]).unwrap();
        assert_eq!(methods, vec![Method::Hardlink, Method::Copy]);
    }

    #[test]
    fn unknown_or_empty_preference_is_an_invalid_argument() {
        assert!(Method::parse_preference(["symlink"]).is_err());
        assert!(Method::parse_preference(std::iter::empty()).is_err());
    }

    #[test]
    fn real_io_errors_are_never_impossible() {
        for errno in [
            libc::ENOSPC,
            libc::EIO,
            libc::EDQUOT,
            libc::EACCES,
            libc::ENOENT,
        ] {
            for method in Method::ALL {
                assert!(!method.is_impossible_errno(errno), "{method:?} {errno}");
            }
        }
    }

    #[test]
    fn cross_device_wins_over_the_method_specific_kind() {
        let err = Method::Hardlink.impossible(libc::EXDEV);
        assert_eq!(err.kind(), ErrorKind::CrossDevice);
        assert_eq!(err.errno(), libc::EXDEV);
    }

    #[test]
    fn reflink_unsupported_always_reports_eopnotsupp() {
        let err = Method::Reflink.impossible(libc::ENOTTY);
        assert_eq!(err.kind(), ErrorKind::ReflinkUnsupported);
        assert_eq!(err.errno(), libc::EOPNOTSUPP);
        assert!(err.message().contains("ENOTTY"));
    }

    #[test]
    fn one_files_refusal_never_speaks_for_the_pair() {
        assert!(!Method::Hardlink.is_pair_wide_errno(libc::EMLINK, true));
        assert!(!Method::Hardlink.is_pair_wide_errno(libc::EPERM, true));
        assert!(!Method::Reflink.is_pair_wide_errno(libc::EINVAL, true));
        // Two bind mounts of one filesystem: the pair of devices can link.
        assert!(!Method::Hardlink.is_pair_wide_errno(libc::EXDEV, true));
        assert!(Method::Hardlink.is_pair_wide_errno(libc::EXDEV, false));
        assert!(Method::Reflink.is_pair_wide_errno(libc::EOPNOTSUPP, true));
        assert!(!Method::Reflink.is_pair_wide_errno(libc::EIO, true));
    }

    #[test]
    fn cross_device_is_impossible_for_both_link_methods() {
        assert!(Method::Reflink.is_impossible_errno(libc::EXDEV));
        assert!(Method::Hardlink.is_impossible_errno(libc::EXDEV));
        assert!(!Method::Copy.is_impossible_errno(libc::EXDEV));
    }

    #[test]
    fn a_method_reads_back_what_it_displays() {
        for method in Method::ALL {
            assert_eq!(method.to_string().parse::<Method>().unwrap(), method);
        }
        assert!("clone".parse::<Method>().is_err());
    }
}

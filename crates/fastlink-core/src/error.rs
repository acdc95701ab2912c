//! The one error type of the core.
//!
//! Every failure carries an errno and the two paths involved, so the binding can
//! raise a real `OSError` subclass with `errno`, `filename` and `filename2` set.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, at the level a caller branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An ordinary OS error (ENOENT, EEXIST, EACCES, ENOSPC, EIO, ...).
    Io,
    /// Every allowed method needs one filesystem, and source and destination are on two.
    CrossDevice,
    /// Reflink was required and the filesystem cannot clone.
    ReflinkUnsupported,
    /// Hardlink was required and the filesystem refused it for a reason other than EXDEV.
    HardlinkUnsupported,
    /// The destination filesystem cannot hold a symlink of the source.
    SymlinkUnsupported,
    /// A fifo, socket or device file in the source; refused before anything is written.
    SpecialFile,
    /// The destination lies inside the source tree.
    DestinationInsideSource,
    /// The source lies inside the destination tree (a merge into an ancestor).
    SourceInsideDestination,
    /// A source file changed size while it was being copied.
    SourceChanged,
    /// A bad argument from the caller (unknown method name, empty method list, ...).
    InvalidArgument,
    /// The caller cancelled the operation (Ctrl-C).
    Cancelled,
    /// A wheel that cannot be unpacked as it is (errno EBADMSG: its bytes,
    /// not the caller's argument, are wrong): not a zip, a corrupt member, a
    /// member name that would land outside the entry, or a member that does
    /// not match its RECORD. `src()` is the wheel; the message names the
    /// member where there is one. Nothing was left in the cache.
    InvalidWheel,
    /// The distribution being installed is installed already (errno
    /// EEXIST): the environment's purelib or platlib holds a `*.dist-info`
    /// of the same normalized project name. `dst()` is that directory;
    /// nothing was written.
    AlreadyInstalled,
}

/// Every error of a call: an [`ErrorKind`] to branch on, the errno (what
/// Python's `OSError.errno` holds), a message, the caller's source and
/// destination paths where they apply, and the `io::Error` it came from as
/// its [`source()`](std::error::Error::source). Its `Display` reads like
/// Python's: `[Errno 17] File exists: SRC -> DST`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    errno: i32,
    message: String,
    src: Option<PathBuf>,
    dst: Option<PathBuf>,
    /// The OS error this one was made from, if any: its `source()`.
    io: Option<io::Error>,
}

/// A `Result` whose error is fastlink's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn new(kind: ErrorKind, errno: i32, message: impl Into<String>) -> Self {
        Error {
            kind,
            errno,
            message: message.into(),
            src: None,
            dst: None,
            io: None,
        }
    }

    /// An OS error on the pair `src` -> `dst`.
    pub(crate) fn io(err: io::Error, src: &Path, dst: &Path) -> Self {
        Error::from_io(err).with_paths(src, dst)
    }

    /// An OS error on the one path `path` (`src()`; no `dst()`).
    pub(crate) fn on_path(err: io::Error, path: &Path) -> Self {
        let mut err = Error::from_io(err);
        err.src = Some(path.to_path_buf());
        err
    }

    /// The same error, naming `src` as its source (what the caller gave,
    /// rather than the cache entry a part of the call worked from).
    pub(crate) fn with_source(mut self, src: &Path) -> Self {
        self.src = Some(src.to_path_buf());
        self
    }

    /// An OS error not yet tied to paths; errors without an errno (rare std
    /// synthesized ones) are reported as EINVAL for an argument no syscall
    /// could take, else as EIO, rather than losing the errno. `err` itself
    /// is kept: it is the `source()` and [`Error::io_error`].
    pub(crate) fn from_io(err: io::Error) -> Self {
        let errno = err.raw_os_error().unwrap_or(match err.kind() {
            // A path no syscall can take (a NUL byte in it).
            io::ErrorKind::InvalidInput => libc::EINVAL,
            _ => libc::EIO,
        });
        let message = match err.raw_os_error() {
            Some(code) => strerror(code),
            None => err.to_string(),
        };
        Error {
            io: Some(err),
            ..Error::new(ErrorKind::Io, errno, message)
        }
    }

    pub(crate) fn special_file(src: &Path, dst: &Path, what: &str) -> Self {
        Error::new(
            ErrorKind::SpecialFile,
            libc::EINVAL,
            format!("cannot clone or copy a {what}"),
        )
        .with_paths(src, dst)
    }

    /// A symlink the destination filesystem cannot hold (`errno` as it said).
    pub(crate) fn symlink_unsupported(errno: i32, src: &Path, dst: &Path) -> Self {
        Error::new(
            ErrorKind::SymlinkUnsupported,
            errno,
            format!(
                "symlink not possible: the destination filesystem cannot hold symbolic links ({})",
                errno_name(errno)
            ),
        )
        .with_paths(src, dst)
    }

    pub(crate) fn destination_inside_source(src: &Path, dst: &Path) -> Self {
        Error::new(
            ErrorKind::DestinationInsideSource,
            libc::EINVAL,
            "destination is inside the source tree",
        )
        .with_paths(src, dst)
    }

    pub(crate) fn source_inside_destination(src: &Path, dst: &Path) -> Self {
        Error::new(
            ErrorKind::SourceInsideDestination,
            libc::EINVAL,
            "source is inside the destination tree",
        )
        .with_paths(src, dst)
    }

    pub(crate) fn source_changed(src: &Path, dst: &Path, planned: u64, seen: u64) -> Self {
        Error::new(
            ErrorKind::SourceChanged,
            libc::EAGAIN,
            format!("source file changed size while being copied ({planned} -> {seen} bytes)"),
        )
        .with_paths(src, dst)
    }

    pub(crate) fn is_a_directory(src: &Path, dst: &Path) -> Self {
        Error::io(io::Error::from_raw_os_error(libc::EISDIR), src, dst)
    }

    pub(crate) fn already_exists(src: &Path, dst: &Path) -> Self {
        Error::io(io::Error::from_raw_os_error(libc::EEXIST), src, dst)
    }

    /// A bad argument (EINVAL), e.g. from an [`Ignore`](crate::Ignore)
    /// callback that cannot answer: the call fails before writing anything.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, libc::EINVAL, message)
    }

    /// The call was cancelled (ECANCELED): what a binding returns when its
    /// caller interrupts a call, e.g. on a SIGTERM.
    pub fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, libc::ECANCELED, "operation cancelled")
    }

    /// A wheel that cannot be unpacked (EBADMSG), with the member at fault
    /// where there is one; `src()` is the wheel.
    pub(crate) fn invalid_wheel(
        wheel: &Path,
        member: Option<&str>,
        why: impl Into<String>,
    ) -> Self {
        let why = why.into();
        let message = match member {
            Some(member) => format!("invalid wheel: {member:?}: {why}"),
            None => format!("invalid wheel: {why}"),
        };
        let mut err = Error::new(ErrorKind::InvalidWheel, libc::EBADMSG, message);
        err.src = Some(wheel.to_path_buf());
        err
    }

    /// A distribution already installed (EEXIST): `dist_info` is the
    /// `*.dist-info` directory found, `entry` what was to be installed.
    pub(crate) fn already_installed(entry: &Path, dist_info: &Path) -> Self {
        let message = format!(
            "a distribution of this name is installed already: {}",
            dist_info.display()
        );
        let mut err = Error::new(ErrorKind::AlreadyInstalled, libc::EEXIST, message);
        err.src = Some(entry.to_path_buf());
        err.dst = Some(dist_info.to_path_buf());
        err
    }

    /// Attach the source/destination pair, unless the error already names one.
    pub(crate) fn with_paths(mut self, src: &Path, dst: &Path) -> Self {
        if self.src.is_none() && self.dst.is_none() {
            self.src = Some(src.to_path_buf());
            self.dst = Some(dst.to_path_buf());
        }
        self
    }

    /// What went wrong, at the level a caller branches on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno: the OS's, or the one fastlink's own verdicts carry
    /// (EXDEV for [`ErrorKind::CrossDevice`], EOPNOTSUPP for a clone that
    /// is impossible, ...).
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The human-readable part, what Python calls `strerror`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The source-side path (Python's `filename`).
    pub fn src(&self) -> Option<&Path> {
        self.src.as_deref()
    }

    /// The destination-side path (Python's `filename2`).
    pub fn dst(&self) -> Option<&Path> {
        self.dst.as_deref()
    }

    /// The OS error this error was made from; `None` for fastlink's own
    /// verdicts (a cross-device tree, a special file, a bad argument, ...),
    /// which [`Error::errno`] still gives a number.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[Errno {}] {}", self.errno, self.message)?;
        match (&self.src, &self.dst) {
            (Some(s), Some(d)) => write!(f, ": {} -> {}", s.display(), d.display()),
            (Some(p), None) | (None, Some(p)) => write!(f, ": {}", p.display()),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|err| err as &(dyn std::error::Error + 'static))
    }
}

/// For a caller that speaks `io::Error`: the kind follows the errno
/// (EEXIST is `AlreadyExists`, ENOENT `NotFound`, ...), and the fastlink
/// error, its paths and message whole, is the inner error
/// (`get_ref().and_then(|e| e.downcast_ref::<Error>())`).
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        io::Error::new(io::Error::from_raw_os_error(err.errno).kind(), err)
    }
}

/// The C library's text for an errno, without Rust's " (os error N)" suffix.
pub fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The symbolic name of an errno, for messages ("... (EXDEV)") and for the
/// CLI's report: the one table of them, which the binding exposes to
/// Python. Linux's one value for ENOTSUP and EOPNOTSUPP is named
/// EOPNOTSUPP; where they differ (macOS) each has its own name. An errno
/// not in the table is "errno N".
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EXDEV => "EXDEV",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSYS => "ENOSYS",
        libc::EBADF => "EBADF",
        libc::EPERM => "EPERM",
        libc::EMLINK => "EMLINK",
        libc::ENOSPC => "ENOSPC",
        libc::EDQUOT => "EDQUOT",
        libc::EIO => "EIO",
        libc::EACCES => "EACCES",
        libc::EROFS => "EROFS",
        libc::ENOENT => "ENOENT",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ESTALE => "ESTALE",
        libc::EAGAIN => "EAGAIN",
        libc::EBUSY => "EBUSY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ECANCELED => "ECANCELED",
        libc::EINTR => "EINTR",
        libc::ENOMEM => "ENOMEM",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENXIO => "ENXIO",
        libc::ENODEV => "ENODEV",
        libc::ESPIPE => "ESPIPE",
        libc::EPIPE => "EPIPE",
        libc::EFAULT => "EFAULT",
        libc::ENOTBLK => "ENOTBLK",
        libc::ESRCH => "ESRCH",
        libc::ECHILD => "ECHILD",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EDOM => "EDOM",
        libc::ERANGE => "ERANGE",
        libc::EDEADLK => "EDEADLK",
        libc::ENOLCK => "ENOLCK",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EILSEQ => "EILSEQ",
        libc::ENODATA => "ENODATA",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ENOTCONN => "ENOTCONN",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::EHOSTDOWN => "EHOSTDOWN",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENOLINK => "ENOLINK",
        libc::EREMOTE => "EREMOTE",
        libc::EPROTO => "EPROTO",
        libc::EUSERS => "EUSERS",
        libc::EBADMSG => "EBADMSG",
        // A value of its own only where it is not EOPNOTSUPP's.
        e if e == libc::ENOTSUP => "ENOTSUP",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_keeps_errno_and_both_paths() {
        let err = Error::io(
            io::Error::from_raw_os_error(libc::ENOSPC),
            Path::new("/a"),
            Path::new("/b"),
        );
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.errno(), libc::ENOSPC);
        assert_eq!(err.src(), Some(Path::new("/a")));
        assert_eq!(err.dst(), Some(Path::new("/b")));
        assert!(!err.message().contains("os error"));
    }

    #[test]
    fn an_os_error_is_the_source() {
        use std::error::Error as _;
        let err = Error::io(
            io::Error::from_raw_os_error(libc::EXDEV),
            Path::new("/a"),
            Path::new("/b"),
        );
        let source = err.source().expect("an OS error has a source");
        let io = source
            .downcast_ref::<io::Error>()
            .expect("the io::Error itself");
        assert_eq!(io.raw_os_error(), Some(libc::EXDEV));
        assert_eq!(
            err.io_error().and_then(io::Error::raw_os_error),
            Some(libc::EXDEV)
        );
        // The source adds nothing to the text Python shows.
        let text = format!(
            "[Errno {}] {}: /a -> /b",
            libc::EXDEV,
            strerror(libc::EXDEV)
        );
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn an_os_error_without_errno_is_kept_whole() {
        use std::error::Error as _;
        let err = Error::from_io(io::Error::new(io::ErrorKind::InvalidInput, "nul byte"));
        assert_eq!(err.errno(), libc::EINVAL);
        let io = err.io_error().expect("kept");
        assert_eq!(
            (io.kind(), io.raw_os_error()),
            (io::ErrorKind::InvalidInput, None)
        );
        assert_eq!(io.to_string(), "nul byte");
        assert!(err.source().is_some());
    }

    #[test]
    fn fastlinks_own_verdicts_have_no_source() {
        use std::error::Error as _;
        for err in [
            Error::special_file(Path::new("/s"), Path::new("/d"), "fifo"),
            Error::invalid_argument("bad"),
            Error::cancelled(),
            Error::symlink_unsupported(libc::EPERM, Path::new("/s"), Path::new("/d")),
        ] {
            assert!(err.source().is_none(), "{err}");
            assert!(err.io_error().is_none(), "{err}");
        }
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EXDEV), "EXDEV");
        assert_eq!(errno_name(libc::EOPNOTSUPP), "EOPNOTSUPP");
        assert_eq!(
            errno_name(libc::ENOTSUP),
            if libc::ENOTSUP == libc::EOPNOTSUPP {
                "EOPNOTSUPP"
            } else {
                "ENOTSUP"
            }
        );
        assert_eq!(errno_name(libc::EDQUOT), "EDQUOT");
        assert_eq!(errno_name(libc::ENAMETOOLONG), "ENAMETOOLONG");
        assert_eq!(errno_name(0), "errno 0");
        assert_eq!(errno_name(-1), "errno -1");
        assert_eq!(errno_name(100_000), "errno 100000");
    }

    #[test]
    fn with_paths_does_not_replace_existing_paths() {
        let err = Error::special_file(Path::new("/s"), Path::new("/d"), "fifo")
            .with_paths(Path::new("/x"), Path::new("/y"));
        assert_eq!(err.src(), Some(Path::new("/s")));
    }

    #[test]
    fn an_io_error_made_from_it_has_the_errno_s_kind_and_keeps_it_inside() {
        let err = Error::already_exists(Path::new("/s"), Path::new("/d"));
        let text = err.to_string();
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::AlreadyExists);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(
            inner.map(|e| (e.errno(), e.to_string())),
            Some((libc::EEXIST, text))
        );
    }
}

//! The one rule for placing a file, shared by the planned path
//! (`execute::place`) and the single-file path (`single_file`): methods are
//! tried in the caller's order, one triage says what a method's refusal
//! means, the source is opened one way, and the new file gets its times one
//! way. The two paths differ only in what they do around it (staging, a
//! plan, counting) and in what they make of a refusal.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{Mode, OFlags};

use crate::meta::{self, EntryMeta};
use crate::method::Method;
use crate::platform::{Os, Platform};

/// How one method's try at a file ended, when it did not place it.
pub enum Failed<E> {
    /// The method's own work failed with this error: [`Refusal::of`] says
    /// what that means.
    Refused(io::Error),
    /// The caller's own reason to stop (the source cannot be opened or
    /// changed size; for the single-file path, anything unusual): it ends
    /// the walk as it is, never triaged as a method's refusal.
    Stop(E),
}

/// `?` on the method's own work is a refusal to triage.
impl<E> From<io::Error> for Failed<E> {
    fn from(err: io::Error) -> Self {
        Failed::Refused(err)
    }
}

/// What a method's refusal of a file means: the one place that tells
/// "cannot" errnos from real errors.
pub enum Refusal {
    /// An errno that does not mean "cannot" (ENOSPC, EIO, EACCES…, or none
    /// at all): something broke, to be raised unless the caller knows the
    /// cure (a staging name found taken).
    Error(io::Error),
    /// This method cannot place the file (`errno`), and a later allowed
    /// method may. Whether that speaks for the whole pair of filesystems is
    /// [`Method::is_pair_wide_errno`]'s to say.
    Cannot(i32),
    /// The last allowed method cannot place the file either: the typed
    /// `method.impossible(errno)`.
    NoMethodLeft(i32),
}

impl Refusal {
    fn of(method: Method, err: io::Error, is_last: bool) -> Refusal {
        match err.raw_os_error() {
            Some(errno) if method.is_impossible_errno(errno) => {
                if is_last {
                    Refusal::NoMethodLeft(errno)
                } else {
                    Refusal::Cannot(errno)
                }
            }
            _ => Refusal::Error(err),
        }
    }
}

/// Where the walk goes after a refusal the caller accepted.
pub enum Next {
    /// The same method again (the caller changed what it tries, e.g. the
    /// name it creates).
    SameMethod,
    /// The next allowed method; never after [`Refusal::NoMethodLeft`].
    NextMethod,
}

/// Place one file with the first of `methods` (never empty) that works for
/// it, and return that method. `attempt` tries one method; each of its
/// refusals is triaged and handed to `refused`, which raises it or says
/// where to go next. `state` is what both may change (the name being
/// created), handed to each in turn.
pub fn first_that_works<S, E>(
    methods: &[Method],
    state: &mut S,
    mut attempt: impl FnMut(&mut S, Method) -> Result<(), Failed<E>>,
    mut refused: impl FnMut(&mut S, Method, Refusal) -> Result<Next, E>,
) -> Result<Method, E> {
    let mut i = 0;
    loop {
        let method = methods[i];
        let err = match attempt(state, method) {
            Ok(()) => return Ok(method),
            Err(Failed::Stop(stop)) => return Err(stop),
            Err(Failed::Refused(err)) => err,
        };
        let is_last = i + 1 == methods.len();
        match refused(state, method, Refusal::of(method, err, is_last))? {
            Next::SameMethod => {}
            Next::NextMethod => {
                assert!(!is_last, "no method after the last one");
                i += 1;
            }
        }
    }
}

/// Open a source file for reading, relative to `dir` (`rustix::fs::CWD`
/// for a whole path), never through a symlink (a symlinked source is the
/// planned path's to follow). O_NONBLOCK: should a fifo have replaced the
/// file since it was stat'ed, opening it must not hang (it has no effect on
/// regular files).
pub fn open_source(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::empty(),
    )?))
}

/// Give `file`, just cloned or copied by `method`, its times: the source's
/// when they are preserved; else, for a clone that carries the source's
/// times over (macOS), the current time, which is what a copy gets, so
/// that the method never shows in the result.
pub fn apply_times(
    method: Method,
    file: &File,
    meta: &EntryMeta,
    preserve_times: bool,
) -> io::Result<()> {
    if preserve_times {
        meta::set_file_times(file, meta)
    } else if method == Method::Reflink && Os::CLONE_KEEPS_SOURCE_TIMES {
        meta::set_file_times_now(file)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn a_cannot_errno_moves_on_until_the_last_method_and_others_are_errors() {
        let of = |method, err, is_last| Refusal::of(method, err, is_last);
        let cross = || errno(libc::EXDEV);
        assert!(matches!(
            of(Method::Reflink, cross(), false),
            Refusal::Cannot(libc::EXDEV)
        ));
        assert!(matches!(
            of(Method::Hardlink, cross(), true),
            Refusal::NoMethodLeft(libc::EXDEV)
        ));
        assert!(matches!(
            of(Method::Reflink, errno(libc::ENOSPC), false),
            Refusal::Error(_)
        ));
        assert!(matches!(
            of(Method::Copy, cross(), false),
            Refusal::Error(_)
        ));
        let no_errno = io::Error::other("no errno");
        assert!(matches!(
            of(Method::Reflink, no_errno, false),
            Refusal::Error(_)
        ));
    }

    #[test]
    fn the_walk_retries_falls_back_and_stops_as_the_caller_says() {
        let methods = [Method::Reflink, Method::Hardlink, Method::Copy];
        // Reflink is refused once with EEXIST (retried), then cannot;
        // hardlink stops the walk on the caller's own reason.
        let mut tries: Vec<Method> = Vec::new();
        let attempt = |tries: &mut Vec<Method>, method| {
            tries.push(method);
            match (method, tries.len()) {
                (Method::Reflink, 1) => Err(errno(libc::EEXIST).into()),
                (Method::Reflink, _) => Err(errno(libc::EOPNOTSUPP).into()),
                _ => Err(Failed::Stop("stopped")),
            }
        };
        let on_refusal = |_: &mut Vec<Method>, _, refusal| match refusal {
            Refusal::Error(_) => Ok(Next::SameMethod),
            Refusal::Cannot(_) => Ok(Next::NextMethod),
            Refusal::NoMethodLeft(_) => Err("none left"),
        };
        let walked = first_that_works(&methods, &mut tries, attempt, on_refusal);
        assert_eq!(walked, Err("stopped"));
        assert_eq!(tries, [Method::Reflink, Method::Reflink, Method::Hardlink]);

        let placed = first_that_works(
            &methods,
            &mut (),
            |_, method| match method {
                Method::Copy => Ok(()),
                _ => Err(errno(libc::EXDEV).into()),
            },
            |_, _, refusal| match refusal {
                Refusal::Cannot(_) => Ok(Next::NextMethod),
                _ => Err(()),
            },
        );
        assert_eq!(placed, Ok(Method::Copy));
    }
}

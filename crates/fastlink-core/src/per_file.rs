//! The one rule for placing a file, shared by the planned path
//! (`execute::place`) and the single-file path (`single_file`): methods are
//! tried in the caller's order, except that a clone that would wait for
//! writeback is passed over for a faster allowed method (`methods_for`),
//! one triage says what a method's refusal means, the source is opened one
//! way, and the new file gets its times one way. The two paths differ only
//! in what they do around it (staging, a plan, counting) and in what they
//! make of a refusal.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{Mode, OFlags};

use crate::error::Error;
use crate::meta::{self, EntryMeta, Timestamp};
use crate::method::Method;
use crate::per_process::PerProcess;
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

/// The errno a [`Fallback`](crate::Fallback) carries for files whose clone
/// was passed over because their data was not yet written back: not an
/// errno (none is 0), so a caller tells it from EXDEV or EOPNOTSUPP.
pub const NOT_WRITTEN_BACK: i32 = 0;

/// The environment variable that sets how long after its last change a
/// file's data is taken as possibly not written back, in seconds (`0`: every
/// file is taken as written back, and cloned like any other). Unset: the
/// kernel's own window (`vm.dirty_expire_centisecs` plus
/// `vm.dirty_writeback_centisecs`, 35 s by default).
pub const WRITEBACK_SECONDS_ENV: &str = "FASTLINK_WRITEBACK_SECONDS";

/// One call's view of data written moments ago. A clone of data the kernel
/// has not written back yet waits for that writeback on some filesystems
/// (XFS), where a copy reads it from memory: for such files a copy (or a
/// hard link), when the caller allows one after the clone, is faster, by
/// 1.6x and more on a just-unpacked tree. Elsewhere (btrfs) the clone stays.
///
/// What "moments ago" means costs no syscall per file: the file's ctime,
/// from the stat the walk already made, against the kernel's writeback
/// window (read once per process). A file changed within the window may be
/// dirty; one changed before it is taken as written back. Whether a clone
/// waits is the filesystem's: one fstatfs per device per process.
pub struct FreshData {
    /// How long after its last change a file may still have unwritten data,
    /// when the caller's environment says; else the platform's, asked (once
    /// per process) only when a file needs it.
    window: Option<Duration>,
    /// Files changed at or after this may still have unwritten data: now
    /// less the window, taken when first needed.
    since: OnceLock<Timestamp>,
}

impl FreshData {
    /// For one call: the window is [`WRITEBACK_SECONDS_ENV`] when set (read
    /// at every call, as `FASTLINK_METHODS` is; malformed, an
    /// `InvalidArgument`), else the platform's. Nothing else is asked
    /// until a file needs it.
    pub fn new() -> crate::error::Result<FreshData> {
        let window = match std::env::var_os(WRITEBACK_SECONDS_ENV) {
            None => None,
            Some(text) if text.to_string_lossy().trim().is_empty() => None,
            Some(text) => {
                let text = text.to_string_lossy();
                let seconds = text.trim().parse::<f64>().ok();
                match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                    Some(window) => Some(window),
                    None => {
                        return Err(Error::invalid_argument(format!(
                            "{WRITEBACK_SECONDS_ENV}={text:?}: expected a number of seconds, \
                             0 or more"
                        )))
                    }
                }
            }
        };
        Ok(FreshData {
            window,
            since: OnceLock::new(),
        })
    }

    /// Whether the file of `meta` may still have data not written back: it
    /// changed within the window (a window of 0 takes none as such).
    fn may_be_unwritten(&self, meta: &EntryMeta) -> bool {
        self.window != Some(Duration::ZERO) && meta.ctime >= self.since()
    }

    fn since(&self) -> Timestamp {
        *self.since.get_or_init(|| {
            SystemTime::now()
                .checked_sub(self.window.unwrap_or_else(Os::writeback_window))
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(Timestamp { sec: 0, nsec: 0 }, |d| Timestamp {
                    sec: d.as_secs() as i64,
                    nsec: i64::from(d.subsec_nanos()),
                })
        })
    }
}

/// Whether a clone on the filesystem of device `dev` waits for writeback:
/// asked of the platform (`ask`, one fstatfs) once per device per process,
/// as the probe's answers are; an answer that could not be had is not kept.
fn clone_waits_on(dev: u64, ask: impl FnOnce() -> io::Result<bool>) -> bool {
    type Answers = Mutex<HashMap<u64, bool>>;
    // Per process: a parent thread may hold the lock at a fork.
    static ANSWERS: PerProcess<Answers> = PerProcess::new(Default::default);
    let answers = ANSWERS.get();
    if let Some(waits) = answers.lock().unwrap_or_else(|e| e.into_inner()).get(&dev) {
        return *waits;
    }
    match ask() {
        Ok(waits) => {
            (answers.lock().unwrap_or_else(|e| e.into_inner())).insert(dev, waits);
            waits
        }
        // Unknown is "no": the clone is what the caller preferred.
        Err(_) => false,
    }
}

/// The methods to try for one file (`meta` from the walk's stat, `dev` its
/// device), in order: the call's `methods` (the chosen one first), or, for
/// a file whose data may not be written back yet, where the chosen clone
/// would wait for that writeback (`clone_waits`, the platform's answer for
/// the file's filesystem, asked once per device per process) and the caller
/// allows a method after it, the methods after the clone. The flag says the
/// clone was passed over, for the report ([`NOT_WRITTEN_BACK`]). `methods
/// == [reflink]` always clones: a caller that asks only for shared extents
/// gets them, waiting if it must.
pub fn methods_for<'m>(
    methods: &'m [Method],
    meta: &EntryMeta,
    dev: u64,
    fresh: &FreshData,
    clone_waits: impl FnOnce() -> io::Result<bool>,
) -> (&'m [Method], bool) {
    let pass_over = Os::CLONE_MAY_WAIT_FOR_WRITEBACK
        && methods.len() > 1
        && methods[0] == Method::Reflink
        && fresh.may_be_unwritten(meta)
        && clone_waits_on(dev, clone_waits);
    if pass_over {
        (&methods[1..], true)
    } else {
        (methods, false)
    }
}

/// How a source file is opened: for reading, never through a symlink (a
/// symlinked source is the planned path's to follow). O_NONBLOCK: should a
/// fifo have replaced the file since it was stat'ed, opening it must not
/// hang (it has no effect on regular files).
const SOURCE_OPEN: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// Open a source file (see [`SOURCE_OPEN`]) relative to `dir`
/// (`rustix::fs::CWD` for a whole path).
pub fn open_source(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        SOURCE_OPEN,
        Mode::empty(),
    )?))
}

/// [`open_source`] for the file at `rel` below the directory `root`,
/// through no symlink on the way either.
pub fn open_source_beneath(root: BorrowedFd<'_>, rel: &Path) -> io::Result<File> {
    Ok(File::from(Os::open_beneath(
        root,
        rel.as_os_str(),
        SOURCE_OPEN,
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

    #[test]
    fn only_a_fresh_file_under_a_clone_with_a_method_after_it_passes_the_clone_over() {
        let at = |sec| EntryMeta {
            mode: 0o644,
            atime: Timestamp { sec, nsec: 0 },
            mtime: Timestamp { sec: 0, nsec: 0 },
            ctime: Timestamp { sec, nsec: 0 },
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (fresh, old) = (at(now), at(now - 3600));
        let window = |seconds| FreshData {
            window: Some(Duration::from_secs(seconds)),
            since: OnceLock::new(),
        };
        // Devices no filesystem has: each case asks afresh, none is remembered wrongly.
        let mut devs = (u64::MAX - 100)..;
        let mut dev = move || devs.next().unwrap();
        let default = [Method::Reflink, Method::Copy];
        let waits = || Ok(Os::CLONE_MAY_WAIT_FOR_WRITEBACK);

        let (methods, passed) = methods_for(&default, &fresh, dev(), &window(35), waits);
        if Os::CLONE_MAY_WAIT_FOR_WRITEBACK {
            assert_eq!((methods, passed), (&default[1..], true));
        } else {
            assert_eq!((methods, passed), (&default[..], false));
        }
        for (methods, meta, data, waits) in [
            (&default[..], &old, window(35), true),
            (&default[..], &fresh, window(0), true),
            (&default[..], &fresh, window(35), false),
            (&default[..1], &fresh, window(35), true),
            (
                &[Method::Copy, Method::Reflink][..],
                &fresh,
                window(35),
                true,
            ),
        ] {
            let got = methods_for(methods, meta, dev(), &data, || Ok(waits));
            assert_eq!(got, (methods, false));
        }
        // A filesystem that cannot be asked is taken as one that does not wait.
        let unknown = || Err(io::Error::from_raw_os_error(libc::EBADF));
        let got = methods_for(&default, &fresh, dev(), &window(35), unknown);
        assert_eq!(got, (&default[..], false));
        // An answer is remembered per device: the second call asks nothing.
        let remembered = dev();
        let _ = methods_for(&default, &fresh, remembered, &window(35), || Ok(true));
        let asked_again = || -> io::Result<bool> { panic!("asked twice") };
        let got = methods_for(&default, &fresh, remembered, &window(35), asked_again);
        assert_eq!(got.1, Os::CLONE_MAY_WAIT_FOR_WRITEBACK);
    }
}

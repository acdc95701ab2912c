//! The Python binding: the only place pyo3 appears. It converts arguments,
//! releases the GIL around the core, keeps Ctrl-C working, and hands errors to
//! `exceptions::to_py_err`.

mod exceptions;
mod install;
mod progress;
mod report;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString};

use exceptions::to_py_err;
use fastlink_core::{
    CancelFlag, Ignore, Method, Options, Outcome, Progress, Report, TerminateGuard,
};
use progress::PyProgress;
use report::PyReport;

/// How often the waiting caller wakes to run Python's signal handlers and
/// the progress callback: Ctrl-C is honoured within this delay plus the file
/// in flight, and the callback runs at most 20 times a second.
const POLL: Duration = Duration::from_millis(50);

/// Run `job` on a worker of `pool` (the one the call does its work on) with
/// the GIL released, waking every `POLL` to run Python's signal handlers and
/// then `on_poll` (with the GIL held). When either raises (Ctrl-C, or an
/// exception in a progress callback) the job is told to stop, waited for (it
/// stops within one copy step and rolls back), and the exception is raised.
/// Neither runs once the job has begun to commit, so a raised exception
/// always means the job was rolled back. A SIGTERM caught by `terminate`
/// (the process had no handler of its own) stops the job the same way.
///
/// The workers live as long as the process: a call starts no thread, and
/// calls from many Python threads share the pool's workers instead of each
/// bringing its own.
fn run_with_gil_released<T: Send>(
    py: Python<'_>,
    pool: &rayon::ThreadPool,
    cancel: &CancelFlag,
    terminate: &TerminateGuard,
    job: impl FnOnce() -> T + Send,
    mut on_poll: impl FnMut() -> PyResult<()>,
) -> PyResult<T> {
    pool.in_place_scope(|scope| {
        let (sender, mut receiver) = mpsc::channel();
        scope.spawn(move |_| {
            let _ = sender.send(job());
        });
        loop {
            // The receiver is moved in and out because the closure that runs
            // without the GIL must be Send, and a Receiver is not Sync.
            let (back, waited) = py.detach(move || {
                let waited = receiver.recv_timeout(POLL);
                (receiver, waited)
            });
            receiver = back;
            match waited {
                Ok(result) => return Ok(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Once the job commits, a pending Ctrl-C stays pending and
                    // Python raises it after this call returns, complete.
                    let polled = cancel.cancel_unless_committing(|| {
                        if terminate.requested() {
                            return Err(to_py_err(fastlink_core::Error::cancelled()));
                        }
                        py.check_signals().and_then(|()| on_poll())
                    });
                    if let Err(raised) = polled {
                        let _ = py.detach(move || receiver.recv());
                        return Err(raised);
                    }
                }
                // The job panicked; leaving the scope re-raises the panic.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "fastlink worker stopped unexpectedly",
                    ))
                }
            }
        }
    })
}

/// A path argument: `str`, `bytes` or an `os.PathLike` of either. Bytes keep
/// names that are not valid UTF-8 exact; str goes through the filesystem
/// encoding (surrogateescape), as `os.fsencode` would.
fn extract_path(path: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let path: PathBuf = if let Ok(text) = path.cast::<PyString>() {
        // os.fspath of a str is the str: skip the call.
        text.extract()?
    } else {
        let fspath = path.py().import("os")?.call_method1("fspath", (path,))?;
        match fspath.cast::<PyBytes>() {
            Ok(raw) => PathBuf::from(std::ffi::OsStr::from_bytes(raw.as_bytes())),
            Err(_) => fspath.extract()?,
        }
    };
    // As os and shutil refuse it: no syscall can take such a path.
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "embedded null byte",
        ));
    }
    Ok(path)
}

/// `threads`: an int or None; its range is the core's to check
/// ([`fastlink_core::thread_count`]). An int past i128 is as far out of range as any.
fn parse_threads(threads: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(threads) = threads else {
        return Ok(None);
    };
    if !threads.is_instance_of::<PyInt>() || threads.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("threads must be an int or None"));
    }
    let wide = threads.extract::<i128>().unwrap_or(i128::MAX);
    fastlink_core::thread_count(wide)
        .map(Some)
        .map_err(to_py_err)
}

fn parse_methods(methods: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Method>> {
    let Some(methods) = methods else {
        return Method::preference_from_env().map_err(to_py_err);
    };
    let not_names = || PyTypeError::new_err("methods must be a str or a sequence of str");
    let names: Vec<String> = if methods.is_instance_of::<PyString>() {
        vec![methods.extract()?]
    } else if methods.is_instance_of::<PyBytes>() {
        return Err(not_names());
    } else {
        methods
            .try_iter()
            .map_err(|_| not_names())?
            .map(|item| item?.extract::<String>().map_err(|_| not_names()))
            .collect::<PyResult<_>>()?
    };
    Method::parse_preference(names.iter().map(String::as_str)).map_err(to_py_err)
}

/// The Python-side state of one call: its counters, its cancel flag, the
/// progress callback, and the first exception raised by a callback the core
/// called (`ignore`), which is re-raised as it was.
struct Call<'py> {
    py: Python<'py>,
    progress: Option<&'py Bound<'py, PyAny>>,
    cancel: CancelFlag,
    counters: Progress,
    raised: Arc<Mutex<Option<PyErr>>>,
}

impl<'py> Call<'py> {
    fn new(py: Python<'py>, progress: Option<&'py Bound<'py, PyAny>>) -> PyResult<Self> {
        if progress.is_some_and(|callback| !callback.is_callable()) {
            return Err(PyTypeError::new_err("progress must be callable or None"));
        }
        Ok(Call {
            py,
            progress,
            cancel: CancelFlag::new(),
            counters: Progress::new(),
            raised: Arc::default(),
        })
    }

    /// Run `job` on the worker pool with the GIL released, calling the
    /// progress callback as it goes and once more at the end.
    fn run(
        &self,
        threads: Option<usize>,
        job: impl FnOnce(&CancelFlag, &Progress) -> fastlink_core::Result<Report> + Send,
    ) -> PyResult<PyReport> {
        let result = self.run_job(threads, job)?;
        let report = self.finish(result)?;
        self.report_done()?;
        Ok(report)
    }

    /// Run `job` on the worker pool (`threads` workers) with the GIL
    /// released, calling the progress callback as it goes; Ctrl-C and
    /// SIGTERM cancel it (see [`run_with_gil_released`]).
    fn run_job<T: Send>(
        &self,
        threads: Option<usize>,
        job: impl FnOnce(&CancelFlag, &Progress) -> T + Send,
    ) -> PyResult<T> {
        let mut last_reported = None;
        let report_changes = || -> PyResult<()> {
            let Some(callback) = self.progress else {
                return Ok(());
            };
            let now = self.counters.snapshot();
            if last_reported != Some(now) {
                last_reported = Some(now);
                callback.call1((PyProgress::from(now),))?;
            }
            Ok(())
        };
        let workers = fastlink_core::worker_pool(threads).map_err(to_py_err)?;
        let (cancel, counters) = (&self.cancel, &self.counters);
        // SIGTERM, where the process left it at its default, stops and rolls
        // back this call like Ctrl-C, and then ends the process as it would
        // have: the guard's drop does not return then (so it drops with the
        // GIL released, letting other calls finish their roll-back).
        let terminate = TerminateGuard::enter();
        let result = run_with_gil_released(
            self.py,
            &workers,
            cancel,
            &terminate,
            || job(cancel, counters),
            report_changes,
        );
        self.py.detach(move || drop(terminate));
        result
    }

    fn finish(&self, result: fastlink_core::Result<Report>) -> PyResult<PyReport> {
        if let Some(raised) = self.raised.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(raised);
        }
        result.map(PyReport::from).map_err(to_py_err)
    }

    /// The promised final progress call, so a bar can end at 100%.
    fn report_done(&self) -> PyResult<()> {
        match self.progress {
            Some(callback) => callback
                .call1((PyProgress::from(self.counters.snapshot()),))
                .map(drop),
            None => Ok(()),
        }
    }

    /// `ignore` as the core calls it: from a worker, taking the GIL.
    fn ignore(
        &self,
        ignore: Option<&Bound<'_, PyAny>>,
        as_bytes: bool,
    ) -> PyResult<Option<Ignore>> {
        let Some(ignore) = ignore.filter(|ignore| !ignore.is_none()) else {
            return Ok(None);
        };
        if !ignore.is_callable() {
            return Err(PyTypeError::new_err("ignore must be callable or None"));
        }
        let callback = ignore.clone().unbind();
        let raised = Arc::clone(&self.raised);
        Ok(Some(Ignore(Arc::new(
            move |dir: &Path, names: &[OsString]| {
                Python::attach(|py| {
                    call_ignore(py, &callback, dir, names, as_bytes).map_err(|err| {
                        raised
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(err);
                        fastlink_core::Error::invalid_argument("ignore raised an exception")
                    })
                })
            },
        ))))
    }
}

/// `ignore(dir, names)` with str arguments (bytes when `src` was bytes),
/// and the names it answers, str or bytes.
fn call_ignore(
    py: Python<'_>,
    ignore: &Py<PyAny>,
    dir: &Path,
    names: &[OsString],
    as_bytes: bool,
) -> PyResult<Vec<OsString>> {
    let to_py = |name: &std::ffi::OsStr| -> PyResult<Bound<'_, PyAny>> {
        Ok(if as_bytes {
            PyBytes::new(py, name.as_bytes()).into_any()
        } else {
            name.into_pyobject(py)?.into_any()
        })
    };
    let listed = PyList::empty(py);
    for name in names {
        listed.append(to_py(name)?)?;
    }
    let skipped = ignore.call1(py, (to_py(dir.as_os_str())?, listed))?;
    let mut answer = Vec::new();
    for item in skipped.bind(py).try_iter()? {
        let item = item?;
        if let Ok(raw) = item.cast::<PyBytes>() {
            answer.push(OsString::from(std::ffi::OsStr::from_bytes(raw.as_bytes())));
        } else if let Ok(text) = item.extract::<OsString>() {
            answer.push(text);
        }
    }
    Ok(answer)
}

/// Materialize `src` (a tree or a file) at `dst`.
///
/// `methods` is the ordered preference among "reflink", "hardlink" and "copy"
/// (`fastlink.MethodName`): one str, or any iterable of them such as
/// `cfg.split(",")` (an unknown name is `ValueError`). None means the
/// `FASTLINK_METHODS` environment variable when it is set (e.g.
/// "reflink,copy"), else ("reflink", "copy"). The first method that works
/// between the two filesystems is used for every file, but for one that cannot
/// use it alone and, on XFS, one written moments ago whose clone would wait for
/// writeback (both in `Report.fallbacks`); methods the pair cannot do are
/// skipped and listed in `Report.skipped`. A new `dst` is built in a
/// hidden staging directory beside it and renamed into place, so it appears
/// complete or not at all. With `dirs_exist_ok=True` the call merges into an
/// existing directory; `overwrite=True` then replaces existing files and
/// symlinks by rename, never in place. `preserve_times=False` leaves times as
/// created. `threads` (1 to 256) defaults to one per core (2 to 16).
///
/// `progress` is called on the calling thread, with the GIL held, at most about
/// 20 times a second while the counts change, and once more at the end. An
/// exception it raises stops the call, which rolls back and re-raises it; one
/// raised by the final call propagates with the work complete.
///
/// Raises `CrossDeviceError` or `ReflinkUnsupportedError` /
/// `HardlinkUnsupportedError` when no allowed method is possible (nothing is
/// left at `dst`), `ValueError` for bad arguments, and builtin `OSError`
/// subclasses for real I/O errors.
///
/// `ignore` is `shutil.copytree`'s: called once per source directory with its
/// path and the names in it (str, or bytes when `src` is bytes), it returns
/// the names to leave out; `shutil.ignore_patterns(...)` works. An exception
/// it raises fails the call before anything is written, and is re-raised.
/// A single small file is placed in the calling thread, with no staging: it
/// is built without a name and linked in complete.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
#[pyo3(signature = (src, dst, *, methods=None, dirs_exist_ok=false, overwrite=false, preserve_times=true, threads=None, progress=None, ignore=None))]
fn clone_or_copy<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    dst: &Bound<'py, PyAny>,
    methods: Option<&Bound<'py, PyAny>>,
    dirs_exist_ok: bool,
    overwrite: bool,
    preserve_times: bool,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&'py Bound<'py, PyAny>>,
    ignore: Option<&Bound<'py, PyAny>>,
) -> PyResult<PyReport> {
    let call = Call::new(py, progress)?;
    let src_is_bytes = src.is_instance_of::<PyBytes>();
    let (src, dst) = (extract_path(src)?, extract_path(dst)?);
    let options = Options {
        methods: parse_methods(methods)?,
        dirs_exist_ok,
        overwrite,
        preserve_times,
        threads: parse_threads(threads)?,
        ignore: call.ignore(ignore, src_is_bytes)?,
    };
    // A single small file is placed in this thread (the GIL released): a
    // hand-off to a worker would cost more than the work.
    let placed = py.detach(|| fastlink_core::try_single_file(&src, &dst, &options, &call.counters));
    if let Some(report) = placed {
        call.report_done()?;
        return Ok(PyReport::from(report));
    }
    call.run(options.threads, |cancel, counters| {
        fastlink_core::clone_or_copy_planned(&src, &dst, &options, cancel, counters)
    })
}

/// Materialize the listed `files` of `src` at the same paths below `dst`.
///
/// `files` are relative paths (a wheel's RECORD, conda's paths.json) of
/// regular files or symlinks below `src`, plain names only (no "..", "."
/// or leading "/": `ValueError`). The directories on the way are created
/// with their source modes; `dst` may exist (it is merged into) or not.
/// A listed directory is `IsADirectoryError`, a symlink on the way
/// `NotADirectoryError`. Everything else is as for `clone_or_copy` on a
/// tree: one probe per pair of filesystems, a parallel fill, all or
/// nothing, the same report and errors.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
#[pyo3(signature = (src, dst, files, *, methods=None, overwrite=false, preserve_times=true, threads=None, progress=None))]
fn clone_files<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    dst: &Bound<'py, PyAny>,
    files: &Bound<'py, PyAny>,
    methods: Option<&Bound<'py, PyAny>>,
    overwrite: bool,
    preserve_times: bool,
    threads: Option<&Bound<'py, PyAny>>,
    progress: Option<&'py Bound<'py, PyAny>>,
) -> PyResult<PyReport> {
    let call = Call::new(py, progress)?;
    let (src, dst) = (extract_path(src)?, extract_path(dst)?);
    if files.is_instance_of::<PyString>() || files.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "files must be an iterable of paths, not a single str or bytes",
        ));
    }
    let files: Vec<PathBuf> = files
        .try_iter()
        .map_err(|_| PyTypeError::new_err("files must be an iterable of paths"))?
        .map(|item| extract_path(&item?))
        .collect::<PyResult<_>>()?;
    let options = Options {
        methods: parse_methods(methods)?,
        dirs_exist_ok: true,
        overwrite,
        preserve_times,
        threads: parse_threads(threads)?,
        ignore: None,
    };
    call.run(options.threads, |cancel, counters| {
        fastlink_core::clone_files(&src, &dst, &files, &options, cancel, counters)
    })
}

/// Which methods work between `src` and the directory `dst_dir` (cached per device pair).
///
/// A `dst_dir` yet to be made (an installer probes before it makes the
/// environment) is answered for its nearest existing ancestor, where a
/// `clone_or_copy` making it probes; nothing is made. A `dst_dir` that is a
/// file, or lies below one, is `NotADirectoryError`.
#[pyfunction]
fn probe<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    dst_dir: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let (src, dst_dir) = (extract_path(src)?, extract_path(dst_dir)?);
    let outcomes = py
        .detach(|| fastlink_core::probe(&src, &dst_dir))
        .map_err(to_py_err)?;
    let answer = PyDict::new(py);
    for (method, outcome) in outcomes {
        answer.set_item(method.name(), outcome == Outcome::Works)?;
    }
    Ok(answer)
}

/// Remove what calls of fastlink that were killed (SIGKILL, or a SIGTERM
/// the process handled itself) left below `dir`, recursively: staging
/// entries, temp files of merges, probe files. Returns the paths removed
/// (`bytes` when `dir` is `bytes`).
///
/// An entry is removed only on proof, never by its name alone: its name
/// carries a tag bound to the identities (st_dev, st_ino) of the directory
/// it is in and of the call's anchor, and no call anchored there is running
/// (the exclusive flock on the anchor is free; a running call, in this
/// process or another, holds it shared). Look-alike names, and the entries
/// of running calls, are left alone. Symlinks are never followed.
#[pyfunction]
fn reclaim<'py>(py: Python<'py>, dir: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let as_bytes = dir.is_instance_of::<PyBytes>();
    let dir = extract_path(dir)?;
    let removed = py
        .detach(|| fastlink_core::reclaim(&dir))
        .map_err(to_py_err)?;
    let answer = PyList::empty(py);
    for path in removed {
        if as_bytes {
            answer.append(PyBytes::new(py, path.as_os_str().as_bytes()))?;
        } else {
            answer.append(path.as_os_str().into_pyobject(py)?)?;
        }
    }
    Ok(answer)
}

/// The symbolic name of an errno ("EXDEV"; "errno N" for one fastlink does
/// not know): the core's one table, for the CLI's messages and report.
#[pyfunction]
fn errno_name(errno: i32) -> String {
    fastlink_core::errno_name(errno)
}

/// The methods a call given `methods` prefers, in order, by name: `methods`
/// checked, or with None what `FASTLINK_METHODS` or the default gives (the
/// core's one rule, for `fastlink probe`).
#[pyfunction]
#[pyo3(signature = (methods=None))]
fn resolve_methods(methods: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<&'static str>> {
    Ok(parse_methods(methods)?
        .into_iter()
        .map(Method::name)
        .collect())
}

/// The worker count of a call with `threads=None`: one per core, at least 2
/// and at most 16 (the core's rule, for the CLI's help).
#[pyfunction]
fn default_threads() -> usize {
    fastlink_core::default_threads()
}

/// The `fastlink._fastlink` extension module.
#[pymodule]
fn _fastlink(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Which platform backend this build has ("linux", "macos" under
    // `make macos-sim`, "portable"): the test suite checks it.
    m.add("_platform_backend", fastlink_core::platform_backend())?;
    // The errno of a Report.fallbacks entry for files a clone would have
    // waited for (their data not yet written back): not an errno at all.
    m.add("NOT_WRITTEN_BACK", fastlink_core::NOT_WRITTEN_BACK)?;
    m.add_function(wrap_pyfunction!(clone_or_copy, m)?)?;
    m.add_function(wrap_pyfunction!(clone_files, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(reclaim, m)?)?;
    m.add_function(wrap_pyfunction!(install::unpack_wheel, m)?)?;
    // Through fastlink.install_wheels, which finds the directories.
    m.add(
        "_install_wheels",
        wrap_pyfunction!(install::install_wheels, m)?,
    )?;
    // For the CLI; not part of the API.
    m.add("_errno_name", wrap_pyfunction!(errno_name, m)?)?;
    m.add("_default_threads", wrap_pyfunction!(default_threads, m)?)?;
    m.add("_resolve_methods", wrap_pyfunction!(resolve_methods, m)?)?;
    m.add("_max_threads", fastlink_core::MAX_THREADS)?;
    m.add_class::<PyReport>()?;
    m.add_class::<PyProgress>()?;
    m.add_class::<install::PyInstalledDistribution>()?;
    m.add_class::<install::PyUnpackedWheel>()?;
    m.add_class::<install::PyReplacedDistribution>()?;
    exceptions::register(m)?;
    Ok(())
}

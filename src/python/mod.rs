//! The Python binding: the only place pyo3 appears. It converts arguments,
//! releases the GIL around the core, keeps Ctrl-C working, and hands errors to
//! `exceptions::to_py_err`.

mod exceptions;
mod report;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::{CancelFlag, Method, Options, Outcome};
use exceptions::to_py_err;
use report::PyReport;

/// How often the waiting caller wakes to let Python run signal handlers:
/// Ctrl-C is honoured within this delay plus the file in flight.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `job` on a helper thread with the GIL released, waking every
/// `SIGNAL_POLL` to run Python's signal handlers. On Ctrl-C the job is told
/// to stop, waited for (it stops within one file), and the KeyboardInterrupt
/// is raised.
fn run_with_gil_released<T: Send>(
    py: Python<'_>,
    cancel: &CancelFlag,
    job: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    std::thread::scope(|scope| {
        let (sender, mut receiver) = mpsc::channel();
        scope.spawn(move || {
            let _ = sender.send(job());
        });
        loop {
            // The receiver is moved in and out because the closure that runs
            // without the GIL must be Send, and a Receiver is not Sync.
            let (back, waited) = py.detach(move || {
                let waited = receiver.recv_timeout(SIGNAL_POLL);
                (receiver, waited)
            });
            receiver = back;
            match waited {
                Ok(result) => return Ok(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        cancel.cancel();
                        let _ = py.detach(move || receiver.recv());
                        return Err(interrupt);
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

fn parse_methods(methods: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Method>> {
    let Some(methods) = methods else {
        return Ok(Method::DEFAULT_PREFERENCE.to_vec());
    };
    let names: Vec<String> = if methods.is_instance_of::<PyString>() {
        vec![methods.extract()?]
    } else {
        methods
            .try_iter()?
            .map(|item| item?.extract::<String>())
            .collect::<PyResult<_>>()?
    };
    Method::parse_preference(names.iter().map(String::as_str)).map_err(to_py_err)
}

/// Clone `src` to `dst` with the first method in `methods` that the pair of
/// filesystems allows, and report what was done.
#[pyfunction]
#[pyo3(signature = (src, dst, *, methods=None, dirs_exist_ok=false, preserve_times=true, threads=None))]
fn clone_or_copy(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    methods: Option<&Bound<'_, PyAny>>,
    dirs_exist_ok: bool,
    preserve_times: bool,
    threads: Option<usize>,
) -> PyResult<PyReport> {
    let options = Options {
        methods: parse_methods(methods)?,
        dirs_exist_ok,
        preserve_times,
        threads,
    };
    let cancel = CancelFlag::new();
    let result = run_with_gil_released(py, &cancel, || {
        crate::clone_or_copy(&src, &dst, &options, &cancel)
    })?;
    result.map(PyReport::from).map_err(to_py_err)
}

/// Which methods work between `src` and the directory `dst_dir`.
#[pyfunction]
fn probe<'py>(py: Python<'py>, src: PathBuf, dst_dir: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let outcomes = py
        .detach(|| crate::probe(&src, &dst_dir))
        .map_err(to_py_err)?;
    let answer = PyDict::new(py);
    for (method, outcome) in outcomes {
        answer.set_item(method.name(), outcome == Outcome::Works)?;
    }
    Ok(answer)
}

/// The `fastlink._fastlink` extension module.
#[pymodule]
fn _fastlink(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(clone_or_copy, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_class::<PyReport>()?;
    exceptions::register(m)?;
    Ok(())
}

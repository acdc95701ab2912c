//! `fastlink._fastlink.install_wheels` and `unpack_wheel`: the core's wheel
//! installer, with `fastlink.InstalledDistribution` for what it did. The
//! Python layer (`fastlink/_install.py`) finds the environment's directories
//! and the cache; this takes them explicitly.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString};

use fastlink_core::{
    Environment, InstallOptions, Options, ReplacedDistribution, Scheme, Target, UnpackedWheel,
    WheelFileInstalled,
};

use crate::exceptions::to_py_err;
use crate::report::PyReport;
use crate::{extract_path, parse_methods, parse_threads, Call};

/// What installing one wheel did.
#[pyclass(frozen, module = "fastlink", name = "InstalledDistribution")]
pub struct PyInstalledDistribution {
    installed: WheelFileInstalled,
    report: Py<PyReport>,
}

#[pymethods]
impl PyInstalledDistribution {
    /// The wheel as the caller named it: a `.whl` file or an unpacked tree.
    #[getter]
    fn wheel(&self) -> PathBuf {
        self.installed.wheel.clone()
    }

    /// The distribution's name, as its `.dist-info` directory spells it.
    #[getter]
    fn name(&self) -> &str {
        &self.installed.installed.name
    }

    /// The distribution's version, as its `.dist-info` directory spells it.
    #[getter]
    fn version(&self) -> &str {
        &self.installed.installed.version
    }

    /// The installed `.dist-info` directory.
    #[getter]
    fn dist_info(&self) -> PathBuf {
        self.installed.installed.dist_info.clone()
    }

    /// The tree the files were placed from: the cache entry, or the tree given.
    #[getter]
    fn entry(&self) -> PathBuf {
        match &self.installed.unpacked {
            Some(unpacked) => unpacked.path.clone(),
            None => self.installed.wheel.clone(),
        }
    }

    /// For a `.whl`: True when this call unpacked it into the cache, False
    /// when it was there already. None for a tree given as it is.
    #[getter]
    fn unpacked(&self) -> Option<bool> {
        self.installed.unpacked.as_ref().map(|u| !u.reused)
    }

    /// Files placed unchanged from the entry by the engine (see `report`).
    #[getter]
    fn placed(&self) -> usize {
        self.installed.installed.placed
    }

    /// Files written: launchers, rewritten scripts, INSTALLER, REQUESTED,
    /// direct_url.json, RECORD.
    #[getter]
    fn written(&self) -> usize {
        self.installed.installed.written
    }

    /// The engine's report on the placed files: methods, skips, fallbacks.
    #[getter]
    fn report(&self, py: Python<'_>) -> Py<PyReport> {
        self.report.clone_ref(py)
    }

    /// The distribution this install replaced (`replace=True`), or None.
    #[getter]
    fn replaced(&self) -> Option<PyReplacedDistribution> {
        self.installed
            .installed
            .replaced
            .clone()
            .map(|replaced| PyReplacedDistribution { replaced })
    }

    /// Seconds the install took, the unpack not included.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.installed.installed.elapsed.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let i = &self.installed.installed;
        format!(
            "InstalledDistribution(name={:?}, version={:?}, placed={}, written={}, method={:?}, \
             elapsed={:.3})",
            i.name,
            i.version,
            i.placed,
            i.written,
            i.report.method.name(),
            i.elapsed.as_secs_f64()
        )
    }
}

/// What a replacing install removed of the distribution it replaced.
#[pyclass(frozen, module = "fastlink", name = "ReplacedDistribution")]
pub struct PyReplacedDistribution {
    replaced: ReplacedDistribution,
}

#[pymethods]
impl PyReplacedDistribution {
    /// The replaced distribution's name.
    #[getter]
    fn name(&self) -> &str {
        &self.replaced.name
    }

    /// The replaced distribution's version.
    #[getter]
    fn version(&self) -> &str {
        &self.replaced.version
    }

    /// Its `.dist-info` directory, now gone.
    #[getter]
    fn dist_info(&self) -> PathBuf {
        self.replaced.dist_info.clone()
    }

    /// Files deleted: its RECORD's, and the bytecode of its `.py` files.
    #[getter]
    fn removed(&self) -> usize {
        self.replaced.removed
    }

    /// Paths its RECORD lists that were left alone: outside the scheme's
    /// directories, or reached through a symlink.
    #[getter]
    fn left_alone(&self) -> Vec<PathBuf> {
        self.replaced.left_alone.clone()
    }

    fn __repr__(&self) -> String {
        let r = &self.replaced;
        format!(
            "ReplacedDistribution(name={:?}, version={:?}, removed={}, left_alone={})",
            r.name,
            r.version,
            r.removed,
            r.left_alone.len()
        )
    }
}

/// A directory of the environment's dict: `key` must be there.
fn directory(dirs: &Bound<'_, PyDict>, key: &str) -> PyResult<PathBuf> {
    match dirs.get_item(key)? {
        Some(value) => extract_path(&value),
        None => Err(PyValueError::new_err(format!(
            "the scheme has no {key:?} directory"
        ))),
    }
}

fn paths(items: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<PathBuf>> {
    if items.is_instance_of::<PyString>() || items.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an iterable of paths, not a single str or bytes"
        )));
    }
    items
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be an iterable of paths")))?
        .map(|item| extract_path(&item?))
        .collect()
}

/// Install `wheels` (`.whl` files, unpacked into `cache_dir` first, or
/// unpacked trees) into the directories `dirs`: purelib, platlib, scripts,
/// data, and either `include` (each distribution's headers in
/// `<include>/<name>`, pip's rule) or `headers` (as given, for every wheel).
/// One item per wheel, in order: an `InstalledDistribution`, or the
/// exception that wheel's install raised (it was rolled back).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
#[pyo3(signature = (wheels, dirs, interpreter, cache_dir, *, python_version=None, methods=None, threads=None, installer="fastlink", requested=false, direct_url=None, replace=false, progress=None))]
pub fn install_wheels<'py>(
    py: Python<'py>,
    wheels: &Bound<'py, PyAny>,
    dirs: &Bound<'py, PyDict>,
    interpreter: &Bound<'py, PyAny>,
    cache_dir: &Bound<'py, PyAny>,
    python_version: Option<(u32, u32)>,
    methods: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    installer: &str,
    requested: bool,
    direct_url: Option<&Bound<'py, PyAny>>,
    replace: bool,
    progress: Option<&'py Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let call = Call::new(py, progress)?;
    let wheels = paths(wheels, "wheels")?;
    let cache_dir = extract_path(cache_dir)?;
    let (purelib, platlib) = (directory(dirs, "purelib")?, directory(dirs, "platlib")?);
    let (scripts, data) = (directory(dirs, "scripts")?, directory(dirs, "data")?);
    let environment;
    let scheme;
    let target = if dirs.contains("include")? {
        environment = Environment {
            purelib,
            platlib,
            scripts,
            data,
            include: directory(dirs, "include")?,
        };
        Target::Environment(&environment)
    } else {
        scheme = Scheme {
            purelib,
            platlib,
            scripts,
            data,
            headers: directory(dirs, "headers")?,
        };
        Target::Scheme(&scheme)
    };
    // True: pip's own for each `.whl` (its file: URL and SHA-256).
    let (direct_url, direct_url_of_wheel_file) = match direct_url {
        None => (None, false),
        Some(value) if value.is_instance_of::<PyBool>() => (None, value.extract::<bool>()?),
        Some(value) => (
            Some(
                value
                    .extract::<String>()
                    .map_err(|_| PyTypeError::new_err("direct_url must be a str, True or None"))?,
            ),
            false,
        ),
    };
    let install_options = InstallOptions {
        interpreter: extract_path(interpreter)?,
        installer: installer.to_string(),
        requested,
        direct_url,
        replace,
        direct_url_of_wheel_file,
        python_version,
    };
    let options = Options {
        methods: parse_methods(methods)?,
        dirs_exist_ok: true,
        overwrite: false,
        // As pip and uv: installed files get the time of the install (the
        // wheel's member times are not kept, so neither are the entry's).
        preserve_times: false,
        threads: parse_threads(threads)?,
        ignore: None,
    };
    // The results are kept outside the job, so that an interrupt (Ctrl-C,
    // or an exception from `progress`) can still say which wheels were
    // past their point of no return and stayed installed.
    let finished = Mutex::new(None);
    let ran = call.run_job(options.threads, |cancel, counters| {
        let results = fastlink_core::install_wheel_files(
            &wheels,
            &cache_dir,
            target,
            &install_options,
            &options,
            cancel,
            counters,
        );
        *finished.lock().unwrap_or_else(|e| e.into_inner()) = Some(results);
    });
    let results = finished.into_inner().unwrap_or_else(|e| e.into_inner());
    let installed_list = |results: Vec<fastlink_core::Result<WheelFileInstalled>>| {
        let answer = PyList::empty(py);
        for result in results {
            match result {
                Ok(installed) => {
                    let report = Py::new(py, PyReport::from(installed.installed.report.clone()))?;
                    answer.append(PyInstalledDistribution { installed, report })?;
                }
                Err(err) => answer.append(to_py_err(err).into_value(py))?,
            }
        }
        Ok::<_, PyErr>(answer)
    };
    if let Err(interrupt) = ran {
        if let Some(Ok(results)) = results {
            let done = installed_list(results.into_iter().filter(Result::is_ok).collect())?;
            interrupt.value(py).setattr("installed", done)?;
        }
        return Err(interrupt);
    }
    let results = results
        .expect("the job ran to its end")
        .map_err(to_py_err)?;
    call.report_done()?;
    installed_list(results)
}

/// What `unpack_wheel` left in the cache.
#[pyclass(frozen, module = "fastlink", name = "UnpackedWheel")]
pub struct PyUnpackedWheel {
    unpacked: UnpackedWheel,
}

#[pymethods]
impl PyUnpackedWheel {
    /// The entry: the wheel's tree as the archive has it. Shared by every
    /// install from it; never modify it.
    #[getter]
    fn path(&self) -> PathBuf {
        self.unpacked.path.clone()
    }

    /// The distribution name, from the wheel's file name.
    #[getter]
    fn name(&self) -> &str {
        &self.unpacked.name
    }

    /// The distribution version, from the wheel's file name.
    #[getter]
    fn version(&self) -> &str {
        &self.unpacked.version
    }

    /// The wheel's files, as unpacked into the entry.
    #[getter]
    fn files(&self) -> usize {
        self.unpacked.files
    }

    /// The total size of those files.
    #[getter]
    fn bytes(&self) -> u64 {
        self.unpacked.bytes
    }

    /// The entry was there already (made by an earlier or a concurrent
    /// call); nothing was written.
    #[getter]
    fn reused(&self) -> bool {
        self.unpacked.reused
    }

    /// The SHA-256 of the wheel file, in lowercase hex.
    #[getter]
    fn sha256(&self) -> &str {
        &self.unpacked.sha256
    }

    fn __repr__(&self) -> String {
        let u = &self.unpacked;
        format!(
            "UnpackedWheel(path={:?}, name={:?}, version={:?}, files={}, bytes={}, reused={})",
            u.path.display().to_string(),
            u.name,
            u.version,
            u.files,
            u.bytes,
            if u.reused { "True" } else { "False" }
        )
    }
}

/// Unpack the `.whl` file `wheel` into `cache_dir`, once: the entry is
/// `<cache_dir>/wheels-v1/<file name>/<first 32 hex digits of its SHA-256>/`.
///
/// Members are written in parallel, each checked against RECORD (sha256 and
/// size) as it is written; unsafe member names are refused before anything
/// is written. The entry is built under a staging name and renamed in, so
/// concurrent calls both succeed and share one entry. A corrupt, truncated
/// or lying wheel raises `InvalidWheelError` naming the wheel and the member,
/// and leaves the cache as it was.
#[pyfunction]
pub fn unpack_wheel<'py>(
    py: Python<'py>,
    wheel: &Bound<'py, PyAny>,
    cache_dir: &Bound<'py, PyAny>,
) -> PyResult<PyUnpackedWheel> {
    let call = Call::new(py, None)?;
    let (wheel, cache_dir) = (extract_path(wheel)?, extract_path(cache_dir)?);
    let unpacked = call
        .run_job(None, |cancel, _| {
            fastlink_core::unpack_wheel(&wheel, &cache_dir, cancel)
        })?
        .map_err(to_py_err)?;
    Ok(PyUnpackedWheel { unpacked })
}

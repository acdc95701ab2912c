//! `fastlink.Report`: what a call did, as read-only attributes; made by
//! hand too (a test double), pickled, compared, and as plain data.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use fastlink_core::{
    errno_name, Fallback, MetadataKind, Method, Report, Skipped, UnsupportedMetadata,
    NOT_WRITTEN_BACK,
};

use crate::exceptions::to_py_err;

type SkippedEntry = (String, i32, String);
type CountedEntry = (String, i32, usize, String);

/// What a call to `clone_or_copy` did.
///
/// `Report(method=..., files=..., ...)` makes one by hand, e.g. a test double:
/// every field by keyword, those not given 0 or empty. Names are checked as a
/// call reports them (`ValueError` for an unknown method or metadata kind, or
/// an `elapsed` that is negative or not a number); the counts are taken as
/// given. A report pickles, compares equal field by field, and `to_dict()`
/// gives it as plain data.
#[pyclass(frozen, eq, module = "fastlink", name = "Report")]
#[derive(PartialEq)]
pub struct PyReport {
    report: Report,
}

impl From<Report> for PyReport {
    fn from(report: Report) -> Self {
        PyReport { report }
    }
}

#[pymethods]
impl PyReport {
    /// See the class: a report by hand.
    #[new]
    #[allow(clippy::too_many_arguments)] // one keyword per field
    #[pyo3(
        signature = (*, method="copy", files=0, dirs=0, symlinks=0, bytes=0, reflinked=0, hardlinked=0, copied=0, skipped=Vec::new(), fallbacks=Vec::new(), unsupported_metadata=Vec::new(), elapsed=0.0),
        text_signature = "(*, method='copy', files=0, dirs=0, symlinks=0, bytes=0, reflinked=0, hardlinked=0, copied=0, skipped=(), fallbacks=(), unsupported_metadata=(), elapsed=0.0)"
    )]
    fn new(
        method: &str,
        files: usize,
        dirs: usize,
        symlinks: usize,
        bytes: u64,
        reflinked: usize,
        hardlinked: usize,
        copied: usize,
        skipped: Vec<SkippedEntry>,
        fallbacks: Vec<CountedEntry>,
        unsupported_metadata: Vec<CountedEntry>,
        elapsed: f64,
    ) -> PyResult<Self> {
        let method_of = |name: &str| Method::parse(name).map_err(to_py_err);
        let elapsed = Duration::try_from_secs_f64(elapsed).map_err(|_| {
            PyValueError::new_err(format!(
                "elapsed must be a number of seconds >= 0, not {elapsed}"
            ))
        })?;
        let report = Report {
            method: method_of(method)?,
            files,
            dirs,
            symlinks,
            bytes,
            reflinked,
            hardlinked,
            copied,
            skipped: skipped
                .into_iter()
                .map(|(method, errno, message)| {
                    Ok(Skipped {
                        method: method_of(&method)?,
                        errno,
                        message,
                    })
                })
                .collect::<PyResult<_>>()?,
            fallbacks: fallbacks
                .into_iter()
                .map(|(method, errno, files, message)| {
                    Ok(Fallback {
                        method: method_of(&method)?,
                        errno,
                        files,
                        message,
                    })
                })
                .collect::<PyResult<_>>()?,
            unsupported_metadata: unsupported_metadata
                .into_iter()
                .map(|(kind, errno, entries, message)| {
                    Ok(UnsupportedMetadata {
                        kind: MetadataKind::parse(&kind).map_err(to_py_err)?,
                        errno,
                        entries,
                        message,
                    })
                })
                .collect::<PyResult<_>>()?,
            elapsed,
        };
        Ok(PyReport { report })
    }

    /// The report as plain JSON-ready data, as `fastlink --json` prints it:
    /// the fields in order, each entry of `skipped`, `fallbacks` and
    /// `unsupported_metadata` a dict of its fields plus `error`, the errno's
    /// name ("EXDEV"; "errno N" for one fastlink does not name; a fallback's
    /// `NOT_WRITTEN_BACK`, which is no errno, "NOT_WRITTEN_BACK").
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = &self.report;
        let answer = PyDict::new(py);
        answer.set_item("method", r.method.name())?;
        answer.set_item("files", r.files)?;
        answer.set_item("dirs", r.dirs)?;
        answer.set_item("symlinks", r.symlinks)?;
        answer.set_item("bytes", r.bytes)?;
        answer.set_item("reflinked", r.reflinked)?;
        answer.set_item("hardlinked", r.hardlinked)?;
        answer.set_item("copied", r.copied)?;
        let skipped = PyList::empty(py);
        for s in &r.skipped {
            let entry = PyDict::new(py);
            entry.set_item("method", s.method.name())?;
            entry.set_item("errno", s.errno)?;
            entry.set_item("error", errno_name(s.errno))?;
            entry.set_item("message", &s.message)?;
            skipped.append(entry)?;
        }
        answer.set_item("skipped", skipped)?;
        let fallbacks = PyList::empty(py);
        for f in &r.fallbacks {
            let entry = PyDict::new(py);
            entry.set_item("method", f.method.name())?;
            entry.set_item("errno", f.errno)?;
            let error = if f.errno == NOT_WRITTEN_BACK {
                "NOT_WRITTEN_BACK".to_string()
            } else {
                errno_name(f.errno)
            };
            entry.set_item("error", error)?;
            entry.set_item("files", f.files)?;
            entry.set_item("message", &f.message)?;
            fallbacks.append(entry)?;
        }
        answer.set_item("fallbacks", fallbacks)?;
        let unsupported = PyList::empty(py);
        for u in &r.unsupported_metadata {
            let entry = PyDict::new(py);
            entry.set_item("kind", u.kind.name())?;
            entry.set_item("errno", u.errno)?;
            entry.set_item("error", errno_name(u.errno))?;
            entry.set_item("entries", u.entries)?;
            entry.set_item("message", &u.message)?;
            unsupported.append(entry)?;
        }
        answer.set_item("unsupported_metadata", unsupported)?;
        answer.set_item("elapsed", r.elapsed.as_secs_f64())?;
        Ok(answer)
    }

    /// Pickle (and `copy`) make the report again from its fields, by keyword.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        let r = &self.report;
        kwargs.set_item("method", r.method.name())?;
        kwargs.set_item("files", r.files)?;
        kwargs.set_item("dirs", r.dirs)?;
        kwargs.set_item("symlinks", r.symlinks)?;
        kwargs.set_item("bytes", r.bytes)?;
        kwargs.set_item("reflinked", r.reflinked)?;
        kwargs.set_item("hardlinked", r.hardlinked)?;
        kwargs.set_item("copied", r.copied)?;
        kwargs.set_item("skipped", self.skipped(py)?)?;
        kwargs.set_item("fallbacks", self.fallbacks(py)?)?;
        kwargs.set_item("unsupported_metadata", self.unsupported_metadata(py)?)?;
        kwargs.set_item("elapsed", r.elapsed.as_secs_f64())?;
        Ok((PyTuple::empty(py), kwargs))
    }

    /// The method that placed the most files (ties: the earlier preferred one);
    /// with no files, the method the call chose.
    #[getter]
    fn method(&self) -> &'static str {
        self.report.method.name()
    }

    /// Regular files placed.
    #[getter]
    fn files(&self) -> usize {
        self.report.files
    }

    /// Directories of the tree, the root included (0 for a single file).
    #[getter]
    fn dirs(&self) -> usize {
        self.report.dirs
    }

    /// Symlinks recreated.
    #[getter]
    fn symlinks(&self) -> usize {
        self.report.symlinks
    }

    /// Total size of the regular files.
    #[getter]
    fn bytes(&self) -> u64 {
        self.report.bytes
    }

    /// Files cloned.
    #[getter]
    fn reflinked(&self) -> usize {
        self.report.reflinked
    }

    /// Files hard-linked.
    #[getter]
    fn hardlinked(&self) -> usize {
        self.report.hardlinked
    }

    /// Files copied.
    #[getter]
    fn copied(&self) -> usize {
        self.report.copied
    }

    /// `(method, errno, message)` for each preferred method passed over for the
    /// whole call: the pair of filesystems cannot do it.
    #[getter]
    fn skipped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let entries = self
            .report
            .skipped
            .iter()
            .map(|s| (s.method.name(), s.errno, s.message.as_str()));
        PyTuple::new(py, entries)
    }

    /// `(method, errno, files, message)` for each method that some files could
    /// not use (a file at the link limit, a NOCOW file, a mount point inside dst),
    /// so each of them fell back to a later method. errno `NOT_WRITTEN_BACK` (0):
    /// files written moments ago, whose clone would have waited for their data to
    /// be written back (XFS), and which took the next allowed method instead.
    #[getter]
    fn fallbacks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let entries = self
            .report
            .fallbacks
            .iter()
            .map(|f| (f.method.name(), f.errno, f.files, f.message.as_str()));
        PyTuple::new(py, entries)
    }

    /// `(kind, errno, entries, message)` for each kind of metadata ("mode",
    /// "times") the destination filesystem cannot store (FAT answers chmod with
    /// ENOSYS), with how many entries were left as the filesystem has them. The
    /// data is in place; only ENOSYS/EOPNOTSUPP count, any other errno is raised.
    #[getter]
    fn unsupported_metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let entries = self
            .report
            .unsupported_metadata
            .iter()
            .map(|u| (u.kind.name(), u.errno, u.entries, u.message.as_str()));
        PyTuple::new(py, entries)
    }

    /// Wall-clock seconds the call took.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.report.elapsed.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let r = &self.report;
        let skipped: Vec<String> = r
            .skipped
            .iter()
            .map(|s| format!("({:?}, {}, {:?})", s.method.name(), s.errno, s.message))
            .collect();
        let fallbacks: Vec<String> = r
            .fallbacks
            .iter()
            .map(|f| {
                format!(
                    "({:?}, {}, {}, {:?})",
                    f.method.name(),
                    f.errno,
                    f.files,
                    f.message
                )
            })
            .collect();
        let unsupported: Vec<String> = r
            .unsupported_metadata
            .iter()
            .map(|u| {
                format!(
                    "({:?}, {}, {}, {:?})",
                    u.kind.name(),
                    u.errno,
                    u.entries,
                    u.message
                )
            })
            .collect();
        format!(
            "Report(method={:?}, files={}, dirs={}, symlinks={}, bytes={}, reflinked={}, \
             hardlinked={}, copied={}, skipped={}, fallbacks={}, unsupported_metadata={}, \
             elapsed={:.3})",
            r.method.name(),
            r.files,
            r.dirs,
            r.symlinks,
            r.bytes,
            r.reflinked,
            r.hardlinked,
            r.copied,
            python_tuple(&skipped),
            python_tuple(&fallbacks),
            python_tuple(&unsupported),
            r.elapsed.as_secs_f64(),
        )
    }
}

/// Items spelled as Python spells a tuple of them: `()`, `(a,)`, `(a, b)`.
fn python_tuple(items: &[String]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}

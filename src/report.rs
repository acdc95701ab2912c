//! `fastlink.Report`: what a call did, as read-only attributes.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use fastlink_core::Report;

#[pyclass(frozen, module = "fastlink", name = "Report")]
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
    /// The method that placed the most files: "reflink", "hardlink" or "copy".
    #[getter]
    fn method(&self) -> &'static str {
        self.report.method.name()
    }

    #[getter]
    fn files(&self) -> usize {
        self.report.files
    }

    #[getter]
    fn dirs(&self) -> usize {
        self.report.dirs
    }

    #[getter]
    fn symlinks(&self) -> usize {
        self.report.symlinks
    }

    #[getter]
    fn bytes(&self) -> u64 {
        self.report.bytes
    }

    #[getter]
    fn reflinked(&self) -> usize {
        self.report.reflinked
    }

    #[getter]
    fn hardlinked(&self) -> usize {
        self.report.hardlinked
    }

    #[getter]
    fn copied(&self) -> usize {
        self.report.copied
    }

    /// `(method, errno, message)` for each preferred method passed over.
    #[getter]
    fn skipped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let entries = self
            .report
            .skipped
            .iter()
            .map(|s| (s.method.name(), s.errno, s.message.as_str()));
        PyTuple::new(py, entries)
    }

    /// `(method, errno, files, message)` for each method that some files
    /// could not use, so that each of them fell back to a later method.
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
    /// "times") the destination filesystem could not store, e.g. FAT's modes.
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

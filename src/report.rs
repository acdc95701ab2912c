//! `fastlink.Report`: what a call did, as read-only attributes.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use fastlink_core::Report;

/// What a call to `clone_or_copy` did.
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
    /// so each of them fell back to a later method.
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

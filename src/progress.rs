//! `fastlink.Progress`: what a progress callback receives.

use pyo3::prelude::*;

use fastlink_core::ProgressSnapshot;

/// How far a running `clone_or_copy` has got, as passed to its `progress` callback.
///
/// `Progress(files_done=..., ...)` makes one by hand, e.g. to drive a progress
/// callback in a test: every count by keyword, those not given 0.
#[pyclass(frozen, eq, module = "fastlink", name = "Progress")]
#[derive(PartialEq)]
pub struct PyProgress {
    snapshot: ProgressSnapshot,
}

impl From<ProgressSnapshot> for PyProgress {
    fn from(snapshot: ProgressSnapshot) -> Self {
        PyProgress { snapshot }
    }
}

#[pymethods]
impl PyProgress {
    /// See the class: a reading by hand.
    #[new]
    #[pyo3(signature = (*, files_done=0, files_total=0, bytes_done=0, bytes_total=0))]
    fn new(files_done: u64, files_total: u64, bytes_done: u64, bytes_total: u64) -> Self {
        PyProgress {
            snapshot: ProgressSnapshot {
                files_done,
                files_total,
                bytes_done,
                bytes_total,
            },
        }
    }

    /// Regular files placed so far.
    #[getter]
    fn files_done(&self) -> u64 {
        self.snapshot.files_done
    }

    /// Regular files to place; 0 until the source has been walked.
    #[getter]
    fn files_total(&self) -> u64 {
        self.snapshot.files_total
    }

    /// Bytes placed so far; a copy adds them as it goes, in steps of up to 64 MiB.
    #[getter]
    fn bytes_done(&self) -> u64 {
        self.snapshot.bytes_done
    }

    /// Bytes of all regular files; 0 until the source has been walked.
    #[getter]
    fn bytes_total(&self) -> u64 {
        self.snapshot.bytes_total
    }

    fn __repr__(&self) -> String {
        let s = &self.snapshot;
        format!(
            "Progress(files_done={}, files_total={}, bytes_done={}, bytes_total={})",
            s.files_done, s.files_total, s.bytes_done, s.bytes_total
        )
    }
}

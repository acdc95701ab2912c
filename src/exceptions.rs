//! fastlink's exception classes, and the one place core errors become
//! Python exceptions. PyO3's default conversion would leave `errno`,
//! `filename` and `filename2` unset; here every exception gets all of them.

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;

use fastlink_core::{Error, ErrorKind};

create_exception!(
    fastlink,
    FastlinkError,
    PyOSError,
    "Base class of the conditions fastlink itself detects."
);
create_exception!(
    fastlink,
    CrossDeviceError,
    FastlinkError,
    "Every allowed method needs one filesystem, and source and destination are on two (EXDEV)."
);
create_exception!(
    fastlink,
    ReflinkUnsupportedError,
    FastlinkError,
    "Reflink was required and the filesystem cannot clone (EOPNOTSUPP)."
);
create_exception!(
    fastlink,
    HardlinkUnsupportedError,
    FastlinkError,
    "Hardlink was required and the filesystem refused it (EPERM, EMLINK)."
);
create_exception!(
    fastlink,
    SymlinkUnsupportedError,
    FastlinkError,
    "The destination filesystem cannot hold a symlink of the source (FAT: ENOSYS, EPERM or EOPNOTSUPP; `errno` is what it said). `filename` is the source link, `filename2` where it was to go; the call was rolled back."
);
create_exception!(
    fastlink,
    SpecialFileError,
    FastlinkError,
    "The source holds a fifo, socket or device file (EINVAL); nothing was written."
);
create_exception!(
    fastlink,
    DestinationInsideSourceError,
    FastlinkError,
    "The destination lies inside the source tree (EINVAL); nothing was written."
);
create_exception!(
    fastlink,
    SourceInsideDestinationError,
    FastlinkError,
    "The source lies inside the destination of a merge (EINVAL); nothing was written."
);
create_exception!(
    fastlink,
    SourceChangedError,
    FastlinkError,
    "A source file changed size while it was being copied (EAGAIN); the call was rolled back."
);

create_exception!(
    fastlink,
    InvalidWheelError,
    FastlinkError,
    "A wheel that cannot be unpacked: not a zip, corrupt, an unsafe member name, or a member that does not match its RECORD (EBADMSG). `filename` is the wheel; the message names the member. Nothing was left in the cache."
);

create_exception!(
    fastlink,
    DistributionExistsError,
    FastlinkError,
    "The distribution being installed is installed already: the environment's purelib or platlib holds a `.dist-info` of the same normalized project name (EEXIST). `filename2` is that directory. Nothing was written."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FastlinkError", py.get_type::<FastlinkError>())?;
    m.add("CrossDeviceError", py.get_type::<CrossDeviceError>())?;
    m.add(
        "ReflinkUnsupportedError",
        py.get_type::<ReflinkUnsupportedError>(),
    )?;
    m.add(
        "HardlinkUnsupportedError",
        py.get_type::<HardlinkUnsupportedError>(),
    )?;
    m.add(
        "SymlinkUnsupportedError",
        py.get_type::<SymlinkUnsupportedError>(),
    )?;
    m.add("SpecialFileError", py.get_type::<SpecialFileError>())?;
    m.add(
        "DestinationInsideSourceError",
        py.get_type::<DestinationInsideSourceError>(),
    )?;
    m.add(
        "SourceInsideDestinationError",
        py.get_type::<SourceInsideDestinationError>(),
    )?;
    m.add("SourceChangedError", py.get_type::<SourceChangedError>())?;
    m.add("InvalidWheelError", py.get_type::<InvalidWheelError>())?;
    m.add(
        "DistributionExistsError",
        py.get_type::<DistributionExistsError>(),
    )?;
    Ok(())
}

/// Convert a core error to the matching Python exception, with `errno`,
/// `strerror`, `filename` (source side) and `filename2` (destination side).
pub fn to_py_err(err: Error) -> PyErr {
    // OSError(errno, strerror, filename, winerror, filename2). Called on
    // OSError itself, Python picks the builtin subclass for the errno
    // (FileNotFoundError, PermissionError, ...).
    let args = (
        err.errno(),
        err.message().to_string(),
        err.src().map(|p| p.as_os_str().to_os_string()),
        None::<i32>,
        err.dst().map(|p| p.as_os_str().to_os_string()),
    );
    match err.kind() {
        ErrorKind::Io => PyOSError::new_err(args),
        ErrorKind::CrossDevice => CrossDeviceError::new_err(args),
        ErrorKind::ReflinkUnsupported => ReflinkUnsupportedError::new_err(args),
        ErrorKind::HardlinkUnsupported => HardlinkUnsupportedError::new_err(args),
        ErrorKind::SymlinkUnsupported => SymlinkUnsupportedError::new_err(args),
        ErrorKind::SpecialFile => SpecialFileError::new_err(args),
        ErrorKind::DestinationInsideSource => DestinationInsideSourceError::new_err(args),
        ErrorKind::SourceInsideDestination => SourceInsideDestinationError::new_err(args),
        ErrorKind::SourceChanged => SourceChangedError::new_err(args),
        ErrorKind::InvalidWheel => InvalidWheelError::new_err(args),
        ErrorKind::AlreadyInstalled => DistributionExistsError::new_err(args),
        ErrorKind::InvalidArgument => PyValueError::new_err(err.message().to_string()),
        ErrorKind::Cancelled => PyKeyboardInterrupt::new_err(()),
    }
}

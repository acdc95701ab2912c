"""fastlink: put cached file trees in place with copy-on-write clones.

Clone when the filesystems allow it, otherwise fall back to the fastest
correct copy, and report exactly what happened.
"""

from fastlink._fastlink import (
    CrossDeviceError,
    DestinationInsideSourceError,
    DistributionExistsError,
    FastlinkError,
    HardlinkUnsupportedError,
    InvalidWheelError,
    Progress,
    ReflinkUnsupportedError,
    Report,
    SourceChangedError,
    SourceInsideDestinationError,
    SpecialFileError,
    SymlinkUnsupportedError,
    __version__,
    clone_files,
    clone_or_copy,
    probe,
    reclaim,
)

__all__ = [
    "CrossDeviceError",
    "DestinationInsideSourceError",
    "DistributionExistsError",
    "FastlinkError",
    "HardlinkUnsupportedError",
    "InvalidWheelError",
    "Progress",
    "ReflinkUnsupportedError",
    "Report",
    "SourceChangedError",
    "SourceInsideDestinationError",
    "SpecialFileError",
    "SymlinkUnsupportedError",
    "__version__",
    "clone_files",
    "clone_or_copy",
    "probe",
    "reclaim",
]

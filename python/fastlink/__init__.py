"""fastlink: put cached file trees in place with copy-on-write clones.

Clone when the filesystems allow it, otherwise fall back to the fastest
correct copy, and report exactly what happened.
"""

from fastlink._copytree import copytree
from fastlink._environment import NoEnvironmentError
from fastlink._fastlink import (
    NOT_WRITTEN_BACK,
    CrossDeviceError,
    DestinationInsideSourceError,
    DistributionExistsError,
    FastlinkError,
    HardlinkUnsupportedError,
    InstalledDistribution,
    InvalidWheelError,
    Progress,
    ReflinkUnsupportedError,
    ReplacedDistribution,
    Report,
    SourceChangedError,
    SourceInsideDestinationError,
    SpecialFileError,
    SymlinkUnsupportedError,
    UnpackedWheel,
    __version__,
    clone_files,
    clone_or_copy,
    probe,
    reclaim,
    unpack_wheel,
)
from fastlink._install import install_wheels, user_cache_dir

__all__ = [
    "NOT_WRITTEN_BACK",
    "CrossDeviceError",
    "DestinationInsideSourceError",
    "DistributionExistsError",
    "FastlinkError",
    "HardlinkUnsupportedError",
    "InstalledDistribution",
    "InvalidWheelError",
    "NoEnvironmentError",
    "Progress",
    "ReflinkUnsupportedError",
    "ReplacedDistribution",
    "Report",
    "SourceChangedError",
    "SourceInsideDestinationError",
    "SpecialFileError",
    "SymlinkUnsupportedError",
    "UnpackedWheel",
    "__version__",
    "clone_files",
    "clone_or_copy",
    "copytree",
    "install_wheels",
    "probe",
    "reclaim",
    "unpack_wheel",
    "user_cache_dir",
]

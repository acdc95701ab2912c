"""fastlink: put cached file trees in place with copy-on-write clones.

Clone when the filesystems allow it, otherwise fall back to the fastest
correct copy, and report exactly what happened.
"""

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

# Neither typing nor shutil is imported by `import fastlink` (about 10 ms
# that `fastlink install` and every installer's process would pay):
# `MethodName` and the shutil drop-ins are made on first use, by the
# module's __getattr__.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from fastlink._copyfile import copy2, copyfile
    from fastlink._copytree import copytree
    from fastlink._fastlink import _MethodName as MethodName


def __getattr__(name: str) -> object:
    """`fastlink.MethodName`, the names of the methods as a `typing.Literal`
    ("reflink", "hardlink", "copy"), and `copy2`, `copyfile` and `copytree`,
    loaded on first use."""
    value: object
    if name == "MethodName":
        from typing import Literal

        value = Literal["reflink", "hardlink", "copy"]
    elif name in ("copy2", "copyfile"):
        from fastlink import _copyfile

        value = getattr(_copyfile, name)
    elif name == "copytree":
        from fastlink._copytree import copytree as value
    else:
        raise AttributeError(f"module 'fastlink' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "NOT_WRITTEN_BACK",
    "CrossDeviceError",
    "DestinationInsideSourceError",
    "DistributionExistsError",
    "FastlinkError",
    "HardlinkUnsupportedError",
    "InstalledDistribution",
    "InvalidWheelError",
    "MethodName",
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
    "copy2",
    "copyfile",
    "copytree",
    "install_wheels",
    "probe",
    "reclaim",
    "unpack_wheel",
    "user_cache_dir",
]

"""The filesystems of a run: sparse images loop-mounted as XFS, btrfs and ext4, and a
tmpfs, all in one fresh temp dir that close() unmounts and removes."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import MKFS
from .system import log, mount_entry, run


class Mounts:
    """Sparse images loop-mounted (and a tmpfs) in one fresh temp dir; close() undoes it."""

    def __init__(self, workdir: str | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fastlink-bench-", dir=workdir))
        self.mnt: dict[str, Path] = {}
        self.info: dict[str, dict[str, Any]] = {}
        self._mounted: list[Path] = []
        self._images: list[Path] = []
        self._dirs: list[Path] = []

    def mount(self, name: str, size: int) -> Path:
        mnt = self.tmp / f"mnt-{name}"
        mnt.mkdir()
        self._dirs.append(mnt)
        mkfs = MKFS[name]
        if mkfs is None:
            argv: list[str] = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)]
        else:
            img = self.tmp / f"{name}.img"
            with open(img, "wb") as f:
                f.truncate(size)  # sparse
            self._images.append(img)
            run([*mkfs, img])
            argv = ["mount", "-o", "loop", str(img), str(mnt)]
        run(argv)
        self._mounted.append(mnt)
        entry = mount_entry(mnt)
        if entry is None or entry[0] != name:
            raise RuntimeError(f"{mnt} mounted as {entry}, expected {name}")
        self.mnt[name] = mnt
        self.info[name] = {
            "mkfs": " ".join(mkfs) if mkfs else "-",
            "size": size,
            "mount_options": entry[1],
            "image": "sparse file, loop device" if mkfs else "RAM",
        }
        return mnt

    def close(self) -> None:
        for mnt in reversed(self._mounted):
            for attempt in range(6):
                proc = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
                if proc.returncode == 0:
                    break
                time.sleep(0.5 * (attempt + 1))
            else:
                log(f"umount {mnt} failed ({proc.stderr.strip()}); lazy-unmounting")
                subprocess.run(["umount", "-l", str(mnt)], check=False)
        self._mounted.clear()
        for img in self._images:
            with contextlib.suppress(FileNotFoundError):
                img.unlink()
        # Non-recursive on purpose: never delete through a mount that is still there.
        for d in [*self._dirs, self.tmp]:
            with contextlib.suppress(OSError):
                d.rmdir()
        if self.tmp.exists():
            log(f"warning: could not remove {self.tmp}")

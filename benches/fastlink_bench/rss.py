"""Peak memory: the peak RSS of a fresh process making one call, fastlink's and its
peers', measured through GNU time when it is there."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .config import PATH_BY_KEY, RSS_PATHS
from .system import log

if TYPE_CHECKING:
    from .harness import Harness, Workload


GNU_TIME = "/usr/bin/time"
RSS_METHOD = (
    "GNU time %M"
    if os.access(GNU_TIME, os.X_OK)
    and subprocess.run([GNU_TIME, "-f", "%M", "true"], capture_output=True, check=False).returncode
    == 0
    else "wait4 (an upper bound: a child spawned from the harness inherits its peak RSS)"
)


def max_rss(argv: list[str]) -> tuple[int, float, int, str]:
    """Run *argv*; return (peak RSS in KiB, wall seconds, exit code, stderr).

    The measurement goes through GNU time, which forks the command from its own small
    process: on Linux a child spawned straight from this (large) Python process starts
    with our peak RSS as its own ru_maxrss (exec records the old mm's high-water mark).
    """
    if RSS_METHOD.startswith("GNU"):
        with tempfile.NamedTemporaryFile("r") as tf:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [GNU_TIME, "-f", "%M", "-o", tf.name, *argv],
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - t0
            kib = int(tf.read().split()[-1])
        return kib, wall, proc.returncode, proc.stderr
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_maxrss, time.perf_counter() - t0, p.returncode, err


def run_rss(h: Harness, w: Workload) -> None:
    """Peak RSS of a fresh process doing one call, fastlink's and its peers'."""
    log(f"peak RSS on {w.spec.key}")
    script = (
        "import json, sys, time\n"
        "import fastlink\n"
        "src, dst, methods = sys.argv[1:4]\n"
        "out = {}\n"
        "if src != '-':\n"
        "    t0 = time.perf_counter()\n"
        "    r = fastlink.clone_or_copy(src, dst, methods=None if methods == 'default'"
        " else methods)\n"
        "    out = {'seconds': time.perf_counter() - t0, 'method': r.method,"
        " 'files': r.files}\n"
        "print(json.dumps(out))\n"
    )
    runs: list[tuple[str, str, list[str], Path | None]] = [
        ("python + import fastlink (baseline)", "-", [], None)
    ]
    for key in RSS_PATHS:
        p = PATH_BY_KEY[key]
        if p not in w.paths:
            continue
        dst = h.mnt(p.dst_fs) / "dst" / f"rss.{key}"
        src = str(w.src[p.src_fs])
        runs.append((f"fastlink {p.label}", key, [src, str(dst), "default"], dst))
        runs.append((f"cp -a {p.label}", key, [*p.cp_argv, src, str(dst)], dst))
        if h.floor is not None:
            argv = [str(h.floor), p.floor_mode, src, str(dst)]
            argv += ["--threads", str(h.threads_default)]
            runs.append((f"floor {p.label}", key, argv, dst))
    for what, key, argv, dst in runs:
        h.flush_pending()
        os.sync()
        if what.startswith(("fastlink", "python")):
            full = [sys.executable, "-c", script, *(argv or ["-", "-", "-"])]
        else:
            full = argv
        maxrss_kib, wall, rc, err = max_rss(full)
        if dst is not None:
            h.pending_rm.append(dst)
        rec = {
            "what": what,
            "path": key,
            "workload": w.spec.key,
            "files": w.stats.files,
            "maxrss_kib": maxrss_kib,
            "wall_s": wall,
            "exit": rc,
            "measured_by": RSS_METHOD,
        }
        if rc != 0:
            h.problem(f"RSS run {what!r} exited {rc}: {err[-300:]}")
        h.rss.append(rec)
        log(f"    {what:<45} peak RSS {maxrss_kib / 1024:7.1f} MiB  ({wall:.2f}s)")
    h.flush_pending()

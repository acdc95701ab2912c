"""The virtualenv-seeding workload (issue 11, item 6) plugs in here.

It lives in benches/seeding.py, written separately, and must define

    measure_seeding(workdir: Path, rounds: int) -> dict

which creates environments under *workdir* (an empty directory on this run's XFS
mount) *rounds* times per seeder, interleaved, and returns a JSON-able dict. This hook
renders from it:

- "medians": {label: seconds}, one row per seeder (the first is the reference of the
  ratio column, unless "reference" names another label);
- "notes": [str], printed under the table;
- anything else is kept in bench.json only.

Until benches/seeding.py exists the section is skipped with a note, not a problem.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .config import BENCH_DIR
from .system import log

if TYPE_CHECKING:
    from .harness import Harness

KEY = "seeding"
SEEDING_MODULE = BENCH_DIR / "seeding.py"


def load() -> ModuleType | None:
    """benches/seeding.py as a module, or None when it is not there."""
    if not SEEDING_MODULE.is_file():
        return None
    spec = importlib.util.spec_from_file_location("seeding", SEEDING_MODULE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_section(h: Harness) -> None:
    mod = load()
    if mod is None:
        why = f"{SEEDING_MODULE.relative_to(BENCH_DIR.parent)} is not there yet"
        h.sections[KEY] = {"skipped": why}
        h.notes.append(f"virtualenv seeding not measured: {why}")
        log(f"{KEY}: skipped: {why}")
        return
    rounds = 1 if h.smoke else h.args.seeding_rounds
    workdir = h.mnt("xfs") / "src" / KEY
    workdir.mkdir(parents=True)
    log(f"{KEY}: benches/seeding.py measure_seeding({workdir}, {rounds})")
    result: Any = mod.measure_seeding(workdir, rounds)
    if not isinstance(result, dict):
        raise TypeError(f"measure_seeding returned {type(result).__name__}, not a dict")
    h.sections[KEY] = {"rounds": rounds, "workdir_fs": "xfs", "result": result}
    h.pending_rm.append(workdir)

"""The sections of a run beyond the main comparison, in the order they run: each has a
key (what `--only` names), a run(harness) that appends its samples and its metadata
(harness.sections[key]), and a render(bench.json data) -> Markdown lines.

A new workload is one module with a run function, a renderer in report_sections.py,
and a line here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import installs, per_file, report_sections, seeding_hook

if TYPE_CHECKING:
    from .harness import Harness


@dataclasses.dataclass(frozen=True)
class Section:
    key: str
    run: Callable[[Harness], None]
    render: Callable[[dict[str, Any]], list[str]]


SECTIONS = (
    Section("per-file", per_file.run_section, report_sections.render_per_file),
    Section("uv", lambda h: installs.run_section(h, "uv"), report_sections.render_uv),
    Section(
        "packages", lambda h: installs.run_section(h, "packages"), report_sections.render_packages
    ),
    Section("seeding", seeding_hook.run_section, report_sections.render_seeding),
)
# "main": the corpus, synthetic, deep and big trees against cp, copytree and the floor,
# with the thread sweep and the peak-RSS runs.
ONLY_CHOICES = ("main", *(s.key for s in SECTIONS))

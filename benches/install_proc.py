"""fastlink as an installer process, the counterpart of `uv pip install`: place each
unpacked wheel tree into one site-packages, from a thread pool (uv installs wheels in
parallel too). Run as a whole process and timed from outside, start-up included:

    python install_proc.py [--workers N] [--methods M] [--no-preserve-times] SITE TREE...

Every call merges into SITE (dirs_exist_ok=True), all sharing fastlink's worker pool;
prints one JSON line, what the reports add up to. It imports only sys and threading
besides fastlink: `concurrent.futures` costs ~20 ms here and `json` ~14 ms, which uv,
a native binary, never pays, and which would be measured as fastlink's.
"""

from __future__ import annotations

import sys
import threading

import fastlink


def main(argv: list[str]) -> int:
    workers, methods, preserve_times = 4, None, True
    while argv and argv[0].startswith("--"):
        flag = argv.pop(0)
        if flag == "--workers":
            workers = int(argv.pop(0))
        elif flag == "--methods":
            methods = argv.pop(0)
        elif flag == "--no-preserve-times":
            preserve_times = False
        else:
            print(f"install_proc.py: unknown flag {flag}", file=sys.stderr)
            return 2
    site, trees = argv[0], argv[1:]

    def place(tree: str) -> fastlink.Report:
        return fastlink.clone_or_copy(
            tree, site, methods=methods, dirs_exist_ok=True, preserve_times=preserve_times
        )

    reports: list[fastlink.Report] = []
    failures: list[BaseException] = []
    pending = list(reversed(trees))

    def worker() -> None:
        # list.pop and list.append are atomic: no lock is needed.
        while pending:
            try:
                tree = pending.pop()
            except IndexError:
                return
            try:
                reports.append(place(tree))
            except BaseException as err:
                failures.append(err)
                return

    threads = [threading.Thread(target=worker) for _ in range(min(workers, len(trees)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    methods = ", ".join(f'"{m}"' for m in sorted({r.method for r in reports}))
    counts = {
        "calls": len(reports),
        "files": sum(r.files for r in reports),
        "bytes": sum(r.bytes for r in reports),
        "reflinked": sum(r.reflinked for r in reports),
        "hardlinked": sum(r.hardlinked for r in reports),
        "copied": sum(r.copied for r in reports),
    }
    fields = ", ".join(f'"{key}": {value}' for key, value in counts.items())
    print(f'{{"methods": [{methods}], {fields}}}')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The fastlink benchmark harness, one concern per module. The entry point is
benches/run_benchmarks.py, which calls cli.main. Reading order for a newcomer:

- cli: flags, root checks, the run and its outputs;
- harness: set-up (mounts, warm-up), the main comparison's interleaved rounds, then each
  section of sections.py, and what bench.json holds;
- config: filesystems, source -> destination paths, the main comparison's workloads and
  candidates, output locations.

The main comparison (one tree per call, fastlink against cp, copytree and the floor):

- sources: a workload's source trees on each source filesystem;
- trees: the deterministic synthetic trees, and fake wheels for the smoke run;
- candidates: how each candidate is set up and timed;
- verify: checks of first-round outputs (also used by installs);
- rss: peak memory of one call in a fresh process.

The installer-shaped sections (sections.py lists them; `--only` picks them):

- per_file: single-file calls against shutil.copy2 and os.link;
- installs (+ install_proc, the fastlink installer process; wheelsets, the wheels):
  fastlink against `uv pip install`, both whole processes, on the 6-wheel corpus and
  on jupyterlab's 91 packages;
- seeding_hook: runs benches/seeding.py's measure_seeding when it is there.

Shared: mounts (the loop-mounted images of a run), tools (the floor, uv), system
(commands, logging, /proc, versions), summary (medians, formats), report and
report_sections (BENCHMARKS.md from bench.json alone), chart (docs/benchmarks.png).
"""

"""The fastlink benchmark harness, one concern per module (entry point:
benches/run_benchmarks.py, which calls cli.main):

- config: filesystems, paths, workloads, candidates, output locations;
- system: commands, logging, /proc readings, machine and version info;
- mounts: the loop-mounted images and tmpfs of one run;
- trees: the deterministic synthetic source trees and smoke-mode fake wheels;
- tools: the floor program and uv;
- harness: the main comparison, interleaved rounds, bench.json's contents;
- candidates: how each candidate of the main comparison is set up and timed;
- verify: checks of first-round outputs;
- rss: peak memory of one call in a fresh process;
- summary, report, chart: medians, BENCHMARKS.md and the chart, from bench.json alone;
- cli: flags, root checks, the run and its outputs.
"""

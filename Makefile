# One entry point for building, testing and linting. `make test` is what CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CARGO_TEST_FLAGS ?=

.PHONY: test develop venv cargo-test pytest lint typecheck fmt bench bench-deps bench-smoke bench-report clean \
	macos-sim portable-check wheel wheel-tools wheel-test install-check cpython-copytree

test: develop cargo-test pytest

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet maturin

venv: $(PY)

# Build the extension in release mode into the venv (tests copy real trees),
# with the `dev` extra of pyproject.toml: the test, lint and CLI tools.
develop: $(PY)
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH \
		$(PY) -m maturin develop --release --quiet --extras dev

# The core crate's unit, integration and doc tests, and its example built.
# The binding (the root crate) has none: it is tested from Python. The wheel
# tests compare installs with pip's: the venv's pip (the newest, from `venv`)
# here; `make macos-sim` uses the fresh test venvs' own (CPython's bundled one).
cargo-test: $(PY)
	FASTLINK_PIP_PYTHON=$(abspath $(PY)) cargo test --workspace $(CARGO_TEST_FLAGS)

pytest: develop
	$(PY) -m pytest tests -q

# The release wheel: one abi3 wheel (CPython >= 3.9) in dist/, tagged manylinux2014
# (manylinux_2_17_x86_64). zig, from the ziglang wheel, links the extension against
# glibc 2.17's symbols; auditwheel then shows which glibc versions it needs and the
# recipe fails unless that is manylinux_2_17. Its own target dir: the zig-linked
# build would otherwise invalidate `make develop`'s target/release.
WHEEL_TOOLS := maturin==1.16.0 ziglang==0.17.1 auditwheel==6.8.2
WHEEL_TARGET_DIR := target/wheel
WHEEL_TAG := manylinux_2_17_x86_64

wheel-tools: $(PY)
	$(PY) -m pip install --quiet $(WHEEL_TOOLS)

wheel: wheel-tools
	rm -f dist/fastlink_fs-*.whl
	CARGO_TARGET_DIR=$(abspath $(WHEEL_TARGET_DIR)) PATH=$(abspath $(VENV))/bin:$$PATH \
		$(VENV)/bin/maturin build --release --locked --zig --compatibility manylinux2014 --out dist
	$(VENV)/bin/auditwheel show dist/fastlink_fs-*.whl | tee $(WHEEL_TARGET_DIR)/auditwheel.txt
	tr -s ' \n' ' ' < $(WHEEL_TARGET_DIR)/auditwheel.txt \
		| grep -q 'consistent with the following platform tag: "$(WHEEL_TAG)"' \
		|| { echo "make wheel: auditwheel does not find the wheel $(WHEEL_TAG)" >&2; exit 1; }
	ls -l dist/fastlink_fs-*-cp39-abi3-*$(WHEEL_TAG).whl

# dist/'s wheel, installed with the `test` extra into a fresh venv of each CPython
# 3.9 to 3.13 (pyenv's, else python3.X on PATH; a missing one fails), runs tests/
# there, all but test_packaging.py. WHEEL_TEST_PYTHONS="3.11 3.13" picks versions.
wheel-test:
	.ci/wheel-test

# CPython's own copytree, copy2 and copyfile tests (Lib/test/test_shutil.py's
# TestCopyTree, TestMove, TestCopy and TestCopyFile, as shipped with each interpreter)
# with shutil.copytree, copy2 and copyfile replaced by fastlink's: every test that
# passes with the real ones must pass, on XFS and btrfs loop mounts (root),
# under pyenv's CPython 3.11, 3.12 and 3.13 (a missing one fails). Under a minute.
# CPYTHON_COPYTREE_ARGS="--pythons 3.13 --filesystems btrfs --json out.json".
CPYTHON_COPYTREE_ARGS ?=

cpython-copytree: develop
	$(SUDO) $(PY) checks/cpython-copytree/check.py $(CPYTHON_COPYTREE_ARGS)

# The held-out check (checks/install-vs-pip/README.md): `fastlink install` against
# pip 26.3 on 112 real wheels (jupyterlab's closure, numpy, scipy, awscli, ...), each
# into a fresh venv, the venvs compared file by file; then pip uninstall, and two
# batches with a corrupt wheel. The wheels (163 MiB) are downloaded once into
# INSTALL_CHECK_WHEELS. INSTALL_CHECK_ARGS="--json out.json" (or --keep, --installer pip).
INSTALL_CHECK_WHEELS ?= $(HOME)/.cache/fastlink-install-check/wheels
INSTALL_CHECK_ARGS ?=

install-check: develop
	INSTALL_CHECK_WHEELS=$(INSTALL_CHECK_WHEELS) $(PY) checks/install-vs-pip/check.py \
		--installer "$(abspath $(VENV))/bin/fastlink install --python {python} --cache-dir {cache_dir} {wheels}" \
		$(INSTALL_CHECK_ARGS)

# The benchmarks are pytest-benchmark modules in benches/ (benches/conftest.py maps
# them); they loop-mount XFS/btrfs/ext4/tmpfs through tests/mounts.py, so they run as
# root (through sudo when needed). The floor program is built so none is skipped.
FLOOR_BUILD := cargo build --release --quiet --manifest-path benches/floor/Cargo.toml
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Every benchmark once, untimed, on small trees and generated wheels (CI: ~1 min).
bench-smoke: develop bench-deps
	$(FLOOR_BUILD)
	$(SUDO) $(PY) -m pytest benches -q -p no:cacheprovider --benchmark-disable

# The full run (~25 min on 2 cores), --bench-big adding the 100,000-file tree and the
# 4 GiB file. It writes pytest-benchmark's JSON, the raw data, to benches/results/ (a
# build output, ignored by git) and renders a preview of the report next to it.
# One part: BENCH_ARGS="-k per_file" (under a minute), also -k file_list, threads,
# installs, seeding, rss, "trees and corpus"; --rounds N changes every part's rounds.
# NO_DEVELOP=1 measures the fastlink already installed in .venv instead of rebuilding it.
BENCH_JSON := benches/results/bench.json
BENCH_BIG ?= --bench-big
BENCH_ARGS ?=

bench: $(if $(NO_DEVELOP),$(PY),develop) bench-deps
	$(FLOOR_BUILD)
	mkdir -p benches/results
	$(SUDO) $(PY) -m pytest benches -q -p no:cacheprovider --benchmark-json=$(BENCH_JSON) \
		--benchmark-columns=median --benchmark-sort=name $(BENCH_BIG) $(BENCH_ARGS)
	$(PY) benches/report.py $(BENCH_JSON) --out benches/results/BENCHMARKS.md \
		--chart benches/results/benchmarks.png

# BENCHMARKS.md and docs/benchmarks.png from the last full `make bench` (on a quiet machine).
bench-report: $(PY)
	$(PY) benches/report.py $(BENCH_JSON)

# The `bench` extra of pyproject.toml, without building the project itself.
bench-deps: $(PY)
	$(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))\
		['project']['optional-dependencies']['bench'], sep='\n')" > $(VENV)/bench-requirements.txt
	$(PY) -m pip install --quiet -r $(VENV)/bench-requirements.txt

# The core crate documents without a warning, and no pyo3 is in its dependency graph.
lint: $(PY) typecheck
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet -p fastlink-core
	! cargo tree -p fastlink-core -e normal,build,dev --prefix none | grep -i pyo3
	$(VENV)/bin/ruff check python tests benches checks
	$(VENV)/bin/ruff format --check python tests benches checks

# The package, its stubs and a typical client under mypy --strict; stubtest
# compares the stubs with the built extension, so this needs `develop`.
typecheck: develop
	$(VENV)/bin/mypy --strict python/fastlink tests/typecheck
	$(PY) -m mypy.stubtest fastlink

fmt: $(PY)
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches checks
	$(VENV)/bin/ruff check --fix python tests benches checks

# The macOS backend (crates/fastlink-core/src/platform/macos.rs), built, linted and tested on Linux:
# --cfg fastlink_macos selects it at every platform cfg site, rustix uses its
# libc backend as on macOS, and crates/fastlink-core/src/platform/macos_sim.rs stands in for
# clonefileat, fclonefileat and renameatx_np. The extension is installed as a
# wheel into its own venv, and the whole pytest suite runs against it.
MACOS_SIM := RUSTFLAGS="--cfg fastlink_macos --cfg rustix_use_libc" CARGO_TARGET_DIR=$(abspath target/macos-sim)
SIM_VENV := .venv-macos-sim

macos-sim:
	$(MACOS_SIM) cargo test --workspace $(CARGO_TEST_FLAGS)
	$(MACOS_SIM) cargo clippy --workspace --all-targets -- -D warnings
	test -x $(SIM_VENV)/bin/python || $(PYTHON) -m venv $(SIM_VENV)
	$(SIM_VENV)/bin/python -m pip install --quiet --upgrade pip maturin
	rm -rf target/macos-sim/wheels
	$(MACOS_SIM) $(SIM_VENV)/bin/maturin build --release --quiet --out target/macos-sim/wheels
	$(SIM_VENV)/bin/python -m pip install --quiet --force-reinstall "$$(ls target/macos-sim/wheels/*.whl)[dev]"
	FASTLINK_EXPECT_BACKEND=macos $(SIM_VENV)/bin/python -m pytest tests -q -m "not linux_backend"

# The backend for other unixes, compiled and linted here (it cannot run a
# different kernel's semantics, so it is not tested here).
portable-check:
	RUSTFLAGS="--cfg fastlink_portable" CARGO_TARGET_DIR=$(abspath target/portable) \
		cargo clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf target $(VENV) $(SIM_VENV) dist

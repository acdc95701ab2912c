"""The external programs measured: the floor (benches/floor, built here when cargo is
there) and uv (found next to this interpreter, warm cache per source filesystem)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .config import FLOOR_BIN, FLOOR_MANIFEST, REPO_DIR
from .system import log, run


def find_cargo() -> str | None:
    """cargo on PATH, else in $CARGO_HOME or the sudo-ing user's ~/.cargo."""
    return shutil.which("cargo") or next(
        (
            str(c)
            for c in (
                Path(os.environ.get("CARGO_HOME", "~/.cargo")).expanduser() / "bin/cargo",
                Path(f"~{os.environ.get('SUDO_USER', '')}/.cargo/bin/cargo").expanduser(),
            )
            if c.is_file()
        ),
        None,
    )


def setup_floor(*, no_floor: bool, smoke: bool) -> tuple[Path | None, str]:
    """(the floor binary, or None and why not). A full run builds it, and needs it."""
    if no_floor:
        return None, "--no-floor given"
    cargo = find_cargo()
    if not smoke and FLOOR_MANIFEST.is_file():
        if cargo is None:
            log("cargo not found: using a floor binary built earlier, if any")
        else:
            log("building the floor: cargo build --release --manifest-path benches/floor")
            proc = subprocess.run(
                [cargo, "build", "--release", "--manifest-path", str(FLOOR_MANIFEST)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise SystemExit(
                    f"building the floor failed (exit {proc.returncode}):\n"
                    f"{proc.stderr.strip()[-3000:]}"
                )
    if FLOOR_BIN.is_file() and os.access(FLOOR_BIN, os.X_OK):
        return FLOOR_BIN, ""
    reason = (
        f"{FLOOR_BIN.relative_to(REPO_DIR)} is missing"
        + ("" if FLOOR_MANIFEST.is_file() else " (no benches/floor/Cargo.toml)")
        + ("" if cargo or smoke else " and cargo is not installed")
    )
    if smoke:
        reason += " (smoke mode does not build it)"
        log(f"floor skipped: {reason}")
        return None, reason
    raise SystemExit(
        f"the floor program is required for a full run: {reason}.\n"
        "Build it with `cargo build --release --manifest-path benches/floor/Cargo.toml`, "
        "or pass --no-floor to measure everything else."
    )


def find_uv(*, no_uv: bool, smoke: bool) -> tuple[str | None, str]:
    """(the uv binary, or None and why not). A full run needs it."""
    if no_uv:
        return None, "--no-uv given"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        try:
            import uv as uv_mod

            uv = uv_mod.find_uv_bin()
        except (ImportError, FileNotFoundError):
            uv = None
    if uv is None and smoke:
        uv = shutil.which("uv")
    if uv is not None:
        return uv, ""
    if smoke:
        reason = "uv is not installed (smoke mode does not install it)"
        log(f"uv skipped: {reason}")
        return None, reason
    raise SystemExit(
        f"uv is required for a full run: `{sys.executable} -m pip install uv` "
        "(make bench does it), or pass --no-uv"
    )


class Uv:
    """uv with its cache in *cache*, run from *cwd* (both on the source filesystem)."""

    def __init__(self, binary: str, cache: Path, cwd: Path) -> None:
        self.binary = binary
        self.cache = cache
        self.cwd = cwd

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
        env.update(
            UV_CACHE_DIR=str(self.cache),
            UV_PYTHON_DOWNLOADS="never",
            UV_NO_PROGRESS="1",
        )
        return env

    def venv(self, venv: Path) -> None:
        argv = [self.binary, "venv", "--no-config", "--offline", "--quiet"]
        argv += ["--python", sys.executable, str(venv)]
        run(argv, env=self.env(), cwd=self.cwd)

    def install(
        self, venv: Path, wheels: list[Path], link_mode: str
    ) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, "pip", "install", "--no-config", "--offline", "--no-deps"]
        argv += [f"--link-mode={link_mode}", "--python", str(venv / "bin" / "python")]
        argv += [str(p) for p in wheels]
        return subprocess.run(
            argv, env=self.env(), cwd=self.cwd, capture_output=True, text=True, check=False
        )

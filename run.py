#!/usr/bin/env python3
"""The project's two commands, on a machine with nothing but Python 3.11.

    python3 run.py study    the main job: a 30-point Latin Hypercube study on the
                            embedded digits data (every GPU, else the CPU),
                            then its sensitivity report
    python3 run.py test     the whole test suite (what CI runs)

Each creates the virtual environment ``.venv`` and installs the project into it
(``pip install -e .[test]``) when it is missing or when pyproject.toml changed.
Extra arguments are passed on: ``python3 run.py test -k somrl``.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".dcsomrl-installed"

# The main job: small enough for a laptop CPU in a few minutes (SPEC 6, README).
STUDY = ["lhs", "--n", "30", "--dataset", "digits", "--workers-per-device", "2",
         "--study", "digits-demo", "--seed", "0"]
ANALYZE = ["analyze", "--study", "digits-demo", "--out", "results/digits-demo/analysis"]


def ensure_venv() -> None:
    """Create and fill .venv unless it already holds this pyproject's install."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == want:
        return
    if not (BIN / "python").exists():
        print(f"creating virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing dcsomrl and its dependencies into .venv (first time: several minutes) ...", flush=True)
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                    "-q", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("study", "test"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ensure_venv()
    os.chdir(ROOT)
    if argv[0] == "test":
        return subprocess.run([str(BIN / "python"), "-m", "pytest", "-q", *argv[1:]]).returncode
    study = str(BIN / "dcsomrl-study")
    rc = subprocess.run([study, *STUDY, *argv[1:]]).returncode
    if rc != 0:
        return rc
    return subprocess.run([study, *ANALYZE]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

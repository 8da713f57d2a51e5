"""``python3 -m service COMMAND`` runs Accord from a fresh checkout with nothing but
Python ≥ 3.11: on first use it creates ``.venv`` in the checkout, installs the locked
dependencies there (again whenever pyproject.toml or constraints.txt change) and runs the
command inside it. COMMAND is any ``accord`` command (``serve``, ``db migrate``…),
``test [pytest args]`` to run the test suite, or ``bench [options]`` for the benchmarks;
``--help`` (or no command) lists them all without installing anything.
Standard library only: it runs before the dependencies exist."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from service import commands

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
LOCK = ROOT / "constraints.txt"
PYTHON = VENV / "bin" / "python"


def _ensure_installed(extra: str | None) -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes()).hexdigest()
    stamp = VENV / f".installed-{extra or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    target = f"{ROOT}[{extra}]" if extra else str(ROOT)
    print(f"installing {target} with {LOCK.name}", file=sys.stderr)
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(LOCK),
            "-e",
            target,
        ],
        check=True,
    )
    stamp.write_text(digest)


# Commands run here rather than by ``accord``, listed with its own in the help.
_OWN = (
    ("test", "install the test tools and run the test suite; arguments go to pytest"),
    ("bench", "run the benchmarks (`bench --help` for their options)"),
)


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        # Answered before installing anything: the grammar needs only the standard library.
        help_parser = commands.parser(prog="python3 -m service", more=_OWN)
        help_parser.print_help(None if args else sys.stderr)
        sys.exit(0 if args else 2)
    # Tests type-check and smoke-test the benchmark too, so they need its extra.
    extras = {"test": "dev,bench", "bench": "bench"}
    _ensure_installed(extras.get(args[0]) if args else None)
    os.chdir(ROOT)
    if args[:1] == ["test"]:
        command = [str(PYTHON), "-m", "pytest", *args[1:]]
    elif args[:1] == ["bench"]:
        command = [str(PYTHON), "-m", "bench", *args[1:]]
    else:
        command = [str(PYTHON), "-m", "service.cli", *args]
    os.execv(command[0], command)


if __name__ == "__main__":
    main()

"""`accord export popolo`: the Popolo document on standard output or into a file, the same as
`GET /v1/export/popolo` serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.test_exports import document, popolo_client, popolo_url

__all__ = ["document", "popolo_client", "popolo_url"]


def test_export_popolo_command(popolo_url: str, tmp_path: Path, document: dict[str, Any]) -> None:
    env = {"ACCORD_DATABASE_URL": popolo_url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "service.cli", "export", "popolo"]
    printed = subprocess.run(command, env=env, capture_output=True, check=True, timeout=60)
    assert json.loads(printed.stdout) == document
    output = tmp_path / "people.json"
    subprocess.run([*command, "-o", str(output)], env=env, check=True, timeout=60)
    assert json.loads(output.read_bytes()) == document
    assert list(tmp_path.iterdir()) == [output]
    nowhere = tmp_path / "missing" / "people.json"
    failed = subprocess.run(
        [*command, "-o", str(nowhere)], env=env, capture_output=True, check=False
    )
    assert failed.returncode != 0
    assert not nowhere.parent.exists()

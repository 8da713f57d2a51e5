"""`accord export popolo`: the Popolo document on standard output or into a file, the same as
`GET /v1/export/popolo` serves; and `accord import` of such a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Databases, query
from tests.test_exports import document, popolo_client, popolo_url
from tests.test_imports import migrated_empty

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


def test_a_popolo_file_imports_into_an_empty_database(
    popolo_url: str, databases: Databases, tmp_path: Path, document: dict[str, Any]
) -> None:
    """`accord export popolo` from one database, `accord import` of that file into an empty
    one, and the second database's Popolo document is the first's: everything Popolo carries
    comes back (memberships under new ids, since Popolo's ids of tenures are not Accord's)."""
    source = {"ACCORD_DATABASE_URL": popolo_url, "PATH": "/usr/bin:/bin"}
    people = tmp_path / "people.json"
    export = [sys.executable, "-m", "service.cli", "export", "popolo", "-o", str(people)]
    subprocess.run(export, env=source, check=True, timeout=60)
    target = migrated_empty(databases, "popolo_import")
    env = {**source, "ACCORD_DATABASE_URL": target}
    imported = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", str(people)],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    again = subprocess.run(
        [sys.executable, "-m", "service.cli", "export", "popolo"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    copy = json.loads(again.stdout)
    assert sorted(copy) == sorted(document)
    for section, objects in document.items():
        if section != "memberships":
            differing = [
                (a.get("id"), sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))
                for a, b in zip(copy[section], objects, strict=True)
                if a != b
            ]
            assert differing == [], section

    def without_ids(memberships: list[dict[str, Any]]) -> list[str]:
        return sorted(
            json.dumps({k: v for k, v in m.items() if k != "id"}, sort_keys=True)
            for m in memberships
        )

    assert without_ids(copy["memberships"]) == without_ids(document["memberships"])
    # A second import of the same file finds every record as it is: nothing written.
    position = query(target, "select last_seq from change_log")[0]["last_seq"]
    twice = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", str(people)],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert twice.returncode == 0, twice.stdout + twice.stderr
    assert query(target, "select last_seq from change_log")[0]["last_seq"] == position

"""The command line's grammar: every ``accord`` command, its options and their help. Standard
library only, so ``python3 -m service --help`` can show it before anything is installed; the
commands themselves run in service/cli.py."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

DESCRIPTION = """Accord: a typed, async REST API for structured diplomatic-event data.
Every command that touches the database uses the one `serve` would: ACCORD_DATABASE_URL,
else the embedded PostgreSQL in ACCORD_DATA_DIR."""

CONTRACT = Path("openapi") / "openapi.json"


def parser(prog: str = "accord", more: Sequence[tuple[str, str]] = ()) -> argparse.ArgumentParser:
    """The ``accord`` commands; ``more`` are (name, help) of further commands that the caller
    runs itself and lists here only for the help (``test`` and ``bench``)."""
    top = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate, seed (embedded) and serve the API")
    serve.add_argument("--host", help="address to listen on (default: ACCORD_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: ACCORD_PORT, 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of cores)",
    )
    serve.add_argument(
        "--seed",
        action="store_true",
        help="load the worked example into a configured database too (always done for the "
        "embedded one)",
    )
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="leave migrations to `accord db migrate` (e.g. a deploy job)",
    )

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("migrate", help="apply pending migrations")
    db_commands.add_parser("status", help="list migrations: applied, pending or changed")

    seed = commands.add_parser(
        "seed",
        help="load the worked example, once per database",
        description="Load the worked example (sql/seed/worked_example.sql) into a database "
        "that never had it, and record that it did, as migrations are recorded. Where it was "
        "loaded before, change nothing: say when it was loaded and list its records that are "
        "missing (deleted since). `accord serve` does the same at each start on the embedded "
        "database (or with --seed), so what a user deleted or changed stays so.",
    )
    seed.add_argument(
        "--restore-missing",
        action="store_true",
        help="put back the example's missing records, each with its lists, citations and "
        "versions, and a `create` in its history; records that exist stay exactly as they are",
    )

    keys = commands.add_parser("keys", help="API keys for writes")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser("create", help="make a key; it is shown only once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope", action="append", choices=["write", "admin"], required=True, dest="scopes"
    )
    create.add_argument("--expires-in-days", type=float, default=None)
    keys_commands.add_parser("list", help="list keys (never their secrets)")
    revoke = keys_commands.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id", type=UUID)

    export = commands.add_parser(
        "export",
        help="write every record of a collection as NDJSON or CSV",
        description="Every record of a collection, in one snapshot, as the API's "
        "/v1/export/{name}.ndjson or .csv serves it (the same bytes). The change-log position "
        "it is consistent with goes to stderr: follow /v1/changes?since=N from there. A "
        "progress bar shows on stderr when it is a terminal.",
    )
    export.add_argument(
        "name",
        metavar="NAME",
        help="what to export: a collection (organizations, officials, posts, role-changes, "
        "negotiations, rounds, delegations, memoranda, agreements, sources, statements, "
        "exchanges, claims), or popolo for the people side as one Popolo JSON document "
        "(what GET /v1/export/popolo serves; --format does not apply)",
    )
    export.add_argument("--format", choices=["ndjson", "csv"], default="ndjson")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        help="write to this file (only once complete: written beside it, then renamed); "
        "default: stdout",
    )

    imports = commands.add_parser(
        "import",
        help="import NDJSON or CSV files of records, all or nothing",
        description="Import records from NDJSON or CSV files (as the exports write them) in "
        "one transaction: every line is validated as the API would (references within the "
        "files, in any order, and to stored records), every bad line listed as FILE:LINE, "
        "and nothing written unless all are good (or --partial). A line whose id exists "
        "updates that record when it differs. Each file's resource is --resource or its name "
        "(role-changes.ndjson, officials.csv); a .json file is a Popolo document (what "
        "accord export popolo writes), imported as the records it carries.",
    )
    imports.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imports.add_argument("--resource", help="the resource of the (one) file, e.g. role-changes")
    imports.add_argument(
        "--partial", action="store_true", help="load the good lines and report the bad ones"
    )
    imports.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would be created and updated; write nothing",
    )

    openapi = commands.add_parser("openapi", help="write the OpenAPI contract")
    openapi.add_argument("--output", type=Path, default=CONTRACT)
    openapi.add_argument(
        "--check", action="store_true", help="fail if the file differs from the served contract"
    )

    for name, help_text in more:
        commands.add_parser(name, help=help_text, add_help=False)
    return top

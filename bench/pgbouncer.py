"""A throwaway PgBouncer (Debian's ``pgbouncer``) in transaction-pooling mode in front of a
PostgreSQL server, for the scale-out benchmark and the cross-process If-Match test."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def available() -> bool:
    return shutil.which("pgbouncer") is not None


def version() -> str:
    output = subprocess.run(
        ["pgbouncer", "--version"], capture_output=True, text=True, check=False
    ).stdout
    return output.splitlines()[0] if output else "unknown"


@contextmanager
def running(
    database_url: str, port: int = 6433, pool_size: int = 40, query_wait_timeout: int = 120
) -> Iterator[str]:
    """Start PgBouncer for the database of ``database_url``; yields the URL through it.
    ``query_wait_timeout``: how long a client may wait for a server connection (PgBouncer's
    default, 120 s) before PgBouncer gives up on it."""
    target = urlsplit(database_url)
    user = target.username or "postgres"
    database = target.path.lstrip("/")
    # The embedded server listens on a Unix socket only: its directory comes as ?host=.
    socket_dir = parse_qs(target.query).get("host", [None])[0]
    host = socket_dir or target.hostname or "127.0.0.1"
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        folder.chmod(0o755)
        (folder / "users.txt").write_text(f'"{user}" ""\n')
        (folder / "pgbouncer.ini").write_text(f"""[databases]
{database} = host={host} port={target.port or 5432} dbname={database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
query_wait_timeout = {query_wait_timeout}
max_client_conn = 1000
ignore_startup_parameters = statement_timeout,idle_in_transaction_session_timeout
""")
        command = ["pgbouncer", str(folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; run it as the server's own user, who can
            # reach the server's socket directory.
            owner = pwd.getpwuid(Path(socket_dir).stat().st_uid).pw_name if socket_dir else None
            command[1:1] = ["-u", owner or "postgres"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        error = process.stderr.read().decode() if process.stderr else ""
                        raise RuntimeError(f"pgbouncer did not start: {error}") from None
                    time.sleep(0.1)
            yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
        finally:
            process.terminate()
            process.wait(10)
            if process.stderr:
                process.stderr.close()

"""wrk as the load generator: one run of one scenario against one server, parsed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str:
    """wrk from Debian's packages, installed when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL
    )
    found = shutil.which("wrk")
    assert found, "wrk could not be installed"
    return found


def _quote(text: str) -> str:
    """A Lua long string: no escaping needed for quotes or backslashes."""
    return f"[==[{text}]==]"


def _lua(method: str, paths: list[str], headers: dict[str, str], body: str | None) -> str:
    lines = ["local paths = {"] + [f"  {_quote(path)}," for path in paths] + ["}"]
    lines.append(
        "local headers = {"
        + ", ".join(f"[ {_quote(name)} ] = {_quote(value)}" for name, value in headers.items())
        + "}"
    )
    body_lua = "nil" if body is None else _quote(body)
    lines.append(f"local body = {body_lua}")
    lines.append("local n = 0")
    lines.append("request = function()")
    lines.append("  n = n + 1")
    lines.append("  local path = paths[(n % #paths) + 1]")
    lines.append(f'  return wrk.format("{method}", path, headers, body)')
    lines.append("end")
    return "\n".join(lines) + "\n"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match[1]) * _UNITS[match[2]]


def run(
    wrk: str,
    base_url: str,
    method: str,
    paths: list[str],
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(method, paths, headers or {}, body))
    try:
        output = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--latency",
                "-s",
                script.name,
                base_url,
            ],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    if "Requests/sec" not in output or ".lua:" in output:
        raise RuntimeError(f"wrk failed:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output)[1])  # type: ignore[index]
    errors_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), "
        r"timeout (\d+)",
        output,
    )
    errors = int(errors_match[1]) if errors_match else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Result(rps, p50, p99, errors)

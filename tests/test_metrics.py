"""`GET /metrics`: Prometheus' text format (OpenMetrics on request), requests labelled by
route template, and each of Accord's own metrics moving when its event happens; two worker
processes report one sum, on a port of their own when `ACCORD_METRICS_PORT` says so."""

from __future__ import annotations

import asyncio
import math
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.core import metrics
from service.core.database import create_pool
from service.settings import Settings
from tests.conftest import Client, Databases, free_port, query, wait_ready

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ORGANIZATION = {"name": "Metered Ministry", "kind": "ministry"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: str, name: str, **labels: str) -> float:
    return samples(scraped).get((name, frozenset(labels.items())), 0.0)


def scrape(client: Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def requests_of(scraped: str, path: str, status: str) -> float:
    return value(
        scraped,
        "accord_requests_total",
        method="GET",
        path=path,
        status_code=status,
        app_name="accord",
    )


def test_requests_are_labelled_by_route_template_never_by_raw_path(client: Client) -> None:
    before = scrape(client)
    ids = [uuid.uuid4() for _ in range(100)]
    for ident in ids:
        assert client.get(f"/v1/officials/{ident}").status_code == 404
    after = scrape(client)
    template = "/v1/officials/{id}"
    assert requests_of(after, template, "404") - requests_of(before, template, "404") == 100
    # One series for the 100 (and whatever else this process asked before), none by raw path.
    paths = {
        dict(labels)["path"] for (name, labels) in samples(after) if name == "accord_requests_total"
    }
    assert template in paths
    assert not [path for path in paths if UUID.search(path)], paths
    assert not any(str(ident) in after for ident in ids)
    # Paths no route matches share one series too.
    for ident in ids[:3]:
        assert client.get(f"/nowhere/{ident}").status_code == 404
    assert (
        requests_of(scrape(client), "<unmatched>", "404") - requests_of(after, "<unmatched>", "404")
        == 3
    )
    assert (
        value(
            after,
            "accord_request_duration_seconds_count",
            method="GET",
            path=template,
            status_code="404",
            app_name="accord",
        )
        >= 100
    )


def test_without_a_replica_its_lag_is_nan_and_no_read_is_counted(client: Client) -> None:
    """Reads are counted by who answered them only where there is a choice (a replica
    configured: tests/test_replica.py); without one the lag is NaN, not a reassuring 0."""
    for _ in range(3):
        assert client.get("/v1/officials?limit=1").status_code == 200
    scraped = scrape(client)
    assert math.isnan(value(scraped, "accord_replica_lag_seconds"))
    assert value(scraped, "accord_replica_reads_total", served_by="primary") == 0


def test_a_scrape_does_not_count_itself_in_progress(client: Client) -> None:
    assert value(scrape(client), "accord_requests_in_progress", app_name="accord") == 0


def test_openmetrics_on_accept_and_not_in_the_contract(client: Client) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "accord_changes_written" in response.text
    # For Prometheus, not API clients: the contract does not list it.
    assert "/metrics" not in (client.app.openapi_schema.paths or {})


def test_a_change_written_and_an_idempotent_replay_are_counted(client: Client) -> None:
    before = scrape(client)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/v1/organizations", json=ORGANIZATION, headers=key)
    assert first.status_code == 201, first.text
    again = client.post("/v1/organizations", json=ORGANIZATION, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    after = scrape(client)
    assert (
        value(after, "accord_changes_written_total") - value(before, "accord_changes_written_total")
        == 1
    )
    assert (
        value(after, "accord_idempotent_replays_total")
        - value(before, "accord_idempotent_replays_total")
        == 1
    )


@pytest.fixture(scope="module")
def slow_url(databases: Databases) -> str:
    return databases.create("metrics")


@pytest.fixture(scope="module")
def one_connection(slow_url: str) -> Iterator[Client]:
    """An app with a pool of one connection whose statements give up after 0.5 s."""
    settings = Settings(
        database_url=slow_url, pool_min_size=1, pool_max_size=1, statement_timeout_ms=500
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def patient(slow_url: str) -> Iterator[Client]:
    """An app with a pool of one connection and the default statement timeout, and no webhook
    deliveries (their worker's polls would queue for that connection too)."""
    settings = Settings(
        database_url=slow_url, pool_min_size=1, pool_max_size=1, webhook_concurrency=0
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _official(url: str) -> str:
    return str(query(url, "select id from officials limit 1")[0]["id"])


async def _locked(url: str, held: threading.Event, release: threading.Event) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("lock table officials in access exclusive mode")
            held.set()
            await asyncio.to_thread(release.wait)
    finally:
        await conn.close()


def test_a_timeout_is_a_503_and_a_database_error_counted(
    one_connection: Client, slow_url: str
) -> None:
    ident = _official(slow_url)
    before = scrape(one_connection)
    held, release = threading.Event(), threading.Event()
    locker = threading.Thread(target=asyncio.run, args=(_locked(slow_url, held, release),))
    locker.start()
    try:
        assert held.wait(10)
        answer = one_connection.get(f"/v1/officials/{ident}")
    finally:
        release.set()
        locker.join(10)
    assert answer.status_code == 503, answer.text
    after = scrape(one_connection)
    assert (
        value(after, "accord_unavailable_responses_total")
        - value(before, "accord_unavailable_responses_total")
        == 1
    )
    assert (
        value(after, "accord_db_errors_total", kind="timeout")
        - value(before, "accord_db_errors_total", kind="timeout")
        == 1
    )
    assert one_connection.get(f"/v1/officials/{ident}").status_code == 200


def test_the_pool_gauges_show_connections_in_use_and_requests_waiting(
    patient: Client, slow_url: str
) -> None:
    one_connection = patient
    ident = _official(slow_url)
    held, release = threading.Event(), threading.Event()
    locker = threading.Thread(target=asyncio.run, args=(_locked(slow_url, held, release),))
    locker.start()
    assert held.wait(10)
    # One read holds the only connection, waiting on the lock; the second waits for it.
    readers = [
        threading.Thread(target=one_connection.get, args=(f"/v1/officials/{ident}",))
        for _ in range(2)
    ]
    try:
        for reader in readers:
            reader.start()
        scraped = ""
        for _ in range(100):  # 10 s at most: the readers' threads start when the machine lets them
            scraped = scrape(one_connection)
            if (
                value(scraped, "accord_db_pool_waiting", pool="primary") == 1
                and value(scraped, "accord_requests_in_progress", app_name="accord") == 2
            ):
                break
            time.sleep(0.1)
        assert value(scraped, "accord_db_pool_waiting", pool="primary") == 1
        # The two reads, not the scrape itself (nor any other app's requests).
        assert value(scraped, "accord_requests_in_progress", app_name="accord") == 2
        connections = "accord_db_pool_connections"
        assert value(scraped, connections, pool="primary", state="size") == 1
        assert value(scraped, connections, pool="primary", state="in_use") == 1
        assert value(scraped, connections, pool="primary", state="idle") == 0
    finally:
        release.set()
        locker.join(10)
        for reader in readers:
            reader.join(10)
    # Once both readers have their answers, the connection is back (within a busy machine's
    # while: a reader's thread may outlive its join above).
    for _ in range(100):
        scraped = scrape(one_connection)
        if value(scraped, "accord_db_pool_connections", pool="primary", state="idle") == 1:
            break
        time.sleep(0.1)
    assert value(scraped, "accord_db_pool_waiting", pool="primary") == 0
    assert value(scraped, "accord_db_pool_connections", pool="primary", state="idle") == 1
    assert value(scraped, "accord_db_pool_connections", pool="primary", state="in_use") == 0


def test_two_workers_report_one_sum_on_the_metrics_port(
    databases: Databases, tmp_path: Path
) -> None:
    url = databases.create("metrics_workers")
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "ACCORD_DATABASE_URL": url,
        "ACCORD_LOG_LEVEL": "WARNING",
        "ACCORD_METRICS_PORT": str(metrics_port),
        "ACCORD_POOL_MIN_SIZE": "3",
        "ACCORD_POOL_MAX_SIZE": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    (tmp_path / "counter_1.db").write_bytes(b"left by an earlier run")
    command = [sys.executable, "-m", "service.cli", "serve", "--workers", "2", "--no-migrate"]
    server = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_ready(base, 180)
        # Off the public port when a port of its own is set.
        assert httpx.get(f"{base}/metrics").status_code == 404
        ident = _official(url)
        for _ in range(60):  # a connection each, so both workers take some
            assert httpx.get(f"{base}/v1/officials/{ident}").status_code == 200

        def summed() -> str:
            text = httpx.get(metrics).text
            assert "counter_1" not in text
            return text

        # Each worker samples its pool and hands on its requests' tallies every 2 s, once
        # started (slowly, on a busy machine); the metrics port reads what they handed on.
        scraped = summed()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (
                value(scraped, "accord_db_pool_connections", pool="primary", state="size") == 6
                and requests_of(scraped, "/v1/officials/{id}", "200") == 60
            ):
                break
            time.sleep(0.5)
            scraped = summed()
        assert requests_of(scraped, "/v1/officials/{id}", "200") == 60
        # Two pools of three connections, one in each worker.
        assert value(scraped, "accord_db_pool_connections", pool="primary", state="size") == 6
        pids = {file.stem.rpartition("_")[2] for file in tmp_path.glob("gauge_livesum_*.db")}
        assert len(pids) == 2
        assert not (tmp_path / "counter_1.db").exists()  # the directory was emptied at start
        openmetrics = httpx.get(metrics, headers={"Accept": "application/openmetrics-text"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    finally:
        server.terminate()
        server.wait(30)


def test_the_metrics_port_is_a_setting() -> None:
    assert Settings.from_env({"ACCORD_METRICS_PORT": "9464"}).metrics_port == 9464
    assert Settings.from_env({}).metrics_port is None
    with pytest.raises(SystemExit):
        Settings.from_env({"ACCORD_METRICS_PORT": "0"})


def test_the_public_port_has_no_metrics_when_a_port_is_set(database_url: str) -> None:
    settings = Settings(database_url=database_url, metrics_port=free_port())
    with TestClient(create_app(settings)) as test_client:
        assert test_client.get("/metrics").status_code == 404


def test_the_webhook_lag_is_how_late_the_oldest_due_delivery_is(slow_url: str) -> None:
    """The sampler's query, on a delivery due 30 s ago that no worker has sent (webhooks
    disabled in these apps' processes would never send it)."""
    query(
        slow_url,
        """with hook as (
               insert into webhooks (url, secret, queued_through, enabled, disabled_reason)
               values ('https://example.org/lag', decode(repeat('ab', 32), 'hex'), 0, false, 'test')
               returning id)
           insert into webhook_deliveries
               (webhook_id, seq, resource, record_id, action, body, next_attempt_at)
           select id, 1, 'officials', gen_random_uuid(), 'created', '{}'::bytea,
                  now() - interval '30 s'
             from hook""",
    )

    async def sampled() -> float | None:
        pool = await create_pool(slow_url, Settings(pool_min_size=1, pool_max_size=1))
        try:
            await metrics.sample_webhook_lag(pool)
            # Read at once: the gauge is the process's, and the samplers of the other apps
            # alive in it (on other databases, in other threads) set it every 2 s.
            return REGISTRY.get_sample_value("accord_webhook_lag_seconds")
        finally:
            await pool.close()

    try:
        lag = asyncio.run(sampled())
        assert lag is not None
        assert 30 <= lag < 90
    finally:
        query(slow_url, "delete from webhooks where url = 'https://example.org/lag'")
    asyncio.run(sampled())
    assert REGISTRY.get_sample_value("accord_webhook_lag_seconds") == 0

"""Prometheus metrics: what every request did (``RequestTallies``, labelled by route template)
and what Accord's own mechanisms did (pool, database errors, 503s, idempotent
replays, changes written, webhook deliveries), served as ``GET /metrics`` — or, with
``ACCORD_METRICS_PORT``, on a port of their own (``serve_port``).

Several worker processes (``accord serve --workers N``) report one sum: prometheus-client's
multiprocess mode, where each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape adds them up (``prepare_directory`` makes that
directory for the run). Gauges of a worker that has died are dropped at the next scrape.

Nothing here touches the database on a request: the pool gauges and the webhook lag are
sampled by each process in the background (``watch``, every ``SAMPLE_EVERY``), which also
moves the requests' tallies into the metrics; the process a scrape reaches does both once
more first, so a one-process scrape is exact.

What an application reports of itself — its pools, its requests in progress — is its own
(``Meters``, one per ``create_app``): several apps in one process (the tests) do not overwrite
each other's gauges, and a scrape of one reports its own with the process's counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Request, Response, get
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from service.core.database import Pool
from service.core.replica import Reads

log = logging.getLogger("accord.metrics")

APP_NAME = "accord"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_EVERY = 2.0
"""Seconds between two samples of the pool gauges and the webhook lag in each process."""

# --- Accord's own metrics ------------------------------------------------------------------------

DB_ERRORS = Counter(
    "accord_db_errors_total",
    "Database trouble met while answering: unavailable, timeout, serialization, deadlock, "
    "resources, unexpected. What the client caused (a constraint, a value) is not counted.",
    ["kind"],
)
UNAVAILABLE_RESPONSES = Counter(
    "accord_unavailable_responses_total", "503 problem responses served (retry after)."
)
IDEMPOTENT_REPLAYS = Counter(
    "accord_idempotent_replays_total", "POSTs answered with the stored answer of their key."
)
CHANGES_WRITTEN = Counter(
    "accord_changes_written_total",
    "Changes written to the change log (history rows), by API writes and imports.",
)
WEBHOOK_DELIVERIES = Counter(
    "accord_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retrying (to be tried again), failed "
    "(for good: the webhook is disabled).",
    ["outcome"],
)
WEBHOOK_LAG = Gauge(
    "accord_webhook_lag_seconds",
    "How late the oldest due, undelivered webhook delivery is (0: none is waiting).",
    multiprocess_mode="livemostrecent",
)

REPLICA_LAG = Gauge(
    "accord_replica_lag_seconds",
    "How far the read replica is behind the primary at its last check (NaN: down or none).",
    multiprocess_mode="livemax",
)
REPLICA_READS = Counter(
    "accord_replica_reads_total",
    "Public reads, where a replica is configured, by the server that answered them: the "
    "replica, or the primary (the replica too far behind or down, or not yet at the read's "
    "Accord-Min-LSN).",
    ["served_by"],
)

_DATABASE_AWAY = (asyncpg.PostgresError, asyncpg.InterfaceError)
_WEBHOOK_LAG = """select coalesce(extract(epoch from now() - min(next_attempt_at)), 0)::float8
                    from webhook_deliveries
                   where state = 'pending' and next_attempt_at <= now()"""


async def sample_webhook_lag(pool: Pool) -> None:
    WEBHOOK_LAG.set(await pool.fetchval(_WEBHOOK_LAG, timeout=SAMPLE_EVERY))


def sample_reads(reads: Reads, meters: Meters) -> None:
    """The replica's pool, its lag, and the reads each server answered since the last sample."""
    replica = reads.replica
    if replica is not None and replica.pool is not None:
        meters.observe_pool("replica", replica.pool)
    lag = reads.replica_lag_seconds()
    REPLICA_LAG.set(float("nan") if lag is None else lag)
    for served_by, count in reads.served.items():
        if count:
            REPLICA_READS.labels(served_by).inc(count)
            reads.served[served_by] = 0


async def watch(pool: Pool, meters: Meters, *, webhooks: bool, reads: Reads | None = None) -> None:
    """An application's sampler, until cancelled: its requests' tallies, its pools, the
    replica's lag and the reads it took, and — where this process delivers webhooks — their
    lag. While it runs, the app is the one ``serve_port`` reports."""
    meters.observe_pool("primary", pool)
    _LIVE.append(meters)
    try:
        while True:
            meters.sample()
            if reads is not None:
                sample_reads(reads, meters)
            # The database away: the requests that meet it count that.
            if webhooks:
                with contextlib.suppress(TimeoutError, OSError, *_DATABASE_AWAY):
                    await sample_webhook_lag(pool)
            await asyncio.sleep(SAMPLE_EVERY)
    finally:
        _LIVE.remove(meters)


# --- requests ------------------------------------------------------------------------------------

UNMATCHED = "<unmatched>"
"""The `path` of a request no route matched (a 404 or 405 from routing)."""

REQUESTS = Counter(
    "accord_requests_total", "Total requests", ["method", "path", "status_code", "app_name"]
)
DURATION = Histogram(
    "accord_request_duration_seconds",
    "Request duration, in seconds",
    ["method", "path", "status_code", "app_name"],
)
# prometheus-client adds to a histogram one observation at a time; its buckets and sum are
# reached directly to add a tally at once (tests/test_metrics.py holds the sums to the requests).
_BOUNDS = DURATION._upper_bounds  # its buckets, +Inf last


class RequestTallies:
    """Every HTTP request counted and timed by method, route template and status, under the
    names and labels of Litestar's Prometheus plugin (``PrometheusConfig(app_name="accord",
    prefix="accord", group_path=True)``) — but recorded by the request's own wrapper around
    the whole app (``logs.RequestLog``, which times each request for its log line anyway),
    not by the plugin's middleware. That middleware runs inside Litestar's exception handling
    for route middleware: a read that route middleware answered with a problem (a 404)
    passed through it as a 200, and a read ``routes.ReadsById`` answers never reaches it.
    Out there the status is the one sent (500 when none was), and the template is the one
    Litestar's router (or ``ReadsById``, as the router would) wrote into the scope
    (``/v1/officials/{id}``: one series whatever the id; ``<unmatched>`` when no route
    matched).
    `accord_requests_in_progress` counts them all but scrapes of ``METRICS_PATH`` (neither
    path nor method: the path is known only once routed, and a count per method cost a read
    1k instructions); scrapes are not counted or timed either.

    A request only adds to plain tallies here (one dictionary look-up, three additions and a
    bisection); ``flush`` moves them into prometheus-client's metrics — whose every update
    takes a lock and several calls, ~35k instructions a request in all — when the sampler
    runs and before a scrape is answered (bench/metrics.py measures both)."""

    def __init__(self) -> None:
        # (method, template, status) -> [seconds in all, then a count per bucket]
        self._tallies: dict[tuple[str, str, int], list[float]] = {}
        self.in_progress = 0

    def record(self, method: str, template: str | None, status: int, elapsed: float) -> None:
        """One request answered: ``template`` None when no route matched, ``status`` 0 when it
        ended before an answer (counted as a 500)."""
        key = (method, template or UNMATCHED, status or 500)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0.0] * (len(_BOUNDS) + 1)
        tally[0] += elapsed
        tally[1 + bisect_left(_BOUNDS, elapsed)] += 1

    def flush(self) -> None:
        """Move the tallies into the metrics (on the event loop, between two requests)."""
        for (method, template, status), tally in self._tallies.items():
            count = sum(tally[1:])
            if not count:
                continue
            labels = (method, template, str(status), APP_NAME)
            REQUESTS.labels(*labels).inc(count)
            histogram = DURATION.labels(*labels)
            histogram._sum.inc(tally[0])  # observe() takes one value
            for bucket, observed in zip(histogram._buckets, tally[1:], strict=True):
                if observed:
                    bucket.inc(observed)
            tally[:] = [0.0] * len(tally)


class Meters:
    """What one application reports of itself besides the process's counters: the
    connections of its pools (``observe_pool``) and its requests in progress, in gauges of
    its own, and its requests' ``tallies``."""

    def __init__(self) -> None:
        self.tallies = RequestTallies()
        self._pools: dict[str, Pool] = {}
        self.connections = Gauge(
            "accord_db_pool_connections",
            "Connections of a database pool: open (size), lent to a request (in_use), idle.",
            ["pool", "state"],
            multiprocess_mode="livesum",
            registry=None,
        )
        self.waiting = Gauge(
            "accord_db_pool_waiting",
            "Requests waiting for a connection of a database pool.",
            ["pool"],
            multiprocess_mode="livesum",
            registry=None,
        )
        self.requests_in_progress = Gauge(
            "accord_requests_in_progress",
            "Total requests currently in progress",
            ["app_name"],
            multiprocess_mode="livesum",
            registry=None,
        )
        self.gauges = (self.connections, self.waiting, self.requests_in_progress)

    def observe_pool(self, name: str, pool: Pool) -> None:
        """Report ``pool``'s connections as ``accord_db_pool_*{pool=name}`` ("primary",
        "replica") until it closes."""
        if self._pools.get(name) is not pool:
            self._pools[name] = pool
            self._sample_pool(name, pool)

    def sample(self) -> None:
        """The requests' tallies into the metrics, the pools and the requests in progress
        into the gauges."""
        self.tallies.flush()
        self.requests_in_progress.labels(APP_NAME).set(self.tallies.in_progress)
        for name, pool in list(self._pools.items()):
            if pool.is_closing():
                del self._pools[name]
            else:
                self._sample_pool(name, pool)

    def _sample_pool(self, name: str, pool: Pool) -> None:
        size = pool.get_size()
        idle = pool.get_idle_size()
        self.connections.labels(name, "size").set(size)
        self.connections.labels(name, "in_use").set(size - idle)
        self.connections.labels(name, "idle").set(idle)
        # asyncpg has no public count of the acquires waiting: they are the getters of the
        # pool's queue of connection holders (tests/test_metrics.py holds this to the truth).
        getters = getattr(getattr(pool, "_queue", None), "_getters", ())
        self.waiting.labels(name).set(sum(not waiter.done() for waiter in getters))

    def collect(self) -> Iterator[Metric]:
        for gauge in self.gauges:
            yield from gauge.collect()


_LIVE: list[Meters] = []
"""The apps whose sampler runs in this process, the latest last: the one ``serve_port``
reports (a served process has one)."""


# --- exposition ----------------------------------------------------------------------------------


class _Workers(Collector):
    """Every worker process's values from the multiprocess directory, summed as each
    metric's mode says, after forgetting the gauges of workers that have died."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.files = multiprocess.MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for pid in _dead_workers(Path(self.path)):
            multiprocess.mark_process_dead(pid, self.path)  # type: ignore[no-untyped-call]
        collected: Iterable[Metric] = self.files.collect()  # type: ignore[no-untyped-call]
        return collected


def _dead_workers(path: Path) -> set[int]:
    pids = set()
    for file in path.glob("gauge_live*_*.db"):
        digits = file.stem.rpartition("_")[2]
        if digits.isdigit():
            pids.add(int(digits))
    dead = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:
            pass
    return dead


class _Process(Collector):
    """This process's metrics and an app's own: ``meters``, or while none is given the app
    whose sampler started last."""

    def __init__(self, meters: Meters | None) -> None:
        self.meters = meters

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        meters = self.meters or (_LIVE[-1] if _LIVE else None)
        if meters is not None:
            yield from meters.collect()


def registry(meters: Meters | None = None) -> Collector:
    """What a scrape reports: this process's metrics and the app's (see ``_Process``), or
    every worker's."""
    path = os.environ.get(MULTIPROC_DIR)
    if not path:
        return _Process(meters)
    workers = CollectorRegistry(auto_describe=True)
    workers.register(_Workers(path))
    return workers


METRICS_PATH = "/metrics"


@get(METRICS_PATH, include_in_schema=False, sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus' text format, or OpenMetrics when `Accept` asks for it. Kept out of the
    OpenAPI contract: it is for Prometheus, whose format is its own, not for API clients."""
    meters: Meters = request.app.state.meters
    meters.sample()
    sample_reads(request.app.state.reads, meters)
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry(meters)), media_type=media_type)


@contextlib.contextmanager
def prepare_directory(workers: int) -> Iterator[str | None]:
    """The run's ``PROMETHEUS_MULTIPROC_DIR``, emptied, when several processes will report
    (``workers`` > 1, or the variable set by the operator): made for the run and removed
    after it unless the operator named one. Set in the environment before the workers start,
    since prometheus-client chooses its storage when a process first imports it."""
    named = os.environ.get(MULTIPROC_DIR)
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        for file in Path(named).glob("*.db"):
            file.unlink()
        yield named
        return
    if workers <= 1:
        yield None
        return
    made = tempfile.mkdtemp(prefix="accord-metrics-")
    os.environ[MULTIPROC_DIR] = made
    try:
        yield made
    finally:
        del os.environ[MULTIPROC_DIR]
        shutil.rmtree(made, ignore_errors=True)


def serve_port(host: str, port: int) -> None:
    """``/metrics`` (any path, in fact) on ``port``, from a thread of the serving process:
    with one worker the registry it serves from, with several their files."""
    start_http_server(port, addr=host, registry=registry())
    log.info("metrics on http://%s:%d/metrics", host, port)

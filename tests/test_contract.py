"""The whole contract, every operation, against the app in-process and a real database:
schemathesis generates valid and invalid requests from openapi.json and checks each answer
(no 500, documented status, content type, headers and schema; invalid input refused, valid
input accepted). Requests carry a key with the `write` and `admin` scopes, given to
schemathesis as the credentials of the contract's `apiKey` scheme, so `ignored_auth` also sends
each secured request without them and with spoiled ones and expects a 401;
tests/test_access.py pins down the rest."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import hypothesis
import msgspec
import pytest
import schemathesis
from litestar import Litestar
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from service import seed
from service.app import create_app
from service.settings import Settings
from tests.conftest import Databases, make_key

CONFIG = Path(__file__).resolve().parent.parent / "openapi" / "schemathesis.toml"
OPENAPI = CONFIG.with_name("openapi.json")
FIXED_PATHS = frozenset(
    path for path in msgspec.json.decode(OPENAPI.read_bytes())["paths"] if "{" not in path
)
"""The contract's paths without a template."""


KEPT = ("schema_migrations", "accord_secret", "api_keys")
"""What a chain's fresh start does not empty: the schema, the cursor secret and the API keys
(of which it keeps only the test's own, usable)."""


@pytest.fixture(scope="session")
def contract_database(databases: Databases) -> str:
    # A database of its own: generated writes must not disturb the scenario tests.
    url = databases.create("contract")
    # The key every request carries (reads ignore it, writes need `write`, /v1/keys `admin`);
    # openapi/schemathesis.toml reads it from here.
    os.environ["ACCORD_CONTRACT_KEY"] = make_key(url, ["write", "admin"])
    return url


@pytest.fixture(scope="session")
def contract_app(contract_database: str) -> Litestar:
    # No delivery worker: a webhook made with a generated URL that passes the address check (a
    # public address) must not make the tests post the contract database's changes to it.
    return create_app(Settings(database_url=contract_database, webhook_concurrency=0))


class FreshStart:
    """Puts the contract database back to the worked example alone: every table but those
    KEPT emptied, the seed loaded again. One connection on a loop of its own, so it can be
    called from the synchronous state machine while the app runs in-process."""

    def __init__(self, url: str, key: UUID) -> None:
        self.key = key
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection[asyncpg.Record] = self.loop.run_until_complete(
            asyncpg.connect(url)
        )
        tables = self.loop.run_until_complete(
            self.conn.fetch(
                "select quote_ident(tablename) as name from pg_tables"
                " where schemaname = current_schema() and tablename <> all($1::text[])",
                list(KEPT),
            )
        )
        self.truncate = "truncate " + ", ".join(row["name"] for row in tables)

    async def _reset(self) -> None:
        async with self.conn.transaction():
            await self.conn.execute(self.truncate)
            # The change log starts again with the history it numbers (its counter row is
            # emptied with the rest).
            await self.conn.execute("insert into change_log (last_seq) values (0)")
            # A chain may have made keys, or revoked the test's own one.
            await self.conn.execute("delete from api_keys where id <> $1", self.key)
            await self.conn.execute("update api_keys set revoked_at = null where id = $1", self.key)
        await seed.load(self.conn)

    def __call__(self) -> None:
        self.loop.run_until_complete(self._reset())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@pytest.fixture
def fresh_start(contract_database: str) -> Iterator[FreshStart]:
    token = os.environ["ACCORD_CONTRACT_KEY"]
    reset = FreshStart(contract_database, UUID(hex=token.removeprefix("accord_").split("_")[0]))
    yield reset
    reset.close()


@pytest.fixture(scope="session")
def contract(contract_app: Litestar) -> Any:
    config = schemathesis.Config.from_path(CONFIG)
    examples = os.environ.get("ACCORD_CONTRACT_EXAMPLES")
    if examples:
        # The deeper run: every operation, those with a count of their own too.
        config.projects.default.generation.update(max_examples=int(examples))
        for operation in config.projects.default.operations.operations:
            operation.generation.update(max_examples=int(examples))
    return schemathesis.openapi.from_asgi("/docs/openapi.json", contract_app, config=config)


schema = schemathesis.pytest.from_fixture("contract")


@schemathesis.hook
def map_case(
    context: schemathesis.HookContext, case: schemathesis.Case[Any]
) -> schemathesis.Case[Any]:
    """A valid cursor is one the service issued and signed, which no schema can generate: in
    cases meant to be valid, a generated cursor is dropped (page 1). Invalid cursors stay in
    the negative cases; tests/test_pagination.py pins down real cursors."""
    negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if case.query and "cursor" in case.query and not negative:
        del case.query["cursor"]
    return case


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> bool:
    """No case that asks another operation (below), nor one whose only fault is a header the
    contract does not declare: a server ignores a header field it does not recognize (RFC
    9110, 5.1), so that is no invalid request, yet schemathesis's coverage phase sends one
    (`x-schemathesis-unknown-property`) as a negative case and expects a 4xx."""
    if any("unknown-property" in name.lower() for name in case.headers or {}):
        return False
    # A path parameter spelling another operation's fixed path asks that operation: with
    # `file` = "popolo", `GET /v1/export/{file}` is `GET /v1/export/popolo` (OpenAPI: a fixed
    # path matches before a template), whose answer is that operation's, not this one's.
    return "{" not in case.path or case.formatted_path not in FIXED_PATHS


@schemathesis.serializer("application/x-ndjson")
def ndjson(_: Any, value: Any) -> bytes:
    """An import's NDJSON body (`POST /v1/imports`): the generated record as one line."""
    return msgspec.json.encode(value) + b"\n"


# Every operation runs as a subtest of this one item, so the item's time is the whole
# contract's: on a loaded machine that is more than the suite's ten minutes an item.
@pytest.mark.timeout(1800)
@schema.parametrize()
def test_every_operation_keeps_the_contract(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


def test_chained_calls_keep_the_contract(contract: Any, fresh_start: FreshStart) -> None:
    """The stateful phase: schemathesis follows the OpenAPI links from each create to every
    operation on what it made (and to the creates that refer to it) and runs chains of real
    calls, with the checks only chains can make: a deleted record is gone (`use_after_free`),
    a created one can be read (`ensure_resource_availability`), and a write without a key is
    refused (`ignored_auth`). Fixed seed; `ACCORD_STATEFUL_EXAMPLES` asks for more chains.

    Every chain starts from the same database (the worked example alone): Hypothesis replays
    and shrinks chains, and a chain whose calls answer differently the second time (a name
    taken by an earlier chain, say) is "flaky" to it, not a finding.

    The test also fails if no chain ever reached a record it made along a link: then the links
    would be broken and the phase would test nothing. It prints what it ran (`pytest -s`)."""
    ran: Counter[str] = Counter()

    class Workflow(contract.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            fresh_start()
            ran["chains"] += 1

        def step(self, input: StepInput) -> StepOutput:
            output: StepOutput = super().step(input)
            ran["calls"] += 1
            if input.transition is not None and input.is_applied:
                ran["along a link"] += 1
                if output.response.status_code < 300:
                    ran["along a link, answered 2xx"] += 1
            return output

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=int(os.environ.get("ACCORD_STATEFUL_EXAMPLES", "25")),
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    print("stateful phase:", ", ".join(f"{count} {what}" for what, count in ran.items()))
    assert ran["along a link, answered 2xx"] > 0, ran

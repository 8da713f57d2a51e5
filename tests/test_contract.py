"""The whole contract, every operation, against the app in-process and a real database:
schemathesis generates valid and invalid requests from openapi.json and checks each answer
(no 500, documented status, content type, headers and schema; invalid input refused, valid
input accepted). Requests carry a write key; tests/test_access.py pins down requests without
one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from litestar import Litestar
from schemathesis.core.parameters import ParameterLocation

from service.app import create_app
from service.settings import Settings
from tests.conftest import Databases, make_key

CONFIG = Path(__file__).resolve().parent.parent / "openapi" / "schemathesis.toml"


CREDENTIALS: dict[str, str] = {}
"""The API key every generated request carries (reads ignore it; writes need it)."""


@pytest.fixture(scope="session")
def contract_app(databases: Databases) -> Litestar:
    # A database of its own: generated writes must not disturb the scenario tests.
    url = databases.create("contract")
    CREDENTIALS["Authorization"] = f"Bearer {make_key(url)}"
    return create_app(Settings(database_url=url))


@pytest.fixture(scope="session")
def contract(contract_app: Litestar) -> Any:
    config = schemathesis.Config.from_path(CONFIG)
    examples = os.environ.get("ACCORD_CONTRACT_EXAMPLES")
    if examples:
        config.projects.default.generation.update(max_examples=int(examples))
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
    for name, value in CREDENTIALS.items():
        if case.headers is None:
            case.headers = {}
        case.headers.setdefault(name, value)
    return case


@schema.parametrize()
def test_every_operation_keeps_the_contract(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


def test_chained_calls_keep_the_contract(contract: Any) -> None:
    """The stateful phase: schemathesis follows the OpenAPI links from each create to the get,
    patch, delete, history and claims of what it made and runs chains of real calls, with the
    checks only chains can make: a deleted record is gone (`use_after_free`), a created one can
    be read (`ensure_resource_availability`), and a write without a key is refused
    (`ignored_auth`). Fixed seed; `ACCORD_STATEFUL_EXAMPLES` asks for more chains."""

    class Workflow(contract.as_state_machine()):  # type: ignore[misc]
        # The write key on every call of a chain (map_case hooks do not reach this phase).
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:  # noqa: ARG002
            return {"headers": CREDENTIALS}

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

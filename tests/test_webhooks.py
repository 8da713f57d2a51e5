"""Webhooks: changes POSTed to a real HTTP receiver on loopback, which verifies every delivery
with the `standardwebhooks` package as an application would; retries after a 500, a timeout
and a `Retry-After`; order per endpoint; no delivery lost across a restart, none sent twice at
once by two servers on one database; a 410 or a schedule run out disables the endpoint; the
address check refuses what a webhook must not reach."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from standardwebhooks import Webhook, WebhookVerificationError

from service.app import create_app
from service.core import delivery, ssrf
from service.settings import Settings
from tests.conftest import Client, Databases, make_key, query

PROBLEM = "application/problem+json"
T = TypeVar("T")


# --- the receiver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Arrival:
    path: str
    id: str
    headers: dict[str, str]
    body: bytes
    payload: Any
    """The body as `standardwebhooks` verified and parsed it (None if it did not verify)."""
    at: float
    answered: int = 0
    """The status answered, once answered."""


Policy = Callable[[Arrival, int], Answer]
"""What to answer a delivery, given how many times its `webhook-id` arrived before."""


def always(answer: Answer) -> Policy:
    return lambda _arrival, _before: answer


def in_turn(*answers: Answer) -> Policy:
    """The answers, one per arrival at the path, then 200s."""
    count = Counter[str]()

    def policy(arrival: Arrival, before: int) -> Answer:
        count[arrival.path] += 1
        turn = count[arrival.path] - 1
        return answers[turn] if turn < len(answers) else Answer()

    return policy


class Receiver:
    """A webhook receiver on 127.0.0.1, written as an application would: each path is an
    endpoint with its secret, and every delivery is verified with `standardwebhooks` before
    it counts. It records what arrived and answers as the test says."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[Arrival] = []
        self.secrets: dict[str, str] = {}
        self.policies: dict[str, Policy] = {}
        self.in_flight = Counter[str]()
        self.most_in_flight = Counter[str]()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                arrival, answer = receiver.arrive(self.path, dict(self.headers.items()), body)
                time.sleep(answer.delay)
                # Done before the answer is sent, so the sender cannot be seen sending the
                # next one before this one has left.
                receiver.leave(arrival, answer)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (a timeout)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what matters."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def arrive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Arrival, Answer]:
        try:
            payload = Webhook(self.secrets[path]).verify(body, headers)
        except (KeyError, WebhookVerificationError):
            payload = None
        lowered = {name.lower(): value for name, value in headers.items()}
        arrival = Arrival(path, lowered.get("webhook-id", ""), lowered, body, payload, time.time())
        with self.lock:
            before = sum(1 for a in self.arrivals if a.id == arrival.id and a.path == path)
            policy = self.policies.get(path, always(Answer()))
            answer = policy(arrival, before) if payload is not None else Answer(400)
            self.arrivals.append(arrival)
            self.in_flight[path] += 1
            self.most_in_flight[path] = max(self.most_in_flight[path], self.in_flight[path])
        return arrival, answer

    def leave(self, arrival: Arrival, answer: Answer) -> None:
        with self.lock:
            self.in_flight[arrival.path] -= 1
            arrival.answered = answer.status

    def at(self, path: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


# --- the servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hooks_url(databases: Databases) -> str:
    # A database of its own: its webhooks must not see other tests' writes, nor they its.
    return databases.create("webhooks")


@pytest.fixture(scope="module")
def admin_key(hooks_url: str) -> str:
    return make_key(hooks_url, ["write", "admin"], name="webhooks admin")


def _client(url: str, key: str, **settings: Any) -> TestClient[Any]:
    client = TestClient(create_app(Settings(database_url=url, **settings)))
    client.headers["Authorization"] = f"Bearer {key}"
    return client


@pytest.fixture(scope="module")
def admin(hooks_url: str, admin_key: str) -> Iterator[Client]:
    """The API as deployed (the address check on), with no delivery worker."""
    with _client(hooks_url, admin_key, webhook_concurrency=0) as client:
        yield client


@pytest.fixture(scope="module")
def private(hooks_url: str, admin_key: str) -> Iterator[Client]:
    """The API with `ACCORD_WEBHOOK_ALLOW_PRIVATE`, with no delivery worker: makes webhooks
    that post to the receiver on loopback over plain http."""
    with _client(hooks_url, admin_key, webhook_concurrency=0, webhook_allow_private=True) as c:
        yield c


@pytest.fixture(autouse=True)
def no_webhooks_left(hooks_url: str) -> Iterator[None]:
    """Each test starts with no webhooks, so no worker delivers to another test's receiver."""
    query(hooks_url, "delete from webhooks")
    yield
    query(hooks_url, "delete from webhooks")


@contextmanager
def delivering(url: str, key: str, **settings: Any) -> Iterator[Client]:
    """A server whose delivery worker runs (in the client's own thread and event loop) until
    the block ends; by default allowed to post to loopback, with a fast retry schedule."""
    defaults: dict[str, Any] = {
        "webhook_allow_private": True,
        "webhook_retry_scale": 0.005,
        "webhook_timeout_s": 1.0,
    }
    with _client(url, key, **{**defaults, **settings}) as client:
        yield client


def eventually(check: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def make_webhook(client: Client, receiver: Receiver, path: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": receiver.url(path), **body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    receiver.secrets[path] = made["secret"]
    return made


def organization(client: Client, name: str) -> dict[str, Any]:
    response = client.post("/v1/organizations", json={"name": name, "kind": "agency"})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def deliveries(client: Client, webhook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/v1/webhooks/{webhook['id']}/deliveries", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def settled(client: Client, webhook: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The webhook's deliveries, oldest first, once ``count`` of them are no longer pending."""

    def check() -> list[dict[str, Any]]:
        found = deliveries(client, webhook, sort="seq")
        done = [d for d in found if d["state"] != "pending"]
        return found if len(done) >= count else []

    return eventually(check)


# --- making and managing webhooks --------------------------------------------------------------


def test_a_webhook_shows_its_secret_once_and_needs_the_admin_scope(
    private: Client, hooks_url: str, receiver: Receiver
) -> None:
    made = private.post(
        "/v1/webhooks",
        json={"url": receiver.url("/a"), "resources": ["rounds"], "description": "talks"},
        headers={"Idempotency-Key": "make-a"},
    )
    assert made.status_code == 201, made.text
    webhook = made.json()
    assert made.headers["location"] == f"/v1/webhooks/{webhook['id']}"
    assert made.headers["etag"] == '"1"'
    assert webhook["secret"].startswith("whsec_")
    key = base64.b64decode(webhook["secret"].removeprefix("whsec_"))
    assert len(key) == 32
    assert webhook["enabled"] is True
    assert webhook["disabled_reason"] is None
    stored = query(hooks_url, "select secret from webhooks where id = $1", webhook["id"])
    assert bytes(stored[0]["secret"]) == key

    read = private.get(f"/v1/webhooks/{webhook['id']}")
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert read.json() == {k: v for k, v in webhook.items() if k != "secret"}
    listed = private.get("/v1/webhooks").json()["items"]
    assert [w["id"] for w in listed] == [webhook["id"]]
    assert "secret" not in listed[0]
    assert webhook["secret"] not in private.get("/v1/webhooks").text

    # A retried create makes no second webhook and cannot show the secret again.
    again = private.post(
        "/v1/webhooks",
        json={"url": receiver.url("/a"), "resources": ["rounds"], "description": "talks"},
        headers={"Idempotency-Key": "make-a"},
    )
    assert again.status_code == 409
    assert webhook["id"] in again.json()["detail"]
    assert webhook["secret"] not in again.text
    assert len(private.get("/v1/webhooks").json()["items"]) == 1

    # The admin scope, not the write scope, manages webhooks.
    writer = {"Authorization": f"Bearer {make_key(hooks_url, ['write'])}"}
    for method, path in (
        ("GET", "/v1/webhooks"),
        ("GET", f"/v1/webhooks/{webhook['id']}"),
        ("GET", f"/v1/webhooks/{webhook['id']}/deliveries"),
        ("DELETE", f"/v1/webhooks/{webhook['id']}"),
    ):
        assert private.request(method, path, headers=writer).status_code == 403, path
        assert private.request(method, path, headers={"Authorization": ""}).status_code == 401
    assert (
        private.post("/v1/webhooks", json={"url": "https://8.8.8.8/"}, headers=writer).json()[
            "status"
        ]
        == 403
    )


def test_a_webhook_is_changed_by_merge_patch_with_if_match_and_deleted(
    private: Client, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/b", actions=["created"])
    path = f"/v1/webhooks/{webhook['id']}"
    stale = private.patch(path, json={"enabled": False}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    paused = private.patch(path, json={"enabled": False}, headers={"If-Match": '"1"'})
    assert paused.status_code == 200, paused.text
    assert paused.headers["etag"] == '"2"'
    assert paused.json()["enabled"] is False
    assert paused.json()["disabled_reason"] == "turned off by an administrator"
    resumed = private.patch(
        path,
        json={"enabled": True, "actions": None, "resources": ["officials", "officials"]},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert resumed.status_code == 422
    assert resumed.json()["type"] == "/problems/listed-twice"
    resumed = private.patch(path, json={"enabled": True, "actions": None})
    assert resumed.json()["enabled"] is True
    assert resumed.json()["disabled_reason"] is None
    assert resumed.json()["actions"] is None
    assert private.patch(path, json={"secret": "whsec_AAAA"}).status_code == 400

    assert private.delete(path, headers={"If-Match": '"1"'}).status_code == 412
    assert private.delete(path).status_code == 204
    assert private.get(path).status_code == 404
    assert private.get(f"{path}/deliveries").status_code == 404
    assert private.delete(path).status_code == 404
    missing = "00000000-0000-7000-8000-000000000000"
    assert private.post(f"{path}/deliveries/{missing}/retry").status_code == 404


# --- the address check -------------------------------------------------------------------------

REFUSED_BY_DEFAULT = [
    "http://8.8.8.8/hook",
    "https://127.0.0.1/hook",
    "https://localhost:8443/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://10.0.0.7/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://100.100.100.200/latest/meta-data/",
    "https://0.0.0.0/hook",
    "https://nowhere.invalid/hook",
    "https://user:password@8.8.8.8/hook",
    "https://8.8.8.8:0/hook",
    "https://a..b/hook",
]


@pytest.mark.parametrize("url", REFUSED_BY_DEFAULT)
def test_the_address_check_refuses_what_a_webhook_must_not_reach(admin: Client, url: str) -> None:
    response = admin.post("/v1/webhooks", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/unsafe-url"
    assert problem["errors"][0]["field"] == "url"
    assert problem["detail"].startswith("Accord will not send webhooks to this URL: ")


def test_the_address_check_accepts_public_addresses_and_checks_a_changed_url(
    admin: Client,
) -> None:
    made = admin.post("/v1/webhooks", json={"url": "https://8.8.8.8/hook", "enabled": False})
    assert made.status_code == 201, made.text
    path = f"/v1/webhooks/{made.json()['id']}"
    moved = admin.patch(path, json={"url": "https://[::1]/hook"})
    assert moved.status_code == 422
    assert moved.json()["type"] == "/problems/unsafe-url"
    assert admin.get(path).json()["url"] == "https://8.8.8.8/hook"
    assert admin.patch(path, json={"url": "https://[2606:4700::1111]/hook"}).status_code == 200


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9/hook", True),
        ("http://localhost/hook", True),
        ("https://10.0.0.7/hook", True),
        ("http://[::1]/hook", True),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("http://[fe80::1]/hook", False),
        ("http://[fd00:ec2::254]/latest/meta-data/", False),
        ("http://100.100.100.200/", False),
        ("ftp://127.0.0.1/hook", None),
    ],
)
def test_the_setting_allows_http_loopback_and_private_targets_but_not_metadata(
    private: Client, url: str, allowed: bool | None
) -> None:
    response = private.post("/v1/webhooks", json={"url": url, "enabled": False})
    expected = {True: 201, False: 422, None: 400}[allowed]
    assert response.status_code == expected, response.text


def test_a_url_refused_at_delivery_is_never_called(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    plain = make_webhook(private, receiver, "/refused")
    loopback = private.post(
        "/v1/webhooks", json={"url": receiver.url("/refused").replace("http:", "https:")}
    ).json()
    # A server with the check as deployed meets the URLs another one allowed: plain http, and
    # an address that is (say, resolves by now to) loopback.
    with delivering(hooks_url, admin_key, webhook_allow_private=False) as server:
        organization(server, "Refused Ministry")
        for webhook, reason in ((plain, "must be https"), (loopback, "127.0.0.1, a loopback")):
            [refused] = settled(server, webhook, 1)
            assert refused["state"] == "failed"
            assert refused["attempts"] == 1
            assert refused["response_status"] is None
            assert refused["error"].startswith("not sent: the URL is refused: ")
            assert reason in refused["error"]
            read = server.get(f"/v1/webhooks/{webhook['id']}").json()
            assert read["enabled"] is False
            assert reason in read["disabled_reason"]
    assert receiver.arrivals == []


# --- deliveries --------------------------------------------------------------------------------


def test_deliveries_are_signed_and_verify_with_standardwebhooks(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/signed")
    with delivering(hooks_url, admin_key) as server:
        made = organization(server, "Signed Office")
        server.patch(f"/v1/organizations/{made['id']}", json={"note": "signed twice"})
        server.delete(f"/v1/organizations/{made['id']}")
        sent = settled(server, webhook, 3)
    arrivals = receiver.at("/signed")
    assert len(arrivals) == 3
    assert all(a.payload is not None for a in arrivals), "a delivery did not verify"
    assert [a.payload["action"] for a in arrivals] == ["created", "updated", "deleted"]
    assert {a.payload["id"] for a in arrivals} == {made["id"]}
    assert {a.payload["resource"] for a in arrivals} == {"organizations"}
    assert [a.payload["version"] for a in arrivals] == [1, 2, 2]
    seqs = [a.payload["seq"] for a in arrivals]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert "record" not in arrivals[2].payload
    # Each delivery: the change item, its id as `webhook-id`, a fresh timestamp, a v1 signature.
    assert [a.id for a in arrivals] == [d["id"] for d in sent]
    assert [d["seq"] for d in sent] == seqs
    for arrival, listed in zip(arrivals, sent, strict=True):
        assert listed["state"] == "succeeded"
        assert listed["attempts"] == 1
        assert listed["response_status"] == 200
        assert listed["latency_ms"] >= 0
        assert listed["next_attempt_at"] is None
        assert listed["delivered_at"] is not None
        assert arrival.headers["content-type"] == "application/json"
        assert arrival.headers["webhook-signature"].startswith("v1,")
        assert abs(int(arrival.headers["webhook-timestamp"]) - time.time()) < 60
    # The receiver's check can fail: another body, or another secret, does not verify.
    first = arrivals[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook["secret"]).verify(first.body[:-1] + b',"forged":1}', first.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(first.body, first.headers)


def deliveries_counted() -> Counter[str]:
    """`accord_webhook_deliveries_total` of this process, by outcome."""
    return Counter(
        {
            outcome: REGISTRY.get_sample_value(
                "accord_webhook_deliveries_total", {"outcome": outcome}
            )
            or 0.0
            for outcome in ("delivered", "retrying", "failed")
        }
    )


def test_a_500_and_a_timeout_are_retried_with_the_same_id(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/flaky")
    receiver.policies["/flaky"] = in_turn(Answer(500), Answer(delay=3.0))
    counted = deliveries_counted()
    with delivering(hooks_url, admin_key, webhook_timeout_s=1.0) as server:
        organization(server, "Flaky Agency")
        [sent] = settled(server, webhook, 1)
    counted = deliveries_counted() - counted
    assert counted == Counter({"retrying": 2, "delivered": 1})
    arrivals = receiver.at("/flaky")
    assert len(arrivals) == 3
    assert arrivals[0].answered == 500
    assert arrivals[2].answered == 200
    assert {a.id for a in arrivals} == {sent["id"]}
    assert all(a.payload == arrivals[0].payload for a in arrivals)
    assert sent["state"] == "succeeded"
    assert sent["attempts"] == 3
    assert sent["response_status"] == 200
    # The schedule, scaled by 0.005 (±10 %): 25 ms after the 500, 1.5 s after the timeout.
    assert arrivals[2].at - arrivals[1].at >= 1.0 + 300 * 0.005 * 0.9


def test_retry_after_is_honoured(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/busy")
    receiver.policies["/busy"] = in_turn(Answer(503, {"Retry-After": "2"}))
    with delivering(hooks_url, admin_key) as server:
        organization(server, "Busy Bureau")
        [sent] = settled(server, webhook, 1)
        assert sent["state"] == "succeeded"
    first, second = receiver.at("/busy")
    # The schedule alone would have waited 25 ms.
    assert second.at - first.at >= 2.0


def test_an_endpoint_answering_410_is_disabled_until_enabled_again(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/gone")
    receiver.policies["/gone"] = in_turn(Answer(410))
    path = f"/v1/webhooks/{webhook['id']}"
    with delivering(hooks_url, admin_key) as server:
        organization(server, "Gone Office")
        [gone] = settled(server, webhook, 1)
        assert gone["state"] == "failed"
        assert gone["response_status"] == 410
        read = server.get(path).json()
        assert read["enabled"] is False
        assert "410" in read["disabled_reason"]
        assert read["version"] == 2

        # Changes made meanwhile wait in the change log, and are not sent.
        organization(server, "Waiting Office")
        time.sleep(1.5)
        assert len(receiver.at("/gone")) == 1
        assert deliveries(server, webhook, state="pending") == []
        retry = f"{path}/deliveries/{gone['id']}/retry"
        refused = server.post(retry)
        assert refused.status_code == 409
        assert refused.json()["type"] == "/problems/webhook-disabled"

        assert server.patch(path, json={"enabled": True}).status_code == 200
        [waiting] = eventually(lambda: deliveries(server, webhook, state="succeeded"))
        assert [a.id for a in receiver.at("/gone")] == [gone["id"], waiting["id"]]
        assert receiver.at("/gone")[1].payload["record"]["name"] == "Waiting Office"

        # A failed delivery is sent again on request, with the same id.
        again = server.post(retry)
        assert again.status_code == 202, again.text
        assert again.json()["state"] == "pending"
        eventually(lambda: len(receiver.at("/gone")) == 3)
        assert receiver.at("/gone")[2].id == gone["id"]
        assert receiver.at("/gone")[2].body == receiver.at("/gone")[0].body


def test_when_the_retry_schedule_runs_out_the_endpoint_is_disabled(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/down")
    receiver.policies["/down"] = always(Answer(500))
    counted = deliveries_counted()
    # About 3 days and 4 hours of retries in about 5 seconds.
    with delivering(hooks_url, admin_key, webhook_retry_scale=0.00002) as server:
        organization(server, "Down Agency")
        [failed] = settled(server, webhook, 1)
        read = server.get(f"/v1/webhooks/{webhook['id']}").json()
    assert deliveries_counted() - counted == Counter({"retrying": 9, "failed": 1})
    assert failed["state"] == "failed"
    assert failed["attempts"] == len(delivery.SCHEDULE) == 10
    assert failed["error"] == "answered 500"
    assert read["enabled"] is False
    assert "failed 10 times" in read["disabled_reason"]
    assert len(receiver.at("/down")) == 10


def test_deliveries_keep_their_order_per_endpoint_and_follow_its_filters(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    slow = make_webhook(private, receiver, "/slow")
    fast = make_webhook(private, receiver, "/fast")
    deletions = make_webhook(
        private, receiver, "/deletions", resources=["officials"], actions=["deleted"]
    )
    # The first change fails twice at /slow: the changes after it wait for it.
    receiver.policies["/slow"] = in_turn(Answer(500), Answer(500))
    with delivering(hooks_url, admin_key) as server:
        made = [organization(server, f"Ordered {n}") for n in range(5)]
        person = server.post("/v1/officials", json={"name": "Filtered Official"}).json()
        server.delete(f"/v1/officials/{person['id']}")
        server.delete(f"/v1/organizations/{made[0]['id']}")
        settled(server, slow, 8)
        settled(server, fast, 8)
        [deleted] = settled(server, deletions, 1)
    for path in ("/slow", "/fast"):
        arrivals = receiver.at(path)
        seqs = [a.payload["seq"] for a in arrivals]
        assert seqs == sorted(seqs), path
        delivered = [a.payload["seq"] for a in arrivals if a.answered == 200]
        assert delivered == list(range(delivered[0], delivered[0] + 8)), path
    assert len(receiver.at("/slow")) == 10
    assert [a.payload["id"] for a in receiver.at("/deletions")] == [person["id"]]
    assert deleted["resource"] == "officials"
    assert deleted["action"] == "deleted"


def test_no_delivery_is_lost_across_restarts_mid_schedule(
    private: Client, hooks_url: str, admin_key: str, receiver: Receiver
) -> None:
    webhook = make_webhook(private, receiver, "/restart")
    # First a 500; the second attempt is cut off by a shutdown while it waits for an answer.
    receiver.policies["/restart"] = in_turn(Answer(500), Answer(delay=6.0))
    with delivering(hooks_url, admin_key, webhook_retry_scale=0.3) as first:
        organization(first, "Restarted Ministry")
        eventually(lambda: [d for d in deliveries(first, webhook) if d["response_status"]])
    # Stopped mid-schedule: the retry is due 1.5 s after the 500.
    [pending] = deliveries(private, webhook)
    assert pending["state"] == "pending"
    assert pending["attempts"] == 1
    assert pending["next_attempt_at"] is not None

    with delivering(hooks_url, admin_key, webhook_timeout_s=2.0):
        eventually(lambda: receiver.in_flight["/restart"] == 1)
    # Stopped mid-attempt: the delivery stays leased for the timeout and 5 s, then any server
    # takes it again.
    with delivering(hooks_url, admin_key) as third:
        [done] = settled(third, webhook, 1)
    assert done["state"] == "succeeded"
    assert done["attempts"] == 3
    arrivals = receiver.at("/restart")
    assert len(arrivals) == 3
    assert {a.id for a in arrivals} == {done["id"]}
    assert arrivals[0].answered == 500
    assert arrivals[2].answered == 200
    # Taken again only once the cut-off attempt's lease ran out: never two at once.
    assert arrivals[2].at - arrivals[1].at >= 2.0 + delivery.LEASE_MARGIN.total_seconds() - 1


def test_two_servers_never_send_one_delivery_twice_at_once(
    private: Client,
    hooks_url: str,
    admin_key: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two servers, each with its own pool, event loop and delivery worker, on one database:
    more endpoints than either sends to at once, so both take deliveries, and each delivery
    fails once, so they race for its retry too."""
    paths = [f"/race/{n}" for n in range(6)]
    webhooks = [make_webhook(private, receiver, path) for path in paths]
    for path in paths:
        receiver.policies[path] = lambda _arrival, before: Answer(
            500 if before == 0 else 200, delay=0.03
        )
    claimed = Counter[int]()
    claim = delivery.Deliverer.claim

    async def counted(self: delivery.Deliverer, limit: int) -> list[delivery.Claimed]:
        # Every server of the session polls through here; only those that claim count.
        taken = await claim(self, limit)
        if taken:
            claimed[id(self)] += len(taken)
        return taken

    monkeypatch.setattr(delivery.Deliverer, "claim", counted)
    changes = 10
    with (
        # A timeout no answer (0.03 s) reaches on a loaded machine: a delivery that timed out
        # is rightly sent again, and would count twice here.
        delivering(hooks_url, admin_key, webhook_concurrency=2, webhook_timeout_s=10) as one,
        delivering(hooks_url, admin_key, webhook_concurrency=2, webhook_timeout_s=10),
    ):
        for n in range(changes):
            organization(one, f"Raced {n}")
        for webhook in webhooks:
            settled(one, webhook, changes)
    for path in paths:
        arrivals = receiver.at(path)
        assert receiver.most_in_flight[path] == 1, path
        assert len(arrivals) == 2 * changes, path
        per_id = Counter(a.id for a in arrivals)
        assert set(per_id.values()) == {2}, path
        assert sorted(a.answered for a in arrivals) == [200] * changes + [500] * changes
        seqs = [a.payload["seq"] for a in arrivals]
        assert seqs == sorted(seqs), path
    # Both servers sent, and every attempt either of them claimed was sent exactly once.
    assert len(claimed) == 2
    assert min(claimed.values()) > 0, claimed
    assert sum(claimed.values()) == 2 * changes * len(paths)


def test_the_secret_never_reaches_the_logs(
    private: Client,
    hooks_url: str,
    admin_key: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Making a webhook, its deliveries and their retries log nothing of its secret, at any
    level, in any logger (Accord's, the HTTP client's, Litestar's)."""
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    receiver.policies["/logged"] = in_turn(Answer(500))
    with delivering(hooks_url, admin_key) as server:
        # Starting an app configures logging anew (Litestar's root handlers): listen again.
        root.addHandler(caplog.handler)
        try:
            webhook = make_webhook(server, receiver, "/logged")
            organization(server, "Logged Office")
            settled(server, webhook, 1)
        finally:
            root.removeHandler(caplog.handler)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert "webhook delivery" in caplog.text
    secret = webhook["secret"].removeprefix("whsec_")
    assert secret not in caplog.text
    assert base64.b64decode(secret).hex() not in caplog.text


# --- the parts ---------------------------------------------------------------------------------


def test_signatures_are_those_of_the_standard_webhooks_library() -> None:
    key = bytes(range(32))
    secret = delivery.secret_text(key)
    body = '{"resource":"rounds","note":"Раунд 3"}'.encode()
    ours = delivery.sign(key, "msg_1", 1_700_000_000, body)
    theirs = Webhook(secret).sign(
        "msg_1", datetime.fromtimestamp(1_700_000_000, UTC), body.decode()
    )
    assert ours == theirs


def test_the_retry_schedule_and_retry_after() -> None:
    waits = [delivery.next_delay(step, 1.0) for step in range(1, 10)]
    expected = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    for wait, seconds in zip(waits, expected, strict=True):
        assert wait is not None
        assert seconds * 0.9 <= wait.total_seconds() <= seconds * 1.1
    assert delivery.next_delay(10, 1.0) is None
    assert sum(expected) / 3600 == pytest.approx(75.58, abs=0.01)  # "about 3 days"
    assert delivery.next_delay(1, 0.001, asked=30) == timedelta(seconds=30)
    assert delivery.next_delay(1, 0.0) == timedelta(0)

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert delivery.retry_after(b"120", now) == 120
    assert delivery.retry_after(b"Tue, 01 Dec 2026 12:01:30 GMT", now) == 90
    assert delivery.retry_after(b"Tue, 01 Dec 2026 11:00:00 GMT", now) == 0
    assert delivery.retry_after(b"9999999", now) == 24 * 3600
    assert delivery.retry_after(b"soon", now) is None
    assert delivery.retry_after(None, now) is None


def test_addresses_inside_ipv6_addresses_are_checked_too() -> None:
    import ipaddress

    for address in ("::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a9fe:a9fe", "::7f00:1"):
        assert ssrf.refusal(ipaddress.ip_address(address), allow_private=False), address
    assert ssrf.refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe"), allow_private=True)
    assert ssrf.refusal(ipaddress.ip_address("2606:4700::1111"), allow_private=False) is None


def test_the_contract_describes_what_a_receiver_gets(admin: Client) -> None:
    document = admin.get("/docs/openapi.json").json()
    operation = document["webhooks"]["change"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert all(header["required"] for header in headers.values())
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    page = document["components"]["schemas"]["ChangePage"]["properties"]["items"]["items"]
    assert body == page
    assert body["discriminator"]["propertyName"] == "resource"
    schemas = document["components"]["schemas"]
    for branch in body["oneOf"]:
        assert branch["$ref"].removeprefix("#/components/schemas/") in schemas
    assert set(operation["responses"]) == {"200", "410"}

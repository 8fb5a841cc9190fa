"""Submit → decide with real processes: gunicorn + Celery worker (+ beat), PostgreSQL, Redis.

Nothing is eager or mocked: comments are POSTed over HTTP to gunicorn, the task goes through
Redis to a Celery worker subprocess, and the outcome is read back over HTTP and from the
database. The module's stack (tests 1, 2 and 4) uses a fresh PostgreSQL database and db 13
of the shared Redis on 127.0.0.1:6379 (flushed at start and end, no other db touched).
The broker-down test starts its own redis-server on a free port and its own database.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from celery import Celery
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, selectinload

from core import comments, tasknames
from core.checks.pipeline import check_names
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.privacy import EncryptedEmail, PrivacyVault
from core.queueconfig import celery_config
from core.sites import ensure_site, get_site
from models import Comment, CommentStatus, Decision, OutboxEntry, Site
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.support.databases import create_database, drop_database
from tests.support.polling import wait_for
from tests.support.stack import LiveStack, RedisMonitor, RedisServer, stack_settings

SITE = "gazette"
DISALLOWED_WORD = "casino"
INTEGRATION_REDIS_URL = os.environ.get(
    "REPLYGUARD_TEST_INTEGRATION_REDIS_URL", "redis://127.0.0.1:6379/13"
)
DECISION_TIMEOUT = 20.0
CANARY_IP = "203.0.113.77"  # only the canary uses TEST-NET-3; everyone else is 198.51.100.x
CANARY_IP_TRUNCATED = "203.0.113.0"

_client_numbers = itertools.count(1)


def decided_line(comment_id: int) -> str:
    """Regex for the worker's log line of a real decision (not "already decided")."""
    return rf"core\.moderation decided comment_id={comment_id} decided_by="


def next_client() -> tuple[str, str]:
    """A fresh (client IP, email) pair, so the 15 s flood rule never trips between requests."""
    n = next(_client_numbers)
    assert n < 255, "ran out of 198.51.100.x test addresses"
    return f"198.51.100.{n}", f"reader-{n}-{uuid.uuid4().hex[:8]}@example.com"


# -- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpClient:
    """http.client against the stack; keeps every response (headers + body) it received."""

    base_url: str
    received: list[bytes] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        *,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> HttpResult:
        parts = urlsplit(self.base_url)
        assert parts.hostname == "127.0.0.1"
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        sent_headers = {"Accept": "application/json", "User-Agent": "replyguard-it/1"}
        sent_headers.update(headers or {})
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            sent_headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            conn.request(method, path, body=data, headers=sent_headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        got_headers = dict(response.getheaders())
        self.received.append(
            "".join(f"{k}: {v}\n" for k, v in got_headers.items()).encode() + b"\n" + body
        )
        return HttpResult(response.status, got_headers, body, elapsed)

    def get_url(self, url: str) -> HttpResult:
        """GET an absolute URL the API handed out; it must point back at this stack."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == self.base_url, url
        return self.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))


def submit(
    client: HttpClient,
    thread: str,
    text: str,
    *,
    ip: str | None = None,
    email: str | None = None,
    name: str = "Integration Reader",
) -> HttpResult:
    """POST one comment as JSON from a distinct client address (X-Forwarded-For)."""
    fresh_ip, fresh_email = next_client()
    return client.request(
        "POST",
        f"/api/v1/sites/{SITE}/comments",
        payload={"thread": thread, "comment": text, "name": name, "email": email or fresh_email},
        headers={"X-Forwarded-For": ip or fresh_ip},
    )


def accepted(result: HttpResult) -> dict[str, Any]:
    """Assert the 202 contract of the submit endpoint; return the body."""
    assert result.status == 202, (result.status, result.body)
    body: dict[str, Any] = result.json()
    assert body["status"] == "pending"
    assert isinstance(body["id"], int)
    assert body["status_url"].endswith(f"/api/v1/sites/{SITE}/comments/{body['id']}")
    assert result.headers.get("Location") == body["status_url"]
    return body


def wait_decided(client: HttpClient, status_url: str, timeout: float = DECISION_TIMEOUT) -> Any:
    """Poll the public status URL until the comment is no longer pending."""

    def decided() -> dict[str, Any] | None:
        result = client.get_url(status_url)
        assert result.status == 200, (result.status, result.body)
        body: dict[str, Any] = result.json()
        return body if body["status"] != "pending" else None

    return wait_for(decided, timeout=timeout, interval=0.2, what=f"a decision on {status_url}")


# -- database ----------------------------------------------------------------------------


def decisions_of(engine: Engine, comment_id: int) -> list[Decision]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Decision)
                .where(Decision.comment_id == comment_id)
                .options(selectinload(Decision.checks))
                .order_by(Decision.id)
            )
        )


def assert_ledger_consistent(engine: Engine, ids: list[int], status: CommentStatus) -> None:
    """RELIABILITY §0 ledger: every accepted id has exactly one comment row in `status`, exactly
    one Decision (pending → status), and no outbox entry is left behind."""
    assert len(ids) == len(set(ids)), f"an id was handed out twice: {ids}"
    with Session(engine) as session:
        rows = session.execute(
            select(Comment.id, Comment.status, func.count())
            .where(Comment.id.in_(ids))
            .group_by(Comment.id, Comment.status)
        ).all()
        assert sorted(r[0] for r in rows) == sorted(ids)
        assert all(r[2] == 1 for r in rows)
        assert {r[1] for r in rows} == {status}, rows
        per_comment: dict[int, int] = {
            comment_id: count
            for comment_id, count in session.execute(
                select(Decision.comment_id, func.count())
                .where(Decision.comment_id.in_(ids))
                .group_by(Decision.comment_id)
            ).tuples()
        }
        assert per_comment == dict.fromkeys(ids, 1), per_comment
        moves = set(
            session.execute(
                select(Decision.from_status, Decision.to_status).where(Decision.comment_id.in_(ids))
            ).all()
        )
        assert moves == {("pending", status.value)}
        left = session.scalars(select(OutboxEntry.ref_id).where(OutboxEntry.ref_id.in_(ids))).all()
        assert left == [], f"outbox entries left behind: {left}"


def prepare_database(url: str) -> None:
    """Migrate a fresh database and create the test site with a disallowed word."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            site = ensure_site(session, SITE, name="The Integration Gazette")
            site.policy = {"disallowed_words": [DISALLOWED_WORD]}
    finally:
        engine.dispose()


# -- Redis -------------------------------------------------------------------------------


def _decoded_bodies(value: Any) -> Iterator[str]:
    """Base64 message bodies inside a kombu message (or a list/dict holding one)."""
    if isinstance(value, dict):
        props = value.get("properties")
        if isinstance(props, dict) and props.get("body_encoding") == "base64":
            body = value.get("body")
            if isinstance(body, str):
                yield base64.b64decode(body).decode("utf-8", errors="replace")
        for item in value.values():
            yield from _decoded_bodies(item)
    elif isinstance(value, list):
        for item in value:
            yield from _decoded_bodies(item)


def searchable(text: str) -> list[str]:
    """The text plus any kombu message bodies it carries, decoded (kombu base64s them)."""
    out = [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        return out
    out.extend(_decoded_bodies(parsed))
    return out


def dump_redis_db(url: str) -> dict[str, list[str]]:
    """Every key of one Redis db with every value it holds, as text."""
    # redis-py types every reply as "sync or awaitable"; this client is sync.
    client: Any = redis.Redis.from_url(url)
    dumped: dict[str, list[str]] = {}
    try:
        for raw_key in client.scan_iter(count=500):
            key = raw_key.decode("utf-8", errors="replace")
            kind = client.type(raw_key).decode()
            values: list[bytes]
            if kind == "string":
                values = [client.get(raw_key) or b""]
            elif kind == "list":
                values = client.lrange(raw_key, 0, -1)
            elif kind == "hash":
                values = [b for kv in client.hgetall(raw_key).items() for b in kv]
            elif kind == "set":
                values = list(client.smembers(raw_key))
            elif kind == "zset":
                values = client.zrange(raw_key, 0, -1)
            elif kind == "stream":
                values = [
                    b for _id, entry in client.xrange(raw_key) for kv in entry.items() for b in kv
                ]
            else:
                values = []
            texts = [key]
            for value in values:
                texts.extend(searchable(value.decode("utf-8", errors="replace")))
            dumped[key] = texts
    finally:
        client.close()
    return dumped


def flush_redis_db(url: str) -> None:
    """FLUSHDB on exactly this db (the URL's /n), nothing else."""
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def producer_for(settings: Settings) -> Celery:
    """A bare Celery producer with the service's wire settings (JSON, queues)."""
    app = Celery("replyguard-it-producer", set_as_current=False)
    app.conf.update(celery_config(settings, role="publisher"))
    return app


# -- the module's stack ------------------------------------------------------------------


@dataclass
class Live:
    stack: LiveStack
    client: HttpClient
    engine: Engine
    database_url: str
    redis_url: str

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def vault(self) -> PrivacyVault:
        return PrivacyVault(self.settings)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A fresh migrated database, Redis db 13 flushed, and gunicorn + a worker (-c 2)."""
    workdir = tmp_path_factory.mktemp("stack")
    with ExitStack() as cleanup:
        database_url = create_database("replyguard_it")
        cleanup.callback(drop_database, database_url)
        prepare_database(database_url)
        flush_redis_db(INTEGRATION_REDIS_URL)
        cleanup.callback(flush_redis_db, INTEGRATION_REDIS_URL)
        engine = make_engine(database_url)
        cleanup.callback(engine.dispose)
        settings = stack_settings(database_url, INTEGRATION_REDIS_URL, workdir / "instance")
        # Two pool processes, so the same task sent twice can really run at once (C13).
        stack = cleanup.enter_context(LiveStack(settings, workdir, concurrency=2))
        yield Live(stack, HttpClient(stack.base_url), engine, database_url, INTEGRATION_REDIS_URL)


# -- 1. end to end -------------------------------------------------------------------------


@pytest.mark.integration
def test_submissions_are_decided_by_the_worker_and_audited(live: Live) -> None:
    """Submit → 202 pending → worker decides → public thread; held and spam outcomes too.

    Clean text is approved and listed; three links are held (max_links); the site's disallowed
    word is spam. Each decision has one audit row with every check's verdict in pipeline order,
    and no outbox entry is left (C14: the task is sent after commit and completes its entry).
    """
    thread = f"it-e2e-{uuid.uuid4().hex[:8]}"
    cases = {
        "approved": "A thoughtful reply about the council budget, no links at all.",
        "held": (
            "Read https://one.example/a and https://two.example/b "
            "and https://three.example/c for the full story."
        ),
        "spam": f"Best {DISALLOWED_WORD.upper()} bonuses here, play now!",
    }
    submitted: dict[str, dict[str, Any]] = {}
    for expected, text in cases.items():
        result = submit(live.client, thread, text)
        assert result.elapsed < 2.0, f"submit took {result.elapsed:.2f}s"
        submitted[expected] = accepted(result)

    for expected, body in submitted.items():
        decided = wait_decided(live.client, body["status_url"])
        assert decided["status"] == expected, decided
        assert decided["decided_at"] is not None
        if expected == "approved":
            assert decided["comment"]["body"] == cases["approved"]
        else:
            assert "comment" not in decided  # text is public only once approved

    listing = live.client.request("GET", f"/api/v1/sites/{SITE}/threads/{thread}/comments")
    assert listing.status == 200
    page = listing.json()
    assert page["total"] == 1
    assert [c["id"] for c in page["comments"]] == [submitted["approved"]["id"]]
    node = page["comments"][0]
    assert node["body"] == cases["approved"]
    assert node["author_name"] == "Integration Reader"
    assert set(node) == {
        "id",
        "parent",
        "author_name",
        "website",
        "body",
        "submitted_at",
        "replies",
    }

    decisive = {
        "approved": ("pipeline", None),
        "held": ("check:max_links", "max_links"),
        "spam": ("check:disallowed_words", "disallowed_words"),
    }
    for expected, body in submitted.items():
        decisions = decisions_of(live.engine, body["id"])
        assert len(decisions) == 1, decisions
        decision = decisions[0]
        assert (decision.from_status, decision.to_status) == ("pending", expected)
        decided_by, check_name = decisive[expected]
        assert decision.decided_by == decided_by
        assert [c.check_name for c in decision.checks] == check_names()
        assert [c.position for c in decision.checks] == list(range(len(check_names())))
        opinions = {c.check_name: c.action for c in decision.checks if c.action is not None}
        if check_name is None:
            assert opinions == {}
            assert decision.reason == "no check objected"
        else:
            assert opinions == {check_name: {"held": "hold", "spam": "spam"}[expected]}
    reasons = {
        c.check_name: c.reason
        for d in decisions_of(live.engine, submitted["held"]["id"])
        for c in d.checks
    }
    assert reasons["max_links"].startswith("3 links")
    assert_ledger_consistent(live.engine, [submitted["approved"]["id"]], CommentStatus.APPROVED)
    assert_ledger_consistent(live.engine, [submitted["held"]["id"]], CommentStatus.HELD)
    assert_ledger_consistent(live.engine, [submitted["spam"]["id"]], CommentStatus.SPAM)


# -- 2. privacy canary ---------------------------------------------------------------------


@pytest.mark.integration
def test_privacy_canary_email_and_ip_never_leave_as_plaintext(live: Live) -> None:
    """P4 canary sweep: a unique email and a full client IP go in; neither comes out.

    Searched: every HTTP response this module received, every process log (gunicorn access
    and error, API app log, Celery worker), every key and value of the Redis db and every
    command Redis ran on it while the canary was in flight (MONITOR, with kombu's base64
    message bodies decoded), and `pg_dump` of the database. The email's HMAC blind index may
    appear only in its own column; the email column holds ciphertext that decrypts to the
    canary; only the truncated IP is stored. The task message carries only the comment id.

    (RELIABILITY P4 suggests `canary+<uuid>@example.test`; the API rejects `.test` addresses
    with 422, email-validator's special-use rule, so the canary uses example.com, also
    reserved by RFC 2606.)
    """
    canary = f"canary+{uuid.uuid4().hex}@example.com"
    thread = f"it-privacy-{uuid.uuid4().hex[:8]}"
    vault = live.vault
    index_hex = vault.email_index(canary).hex()
    ip_index_hex = vault.ip_index(CANARY_IP).hex()
    redis_parts = make_url(live.redis_url)
    monitor = RedisMonitor(
        redis_parts.host or "127.0.0.1", redis_parts.port or 6379, int(redis_parts.database or 0)
    ).begin()
    try:
        body = accepted(
            submit(live.client, thread, "Canary comment, plain text.", ip=CANARY_IP, email=canary)
        )
        decided = wait_decided(live.client, body["status_url"])
        listing = live.client.request("GET", f"/api/v1/sites/{SITE}/threads/{thread}/comments")
        assert listing.status == 200
        assert [c["id"] for c in listing.json()["comments"]] == [body["id"]]
        live.stack.wait_for_log(
            live.stack.worker, decided_line(body["id"]), timeout=DECISION_TIMEOUT
        )
    finally:
        commands = monitor.stop()
    assert decided["status"] == "approved"
    canary_id = body["id"]

    # The database row: ciphertext that decrypts to the canary; a truncated IP only.
    with Session(live.engine) as session:
        row = session.get(Comment, canary_id)
        assert row is not None
        assert canary.encode() not in row.email_ciphertext
        stored = EncryptedEmail(row.email_ciphertext, row.email_key_id, row.email_index)
        assert vault.decrypt_email(stored) == canary
        assert row.email_index.hex() == index_hex
        assert row.ip_truncated == CANARY_IP_TRUNCATED
        assert row.ip_index is not None
        assert row.ip_index.hex() == ip_index_hex

    secrets = {
        "email": canary,
        "email (hex)": canary.encode().hex(),
        "email blind index (hex)": index_hex,
        "full client IP": CANARY_IP,
        "full client IP (hex)": CANARY_IP.encode().hex(),
    }

    def leaks(texts: dict[str, str]) -> list[tuple[str, str]]:
        return [
            (where, what)
            for where, text in texts.items()
            for what, secret in secrets.items()
            if secret.casefold() in text.casefold()
        ]

    # HTTP: everything this module received, this test's canary requests included.
    http_texts = {
        f"response #{i}": r.decode("utf-8", errors="replace")
        for i, r in enumerate(live.client.received)
    }
    assert len(http_texts) >= 3
    assert leaks(http_texts) == []

    # Logs: they really cover the canary (its request line, its decision), yet hold no secret.
    logs = live.stack.logs()
    assert {"api.log", "api-access.log", "worker.log"} <= set(logs)
    assert f'"POST /api/v1/sites/{SITE}/comments" 202' in logs["api-access.log"]
    assert re.search(decided_line(canary_id), logs["worker.log"])
    assert leaks(logs) == []

    # Redis: what is stored now, and every command it ran on this db meanwhile.
    redis_texts = {key: "\n".join(texts) for key, texts in dump_redis_db(live.redis_url).items()}
    assert leaks(redis_texts) == []
    command_texts = {
        f"command #{i} {c[0] if c else ''}": "\n".join(t for arg in c for t in searchable(arg))
        for i, c in enumerate(commands)
    }
    assert leaks(command_texts) == []
    task_args = [
        json.loads(decoded)[0]
        for c in commands
        if len(c) >= 3 and c[0].upper() == "LPUSH" and c[1] == tasknames.QUEUE_MODERATION
        for decoded in searchable(c[2])[1:]
    ]
    assert [canary_id] in task_args, f"the canary's task message was not seen: {task_args}"
    assert all(len(args) == 1 and isinstance(args[0], int) for args in task_args), task_args

    # pg_dump: the whole database as text (bytea as hex): no email, no full IP; the blind
    # index only once (its own column); the truncated IP is there.
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            "127.0.0.1",
            "-U",
            make_url(live.database_url).username or "postgres",
            "--no-password",
            make_url(live.database_url).database or "",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dump.returncode == 0, dump.stderr
    assert f"\\x{row.email_ciphertext.hex()}" in dump.stdout
    assert CANARY_IP_TRUNCATED in dump.stdout
    assert leaks({"pg_dump": dump.stdout.replace(index_hex, "")}) == []
    assert dump.stdout.count(index_hex) == 1


# -- 3. broker down at submit time ---------------------------------------------------------


@pytest.mark.integration
def test_broker_down_at_submit_time_loses_nothing(tmp_path: Path) -> None:
    """C2 + C14: with Redis stopped, every POST still answers 202 within 2 s (DB first; the
    failed publish is only logged). After Redis comes back empty (no persistence), beat's
    outbox sweeper re-sends every stale entry and all comments are approved: each accepted id
    has one comment row and one Decision, and no outbox entry remains (ledger).
    """
    n_comments = 5
    with ExitStack() as cleanup:
        database_url = create_database("replyguard_it")
        cleanup.callback(drop_database, database_url)
        prepare_database(database_url)
        engine = make_engine(database_url)
        cleanup.callback(engine.dispose)
        broker = cleanup.enter_context(RedisServer(tmp_path / "redis"))
        settings = stack_settings(
            database_url,
            broker.url,
            tmp_path / "instance",
            sweep_interval_seconds=2,
            stale_after_seconds=3,
        )
        stack = cleanup.enter_context(LiveStack(settings, tmp_path / "stack", beat=True))
        client = HttpClient(stack.base_url)

        broker.stop()
        assert broker.process is not None
        assert not broker.process.running()
        thread = f"it-broker-down-{uuid.uuid4().hex[:8]}"
        ids: list[int] = []
        for i in range(n_comments):
            result = submit(client, thread, f"Written while the broker is down, number {i}.")
            assert result.elapsed < 2.0, f"submit #{i} took {result.elapsed:.2f}s"
            ids.append(accepted(result)["id"])
        # Each of those publishes really failed (and was only logged).
        stack.wait_for_log(
            stack.api, r"publish failed, the sweeper will re-send", timeout=5, count=n_comments
        )
        with Session(engine) as session:
            pending = session.scalars(select(Comment.status).where(Comment.id.in_(ids))).all()
            assert set(pending) == {CommentStatus.PENDING}
            outboxed = session.scalars(
                select(OutboxEntry.ref_id).where(OutboxEntry.ref_id.in_(ids))
            ).all()
            assert sorted(outboxed) == sorted(ids)

        broker.start()  # same port, empty: every message (and kombu binding) is gone

        def all_decided() -> bool:
            with Session(engine) as session:
                statuses = session.scalars(select(Comment.status).where(Comment.id.in_(ids))).all()
            return len(statuses) == n_comments and CommentStatus.PENDING not in statuses

        wait_for(all_decided, timeout=45, interval=0.25, what="the sweeper to re-send everything")
        for comment_id in ids:
            decided = wait_decided(
                client, f"{stack.base_url}/api/v1/sites/{SITE}/comments/{comment_id}"
            )
            assert decided["status"] == "approved"
        assert_ledger_consistent(engine, ids, CommentStatus.APPROVED)
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Comment)) == n_comments
            assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0
        assert "core.sweeper sweep" in stack.worker.log_text()


# -- 4. idempotency ------------------------------------------------------------------------


def send_moderate_twice(live: Live, comment_id: int) -> list[str]:
    """Send `replyguard.moderate` for one id twice, back to back; wait until the worker has
    run both. Returns the two task ids."""
    producer = producer_for(live.settings)
    try:
        task_ids = [
            producer.send_task(
                tasknames.MODERATE, args=[comment_id], queue=tasknames.QUEUE_MODERATION
            ).id
            for _ in range(2)
        ]
    finally:
        producer.close()
    for task_id in task_ids:
        live.stack.wait_for_log(
            live.stack.worker,
            rf"Task {tasknames.MODERATE}\[{task_id}\] succeeded",
            timeout=DECISION_TIMEOUT,
        )
    return task_ids


@pytest.mark.integration
def test_moderate_task_is_idempotent_on_a_decided_comment(live: Live) -> None:
    """C13: the moderation task delivered twice more for an already-approved comment changes
    nothing: still exactly one Decision, still approved, both runs succeed ("already decided")."""
    body = accepted(submit(live.client, f"it-idem-{uuid.uuid4().hex[:8]}", "Decide me once."))
    assert wait_decided(live.client, body["status_url"])["status"] == "approved"
    before = decisions_of(live.engine, body["id"])
    assert len(before) == 1

    send_moderate_twice(live, body["id"])

    after = decisions_of(live.engine, body["id"])
    assert [d.id for d in after] == [before[0].id]
    assert_ledger_consistent(live.engine, [body["id"]], CommentStatus.APPROVED)
    assert live.stack.worker.log_text().count(f"already decided comment_id={body['id']}") == 2


def pending_comment(live: Live, thread_prefix: str, text: str, name: str) -> Comment:
    """A PENDING comment written with core.comments.submit in a session without a publisher,
    so only the messages a test sends itself ever reach the worker (still in its session)."""
    _ip, email = next_client()
    with session_scope(make_sessionmaker(live.engine)) as session:
        site: Site = get_site(session, SITE)
        comment = comments.submit(
            session,
            site,
            NewComment(
                thread=f"{thread_prefix}-{uuid.uuid4().hex[:8]}",
                comment=text,
                name=name,
                email=email,
            ),
            meta=SubmissionMeta(),
            vault=live.vault,
            settings=live.settings,
        )
        session.flush()
    return comment


@pytest.mark.integration
def test_moderate_task_sent_twice_at_once_decides_once(live: Live) -> None:
    """C13: a PENDING comment whose task arrives twice at once (two pool processes) is decided
    exactly once: one Decision; the other run finds it decided or loses the compare-and-set.

    The comment is written with core.comments.submit in a session without a publisher, so
    only the two messages sent here ever reach the worker.
    """
    comment_id = pending_comment(live, "it-race", "Two deliveries, one decision.", "Racer").id

    send_moderate_twice(live, comment_id)

    assert_ledger_consistent(live.engine, [comment_id], CommentStatus.APPROVED)
    log = live.stack.worker.log_text()
    assert len(re.findall(decided_line(comment_id), log)) == 1
    lost = log.count(f"already decided comment_id={comment_id}") + log.count(
        f"lost the race to decide comment_id={comment_id}"
    )
    assert lost == 1, log[-3000:]


@pytest.mark.integration
def test_poison_comment_is_held_after_its_attempts_run_out(live: Live) -> None:
    """C15: a comment whose moderation always fails (here: its email ciphertext was tampered
    with, so decryption refuses it) is not retried forever: each failed run is counted in
    the database, and the run after `max_attempts` holds it for a human with the reason."""
    comment = pending_comment(live, "it-poison", "Poison.", "Poison")
    with session_scope(make_sessionmaker(live.engine)) as session:
        stored = session.get(Comment, comment.id)
        assert stored is not None
        tampered = bytearray(stored.email_ciphertext)
        tampered[-1] ^= 0xFF
        stored.email_ciphertext = bytes(tampered)
    comment_id = comment.id

    producer = producer_for(live.settings)
    try:
        for _ in range(live.settings.max_attempts + 1):
            task_id = producer.send_task(
                tasknames.MODERATE, args=[comment_id], queue=tasknames.QUEUE_MODERATION
            ).id
            live.stack.wait_for_log(
                live.stack.worker,
                rf"Task {tasknames.MODERATE}\[{task_id}\] (raised|succeeded)",
                timeout=DECISION_TIMEOUT,
            )
    finally:
        producer.close()

    [decision] = decisions_of(live.engine, comment_id)
    assert decision.to_status == "held" and decision.decided_by == "system"
    assert f"failed {live.settings.max_attempts} times" in decision.reason
    assert_ledger_consistent(live.engine, [comment_id], CommentStatus.HELD)
    assert "EmailDecryptionError" in live.stack.worker.log_text()
